import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { ConfigError, type ConfigIssue } from '../src/config/errors.ts';
import { parseConfig } from '../src/config/load.ts';
import { parseRedisUrl } from '../src/config/redis-url.ts';
import { runCli } from './helpers/run-cli.ts';

function file(redis: Record<string, unknown>): Record<string, unknown> {
  return {
    redis,
    clusters: { west: { endpoint: 'https://west.example.com:19530' } },
    credentials: { app: { secretId: 'prod/milvus/app', username: 'app', clusters: ['west'] } },
  };
}

function parse(redis: Record<string, unknown>) {
  return parseConfig(stringify(file(redis)), {}, 'test.yaml');
}

function issuesOf(redis: Record<string, unknown>): ConfigIssue[] {
  try {
    parse(redis);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return [...(error as ConfigError).issues];
  }
  throw new Error('expected the configuration to be refused');
}

const SECRET = 'p#?@%/:ss';
const ENCODED = encodeURIComponent(SECRET);

describe('config: redis.url credentials are percent-encoded', () => {
  it('decodes a user and a password holding # ? @ % / : exactly', () => {
    const parsed = parseRedisUrl(`rediss://rot%40tor:${ENCODED}@redis.example:6380/2`);
    expect(parsed).toEqual({ ok: true, url: { tls: true, host: 'redis.example', port: 6380, username: 'rot@tor', password: SECRET, db: 2 } });
    expect(parse({ url: `redis://rotator:${ENCODED}@h:6379` }).redis.url).toBe(`redis://rotator:${ENCODED}@h:6379`);
  });

  it('refuses an unencoded # or ? and a malformed %, saying how to encode, never quoting the URL', () => {
    for (const url of ['redis://rotator:ab#cd@h:6379', 'redis://rotator:ab?cd@h:6379', 'redis://rotator:ab%zzcd@h:6379']) {
      const issues = issuesOf({ url });
      expect(issues).toHaveLength(1);
      expect(issues[0]?.path).toBe('redis.url');
      expect(issues[0]?.message).toMatch(/percent-encode.*%23 %3F %40 %25/);
      expect(issues[0]?.message).not.toContain('cd');
    }
  });

  it('refuses a path that is not a database number', () => {
    expect(issuesOf({ url: 'redis://h:6379/queue' })).toEqual([{ path: 'redis.url', message: 'the path must be a database number such as /0' }]);
  });
});

