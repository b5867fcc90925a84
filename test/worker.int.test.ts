import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ListSecretVersionIdsCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { Job, Queue } from 'bullmq';
import { Redis } from 'ioredis';
import pino from 'pino';
import { afterAll, afterEach, describe, expect, inject, it } from 'vitest';
import type { Config } from '../src/config/types.ts';
import { QUEUE } from '../src/queue/names.ts';
import { RotationQueue } from '../src/queue/rotation-queue.ts';
import { listSchedules, SCHEDULER_PAGE, syncSchedules } from '../src/queue/schedules.ts';
import { startSandbox, type Sandbox } from '../src/sandbox/sandbox.ts';
import { startWorker, type RunningWorker } from '../src/worker.ts';
import { FAST_WORKER, makeConfig, type CredentialSpec, type SingleUserConfig } from './helpers/config.ts';
import { writeConfigFile } from './helpers/config-file.ts';
import { findExposures } from './helpers/exposure.ts';
import { assertEndInvariants, watchStoredPasswordInvariant } from './helpers/invariants.ts';
import { dumpRedis } from './helpers/redis-dump.ts';
import { spawnWorker, type WorkerProcess } from './helpers/worker-process.ts';
import { startRedisServer } from './helpers/redis-server.ts';
import { main } from '../src/cli.ts';
import { waitFor } from './helpers/wait-for.ts';

const silent = pino({ level: 'silent' });
const sandboxes: Sandbox[] = [];
const processes: WorkerProcess[] = [];
const workers: RunningWorker[] = [];
const redisUrls = new Set<string>();
/** Every password any sandbox of this file saw, for the final Redis scan. */
const seenPasswords = new Set<string>();
const usernames = new Set<string>();

function configFor(clusters: string[], credentials: CredentialSpec[], redisUrl: string, extra: Partial<SingleUserConfig> = {}): SingleUserConfig {
  const base = makeConfig(clusters, credentials);
  redisUrls.add(redisUrl);
  return { ...base, redis: { url: redisUrl, prefix: `{test-${randomUUID().slice(0, 8)}}`, connectTimeoutMs: 10_000 }, worker: { ...FAST_WORKER }, ...extra };
}

async function sandboxFor(config: SingleUserConfig): Promise<Sandbox<SingleUserConfig>> {
  const sandbox = await startSandbox(config);
  sandboxes.push(sandbox);
  Object.assign(process.env, sandbox.env);
  for (const c of Object.values(config.credentials)) usernames.add(c.username);
  return sandbox;
}

function collectPasswords(sandbox: Sandbox): void {
  for (const sim of sandbox.clusters.values()) for (const p of sim.passwordsSeen()) seenPasswords.add(p);
  for (const value of sandbox.emulator.valuesSeen()) {
    try {
      seenPasswords.add((JSON.parse(value) as { password: string }).password);
    } catch {
      // not a credential
    }
  }
}


async function idle(queue: Queue): Promise<boolean> {
  const counts = await queue.getJobCounts('waiting', 'prioritized', 'active', 'delayed');
  return Object.values(counts).every((n) => n === 0);
}

async function versionCount(secretId: string): Promise<number> {
  const client = new SecretsManagerClient({});
  try {
    const out = await client.send(new ListSecretVersionIdsCommand({ SecretId: secretId, IncludeDeprecated: true }));
    return out.Versions?.length ?? 0;
  } finally {
    client.destroy();
  }
}

afterEach(async () => {
  for (const p of processes.splice(0)) {
    if (p.child.exitCode === null && p.child.signalCode === null) {
      p.kill('SIGKILL');
      await p.exited;
    }
  }
  for (const w of workers.splice(0)) await w.close();
  for (const s of sandboxes.splice(0)) {
    collectPasswords(s);
    await s.close();
  }
});

