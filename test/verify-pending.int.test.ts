/**
 * `verify` (a child process, as an operator runs it) after a worker's rotation rolled back and
 * could not remove AWSPENDING: the version stays under AWSPENDING, younger than the lease, and no
 * rotation is running. verify must not call that `in_progress` (exit 0). It asks the queue whether
 * the version's rotation has ended: `stale_pending`, exit 1, `pendingOwner: "ended"`. While another
 * rotation of the credential is queued (it adopts the version) it is `in_progress` again, and with
 * Redis unreachable verify falls back to the age alone, promptly.
 */
import { randomUUID } from 'node:crypto';
import { Job } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { startSandbox, type Sandbox } from '../src/sandbox/sandbox.ts';
import { FAST_WORKER, makeConfig } from './helpers/config.ts';
import { writeConfigFile } from './helpers/config-file.ts';
import { freePort } from './helpers/redis-server.ts';
import { linesOf, runCli } from './helpers/run-cli.ts';
import { waitFor } from './helpers/wait-for.ts';
import { killWorker, spawnWorker } from './helpers/worker-process.ts';
import { openProducer } from './helpers/queue-producer.ts';

const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

describe('verify after a rollback that left AWSPENDING', () => {
  it('stale_pending with exit 1 (pendingOwner ended), in_progress while a rotation of the credential is queued, and by age alone without Redis', async () => {
    const redisUrl = inject('redisUrl');
    const base = makeConfig(['west', 'east'], [{ id: 'app', username: 'app_user', clusters: ['west', 'east'] }]);
    // Reconcile out of the way (FAST_WORKER): it would queue a resume of the left version at once.
    const config = { ...base, redis: { ...base.redis, url: redisUrl, prefix: `{test-${randomUUID().slice(0, 8)}}` }, worker: FAST_WORKER };
    const sandbox: Sandbox = await startSandbox(config);
    cleanups.push(() => sandbox.close());
    const secretId = sandbox.config.credentials.app!.secretId;
    const path = writeConfigFile(sandbox.config);

    // east refuses the new password (policy, 1100): west is rolled back. Removing AWSPENDING fails.
    sandbox.clusters.get('east')!.injectFault({ route: 'update_password', times: 5, fault: { kind: 'reply', status: 200, body: '{"code":1100,"message":"x"}' } });
    sandbox.emulator.injectFault({ op: 'UpdateSecretVersionStage', secretId, times: Infinity, fault: { kind: 'status', status: 500 } });

    const worker = spawnWorker(path, sandbox.env, ['--no-http']);
    cleanups.push(() => killWorker(worker));
    await worker.waitForLine(/worker started/);
    const { producer, close } = openProducer(redisUrl, config.redis.prefix);
    cleanups.push(close);
    const job = await producer.enqueue({ credentialId: 'app', mode: 'manual', requestedBy: 'test' });
    await waitFor(async () => (await Job.fromId(producer.queue, job.jobId))?.finishedOn !== undefined, 30_000, 'the rotation');
    const result = (await Job.fromId(producer.queue, job.jobId))?.returnvalue as { outcome: string; error?: string };
    expect(result).toMatchObject({ outcome: 'rolled_back' });
    expect(result.error).toContain('AWSPENDING could not be removed');
    worker.kill('SIGTERM');
    expect(await worker.exited).toBe(0);
    sandbox.emulator.clearFaults();
    expect(sandbox.emulator.labelsOf(secretId)[job.jobId]).toEqual(['AWSPENDING']);

    // No rotation is running: exit 1, and why.
    const ended = await runCli(['verify', '--config', path, '--credential', 'app', '--json'], { env: sandbox.env });
    expect(ended.code, ended.stderr).toBe(1);
    const [check] = linesOf(ended.stdout).map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(check).toMatchObject({ credential: 'app', status: 'stale_pending', pendingVersionId: job.jobId, pendingOwner: 'ended', clusters: { west: 'accepted', east: 'accepted' } });
    expect(check?.error).toMatch(/rotation that has ended .* resume it with recover/);
    expect(check?.pendingAgeMs).toBeLessThan(config.rotation.pendingLeaseMs);
    const table = await runCli(['verify', '--config', path, '--credential', 'app'], { env: sandbox.env });
    expect(table.code).toBe(1);
    expect(table.stdout).toMatch(/app +stale_pending/);

    // A rotation of the credential queued (no worker runs it yet): it will adopt the version.
    await producer.enqueue({ credentialId: 'app', mode: 'manual', requestedBy: 'test' });
    const queued = await runCli(['verify', '--config', path, '--credential', 'app', '--json'], { env: sandbox.env });
    expect(queued.code, queued.stderr).toBe(0);
    expect(JSON.parse(linesOf(queued.stdout)[0] ?? '{}')).toMatchObject({ status: 'in_progress', pendingOwner: 'running' });

    // Redis unreachable: the age decides (in progress), the command says so and still exits promptly.
    const closed = writeConfigFile({ ...sandbox.config, redis: { ...sandbox.config.redis, url: `redis://127.0.0.1:${await freePort()}`, connectTimeoutMs: 20_000 } });
    const blind = await runCli(['verify', '--config', closed, '--credential', 'app', '--json'], { env: sandbox.env });
    expect(blind.code, blind.stderr).toBe(0);
    expect(JSON.parse(linesOf(blind.stdout)[0] ?? '{}')).toMatchObject({ status: 'in_progress', pendingOwner: 'unknown' });
    expect(blind.stderr).toContain('judging it by its age only');
    expect(blind.stderr).not.toContain('did not exit');
    // verify waits at most 3 s for Redis, not redis.connectTimeoutMs (20 s here); node's start and the checks take the rest.
    expect(blind.ms).toBeLessThan(10_000);
  });
});