describe('config: redis.mode and the keys that go with it', () => {
  it('defaults to standalone with nothing else', () => {
    expect(parse({}).redis).toEqual({ url: 'redis://127.0.0.1:6379', prefix: '{milvus-rotator}', connectTimeoutMs: 10_000, mode: 'standalone' });
  });

  it('cluster: nodes as seeds, url taken from the first node when not given', () => {
    const config = parse({ mode: 'cluster', nodes: ['rediss://n1:6379', 'rediss://n2:6379'], caFile: '/etc/ca.pem' });
    expect(config.redis).toEqual({ url: 'rediss://n1:6379', prefix: '{milvus-rotator}', connectTimeoutMs: 10_000, mode: 'cluster', nodes: ['rediss://n1:6379', 'rediss://n2:6379'], caFile: '/etc/ca.pem' });
  });

  it('cluster: refuses a prefix without a hash tag, mixed schemes and a database other than 0', () => {
    expect(issuesOf({ mode: 'cluster', url: 'redis://n1:6379', prefix: 'milvus-rotator' })).toEqual([
      { path: 'redis.prefix', message: 'must contain a hash tag such as {milvus-rotator} in cluster mode: BullMQ needs every key of a queue in one hash slot' },
    ]);
    expect(issuesOf({ mode: 'cluster', url: 'redis://n1:6379', prefix: '{}rotator' }).map((i) => i.path)).toEqual(['redis.prefix']);
    expect(issuesOf({ mode: 'cluster', url: 'redis://n1:6379', nodes: ['rediss://n2:6379'] })).toEqual([
      { path: 'redis.nodes', message: 'url and every node must use the same scheme (all redis:// or all rediss://)' },
    ]);
    expect(issuesOf({ mode: 'cluster', nodes: ['redis://n1:6379/3'] }).map((i) => i.path)).toEqual(['redis.nodes']);
    expect(issuesOf({ mode: 'cluster', url: 'redis://n1:6379/3' }).map((i) => i.path)).toEqual(['redis.url']);
  });

  it('sentinel: needs sentinels (host:port) and sentinelName', () => {
    const config = parse({ mode: 'sentinel', url: 'redis://rotator:pw@ignored:6379/1', sentinels: ['s1:26379', '10.0.0.2:26379'], sentinelName: 'mymaster' });
    expect(config.redis).toMatchObject({ mode: 'sentinel', sentinels: ['s1:26379', '10.0.0.2:26379'], sentinelName: 'mymaster' });
    expect(issuesOf({ mode: 'sentinel' })).toEqual([
      { path: 'redis.sentinels', message: 'required with mode: sentinel (the sentinels to ask for the primary, host:port each)' },
      { path: 'redis.sentinelName', message: 'required with mode: sentinel (the master name the sentinels monitor)' },
    ]);
    expect(issuesOf({ mode: 'sentinel', sentinels: ['s1'], sentinelName: 'm' })).toEqual([{ path: 'redis.sentinels[0]', message: 'must be host:port, e.g. sentinel-1:26379' }]);
  });

  it('refuses keys of another mode, an unknown mode, and caFile without rediss://', () => {
    expect(issuesOf({ nodes: ['redis://n1:6379'], sentinels: ['s:26379'], sentinelName: 'm' })).toEqual([
      { path: 'redis.nodes', message: 'only with mode: cluster (mode is standalone)' },
      { path: 'redis.sentinels', message: 'only with mode: sentinel (mode is standalone)' },
      { path: 'redis.sentinelName', message: 'only with mode: sentinel (mode is standalone)' },
    ]);
    expect(issuesOf({ mode: 'replicated' })).toEqual([{ path: 'redis.mode', message: 'must be one of standalone, cluster, sentinel' }]);
    expect(issuesOf({ url: 'redis://h:6379', caFile: '/etc/ca.pem' })).toEqual([
      { path: 'redis.caFile', message: "only with a rediss:// URL (it verifies the server's TLS certificate; redis:// has none)" },
    ]);
  });
});

describe('config check explains a refused Redis combination (as a child process)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rotator-config-redis-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('exits 2 with the key path and the reason, and never prints the password', async () => {
    const path = join(dir, 'rotator.yaml');
    writeFileSync(path, stringify(file({ mode: 'cluster', url: 'redis://rotator:hunter2-secret@n1:6379', prefix: 'no-tag', caFile: '/etc/ca.pem' })));
    const run = await runCli(['config', 'check', '--config', path], { timeoutMs: 15_000 });
    expect(run.timedOut).toBe(false);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('redis.prefix: must contain a hash tag such as {milvus-rotator} in cluster mode');
    expect(run.stderr).toContain('redis.caFile: only with a rediss:// URL');
    expect(run.stdout + run.stderr).not.toContain('hunter2-secret');
  });

  it('exits 2 when redis.caFile cannot be read (the worker and the queue commands would refuse to start)', async () => {
    const path = join(dir, 'missing-ca.yaml');
    writeFileSync(path, stringify(file({ url: 'rediss://rotator:hunter2-secret@redis.example:6380', caFile: join(dir, 'no-such-ca.pem') })));
    const run = await runCli(['config', 'check', '--config', path], { timeoutMs: 15_000 });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('redis.caFile: cannot read the CA file (ENOENT)');
    expect(run.stdout + run.stderr).not.toContain('hunter2-secret');
  });
});
