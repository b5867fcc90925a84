/**
 * Notifications from a real worker process: outcomes reach a signed-JSON and a Slack receiver on
 * loopback, a receiver that hangs delays no rotation, and no payload carries a password.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Job } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { createGenericSignatureVerifier } from '../src/alerts/generic-signature.ts';
import { signGithubWebhook } from '../src/alerts/github-webhook.ts';
import { RotationQueue } from '../src/queue/rotation-queue.ts';
import { startSandbox, type Sandbox } from '../src/sandbox/sandbox.ts';
import { makeConfig } from './helpers/config.ts';
import { writeConfigFile } from './helpers/config-file.ts';
import { findExposures } from './helpers/exposure.ts';
import { startGithubApiFake } from './helpers/github-api-fake.ts';
import { freePort } from './helpers/redis-server.ts';
import { waitFor } from './helpers/wait-for.ts';
import { killWorker, spawnWorker, type WorkerProcess } from './helpers/worker-process.ts';

const SECRET = 'notify-secret-0123456789abcdef';

interface Hit {
  headers: IncomingHttpHeaders;
  body: string;
}

async function receiver(hang = false): Promise<{ url: string; hits: Hit[]; server: Server }> {
  const hits: Hit[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      hits.push({ headers: req.headers, body });
      if (!hang) res.writeHead(200).end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, hits, server };
}

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
    for (const r of [json, slack, hanging]) cleanups.push(() => new Promise((resolve) => (r.server.closeAllConnections(), r.server.close(resolve))));

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
    const connection = new Redis(redisUrl, { maxRetriesPerRequest: null });
    const producer = new RotationQueue(connection, config.redis.prefix);
    cleanups.push(async () => {
      await producer.close();
      connection.disconnect();
    });

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
