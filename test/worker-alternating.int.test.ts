import { randomUUID } from 'node:crypto';
import { Job, QueueEvents } from 'bullmq';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { QUEUE } from '../src/queue/names.ts';
import { RotationQueue } from '../src/queue/rotation-queue.ts';
import type { RotationResult } from '../src/rotation/types.ts';
import { startSandbox, type Sandbox } from '../src/sandbox/sandbox.ts';
import { STAGE } from '../src/secrets/types.ts';
import { USER_A, USER_B, makeAlternatingConfig, type AlternatingConfig } from './helpers/alternating-fixture.ts';
import { FAST_WORKER } from './helpers/config.ts';
import { writeConfigFile } from './helpers/config-file.ts';
import { findExposures } from './helpers/exposure.ts';
import { credentialUnder, watchStoredPasswordInvariant } from './helpers/invariants.ts';
import { linesOf, runCli } from './helpers/run-cli.ts';
import { spawnWorker, type WorkerProcess } from './helpers/worker-process.ts';

/**
 * The worker, as a real process, with an alternating credential: a leak notice naming the
 * retired user (one turn, the active user untouched), then through `enqueue --wait` (a real CLI
 * process too) a manual rotation refused by the grace and a leak named by credential (two turns);
 * after each, its /metrics say which user is AWSCURRENT and when the retired one's grace ends.
 */

let sandbox: Sandbox<AlternatingConfig> | null = null;
let worker: WorkerProcess | null = null;
afterEach(async () => {
  if (worker && worker.child.exitCode === null && worker.child.signalCode === null) {
    worker.kill('SIGTERM');
    await worker.exited;
  }
  worker = null;
  await sandbox?.close();
  sandbox = null;
});