describe('worker: job schedulers', () => {
  it('creates one per credential with cron and time zone, lists the next run, is idempotent, and drops removed credentials', async () => {
    const redisUrl = inject('redisUrl');
    const config = configFor(['west'], [
      { id: 'a', username: 'user_a', clusters: ['west'], schedule: '0 4 * * 1' },
      { id: 'b', username: 'user_b', clusters: ['west'], schedule: '30 2 * * *' },
      { id: 'c', username: 'user_c', clusters: ['west'], schedule: 'off' },
    ], redisUrl);
    const tz = { ...config, credentials: { ...config.credentials, b: { ...config.credentials.b!, timezone: 'Europe/Paris' } } };
    const redis = new Redis(redisUrl, { maxRetriesPerRequest: null });
    const control = new Queue(QUEUE.control, { connection: redis, prefix: config.redis.prefix });
    try {
      const first = await syncSchedules(control, redis, config.redis.prefix, tz);
      expect(first?.upserted.sort()).toEqual(['reconcile', 'schedule:a', 'schedule:b']);
      const listed = await listSchedules(control);
      const byId = Object.fromEntries(listed.map((s) => [s.id, s]));
      expect(byId['schedule:a']).toMatchObject({ pattern: '0 4 * * 1', timezone: 'UTC' });
      expect(byId['schedule:b']).toMatchObject({ pattern: '30 2 * * *', timezone: 'Europe/Paris' });
      expect(byId['schedule:c']).toBeUndefined();
      expect(new Date(byId['schedule:a']?.next ?? 0).getUTCDay()).toBe(1);
      expect(new Date(byId['schedule:a']?.next ?? 0).getUTCHours()).toBe(4);
      expect(byId['schedule:b']?.next).toBeGreaterThan(Date.now());

      await syncSchedules(control, redis, config.redis.prefix, tz);
      expect(await listSchedules(control)).toEqual(listed);
      expect((await control.getDelayed()).filter((j) => j.name === 'schedule-tick')).toHaveLength(2);

      const { b: _removed, ...rest } = tz.credentials;
      const second = await syncSchedules(control, redis, config.redis.prefix, { ...tz, credentials: rest });
      expect(second?.removed).toEqual(['schedule:b']);
      expect((await listSchedules(control)).map((s) => s.id).sort()).toEqual(['reconcile', 'schedule:a']);
    } finally {
      await control.obliterate({ force: true });
      await control.close();
      redis.disconnect();
    }
  });

  it('reads the schedulers a page at a time, and still lists and prunes every one beyond a page', async () => {
    // BullMQ reads each scheduler of a getJobSchedulers call with its own Redis call, all at once.
    const redisUrl = inject('redisUrl');
    const specs = Array.from({ length: SCHEDULER_PAGE + 20 }, (_, i) => ({ id: `p${i}`, username: `user_${i}`, clusters: ['west'] }));
    const config = configFor(['west'], specs, redisUrl);
    const redis = new Redis(redisUrl, { maxRetriesPerRequest: null });
    const control = new Queue(QUEUE.control, { connection: redis, prefix: config.redis.prefix });
    const ranges: [number, number][] = [];
    const getJobSchedulers = control.getJobSchedulers.bind(control);
    control.getJobSchedulers = async (start = 0, end = -1, asc = false) => {
      ranges.push([start, end]);
      return getJobSchedulers(start, end, asc);
    };
    try {
      await syncSchedules(control, redis, config.redis.prefix, config);
      expect(await listSchedules(control)).toHaveLength(SCHEDULER_PAGE + 21);
      const { p3: _a, p400: _b, p510: _c, ...rest } = config.credentials;
      const pruned = await syncSchedules(control, redis, config.redis.prefix, { ...config, credentials: rest });
      expect(pruned?.removed.sort()).toEqual(['schedule:p3', 'schedule:p400', 'schedule:p510']);
      expect(await listSchedules(control)).toHaveLength(SCHEDULER_PAGE + 18);
      expect(ranges.length).toBeGreaterThan(0);
      for (const [start, end] of ranges) expect(end - start + 1, `range ${start}..${end}`).toBeLessThanOrEqual(SCHEDULER_PAGE);
      for (const [start, end] of ranges) expect(end).toBeGreaterThanOrEqual(start);
    } finally {
      await control.obliterate({ force: true });
      await control.close();
      redis.disconnect();
    }
  }, 60_000);

  it('a second sync while one holds the lock does nothing and says so', async () => {
    const redisUrl = inject('redisUrl');
    const config = configFor(['west'], [{ id: 'a', username: 'user_a', clusters: ['west'] }], redisUrl);
    const redis = new Redis(redisUrl, { maxRetriesPerRequest: null });
    const control = new Queue(QUEUE.control, { connection: redis, prefix: config.redis.prefix });
    try {
      await redis.set(`${config.redis.prefix}:schedules-sync-lock`, 'someone-else', 'PX', 10_000);
      expect(await syncSchedules(control, redis, config.redis.prefix, config)).toBeNull();
      expect(await listSchedules(control)).toEqual([]);
    } finally {
      await control.obliterate({ force: true });
      await control.close();
      redis.disconnect();
    }
  });
});

