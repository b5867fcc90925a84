import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { spawnRedisProcess, removeTempDir, trackTempDir, type RedisProcess } from './redis-process.ts';
import { freePort } from './redis-server.ts';

const run = promisify(execFile);

export interface RedisClusterServers {
  /** `redis://127.0.0.1:<port>` of each master. */
  urls: string[];
  ports: number[];
  /** The port of a master that does NOT own `key`'s hash slot (a seed that must redirect). */
  portNotOwning: (key: string) => Promise<number>;
  stop: () => Promise<void>;
}

async function clusterInfo(port: number): Promise<string> {
  const client = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 1 });
  client.on('error', () => {});
  try {
    await client.connect();
    return String(await client.call('CLUSTER', 'INFO'));
  } finally {
    client.disconnect();
  }
}

/**
 * A Redis Cluster of `masters` masters (no replicas) on free loopback ports: each redis-server
 * with `--cluster-enabled yes`, joined with `redis-cli --cluster create ... --cluster-yes`, and
 * ready when every node reports `cluster_state:ok`. `stop()` kills every node and removes the dir.
 */
export async function startRedisCluster(masters = 3): Promise<RedisClusterServers> {
  const dir = mkdtempSync(join(tmpdir(), 'rotator-cluster-'));
  trackTempDir(dir);
  const ports = await Promise.all(Array.from({ length: masters }, () => freePort()));
  const nodes: RedisProcess[] = [];
  const stop = async (): Promise<void> => {
    await Promise.all(nodes.map((n) => n.stop('SIGKILL')));
    removeTempDir(dir);
  };
  try {
    for (const port of ports) {
      nodes.push(
        await spawnRedisProcess('redis-server', [
          '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no',
          '--maxmemory-policy', 'noeviction',
          '--cluster-enabled', 'yes', '--cluster-config-file', join(dir, `nodes-${port}.conf`), '--cluster-node-timeout', '2000',
        ]),
      );
    }
    await run('redis-cli', ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '0', '--cluster-yes'], { timeout: 20_000 });
    const deadline = Date.now() + 15_000;
    for (;;) {
      const states = await Promise.all(ports.map((p) => clusterInfo(p)));
      if (states.every((s) => s.includes('cluster_state:ok'))) break;
      if (Date.now() > deadline) throw new Error(`cluster not ok within 15 s:\n${states.join('\n')}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    urls: ports.map((p) => `redis://127.0.0.1:${p}`),
    ports,
    portNotOwning: async (key) => {
      const client = new Redis({ port: ports[0], host: '127.0.0.1', maxRetriesPerRequest: 1 });
      client.on('error', () => {});
      try {
        const slot = Number(await client.call('CLUSTER', 'KEYSLOT', key));
        const ranges = (await client.call('CLUSTER', 'SLOTS')) as [number, number, [string, number, ...unknown[]]][];
        const owner = ranges.find(([from, to]) => slot >= from && slot <= to)?.[2][1];
        const other = ports.find((p) => p !== owner);
        if (other === undefined) throw new Error(`no node other than the owner of slot ${slot}`);
        return other;
      } finally {
        client.disconnect();
      }
    },
    stop,
  };
}
