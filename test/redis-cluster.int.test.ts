/**
 * Redis as production runs it, part 2: Redis Cluster (`redis.mode: cluster`). Three masters
 * started by the test; the worker and the CLI are given, as their only seed, a node that does NOT
 * own the prefix's hash slot, so every command is redirected (MOVED) and must still work.
 */
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REDIS_MODE } from '../src/config/types.ts';
import { closeRedisConnection, createRedisConnection, waitForRedis, type RedisRole } from '../src/queue/redis-connection.ts';
import { STAGE } from '../src/secrets/types.ts';
import { signedGeneric, WEBHOOK_SECRETS } from './http-support.ts';
import { passwordUnder } from './helpers/invariants.ts';
import { startRedisCluster, type RedisClusterServers } from './helpers/redis-cluster.ts';
import { startShapeHarness, exposuresIn, type ShapeHarness } from './helpers/redis-shape-harness.ts';
import { waitFor } from './helpers/wait-for.ts';

let cluster: RedisClusterServers;
let h: ShapeHarness;
const PREFIX = '{cluster-rotator}';

beforeAll(async () => {
  cluster = await startRedisCluster(3);
});
afterAll(async () => {
  await h?.close();
  await cluster?.stop();
});


describe('Redis Cluster (3 masters), seeded with a node that does not own the prefix slot', () => {
  it('schedules sync, enqueue, a rotation and a leak alert all work', async () => {
    const seed = await cluster.portNotOwning(`${PREFIX}:lock:app`);
    h = await startShapeHarness({ mode: 'cluster', url: `redis://127.0.0.1:${seed}`, prefix: PREFIX }, [
      { id: 'app', username: 'app_user', clusters: ['west'], schedule: '0 4 * * 1' },
      { id: 'leaky', username: 'leaky_user', clusters: ['west'] },
    ]);

    const sync = await h.cli(['schedules', 'sync']);
    expect(sync.code, sync.stderr).toBe(0);
    const list = await h.cli(['schedules', 'list', '--json']);
    expect(list.code, list.stderr).toBe(0);
    const ids = list.stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => (JSON.parse(l) as { id: string }).id);
    expect(ids.sort()).toEqual(['reconcile', 'schedule:app', 'schedule:leaky']);

    const worker = await h.startWorker();
    const run = await h.cli(['enqueue', '--credential', 'app', '--wait', '--json']);
    expect(run.code, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout.split('\n').find((l) => l.startsWith('{')) ?? '{}')).toMatchObject({ credential: 'app', outcome: 'rotated' });

    // A leak alert through the worker's own HTTP API: the leaked password dies.
    const listening = await worker.waitForLine(/HTTP server listening/);
    const url = (JSON.parse(listening) as { url: string }).url;
    // The HTTP server answers before its own Redis connections are ready (503 then): wait for /readyz, as a load balancer does.
    const deadline = Date.now() + 15_000;
    while ((await fetch(`${url}/readyz`)).status !== 200) {
      if (Date.now() > deadline) throw new Error('the worker never became ready');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const secretId = h.config.credentials.leaky!.secretId;
    const leaked = passwordUnder(h.sandbox, secretId, STAGE.current);
    const signed = signedGeneric({ credential: 'leaky', id: 'leak-in-cluster', source: 'test' }, { secret: WEBHOOK_SECRETS[0], timestampSeconds: Math.floor(Date.now() / 1000) });
    const reply = await fetch(`${url}/v1/leak-alerts`, { method: 'POST', headers: signed.headers, body: signed.payload });
    expect(reply.status, await reply.clone().text()).toBe(202);
    await waitFor(() => passwordUnder(h.sandbox, secretId, STAGE.current) !== leaked, 20_000, 'the leak rotation');
    await waitFor(() => h.sandbox.clusters.get('west')?.passwordOf('leaky_user') !== leaked, 5_000, 'the cluster to drop the leaked password');

    expect(h.endProblems()).toEqual([]);
    expect(exposuresIn(h, [...worker.lines, run.stdout, run.stderr, sync.stdout, list.stdout])).toEqual([]);
    // Nothing was refused for its slot: no CROSSSLOT, no unhandled MOVED.
    expect(worker.lines.filter((l) => /CROSSSLOT|MOVED/.test(l))).toEqual([]);
  });

  it('the same node without mode: cluster is refused with a hint, exit 4 (not a MOVED loop)', async () => {
    const seed = await cluster.portNotOwning(`${PREFIX}:lock:app`);
    const standalone = await startShapeHarness({ url: `redis://127.0.0.1:${seed}`, prefix: PREFIX }, [{ id: 'app', username: 'app_user', clusters: ['west'] }]);
    try {
      const run = await standalone.cli(['schedules', 'sync'], 20_000);
      expect(run.code, run.stderr).toBe(4);
      expect(run.stderr).toContain(`redis redis://127.0.0.1:${seed}: the server is a Redis Cluster node (MOVED): set redis.mode: cluster`);
    } finally {
      await standalone.close();
    }
  });

  it('every connection of either role is usable as soon as waitForRedis resolves (ioredis\' ready check raced the node connections: 1 producer connection in 4 never became ready)', async () => {
    const seed = await cluster.portNotOwning(`${PREFIX}:lock:app`);
    const redis = { mode: REDIS_MODE.cluster, url: `redis://127.0.0.1:${seed}`, prefix: PREFIX, connectTimeoutMs: 5_000 };
    const logger = pino({ level: 'silent' });
    const failures: string[] = [];
    for (let i = 0; i < 60; i += 1) {
      const role: RedisRole = i % 3 === 0 ? 'worker' : 'producer';
      const connection = createRedisConnection(redis, role, { logger });
      try {
        await waitForRedis(connection, redis);
        // The first commands go at once, to the slot's owner and to every other master: none is refused as "not connected".
        await Promise.all([connection.set(`${PREFIX}:probe:${i}`, '1', 'PX', 10_000), connection.ping(), connection.ping(), connection.ping()]);
      } catch (error) {
        failures.push(`${role} #${i}: ${String(error)}`);
      } finally {
        await closeRedisConnection(connection);
      }
    }
    expect(failures).toEqual([]);
  });
});
