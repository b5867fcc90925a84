import { Cluster, Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import type { RedisConfig } from '../src/config/types.ts';
import { redisTarget } from '../src/queue/redis-client.ts';
import { redisEndpoint } from '../src/queue/redis-connection.ts';

const CA = Buffer.from('-----BEGIN CERTIFICATE-----\nfake\n-----END CERTIFICATE-----\n');
const readFile = (path: string): Buffer => {
  if (path !== '/etc/ca.pem') throw Object.assign(new Error(`ENOENT: ${path}`), { code: 'ENOENT' });
  return CA;
};
const base = (redis: Partial<RedisConfig>): RedisConfig => ({ url: 'redis://127.0.0.1:6379', prefix: '{p}', connectTimeoutMs: 1_000, ...redis });

/** Builds without connecting, and hands back the options ioredis was given. */
function built(redis: Partial<RedisConfig>) {
  const client = redisTarget(base(redis), readFile).connect({ lazyConnect: true, maxRetriesPerRequest: null });
  client.disconnect();
  return client;
}

describe('redisTarget: one place builds every client from redis.*', () => {
  it('standalone: decoded user and password, database, TLS verified against caFile only', () => {
    const client = built({ url: `rediss://rot%40tor:${encodeURIComponent('p#?@%')}@redis.example:6380/3`, caFile: '/etc/ca.pem' });
    expect(client).toBeInstanceOf(Redis);
    const options = (client as Redis).options;
    expect(options).toMatchObject({ host: 'redis.example', port: 6380, db: 3, username: 'rot@tor', password: 'p#?@%', maxRetriesPerRequest: null });
    expect(options.tls).toEqual({ ca: CA, rejectUnauthorized: true });
  });

  it('rediss:// without caFile uses the system store, still verifying; redis:// has no TLS', () => {
    expect((built({ url: 'rediss://h:6379' }) as Redis).options.tls).toEqual({ rejectUnauthorized: true });
    expect((built({ url: 'redis://h:6379' }) as Redis).options.tls).toBeUndefined();
  });

  it('an unreadable caFile is a config error (exit 2) naming the key', () => {
    expect(() => built({ url: 'rediss://h:6379', caFile: '/nope/ca.pem' })).toThrow(expect.objectContaining({ code: 'ROTATOR_CONFIG_INVALID', issues: [{ path: 'redis.caFile', message: 'cannot read the CA file (ENOENT)' }] }));
  });

  it('cluster: a Cluster client over the seeds, credentials and TLS per node, role options per node, offline queue at the cluster', () => {
    const redis = base({ mode: 'cluster', url: 'rediss://u:pw@n1:6379', nodes: ['rediss://n1:6379', 'rediss://n2:6380'] });
    const client = redisTarget(redis, readFile).connect({ lazyConnect: true, maxRetriesPerRequest: 1, enableOfflineQueue: false });
    client.disconnect();
    expect(client).toBeInstanceOf(Cluster);
    const cluster = client as Cluster;
    expect((cluster as unknown as { startupNodes: unknown }).startupNodes).toEqual([{ host: 'n1', port: 6379 }, { host: 'n2', port: 6380 }]);
    expect(cluster.options.redisOptions).toMatchObject({ username: 'u', password: 'pw', tls: { rejectUnauthorized: true }, maxRetriesPerRequest: 1 });
    expect(cluster.options.enableOfflineQueue).toBe(false);
    expect(redisEndpoint(redis)).toBe('cluster rediss://n1:6379,rediss://n2:6380');
  });

  it('sentinel: the sentinels, the master name, the URL credentials, READONLY reconnects; the endpoint names no password', () => {
    const redis = base({ mode: 'sentinel', url: 'redis://rotator:secret-pw@ignored:6379/2', sentinels: ['s1:26379', '[::1]:26380'], sentinelName: 'mymaster' });
    const options = (built(redis) as Redis).options;
    expect(options).toMatchObject({ sentinels: [{ host: 's1', port: 26379 }, { host: '::1', port: 26380 }], name: 'mymaster', role: 'master', db: 2, username: 'rotator', password: 'secret-pw' });
    expect(options.reconnectOnError?.(new Error('READONLY You can\'t write against a read only replica.'))).toBe(2);
    expect(redisEndpoint(redis)).toBe('sentinel "mymaster" via s1:26379,::1:26380');
    expect(redisEndpoint({ ...redis, mode: 'standalone' })).toBe('redis://rotator:***@ignored:6379/2');
  });
});

describe('awaitReplication on a server without replicas', () => {
  it('answers no-replicas at once (nothing to wait for)', async () => {
    const { inject } = await import('vitest');
    const { awaitReplication, REPLICATION } = await import('../src/queue/replication.ts');
    const client = new Redis(inject('redisUrl'), { maxRetriesPerRequest: 1 });
    try {
      expect(await awaitReplication(client)).toBe(REPLICATION.noReplicas);
    } finally {
      client.disconnect();
    }
  });
});
