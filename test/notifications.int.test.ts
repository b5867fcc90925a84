/**
 * Notifications from a real worker process: outcomes reach a signed-JSON and a Slack receiver on
 * loopback, a receiver that hangs delays no rotation, and no payload carries a password. And from
 * the one-shot `rotate` (what a Kubernetes CronJob runs), a child process: the same events and
 * payloads for its outcome, and an exit within its bound when a receiver never answers.
 */
import { randomUUID } from 'node:crypto';
import { Job } from 'bullmq';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { createGenericSignatureVerifier } from '../src/alerts/generic-signature.ts';
import { signGithubWebhook } from '../src/alerts/github-webhook.ts';
import { startSandbox, type Sandbox } from '../src/sandbox/sandbox.ts';
import { makeConfig } from './helpers/config.ts';
import { writeConfigFile } from './helpers/config-file.ts';
import { findExposures } from './helpers/exposure.ts';
import { startGithubApiFake } from './helpers/github-api-fake.ts';
import { freePort } from './helpers/redis-server.ts';
import { linesOf, runCli } from './helpers/run-cli.ts';
import { ONE_SHOT_NOTIFY_MS } from '../src/cli/rotate-command.ts';
import { waitFor } from './helpers/wait-for.ts';
import { startWebhookReceiver as receiver } from './helpers/webhook-receiver.ts';
import { killWorker, spawnWorker, type WorkerProcess } from './helpers/worker-process.ts';
import { openProducer } from './helpers/queue-producer.ts';

const SECRET = 'notify-secret-0123456789abcdef';

const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

