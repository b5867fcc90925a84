/**
 * Which consumers still hold which version: helpers with a heartbeat report the version they use
 * into the rotator's Redis (a real redis-server), and the rotator's `milvus_rotator_consumers`
 * gauge counts them per credential and version, ignoring (and removing) consumers that stopped.
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { createHttpClientConsumer, encodeHeartbeat, heartbeatKey, type RotatingClient } from '../src/consumer/index.ts';
import type { HttpClient } from '@zilliz/milvus2-sdk-node';
import pino from 'pino';
import { RotatorMetrics } from '../src/observability/metrics.ts';
import { readConsumerVersions } from '../src/queue/consumer-versions.ts';
import type { MilvusSimulator } from '../src/sandbox/milvus-simulator.ts';
import { startWorker } from '../src/worker.ts';
import { makeFleetConfig } from './helpers/config.ts';
import { findExposures } from './helpers/exposure.ts';
import { dumpRedis } from './helpers/redis-dump.ts';
import { startRotationFixture, type RotationFixture } from './helpers/rotation-fixture.ts';

let redis: Redis;
let fixture: RotationFixture;
let prefix: string;
const consumers: Array<RotatingClient<HttpClient>> = [];

beforeAll(async () => {
  redis = new Redis(inject('redisUrl'), { maxRetriesPerRequest: 1 });
});
afterAll(async () => {
  await redis.quit();
});
beforeEach(async () => {
  fixture = await startRotationFixture({});
  prefix = `{consumer-heartbeat-${randomUUID().slice(0, 8)}}`;
});
afterEach(async () => {
  await Promise.all(consumers.splice(0).map((c) => c.close()));
  await fixture.close();
});

function consumer(): RotatingClient<HttpClient> {
  const simulator = fixture.sandbox.clusters.get('west') as MilvusSimulator;
  const c = createHttpClientConsumer({ secretId: fixture.credential.secretId, client: { endpoint: simulator.url }, heartbeat: { redis, prefix, intervalMs: 200 } });
  consumers.push(c);
  return c;
}

async function until(check: () => Promise<boolean>, ms = 5_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const counts = () => readConsumerVersions(redis, prefix, fixture.credential.secretId, Date.now());

describe('consumer version heartbeats', () => {
  it('counts consumers per version through a rotation, on the metric too, and forgets a consumer that closed', async () => {
    const [a, b] = [consumer(), consumer()];
    const v0 = (await a.open()).versionId;
    await b.open();
    await until(async () => (await counts()).get(v0) === 2);

    expect((await fixture.rotate()).outcome).toBe('rotated');
    await a.call((client) => client.listCollections()); // a swaps; b has made no call since
    const v1 = a.version?.versionId as string;
    expect(v1).not.toBe(v0);
    await until(async () => (await counts()).get(v1) === 1);
    expect(Object.fromEntries(await counts())).toEqual({ [v0]: 1, [v1]: 1 });

    const metrics = new RotatorMetrics({ defaultMetrics: false });
    metrics.setConsumerSource(async () => new Map([[fixture.credential.id, await counts()]]));
    const text = await metrics.registry.metrics();
    expect(text).toContain(`milvus_rotator_consumers{credential="${fixture.credential.id}",version_id="${v0}"} 1`);
    expect(text).toContain(`milvus_rotator_consumers{credential="${fixture.credential.id}",version_id="${v1}"} 1`);

    await b.close();
    expect(Object.fromEntries(await counts())).toEqual({ [v1]: 1 });
    const dump = await dumpRedis(redis, `${prefix}*`);
    expect(dump.length).toBeGreaterThan(0);
    expect(findExposures(dump, fixture.sandbox.clusters.get('west')?.passwordsSeen() ?? [], [fixture.credential.username])).toEqual([]);
  });

  it('ignores and removes a beat older than three intervals (a consumer that died without closing)', async () => {
    const key = heartbeatKey(prefix, fixture.credential.secretId);
    const now = Date.now();
    await redis.hset(key, 'dead', encodeHeartbeat({ versionId: 'v-old', stage: 'AWSCURRENT', at: now - 91_000 }), 'alive', encodeHeartbeat({ versionId: 'v-new', stage: 'AWSCURRENT', at: now - 1_000 }));
    expect(Object.fromEntries(await readConsumerVersions(redis, prefix, fixture.credential.secretId, now))).toEqual({ 'v-new': 1 });
    expect(await redis.hkeys(key)).toEqual(['alive']);
  });

  it("the worker's gauge counts the consumers of every credential (read a bounded number at a time)", async () => {
    // 150 credentials: more than the reads the worker makes at once.
    const base = makeFleetConfig(150);
    const config = { ...base, redis: { ...base.redis, url: inject('redisUrl'), prefix } };
    const now = Date.now();
    for (const credential of Object.values(config.credentials)) {
      await redis.hset(heartbeatKey(prefix, credential.secretId), 'one', encodeHeartbeat({ versionId: `v-${credential.id}`, stage: 'AWSCURRENT', at: now }));
    }
    const worker = await startWorker(config, pino({ level: 'silent' }), { syncSchedules: false });
    try {
      await worker.started; // Redis answered: the gauge reads instead of keeping its last values
      const text = await worker.metrics.registry.metrics();
      const series = text.split('\n').filter((line) => line.startsWith('milvus_rotator_consumers{'));
      expect(series).toHaveLength(150);
      expect(series).toContain('milvus_rotator_consumers{credential="cred-149",version_id="v-cred-149"} 1');
    } finally {
      await worker.close();
    }
  });
});
