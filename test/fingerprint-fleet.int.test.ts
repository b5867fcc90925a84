/**
 * The fingerprint index across replicas, over real Redis, the Secrets Manager emulator (real SDK)
 * and a real worker: the replica that rotated publishes the new labels (version ids only), every
 * other replica reads only the new version; a change outside the rotator is caught by the
 * rate-limited refresh-on-miss; a token never stored costs at most that refresh. Each replica has
 * its own Secrets Manager client with a call counter, so what each replica costs is asserted.
 */
import { randomUUID } from 'node:crypto';
import { PutSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { Redis } from 'ioredis';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Config } from '../src/config/types.ts';
import { FleetFingerprints, type FingerprintRefresh } from '../src/http/fingerprint-refresh.ts';
import { SecretVersionsFeed } from '../src/queue/secret-versions.ts';
import { createEngineRuntime, type EngineRuntime } from '../src/rotation/create-engine.ts';
import { startSandbox, type Sandbox } from '../src/sandbox/sandbox.ts';
import { STAGE } from '../src/secrets/types.ts';
import { startWorker, type RunningWorker } from '../src/worker.ts';
import { makeConfig } from './helpers/config.ts';
import { dumpRedis } from './helpers/redis-dump.ts';
import { findExposures } from './helpers/exposure.ts';

const silent = pino({ level: 'silent' });
let sandbox: Sandbox;
let config: Config;
let worker: RunningWorker;
const redises: Redis[] = [];
const runtimes: EngineRuntime[] = [];
const refreshes: FingerprintRefresh[] = [];

interface Replica {
  fleet: FleetFingerprints;
  calls: Map<string, number>;
  total: () => number;
}

/** A replica's fingerprint side: its own Redis connection, its own Secrets Manager client with a counter. */
async function replica(options: { missRefreshMs: number }): Promise<Replica> {
  const calls = new Map<string, number>();
  const runtime = createEngineRuntime(config, { onSecretsCall: (operation) => void calls.set(operation, (calls.get(operation) ?? 0) + 1) });
  runtimes.push(runtime);
  const redis = new Redis(config.redis.url, { maxRetriesPerRequest: 1 });
  redises.push(redis);
  const fleet = new FleetFingerprints({
    config: { ...config, leakAlerts: { ...config.leakAlerts, fingerprintMissRefreshMs: options.missRefreshMs, fingerprintReadsPerSecond: 1_000 } },
    store: runtime.store,
    feed: new SecretVersionsFeed(redis, config.redis.prefix),
    logger: silent,
    pollMs: 50,
  });
  const refresh = fleet.start();
  refreshes.push(refresh);
  await refresh.initial;
  return { fleet, calls, total: () => [...calls.values()].reduce((a, b) => a + b, 0) };
}

function currentPassword(id: string): string {
  const value = sandbox.emulator.valueUnder(config.credentials[id]!.secretId, STAGE.current);
  return (JSON.parse(value ?? '{}') as { password: string }).password;
}

async function waitFor(condition: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

beforeAll(async () => {
  const base = makeConfig(['west'], [
    { id: 'a', username: 'user_a', clusters: ['west'] },
    { id: 'b', username: 'user_b', clusters: ['west'] },
    { id: 'c', username: 'user_c', clusters: ['west'] },
  ]);
  sandbox = await startSandbox({ ...base, redis: { url: inject('redisUrl'), prefix: `{fp-fleet-${randomUUID().slice(0, 8)}}`, connectTimeoutMs: 10_000 } });
  Object.assign(process.env, sandbox.env);
  config = sandbox.config;
  worker = await startWorker(config, silent, { syncSchedules: false });
});

afterAll(async () => {
  for (const refresh of refreshes) refresh.stop();
  const scan = redises[0];
  if (scan) {
    // Version ids and labels only: no password in any key or value the feed wrote.
    const passwords = sandbox.emulator.valuesSeen().map((v) => (JSON.parse(v) as { password: string }).password);
    expect(findExposures(await dumpRedis(scan), passwords, ['user_a', 'user_b', 'user_c'])).toEqual([]);
  }
  for (const redis of redises) redis.disconnect();
  for (const runtime of runtimes) runtime.close();
  await worker?.close();
  await sandbox?.close();
});

describe('fingerprint index across replicas', () => {
  let first: Replica;
  let second: Replica;

  it("a new replica's first load takes the labels from the feed: values only, no DescribeSecret", async () => {
    first = await replica({ missRefreshMs: 3_600_000 });
    expect(first.calls.get('DescribeSecret')).toBe(3); // the fleet's first replica: nothing published yet
    second = await replica({ missRefreshMs: 3_600_000 });
    expect(second.calls.get('DescribeSecret') ?? 0).toBe(0);
    expect(second.calls.get('GetSecretValue')).toBe(3);
    expect(await second.fleet.index.matchToken(currentPassword('b'))).toMatchObject([{ credential: 'b', stage: STAGE.current }]);
  });

  it('matches a password another replica rotated a moment ago, having read only the new version (one GetSecretValue)', async () => {
    await second.fleet.index.matchToken('burn-the-miss-refresh-allowance');
    const before = new Map(second.calls);
    const old = currentPassword('a');
    const job = await worker.rotations.enqueue({ credentialId: 'a', mode: 'manual', requestedBy: 'test' });
    await waitFor(() => currentPassword('a') !== old, 20_000, 'the rotation');
    const rotated = currentPassword('a');
    await waitFor(async () => (await second.fleet.index.matchToken(rotated)).length > 0, 5_000, `replica two to learn the rotation of job ${job.jobId}`);
    // AWSPENDING stays on the promoted version (DESIGN section 5, step 5), so it matches under both.
    expect((await second.fleet.index.matchToken(rotated)).map((m) => `${m.credential} ${m.stage}`)).toEqual(['a AWSCURRENT', 'a AWSPENDING']);
    expect(await second.fleet.index.matchToken(old)).toMatchObject([{ credential: 'a', stage: STAGE.previous }]);
    expect((second.calls.get('GetSecretValue') ?? 0) - (before.get('GetSecretValue') ?? 0)).toBe(1);
    expect((second.calls.get('DescribeSecret') ?? 0) - (before.get('DescribeSecret') ?? 0)).toBe(0);
  });

  it('matches a password changed outside the rotator after the refresh on the miss; a token never stored costs at most that refresh', async () => {
    const third = await replica({ missRefreshMs: 3_600_000 });
    const client = new SecretsManagerClient({});
    const byHand = `Hand-Set-${randomUUID().slice(0, 8)}-Aa1!`;
    try {
      await client.send(new PutSecretValueCommand({ SecretId: config.credentials.c!.secretId, SecretString: JSON.stringify({ username: 'user_c', password: byHand }) }));
    } finally {
      client.destroy();
    }
    const before = third.total();
    expect(await third.fleet.index.matchToken(byHand)).toMatchObject([{ credential: 'c', stage: STAGE.current }]);
    // One DescribeSecret per credential and the one new value.
    expect(third.total() - before).toBe(3 + 1);
    const afterRefresh = third.total();
    for (let i = 0; i < 20; i++) expect(await third.fleet.index.matchToken(`Never-Stored-${i}-Xx9!`)).toEqual([]);
    expect(third.total()).toBe(afterRefresh);
  });
});
