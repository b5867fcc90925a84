/**
 * Finishing what was started, with a real worker process (`node src/cli.ts worker`), a real Redis
 * and the sandbox: a rotation whose clusters all moved but whose promotion cannot happen (Secrets
 * Manager throttling every promotion attempt) is run again with the same rotation id within
 * seconds, so AWSCURRENT matches the clusters seconds after Secrets Manager recovers, not after
 * the pending version's lease (10 minutes here); and a pending version left by a job that has
 * ended is adopted at once by the next rotation.
 */
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, inject, it } from 'vitest';
import type { Config, SingleCredentialConfig } from '../src/config/types.ts';
import { RotationQueue } from '../src/queue/rotation-queue.ts';
import type { RotationResult } from '../src/rotation/types.ts';
import { startSandbox, type Sandbox } from '../src/sandbox/sandbox.ts';
import { STAGE } from '../src/secrets/types.ts';
import { writeConfigFile } from './helpers/config-file.ts';
import { makeConfig, type SingleUserConfig } from './helpers/config.ts';
import { assertEndInvariants, passwordUnder, watchStoredPasswordInvariant } from './helpers/invariants.ts';
import { killWorker, spawnWorker, type WorkerProcess } from './helpers/worker-process.ts';
import { waitFor } from './helpers/wait-for.ts';
import { openProducer, finishedResult } from './helpers/queue-producer.ts';

const LEASE_MS = 600_000;
/** From Secrets Manager's recovery to AWSCURRENT matching the clusters: the backoff's bound (5 s) plus one resumed rotation, with margin for a loaded machine. */
const RECOVERY_BOUND_MS = 9_000;

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

interface Setup {
  sandbox: Sandbox<SingleUserConfig>;
  credential: SingleCredentialConfig;
  worker: WorkerProcess;
  producer: RotationQueue;
}

async function setUp(): Promise<Setup> {
  const redisUrl = inject('redisUrl');
  const base = makeConfig(['west', 'east'], [{ id: 'app', username: 'app_user', clusters: ['west', 'east'], schedule: 'off' }]);
  const config: SingleUserConfig = {
    ...base,
    redis: { ...base.redis, url: redisUrl, prefix: `{finish-${randomUUID().slice(0, 8)}}` },
    worker: { ...base.worker, lockDurationMs: 5_000, stalledIntervalMs: 2_000, credentialLockTtlMs: 3_000, shutdownTimeoutMs: 5_000 },
    rotation: { ...base.rotation, pendingLeaseMs: LEASE_MS },
  };
  const sandbox = await startSandbox(config);
  cleanups.push(() => sandbox.close());
  Object.assign(process.env, sandbox.env);
  const worker = spawnWorker(writeConfigFile(sandbox.config), sandbox.env);
  cleanups.push(() => killWorker(worker));
  await worker.waitForLine(/worker started/);
  const { producer, close } = openProducer(redisUrl, config.redis.prefix);
  cleanups.push(close);
  return { sandbox, credential: sandbox.config.credentials.app as SingleCredentialConfig, worker, producer };
}


function clustersHold(s: Setup, stage: (typeof STAGE)[keyof typeof STAGE]): boolean {
  const value = passwordUnder(s.sandbox, s.credential.secretId, stage);
  return value !== undefined && [...s.sandbox.clusters.values()].every((sim) => sim.passwordOf(s.credential.username) === value);
}

function finished(s: Setup, jobId: string): Promise<RotationResult> {
  return finishedResult<RotationResult>(s.producer.queue, jobId, 20_000);
}