describe('worker: priorities', () => {
  it('a leak job enqueued behind 100 scheduled jobs runs next', async () => {
    const redisUrl = inject('redisUrl');
    const clusters = ['c0', 'c1', 'c2'];
    const specs = Array.from({ length: 101 }, (_, i) => ({ id: `cred-${i}`, username: `user_${i}`, clusters: [clusters[i % 3] as string] }));
    const config = configFor(clusters, specs, redisUrl, {});
    const sandbox = await sandboxFor({ ...config, worker: { ...config.worker, concurrency: 1 } });
    const producer = new RotationQueue(new Redis(redisUrl, { maxRetriesPerRequest: null }), config.redis.prefix);
    for (let i = 0; i < 100; i++) await producer.enqueue({ credentialId: `cred-${i}`, mode: 'scheduled', requestedBy: 'test' });
    const leak = await producer.enqueue({ credentialId: 'cred-100', mode: 'leak', requestedBy: 'test', alert: { alertId: 'a-1', source: 'test', receivedAt: Date.now() } });

    const worker = await startWorker(sandbox.config, silent, { syncSchedules: false });
    workers.push(worker);
    await waitFor(async () => (await Job.fromId(producer.queue, leak.jobId))?.finishedOn !== undefined, 20_000, 'the leak job');
    const leakJob = await Job.fromId(producer.queue, leak.jobId);
    expect(leakJob?.returnvalue).toMatchObject({ outcome: 'rotated', mode: 'leak' });
    const others = await producer.queue.getJobs(['completed', 'active', 'waiting', 'prioritized', 'delayed']);
    const startedBefore = others.filter((j) => j.id !== leak.jobId && j.processedOn !== undefined && j.processedOn < (leakJob?.processedOn ?? 0));
    expect(startedBefore.map((j) => j.data.credentialId)).toEqual([]);
    await worker.close();
    workers.splice(workers.indexOf(worker), 1);
    await producer.queue.obliterate({ force: true });
    await producer.close();
  });
});

