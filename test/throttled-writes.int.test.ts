/**
 * Secrets Manager throttling the rotator's writes (the shared write quota is full), against a real
 * Redis and the sandbox:
 *  - the rotate job's fence books a slot in the fleet's write gate before every attempt of a
 *    write, a retry of a throttled write included (the job processor in process, over a real
 *    WriteGate whose bookings are counted);
 *  - with a real worker process: a rotation whose write ahead stays throttled is put back, not
 *    failed, and rotates once Secrets Manager admits writes again; a scheduled rotation whose
 *    promotion stays throttled is not rolled back, and is promoted once writes are admitted.
 */
import { randomUUID } from 'node:crypto';
import { Job, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import pino from 'pino';
import { afterEach, describe, expect, inject, it } from 'vitest';
import type { SingleCredentialConfig } from '../src/config/types.ts';
import { RotatorMetrics } from '../src/observability/metrics.ts';
import { CredentialStateStore } from '../src/queue/credential-state.ts';
import { QUEUE } from '../src/queue/names.ts';
import { RotationQueue } from '../src/queue/rotation-queue.ts';
import { WriteGate } from '../src/queue/write-gate.ts';
import { createEngineRuntime } from '../src/rotation/create-engine.ts';
import type { Mode, RotationResult } from '../src/rotation/types.ts';
import { startSandbox, type Sandbox } from '../src/sandbox/sandbox.ts';
import { STAGE } from '../src/secrets/types.ts';
import { createRotateProcessor } from '../jobs/rotate.ts';
import { writeConfigFile } from './helpers/config-file.ts';
import { makeConfig, type SingleUserConfig } from './helpers/config.ts';
import { assertEndInvariants, passwordUnder, watchStoredPasswordInvariant } from './helpers/invariants.ts';
import { killWorker, spawnWorker } from './helpers/worker-process.ts';
import { waitFor } from './helpers/wait-for.ts';
import { openProducer, finishedResult } from './helpers/queue-producer.ts';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

interface Setup {
  sandbox: Sandbox<SingleUserConfig>;
  credential: SingleCredentialConfig;
  producer: RotationQueue;
  connection: Redis;
}

async function setUp(name: string): Promise<Setup> {
  const redisUrl = inject('redisUrl');
  const base = makeConfig(['west', 'east'], [{ id: 'app', username: 'app_user', clusters: ['west', 'east'], schedule: 'off' }]);
  const config: SingleUserConfig = {
    ...base,
    redis: { ...base.redis, url: redisUrl, prefix: `{${name}-${randomUUID().slice(0, 8)}}` },
    worker: { ...base.worker, lockDurationMs: 5_000, stalledIntervalMs: 2_000, credentialLockTtlMs: 3_000, shutdownTimeoutMs: 5_000 },
  };
  const sandbox = await startSandbox(config);
  cleanups.push(() => sandbox.close());
  Object.assign(process.env, sandbox.env);
  const { producer, connection, close } = openProducer(redisUrl, config.redis.prefix);
  cleanups.push(close);
  return { sandbox, credential: sandbox.config.credentials.app as SingleCredentialConfig, producer, connection };
}


function finished(s: Setup, jobId: string, timeoutMs = 20_000): Promise<RotationResult> {
  return finishedResult<RotationResult>(s.producer.queue, jobId, timeoutMs);
}

function clustersHold(s: Setup, stage: (typeof STAGE)[keyof typeof STAGE]): boolean {
  const value = passwordUnder(s.sandbox, s.credential.secretId, stage);
  return value !== undefined && [...s.sandbox.clusters.values()].every((sim) => sim.passwordOf(s.credential.username) === value);
}

/** The fleet's write gate, counting its bookings. */
class CountingGate extends WriteGate {
  readonly bookings: Mode[] = [];
  override async acquire(mode: Mode): Promise<void> {
    await super.acquire(mode);
    this.bookings.push(mode);
  }
}

describe('rotate job: the write gate is booked before every attempt of a write', () => {
  it('the write ahead and the promotion each throttled twice, then admitted: rotated, six bookings for six writes sent', async () => {
    const s = await setUp('gate');
    const config = s.sandbox.config;
    const runtime = createEngineRuntime(config);
    cleanups.push(async () => runtime.close());
    const gate = new CountingGate(s.connection, config.redis.prefix, config.aws.writesPerSecond);
    const processor = createRotateProcessor({
      config,
      runtime,
      redis: s.connection,
      prefix: config.redis.prefix,
      leakFlags: s.producer.leakFlags,
      credentialState: new CredentialStateStore(s.connection, config.redis.prefix),
      writeGate: gate,
      metrics: new RotatorMetrics({ defaultMetrics: false }),
      logger: pino({ level: 'silent' }),
      workerId: 'test',
      pendingOwner: async () => 'unknown',
    });
    const worker = new Worker(QUEUE.rotations, processor, { connection: s.connection, prefix: config.redis.prefix });
    cleanups.push(() => worker.close());
    s.sandbox.emulator.injectFault({ op: 'PutSecretValue', times: 2, fault: { kind: 'throttle' } });
    s.sandbox.emulator.injectFault({ op: 'UpdateSecretVersionStage', times: 2, fault: { kind: 'throttle' } });

    const { jobId } = await s.producer.enqueue({ credentialId: 'app', mode: 'scheduled', requestedBy: 'test' });
    const result = await finished(s, jobId);

    expect(result).toMatchObject({ outcome: 'rotated', reason: 'ok', rotationId: jobId });
    expect(s.sandbox.emulator.callCount('PutSecretValue')).toBe(3);
    expect(s.sandbox.emulator.callCount('UpdateSecretVersionStage')).toBe(3);
    expect(s.sandbox.emulator.throttledCount()).toBe(4);
    expect(gate.bookings).toEqual(Array(6).fill('scheduled'));
    expect(assertEndInvariants(s.sandbox, s.credential, 'rotated')).toEqual([]);
  });
});

describe('worker: a rotation Secrets Manager keeps throttling is never failed or rolled back for it', () => {
  it('the write ahead throttled past its retries: the job is put back with nothing changed, and rotates once writes are admitted', async () => {
    const s = await setUp('put-back');
    const worker = spawnWorker(writeConfigFile(s.sandbox.config), s.sandbox.env);
    cleanups.push(() => killWorker(worker));
    await worker.waitForLine(/worker started/);
    const before = passwordUnder(s.sandbox, s.credential.secretId, STAGE.current);
    s.sandbox.emulator.injectFault({ op: 'PutSecretValue', times: Infinity, fault: { kind: 'throttle' } });

    const { jobId } = await s.producer.enqueue({ credentialId: 'app', mode: 'scheduled', requestedBy: 'test' });
    // The engine retries the write for writeThrottleBudgetMs (10 s), then the job is put back.
    const line = await worker.waitForLine(/running it again later/, 30_000);
    expect(JSON.parse(line)).toMatchObject({ reason: 'secrets_throttled', attempt: 1, rotationId: jobId });
    await waitFor(async () => (await Job.fromId(s.producer.queue, jobId))?.data.throttled === 1, 5_000, 'the put-back to be recorded');
    expect((await Job.fromId(s.producer.queue, jobId))?.finishedOn).toBeUndefined();
    expect(passwordUnder(s.sandbox, s.credential.secretId, STAGE.current)).toBe(before);
    for (const sim of s.sandbox.clusters.values()) expect(sim.passwordOf(s.credential.username)).toBe(before);
    expect(Object.values(s.sandbox.emulator.labelsOf(s.credential.secretId)).flat()).not.toContain(STAGE.pending);

    s.sandbox.emulator.clearFaults();
    const result = await finished(s, jobId, 30_000);
    expect(result).toMatchObject({ outcome: 'rotated', reason: 'ok', rotationId: jobId });
    expect(clustersHold(s, STAGE.current)).toBe(true);
    expect(assertEndInvariants(s.sandbox, s.credential, 'rotated')).toEqual([]);
  });

  it('scheduled mode, every promotion throttled for a while: the clusters keep the new password (no roll back), promoted once writes are admitted', async () => {
    const s = await setUp('promote');
    const worker = spawnWorker(writeConfigFile(s.sandbox.config), s.sandbox.env);
    cleanups.push(() => killWorker(worker));
    await worker.waitForLine(/worker started/);
    const watch = watchStoredPasswordInvariant(s.sandbox, s.credential);
    const before = passwordUnder(s.sandbox, s.credential.secretId, STAGE.current);
    s.sandbox.emulator.injectFault({ op: 'UpdateSecretVersionStage', times: Infinity, fault: { kind: 'throttle' } });

    const { jobId } = await s.producer.enqueue({ credentialId: 'app', mode: 'scheduled', requestedBy: 'test' });
    await worker.waitForLine(/"step":"outcome".*"reason":"promote_failed"/, 30_000);
    expect(clustersHold(s, STAGE.pending)).toBe(true);
    expect(passwordUnder(s.sandbox, s.credential.secretId, STAGE.current)).toBe(before);

    s.sandbox.emulator.clearFaults();
    const result = await finished(s, jobId, 30_000);
    expect(result).toMatchObject({ outcome: 'rotated', rotationId: jobId, versionId: jobId });
    expect(clustersHold(s, STAGE.current)).toBe(true);
    expect(worker.lines.some((l) => l.includes('"step":"roll_back"'))).toBe(false);
    expect(worker.lines.some((l) => l.includes('"outcome":"rolled_back"'))).toBe(false);
    expect(watch.violations).toEqual([]);
    expect(assertEndInvariants(s.sandbox, s.credential, 'rotated')).toEqual([]);
  });
});