describe('worker: a rotation whose clusters all moved is finished within seconds of Secrets Manager recovering', () => {
  it('leak mode, every promotion throttled (promote_failed): retried with the same rotation id; AWSCURRENT matches the clusters seconds after recovery', async () => {
    const s = await setUp();
    const watch = watchStoredPasswordInvariant(s.sandbox, s.credential);
    const leaked = passwordUnder(s.sandbox, s.credential.secretId, STAGE.current);
    s.sandbox.emulator.injectFault({ op: 'UpdateSecretVersionStage', times: Infinity, fault: { kind: 'throttle' } });

    const { jobId } = await s.producer.enqueue({ credentialId: 'app', mode: 'leak', requestedBy: 'test' });
    // Every cluster holds the new password (under AWSPENDING), and the promotion has been tried again
    // (two rotations' promotions, 3 SDK attempts each).
    await waitFor(() => clustersHold(s, STAGE.pending) && s.sandbox.emulator.callCount('UpdateSecretVersionStage') >= 2 * 3, 30_000, 'a second promotion attempt');
    expect(passwordUnder(s.sandbox, s.credential.secretId, STAGE.current)).toBe(leaked);

    const recovered = Date.now();
    s.sandbox.emulator.clearFaults();
    const matched = await waitFor(() => clustersHold(s, STAGE.current), 30_000, 'AWSCURRENT to match the clusters');

    expect(matched - recovered).toBeLessThan(RECOVERY_BOUND_MS);
    const result = await finished(s, jobId);
    expect(result).toMatchObject({ outcome: 'rotated', mode: 'leak', rotationId: jobId, versionId: jobId });
    expect(passwordUnder(s.sandbox, s.credential.secretId, STAGE.current)).not.toBe(leaked);
    expect(watch.violations).toEqual([]);
    expect(assertEndInvariants(s.sandbox, s.credential, 'rotated')).toEqual([]);
  });

  it('manual mode, the promotion and its read back throttled (finish_unknown), then the resumed loads too: retried until AWSCURRENT matches, seconds after recovery', async () => {
    const s = await setUp();
    const watch = watchStoredPasswordInvariant(s.sandbox, s.credential);
    const before = passwordUnder(s.sandbox, s.credential.secretId, STAGE.current);
    // Once both clusters took the new password, Secrets Manager throttles promotions and reads of the labels.
    let moved = 0;
    for (const sim of s.sandbox.clusters.values()) {
      const off = sim.onChange(() => {
        off();
        if (++moved === 2) {
          s.sandbox.emulator.injectFault({ op: 'UpdateSecretVersionStage', times: Infinity, fault: { kind: 'throttle' } });
          s.sandbox.emulator.injectFault({ op: 'DescribeSecret', times: Infinity, fault: { kind: 'throttle' } });
        }
      });
    }

    const { jobId } = await s.producer.enqueue({ credentialId: 'app', mode: 'manual', requestedBy: 'test' });
    // finish_unknown, then a resumed run whose load could not read the labels either.
    await s.worker.waitForLine(/"reason":"finish_unknown"/, 30_000);
    await s.worker.waitForLine(/"step":"outcome".*"reason":"secrets_throttled"/, 30_000);
    expect(clustersHold(s, STAGE.pending)).toBe(true);
    expect(passwordUnder(s.sandbox, s.credential.secretId, STAGE.current)).toBe(before);

    const recovered = Date.now();
    s.sandbox.emulator.clearFaults();
    const matched = await waitFor(() => clustersHold(s, STAGE.current), 30_000, 'AWSCURRENT to match the clusters');

    expect(matched - recovered).toBeLessThan(RECOVERY_BOUND_MS);
    expect(await finished(s, jobId)).toMatchObject({ outcome: 'rotated', rotationId: jobId, versionId: jobId });
    expect(watch.violations).toEqual([]);
    expect(assertEndInvariants(s.sandbox, s.credential, 'rotated')).toEqual([]);
  });
});

describe('worker: a pending version left by a job that has ended', () => {
  it('is adopted at once by the next rotation (not refused as rotation_in_progress until the lease runs out)', async () => {
    const s = await setUp();
    // A leak rotation that cannot move east ends needs_attention and keeps AWSPENDING (west holds it).
    s.sandbox.clusters.get('east')?.injectFault({ route: 'update_password', times: 1_000, fault: { kind: 'status', status: 503 } });
    const first = await s.producer.enqueue({ credentialId: 'app', mode: 'leak', requestedBy: 'test' });
    expect(await finished(s, first.jobId)).toMatchObject({ outcome: 'needs_attention', reason: 'leak_not_contained' });
    const labels = s.sandbox.emulator.labelsOf(s.credential.secretId);
    expect(labels[first.jobId]).toEqual([STAGE.pending]);

    s.sandbox.clusters.get('east')?.clearFaults();
    const began = Date.now();
    const second = await s.producer.enqueue({ credentialId: 'app', mode: 'manual', requestedBy: 'test' });
    const result = await finished(s, second.jobId);

    // It resumed the ended job's version (no new password), well before the 10-minute lease and without a 15 s in-progress delay.
    expect(result).toMatchObject({ outcome: 'rotated', versionId: first.jobId, rotationId: second.jobId });
    expect(Date.now() - began).toBeLessThan(10_000);
    expect(clustersHold(s, STAGE.current)).toBe(true);
    expect(assertEndInvariants(s.sandbox, s.credential, 'rotated')).toEqual([]);
  });
});