describe('worker: one rotation per credential at a time, across processes', () => {
  it('two worker processes and 20 concurrent enqueues: never two rotations at once, and one after the last enqueue', async () => {
    const redisUrl = inject('redisUrl');
    const config = configFor(['west', 'east'], [{ id: 'shared', username: 'shared_user', clusters: ['west', 'east'] }], redisUrl);
    const sandbox = await sandboxFor(config);
    const credential = sandbox.config.credentials.shared!;
    for (const sim of sandbox.clusters.values()) sim.setLatency(20);
    const watch = watchStoredPasswordInvariant(sandbox, credential);
    const overlaps: string[] = [];
    const puts: number[] = [];
    let previousLabels = sandbox.emulator.labelsOf(credential.secretId);
    sandbox.emulator.onWrite((event) => {
      if (event.op === 'PutSecretValue') {
        puts.push(Date.now());
        const current = Object.keys(previousLabels).find((v) => previousLabels[v]?.includes('AWSCURRENT'));
        const pending = Object.keys(previousLabels).find((v) => previousLabels[v]?.includes('AWSPENDING') && v !== current);
        if (pending) overlaps.push(`a version was put while ${pending} was still pending`);
      }
      previousLabels = sandbox.emulator.labelsOf(credential.secretId);
    });
    const path = writeConfigFile(sandbox.config);
    const a = spawnWorker(path, sandbox.env);
    const b = spawnWorker(path, sandbox.env);
    processes.push(a, b);
    await Promise.all([a.waitForLine(/worker started/), b.waitForLine(/worker started/)]);

    const producer = new RotationQueue(new Redis(redisUrl, { maxRetriesPerRequest: null }), config.redis.prefix);
    const enqueued = await Promise.all(Array.from({ length: 20 }, () => producer.enqueue({ credentialId: 'shared', mode: 'manual', requestedBy: 'test' })));
    const lastEnqueueAt = Date.now();
    await waitFor(() => idle(producer.queue), 30_000, 'the queue to drain');

    expect(enqueued.filter((e) => !e.deduplicated).length).toBeGreaterThanOrEqual(1);
    expect(overlaps).toEqual([]);
    expect(puts.length).toBeGreaterThanOrEqual(1);
    expect(puts.length).toBeLessThanOrEqual(20);
    expect(Math.max(...puts)).toBeGreaterThan(lastEnqueueAt - 1);
    for (const name of credential.clusters) {
      const changes = sandbox.clusters.get(name)!.changeLog.filter((c) => c.user === credential.username);
      for (let i = 1; i < changes.length; i++) expect(changes[i]?.from, `${name} history is linear`).toBe(changes[i - 1]?.to);
    }
    expect(watch.violations).toEqual([]);
    expect(assertEndInvariants(sandbox, credential, 'rotated')).toEqual([]);
    await producer.close();
  });
});