describe('worker: notifications', () => {
  it('sends a signed rotated and a Slack leak_rotated, never a password, and a hanging receiver delays nothing', async () => {
    const redisUrl = inject('redisUrl');
    const json = await receiver();
    const slack = await receiver();
    const hanging = await receiver(true);
    for (const r of [json, slack, hanging]) cleanups.push(r.close);

    const base = makeConfig(['west', 'east'], [{ id: 'app', username: 'app_user', clusters: ['west', 'east'] }]);
    const config = {
      ...base,
      redis: { ...base.redis, url: redisUrl, prefix: `{test-${randomUUID().slice(0, 8)}}` },
      worker: { ...base.worker, shutdownTimeoutMs: 5_000 },
      notifications: [
        { format: 'json' as const, url: json.url, events: ['rotated' as const, 'leak_rotated' as const], secret: SECRET },
        { format: 'slack' as const, url: slack.url, events: ['leak_rotated' as const] },
        { format: 'slack' as const, url: hanging.url, events: ['rotated' as const, 'leak_rotated' as const] },
      ],
    };
    const sandbox: Sandbox = await startSandbox(config);
    cleanups.push(() => sandbox.close());
    const path = writeConfigFile(sandbox.config);
    const worker: WorkerProcess = spawnWorker(path, sandbox.env, ['--no-http']);
    cleanups.push(() => killWorker(worker));
    await worker.waitForLine(/worker started/);
    const { producer, close } = openProducer(redisUrl, config.redis.prefix);
    cleanups.push(close);

    const manual = await producer.enqueue({ credentialId: 'app', mode: 'manual', requestedBy: 'test' });
    await waitFor(async () => (await Job.fromId(producer.queue, manual.jobId))?.finishedOn !== undefined, 30_000, 'the manual rotation');
    const leak = await producer.enqueue({ credentialId: 'app', mode: 'leak', requestedBy: 'test', alert: { alertId: 'alert-77', source: 'test', receivedAt: Date.now() } });
    await waitFor(async () => (await Job.fromId(producer.queue, leak.jobId))?.finishedOn !== undefined, 30_000, 'the leak rotation');
    await waitFor(() => json.hits.length >= 3 && slack.hits.length >= 1, 10_000, 'the notifications');

    const manualJob = await Job.fromId(producer.queue, manual.jobId);
    expect(manualJob?.returnvalue).toMatchObject({ outcome: 'rotated' });
    // The hanging receiver holds its sockets open; the rotations did not wait for it.
    expect(hanging.hits.length).toBeGreaterThanOrEqual(1);
    expect((manualJob?.returnvalue as { durationMs: number }).durationMs).toBeLessThan(5_000);

    const verify = createGenericSignatureVerifier({ secrets: [SECRET], toleranceSeconds: 300 });
    const events = json.hits.map((hit) => {
      expect(verify({ rawBody: Buffer.from(hit.body), timestamp: hit.headers['x-rotator-timestamp'], signature: hit.headers['x-rotator-signature'] }).ok).toBe(true);
      return JSON.parse(hit.body) as { event: string; credential: string; rotationId: string; alertIds: string[] };
    });
    expect(events.map((e) => e.event)).toEqual(['rotated', 'rotated', 'leak_rotated']);
    expect(events[0]?.rotationId).toBe(manual.jobId);
    expect(events[2]?.alertIds).toEqual(['alert-77']);
    expect((JSON.parse(slack.hits[0]?.body ?? '{}') as { text: string }).text).toContain('leaked password revoked');

    const passwords = new Set<string>();
    for (const sim of sandbox.clusters.values()) for (const p of sim.passwordsSeen()) passwords.add(p);
    expect(passwords.size).toBeGreaterThanOrEqual(3);
    expect(findExposures([...json.hits, ...slack.hits, ...hanging.hits].map((h) => h.body), passwords, ['app_user'])).toEqual([]);

    worker.kill('SIGTERM');
    expect(await worker.exited).toBe(0);
  });

  it('a GitHub secret_scanning_alert for the live password: leak rotation, then the alert resolved as revoked naming the rotation', async () => {
    const redisUrl = inject('redisUrl');
    const TOKEN = 'ghs_e2e_installation_token';
    const SECRET_GH = 'gh-webhook-secret-e2e-0123456789';
    const github = await startGithubApiFake({ token: TOKEN });
    cleanups.push(github.close);
    const base = makeConfig(['west'], [{ id: 'svc', username: 'svc_user', clusters: ['west'] }]);
    const port = await freePort();
    const config = {
      ...base,
      redis: { ...base.redis, url: redisUrl, prefix: `{test-${randomUUID().slice(0, 8)}}` },
      http: { ...base.http, port, host: '127.0.0.1' },
      worker: { ...base.worker, shutdownTimeoutMs: 5_000 },
      leakAlerts: { ...base.leakAlerts, githubWebhook: { secrets: [SECRET_GH], apiUrl: github.url, token: TOKEN, resolveAlerts: true } },
    };
    const sandbox: Sandbox = await startSandbox(config);
    cleanups.push(() => sandbox.close());
    const credential = sandbox.config.credentials.svc!;
    const live = (JSON.parse(sandbox.emulator.valueUnder(credential.secretId, 'AWSCURRENT') ?? '{}') as { password: string }).password;
    github.addAlert('acme', 'payments', 42, live);
    const worker: WorkerProcess = spawnWorker(writeConfigFile(sandbox.config), sandbox.env);
    cleanups.push(() => killWorker(worker));
    await worker.waitForLine(/HTTP server listening/);
    // HTTP serves before Redis is ready (readiness says so); a sender is answered 503 until then.
    await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => null))?.status === 200, 20_000, 'the worker to be ready');

    const body = Buffer.from(JSON.stringify({ action: 'created', alert: { number: 42, secret_type: 'acme_milvus_password' }, repository: { full_name: 'acme/payments' } }));
    const reply = await fetch(`http://127.0.0.1:${port}/v1/leak-alerts/github-webhook`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-github-event': 'secret_scanning_alert', 'x-github-delivery': randomUUID(), 'x-hub-signature-256': signGithubWebhook(SECRET_GH, body) },
      body,
    });
    const answer = (await reply.json()) as { rotations: { credential: string; jobId: string }[]; matched: number };
    expect(reply.status, worker.lines.filter((l) => /leak|error|warn/i.test(l)).slice(-8).join('\n')).toBe(202);
    expect(answer).toMatchObject({ matched: 1, rotations: [{ credential: 'svc' }] });
    await waitFor(() => github.resolved().includes('acme/payments#42'), 30_000, 'the alert to be resolved');
    const patch = github.calls.find((c) => c.method === 'PATCH');
    expect(patch?.body).toContain(answer.rotations[0]?.jobId);
    const now = (JSON.parse(sandbox.emulator.valueUnder(credential.secretId, 'AWSCURRENT') ?? '{}') as { password: string }).password;
    expect(now).not.toBe(live);
    expect(sandbox.clusters.get('west')!.passwordsSeen()).toContain(now);
    expect(findExposures([...github.calls.filter((c) => c.method === 'PATCH').map((c) => c.body), ...worker.lines], [live, now], ['svc_user'])).toEqual([]);
    worker.kill('SIGTERM');
    expect(await worker.exited).toBe(0);
  });
});

