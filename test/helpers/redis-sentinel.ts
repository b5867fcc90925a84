import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { spawnRedisProcess, removeTempDir, trackTempDir, type RedisProcess } from './redis-process.ts';
import { freePort } from './redis-server.ts';

export interface SentinelGroup {
  /** The master name the sentinels monitor (`redis.sentinelName`). */
  name: string;
  /** `127.0.0.1:<port>` of each sentinel (`redis.sentinels`). */
  sentinels: string[];
  primaryPort: number;
  replicaPort: number;
  /**
   * From now on the replica receives nothing more from the primary (the replication stream goes
   * through a proxy that starts dropping it): writes the primary acknowledges never reach the
   * replica, and a failover to it loses them, as a real failover to a lagging replica does.
   */
  lagReplica: () => void;
  /** Bytes of replication stream dropped since `lagReplica()`: > 0 proves writes were lost. */
  droppedBytes: () => number;
  /** SIGKILLs the primary and resolves once the sentinels name the replica as the master. */
  killPrimaryAndAwaitFailover: (timeoutMs?: number) => Promise<number>;
  /** The port the sentinels name as master right now. */
  masterPort: () => Promise<number>;
  stop: () => Promise<void>;
}

/**
 * The replication link proxy: the replica replicates from here, and this forwards to the primary,
 * so the test can cut the primary-to-replica direction without touching either server.
 */
function startReplicationProxy(primaryPort: number, port: number): Promise<{ server: Server; freeze: () => void; dropped: () => number; close: () => void }> {
  let frozen = false;
  let dropped = 0;
  const sockets = new Set<Socket>();
  const server = createServer((downstream) => {
    const upstream = connect(primaryPort, '127.0.0.1');
    sockets.add(downstream).add(upstream);
    downstream.on('data', (chunk) => upstream.write(chunk));
    upstream.on('data', (chunk) => {
      if (frozen) dropped += chunk.length;
      else downstream.write(chunk);
    });
    const end = (): void => {
      downstream.destroy();
      upstream.destroy();
    };
    downstream.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
  });
  return new Promise((resolve) => {
    server.listen(port, '127.0.0.1', () =>
      resolve({
        server,
        freeze: () => {
          frozen = true;
        },
        dropped: () => dropped,
        close: () => {
          for (const s of sockets) s.destroy();
          server.close();
        },
      }),
    );
  });
}

async function askSentinel(port: number, name: string): Promise<number | null> {
  const client = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null });
  client.on('error', () => {});
  try {
    await client.connect();
    const addr = (await client.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', name)) as [string, string] | null;
    return addr ? Number(addr[1]) : null;
  } catch {
    return null;
  } finally {
    client.disconnect();
  }
}

/**
 * A primary, one replica and three sentinels (quorum 2, down-after 1 s) on loopback, as a Redis
 * operator or ElastiCache (cluster mode disabled, Multi-AZ) runs them. The replica replicates
 * through a proxy (see `lagReplica`). `stop()` kills every process and removes the temp dir.
 */
export async function startSentinelGroup(name = 'mymaster'): Promise<SentinelGroup> {
  const dir = mkdtempSync(join(tmpdir(), 'rotator-sentinel-'));
  trackTempDir(dir);
  const [primaryPort, replicaPort, proxyPort, ...sentinelPorts] = await Promise.all(Array.from({ length: 6 }, () => freePort())) as [number, number, number, number, number, number];
  const processes: RedisProcess[] = [];
  let proxy: Awaited<ReturnType<typeof startReplicationProxy>> | null = null;
  // Diskless replication at once (the default waits 5 s for more replicas), files in the temp dir.
  const common = ['--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no', '--maxmemory-policy', 'noeviction', '--dir', dir, '--repl-diskless-sync', 'yes', '--repl-diskless-sync-delay', '0'];
  let primary: RedisProcess | null = null;
  const stop = async (): Promise<void> => {
    proxy?.close();
    await Promise.all(processes.map((p) => p.stop('SIGKILL')));
    removeTempDir(dir);
  };
  try {
    primary = await spawnRedisProcess('redis-server', ['--port', String(primaryPort), ...common]);
    processes.push(primary);
    proxy = await startReplicationProxy(primaryPort, proxyPort);
    processes.push(
      await spawnRedisProcess('redis-server', ['--port', String(replicaPort), ...common, '--replicaof', '127.0.0.1', String(proxyPort)], /MASTER <-> REPLICA sync: Finished with success/),
    );
    for (const port of sentinelPorts) {
      const file = join(dir, `sentinel-${port}.conf`);
      writeFileSync(
        file,
        [
          `port ${port}`,
          'bind 127.0.0.1',
          `dir ${dir}`,
          `sentinel monitor ${name} 127.0.0.1 ${primaryPort} 2`,
          `sentinel down-after-milliseconds ${name} 1000`,
          `sentinel failover-timeout ${name} 4000`,
          `sentinel parallel-syncs ${name} 1`,
          '',
        ].join('\n'),
      );
      processes.push(await spawnRedisProcess('redis-sentinel', [file], /\+monitor master/));
    }
    // Every sentinel must know the replica before a failover can pick it.
    const deadline = Date.now() + 15_000;
    for (;;) {
      const known = await Promise.all(sentinelPorts.map(async (port) => {
        const client = new Redis({ port, host: '127.0.0.1', maxRetriesPerRequest: 1 });
        client.on('error', () => {});
        try {
          const replicas = (await client.call('SENTINEL', 'REPLICAS', name)) as string[][];
          const sentinels = (await client.call('SENTINEL', 'SENTINELS', name)) as string[][];
          return replicas.some((r) => r.includes(String(replicaPort))) && sentinels.length === 2;
        } finally {
          client.disconnect();
        }
      }));
      if (known.every(Boolean)) break;
      if (Date.now() > deadline) throw new Error('the sentinels did not discover the replica and each other within 15 s');
      await new Promise((r) => setTimeout(r, 200));
    }
  } catch (error) {
    await stop();
    throw error;
  }
  const masterPort = async (): Promise<number> => {
    for (const port of sentinelPorts) {
      const answer = await askSentinel(port, name);
      if (answer !== null) return answer;
    }
    throw new Error('no sentinel answered');
  };
  return {
    name,
    sentinels: sentinelPorts.map((p) => `127.0.0.1:${p}`),
    primaryPort,
    replicaPort,
    lagReplica: () => proxy?.freeze(),
    droppedBytes: () => proxy?.dropped() ?? 0,
    masterPort,
    killPrimaryAndAwaitFailover: async (timeoutMs = 20_000) => {
      await primary?.stop('SIGKILL');
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const answers = await Promise.all(sentinelPorts.map((p) => askSentinel(p, name)));
        if (answers.filter((a) => a === replicaPort).length >= 2) return replicaPort;
        if (Date.now() > deadline) throw new Error(`no failover within ${timeoutMs} ms (sentinels say ${answers.join(', ')})`);
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    stop,
  };
}