describe('worker: crashes and restarts', () => {
  it('a worker killed with SIGKILL mid-rotation: another worker resumes the same rotation to a consistent end', async () => {
    const redisUrl = inject('redisUrl');
    const config = configFor(['west', 'east'], [{ id: 'victim', username: 'victim_user', clusters: ['west', 'east'] }], redisUrl);
    const sandbox = await sandboxFor(config);
    const credential = sandbox.config.credentials.victim!;
    const watch = watchStoredPasswordInvariant(sandbox, credential);
    // Below the clients' 2 s timeout: whichever worker's request meets it still succeeds.
    sandbox.clusters.get('east')!.injectFault({ route: 'update_password', fault: { kind: 'latency', ms: 1_200 } });
    const path = writeConfigFile(sandbox.config);
    const first = spawnWorker(path, sandbox.env);
    processes.push(first);
    await first.waitForLine(/worker started/);
    const producer = new RotationQueue(new Redis(redisUrl, { maxRetriesPerRequest: null }), config.redis.prefix);
    const { jobId } = await producer.enqueue({ credentialId: 'victim', mode: 'manual', requestedBy: 'test' });
    await first.waitForLine(/"step":"write_ahead".*step ended/);
    first.kill('SIGKILL');
    expect(await first.exited).toBe('SIGKILL');

    const second = spawnWorker(path, sandbox.env);
    processes.push(second);
    await waitFor(async () => (await Job.fromId(producer.queue, jobId))?.finishedOn !== undefined, 30_000, 'the job to finish on the second worker');
    const job = await Job.fromId(producer.queue, jobId);
    expect(job?.returnvalue, JSON.stringify(job?.returnvalue)).toMatchObject({ outcome: 'rotated', versionId: job?.data.rotationId });
    expect(watch.violations).toEqual([]);
    expect(assertEndInvariants(sandbox, credential, 'rotated')).toEqual([]);
    expect(await versionCount(credential.secretId)).toBe(2);
    await producer.close();
  });

  it('SIGTERM drains: the running rotation finishes, the process exits 0 within the bound', async () => {
    const redisUrl = inject('redisUrl');
    const config = configFor(['west'], [{ id: 'drain', username: 'drain_user', clusters: ['west'] }], redisUrl);
    const sandbox = await sandboxFor(config);
    sandbox.clusters.get('west')!.injectFault({ route: 'update_password', fault: { kind: 'latency', ms: 1_500 } });
    const path = writeConfigFile(sandbox.config);
    const worker = spawnWorker(path, sandbox.env);
    processes.push(worker);
    await worker.waitForLine(/worker started/);
    const producer = new RotationQueue(new Redis(redisUrl, { maxRetriesPerRequest: null }), config.redis.prefix);
    const { jobId } = await producer.enqueue({ credentialId: 'drain', mode: 'manual', requestedBy: 'test' });
    await worker.waitForLine(/"step":"write_ahead".*step ended/);
    const signalledAt = Date.now();
    worker.kill('SIGTERM');
    expect(await worker.exited).toBe(0);
    expect(Date.now() - signalledAt).toBeLessThan(FAST_WORKER.shutdownTimeoutMs);
    const job = await Job.fromId(producer.queue, jobId);
    expect(job?.returnvalue).toMatchObject({ outcome: 'rotated' });
    expect(worker.lines.some((l) => l.includes('"drained":true'))).toBe(true);
    await producer.close();
  });

  it('Redis restarted mid-run: the workers reconnect and finish, and nothing is rotated twice', async () => {
    const redis = await startRedisServer({ persistDir: mkdtempSync(join(tmpdir(), 'rotator-redis-')) });
    try {
      const config = configFor(['west', 'east'], [
        { id: 'r1', username: 'r1_user', clusters: ['west', 'east'] },
        { id: 'r2', username: 'r2_user', clusters: ['west'] },
        { id: 'r3', username: 'r3_user', clusters: ['east'] },
      ], redis.url);
      const sandbox = await sandboxFor(config);
      for (const sim of sandbox.clusters.values()) sim.setLatency(300);
      const path = writeConfigFile(sandbox.config);
      const a = spawnWorker(path, sandbox.env);
      const b = spawnWorker(path, sandbox.env);
      processes.push(a, b);
      await Promise.all([a.waitForLine(/worker started/), b.waitForLine(/worker started/)]);
      const producerRedis = new Redis(redis.url, { maxRetriesPerRequest: null });
      producerRedis.on('error', () => {}); // the restart below: it reconnects
      const producer = new RotationQueue(producerRedis, config.redis.prefix);
      const jobs = await Promise.all(['r1', 'r2', 'r3'].map((id) => producer.enqueue({ credentialId: id, mode: 'manual', requestedBy: 'test' })));
      await Promise.race([a.waitForLine(/"step":"write_ahead".*step ended/), b.waitForLine(/"step":"write_ahead".*step ended/)]);
      await redis.restart();
      await waitFor(async () => {
        try {
          const states = await Promise.all(jobs.map(async (j) => (await Job.fromId(producer.queue, j.jobId))?.finishedOn));
          return states.every((f) => f !== undefined);
        } catch {
          return false;
        }
      }, 45_000, 'every job to finish after the restart');
      for (const j of jobs) {
        const job = await Job.fromId(producer.queue, j.jobId);
        expect(job?.returnvalue, `job of ${j.credentialId}`).toMatchObject({ outcome: 'rotated', versionId: job?.data.rotationId });
        const credential = sandbox.config.credentials[j.credentialId]!;
        expect(await versionCount(credential.secretId), `versions of ${j.credentialId}`).toBe(2);
        expect(assertEndInvariants(sandbox, credential, 'rotated')).toEqual([]);
      }
      await producer.close();
      // scan this Redis too before it goes
      const dump = await dumpRedis(producerRedis);
      collectPasswords(sandbox);
      expect(findExposures(dump, seenPasswords, usernames)).toEqual([]);
      producerRedis.disconnect();
    } finally {
      for (const p of processes.splice(0)) {
        p.kill('SIGKILL');
        await p.exited;
      }
      await redis.stop();
    }
  });
});