describe('worker process with an alternating credential', () => {
  it('answers a leak of the retired user with one turn, refuses a manual rotation within the grace, and a leak named by credential with two', async () => {
    const base = makeAlternatingConfig(['west', 'east']);
    const config: AlternatingConfig = { ...base, redis: { ...base.redis, url: inject('redisUrl'), prefix: `{alt-${randomUUID().slice(0, 8)}}` }, worker: { ...FAST_WORKER } };
    sandbox = await startSandbox(config);
    const sb = sandbox;
    const credential = sb.config.credentials['app'];
    if (!credential) throw new Error('no credential');
    const watch = watchStoredPasswordInvariant(sb, credential);
    const path = writeConfigFile(sb.config);
    worker = spawnWorker(path, sb.env);
    const listening = JSON.parse(await worker.waitForLine(/"msg":"HTTP server listening"/, 30_000)) as { url: string };
    await worker.waitForLine(/worker started/, 30_000);
    const scrapes: string[] = [];
    const scrape = async (): Promise<string> => {
      const text = await (await fetch(`${listening.url}/metrics`, { signal: AbortSignal.timeout(5_000) })).text();
      scrapes.push(text);
      return text;
    };
    const gauge = (text: string, series: string): number | undefined => {
      const line = text.split('\n').find((l) => l.startsWith(`${series} `));
      return line === undefined ? undefined : Number(line.slice(series.length + 1));
    };
    const activeUser = (user: string) => `milvus_rotator_alternating_active_user{credential="app",username="${user}"}`;
    const graceEnd = 'milvus_rotator_alternating_grace_end_timestamp_seconds{credential="app"}';

    // A leak alert naming the retired user (app_b at the seed) on a cluster: one turn, app_a untouched.
    const before = { current: credentialUnder(sb, credential.secretId, STAGE.current), previous: credentialUnder(sb, credential.secretId, STAGE.previous) };
    const connection = new Redis(config.redis.url, { maxRetriesPerRequest: null });
    const rotations = new RotationQueue(connection, config.redis.prefix);
    const eventsConnection = new Redis(config.redis.url, { maxRetriesPerRequest: null });
    const events = new QueueEvents(QUEUE.rotations, { connection: eventsConnection, prefix: config.redis.prefix });
    try {
      await events.waitUntilReady();
      const started = Date.now();
      const queued = await rotations.enqueue({ credentialId: 'app', mode: 'leak', requestedBy: 'alert:test', alert: { alertId: 'leak-1', source: 'test', receivedAt: Date.now(), username: USER_B } });
      const job = await Job.fromId(rotations.queue, queued.jobId);
      const result = (await job?.waitUntilFinished(events, 60_000)) as RotationResult;
      const ended = Date.now();
      expect(result).toMatchObject({ outcome: 'rotated', mode: 'leak', alternating: { currentUser: USER_B, previousUser: USER_A, turns: 1 } });
      // /metrics: app_b is AWSCURRENT now, and app_a's grace ends graceMs after the promotion (which was within the job).
      const text = await scrape();
      expect(gauge(text, activeUser(USER_B))).toBe(1);
      expect(gauge(text, activeUser(USER_A))).toBe(0);
      const endsAt = gauge(text, graceEnd) ?? 0;
      expect(endsAt).toBeGreaterThanOrEqual(Math.floor((started + credential.graceMs) / 1000));
      expect(endsAt).toBeLessThanOrEqual(Math.ceil((ended + credential.graceMs) / 1000));
      expect(endsAt).toBe(Math.floor(Date.parse(result.alternating?.graceEndsAt ?? '') / 1000));
    } finally {
      await rotations.close();
      await events.close();
      eventsConnection.disconnect();
      connection.disconnect();
    }
    const after = { current: credentialUnder(sb, credential.secretId, STAGE.current), previous: credentialUnder(sb, credential.secretId, STAGE.previous) };
    expect(after.previous).toEqual(before.current);
    for (const simulator of sb.clusters.values()) {
      expect(simulator.passwordOf(USER_A)).toBe(before.current?.password);
      expect(simulator.passwordOf(USER_B)).toBe(after.current?.password);
      expect(simulator.passwordOf(USER_B)).not.toBe(before.previous?.password);
    }

    // A manual rotation now, through `enqueue --wait` as a real process: app_a was retired a moment
    // ago and must stay valid for the grace, so the rotation is refused (exit 1), nothing changed.
    // (The process must exit by itself: it once kept its QueueEvents connection open.)
    const manual = await runCli(['enqueue', '--credential', 'app', '--wait', '--json', '--config', path], { env: sb.env, timeoutMs: 30_000 });
    expect(manual.timedOut).toBe(false);
    expect(manual.code).toBe(1);
    expect(linesOf(manual.stdout).map((l) => JSON.parse(l) as RotationResult).find((r) => 'outcome' in r)).toMatchObject({ outcome: 'failed', reason: 'grace_not_elapsed' });
    expect(credentialUnder(sb, credential.secretId, STAGE.current)).toEqual(after.current);
    // The refusal moved nothing, nor the gauges.
    const refusedText = await scrape();
    expect(gauge(refusedText, activeUser(USER_B))).toBe(1);
    expect(gauge(refusedText, graceEnd)).toBe(gauge(scrapes[0] ?? '', graceEnd));

    // A leak named only by credential, through the CLI: both users changed, the retired one first.
    const leak = await runCli(['enqueue', '--credential', 'app', '--mode', 'leak', '--wait', '--json', '--config', path], { env: sb.env, timeoutMs: 30_000 });
    expect(leak.code).toBe(0);
    const twoTurns = linesOf(leak.stdout).map((l) => JSON.parse(l) as RotationResult).find((r) => 'outcome' in r);
    expect(twoTurns).toMatchObject({ outcome: 'rotated', alternating: { currentUser: USER_B, previousUser: USER_A, turns: 2 } });
    // Two promotions: app_b is AWSCURRENT again, and the grace now ends graceMs after the second one.
    const twoTurnText = await scrape();
    expect(gauge(twoTurnText, activeUser(USER_B))).toBe(1);
    expect(gauge(twoTurnText, activeUser(USER_A))).toBe(0);
    expect(gauge(twoTurnText, graceEnd)).toBe(Math.floor(Date.parse(twoTurns?.alternating?.graceEndsAt ?? '') / 1000));
    expect(gauge(twoTurnText, graceEnd)).toBeGreaterThan(gauge(scrapes[0] ?? '', graceEnd) ?? Infinity);
    for (const simulator of sb.clusters.values()) {
      expect(simulator.passwordOf(USER_A)).not.toBe(before.current?.password);
      expect(simulator.passwordOf(USER_B)).not.toBe(after.current?.password);
    }
    expect(watch.violations).toEqual([]);
    watch.stop();

    const passwords = new Set<string>();
    for (const simulator of sb.clusters.values()) for (const p of simulator.passwordsSeen()) passwords.add(p);
    expect(findExposures([...worker.lines, manual.stdout, manual.stderr, leak.stdout, leak.stderr, ...scrapes], passwords, [USER_A, USER_B])).toEqual([]);
  }, 120_000);
});