describe('rotate (one-shot): notifications', () => {
  it('sends what the worker sends for its outcome (rolled_back, rotated), nothing for a dry run, and exits within its bound when a receiver never answers', async () => {
    const json = await receiver();
    const slack = await receiver();
    const hanging = await receiver(true);
    for (const r of [json, slack, hanging]) cleanups.push(r.close);
    const base = makeConfig(['west', 'east'], [{ id: 'app', username: 'app_user', clusters: ['west', 'east'] }]);
    const config = {
      ...base,
      notifications: [
        { format: 'json' as const, url: json.url, events: ['rotated' as const, 'rolled_back' as const], secret: SECRET },
        { format: 'slack' as const, url: slack.url, events: ['rolled_back' as const] },
        { format: 'slack' as const, url: hanging.url, events: ['rotated' as const] },
      ],
    };
    const sandbox: Sandbox = await startSandbox(config);
    cleanups.push(() => sandbox.close());
    const path = writeConfigFile(sandbox.config);
    const rotate = (...args: string[]) => runCli(['rotate', '--config', path, '--credential', 'app', '--json', ...args], { env: sandbox.env });
    const verify = createGenericSignatureVerifier({ secrets: [SECRET], toleranceSeconds: 300 });
    const eventsOf = (hits: typeof json.hits) =>
      hits.map((hit) => {
        expect(verify({ rawBody: Buffer.from(hit.body), timestamp: hit.headers['x-rotator-timestamp'], signature: hit.headers['x-rotator-signature'] }).ok).toBe(true);
        return JSON.parse(hit.body) as { event: string; credential: string; rotationId: string; outcome: string; mode: string };
      });

    // 1. east refuses the new password: rolled back, exit 1. The signed JSON and Slack receivers are told.
    sandbox.clusters.get('east')!.injectFault({ route: 'update_password', fault: { kind: 'reply', status: 200, body: '{"code":1100,"message":"x"}' } });
    const rolledBack = await rotate();
    expect(rolledBack.code, rolledBack.stderr).toBe(1);
    const first = JSON.parse(linesOf(rolledBack.stdout)[0] ?? '{}') as { outcome: string; rotationId: string };
    expect(first.outcome).toBe('rolled_back');
    // Delivered before the process exited: nothing to wait for here.
    expect(eventsOf(json.hits)).toEqual([expect.objectContaining({ event: 'rolled_back', credential: 'app', outcome: 'rolled_back', mode: 'manual', rotationId: first.rotationId })]);
    expect((JSON.parse(slack.hits[0]?.body ?? '{}') as { text: string }).text).toContain('rolled_back');
    expect(slack.hits).toHaveLength(1);
    expect(hanging.hits).toHaveLength(0);
    expect(rolledBack.stderr).not.toContain('abandoned');

    // 2. A dry run notifies nothing.
    const dry = await rotate('--dry-run');
    expect(dry.code, dry.stderr).toBe(0);
    expect(json.hits.length + slack.hits.length + hanging.hits.length).toBe(2);

    // 3. Rotated: the JSON receiver is told; the hanging one holds its delivery, which is abandoned at the bound.
    const rotated = await rotate();
    const exitedAt = Date.now();
    expect(rotated.code, rotated.stderr).toBe(0);
    expect(rotated.timedOut).toBe(false);
    const second = JSON.parse(linesOf(rotated.stdout)[0] ?? '{}') as { outcome: string; rotationId: string; durationMs: number };
    expect(second.outcome).toBe('rotated');
    expect(eventsOf(json.hits).map((e) => [e.event, e.rotationId])).toEqual([
      ['rolled_back', first.rotationId],
      ['rotated', second.rotationId],
    ]);
    expect(hanging.hits).toHaveLength(1);
    expect(rotated.stderr).toContain('notifications still under way when the command ended were abandoned');
    expect(rotated.stderr).not.toContain('did not exit'); // the exit watchdog had nothing to force
    // It waited for the hanging receiver, but not longer than the bound: timed from the rotation's
    // end (its log line), not from the spawn, so that node's start on a busy machine does not count.
    const logTime = (msg: string): number => Date.parse((linesOf(rotated.stderr).map((l) => JSON.parse(l) as { msg?: string; time?: string }).find((l) => l.msg === msg)?.time) ?? '');
    const endedAt = logTime('rotation ended');
    expect(logTime('notifications still under way when the command ended were abandoned') - endedAt).toBeGreaterThanOrEqual(ONE_SHOT_NOTIFY_MS - 50);
    expect(exitedAt - endedAt).toBeLessThan(ONE_SHOT_NOTIFY_MS + 2_000);

    const passwords = new Set<string>();
    for (const sim of sandbox.clusters.values()) for (const p of sim.passwordsSeen()) passwords.add(p);
    expect(passwords.size).toBeGreaterThanOrEqual(2);
    expect(findExposures([...json.hits, ...slack.hits, ...hanging.hits].map((h) => h.body), passwords, ['app_user'])).toEqual([]);
  });
});