afterAll(async () => {
  // Every key and value in the shared Redis, every type, against every password any sandbox saw.
  for (const url of redisUrls) {
    const redis = new Redis(url, { maxRetriesPerRequest: 1, lazyConnect: true, retryStrategy: () => null });
    redis.on('error', () => {});
    try {
      await redis.connect();
    } catch {
      continue; // a private Redis already stopped (scanned in its own test)
    }
    const dump = await dumpRedis(redis);
    expect(dump.length).toBeGreaterThan(10);
    expect(seenPasswords.size).toBeGreaterThan(10);
    expect(findExposures(dump, seenPasswords, usernames)).toEqual([]);
    redis.disconnect();
  }
});


describe('worker: the queue commands of the CLI', () => {
  it('enqueue --wait prints the outcome and exits with the rotation exit code; schedules sync and list', async () => {
    const redisUrl = inject('redisUrl');
    const config = configFor(['west'], [{ id: 'cli', username: 'cli_user', clusters: ['west'], schedule: '15 5 * * *' }], redisUrl);
    const sandbox = await sandboxFor(config);
    const path = writeConfigFile(sandbox.config);
    const worker = await startWorker(sandbox.config, silent, { syncSchedules: false });
    workers.push(worker);
    const out: string[] = [];
    const io = { out: (line: string) => void out.push(line), err: (line: string) => void out.push(line) };

    expect(await main(['enqueue', '--config', path, '--credential', 'cli', '--wait', '--json'], io)).toBe(0);
    const result = JSON.parse(out.find((l) => l.startsWith('{')) ?? '{}') as { outcome?: string; credential?: string };
    expect(result).toMatchObject({ credential: 'cli', outcome: 'rotated' });

    sandbox.clusters.get('west')!.setPassword('cli_user', 'Someone-Else-Set-This-1!');
    // rotation.minIntervalMs (1 s here) must pass before the next manual rotation.
    await new Promise((resolve) => setTimeout(resolve, config.rotation.minIntervalMs + 100));
    out.length = 0;
    expect(await main(['enqueue', '--config', path, '--credential', 'cli', '--wait', '--json'], io)).toBe(3);
    expect(JSON.parse(out.find((l) => l.startsWith('{')) ?? '{}')).toMatchObject({ outcome: 'needs_attention', reason: 'unknown_password' });

    out.length = 0;
    expect(await main(['enqueue', '--config', path, '--credential', 'nope'], io)).toBe(2);

    out.length = 0;
    expect(await main(['schedules', 'sync', '--config', path], io)).toBe(0);
    expect(await main(['schedules', 'list', '--config', path, '--json'], io)).toBe(0);
    const listed = out.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { id: string; pattern: string | null; next: string | null });
    expect(listed.map((s) => s.id).sort()).toEqual(['reconcile', 'schedule:cli']);
    expect(listed.find((s) => s.id === 'schedule:cli')).toMatchObject({ pattern: '15 5 * * *' });
    expect(new Date(listed.find((s) => s.id === 'schedule:cli')?.next ?? 0).getUTCHours()).toBe(5);
    const connection = new Redis(redisUrl, { maxRetriesPerRequest: null });
    const control = new Queue(QUEUE.control, { connection, prefix: config.redis.prefix });
    await control.obliterate({ force: true });
    await control.close();
    connection.disconnect();
  });
});
