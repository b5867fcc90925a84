import { cpSync, existsSync, renameSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { spawnRedisProcess, type RedisProcess } from './redis-process.ts';

/** Asks the kernel for a free TCP port on loopback. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

export interface RedisServer {
  /** `redis://127.0.0.1:<port>`, or `rediss://` when started with TLS (no credentials in it). */
  url: string;
  port: number;
  /** Stops the server and starts it again on the same port (and data directory, if persistent). */
  restart: () => Promise<void>;
  stop: () => Promise<void>;
  /**
   * Persistent servers only: remembers the data as it is now (SAVE), for `crashToSnapshot`.
   */
  snapshot: () => Promise<void>;
  /**
   * Persistent servers only: SIGKILLs the server and starts it again with the data of the last
   * `snapshot()`: every write acknowledged since is forgotten, as a failover to a replica that
   * was that far behind forgets them. The append-only files of before are moved aside (kept, as
   * `appendonlydir-before-loss-<n>`, for audits), and the server comes back with AOF on again.
   * Returns how long the server was away.
   */
  crashToSnapshot: () => Promise<number>;
}

export interface RedisServerOptions {
  /** Persist to this directory: an append-only file fsynced on every write, so a restart keeps the data. */
  persistDir?: string;
  /** Serve TLS only (`--port 0 --tls-port`), with this certificate; clients are not asked for one. */
  tls?: { certFile: string; keyFile: string; caFile: string };
  /** ACL rules, one `user ...` line each (`redis-server --user` is not a flag: they go in an ACL file via `--aclfile`). */
  aclFile?: string;
  /** More `--flag value` arguments. */
  args?: string[];
}

export interface RedisServerOptions {
  persistDir?: string;
  /** `--requirepass`: the server refuses clients without it (the url carries it). */
  password?: string;
  /** More redis-server arguments, e.g. `['--cluster-enabled', 'yes', ...]`. */
  args?: string[];
  /** A port chosen earlier (a process configured before Redis is up). @defaultValue a free one */
  port?: number;
}

/**
 * A private `redis-server` (Debian package) on a free port, with eviction off as BullMQ requires.
 * Nothing is persisted unless `persistDir` is given.
 */
export async function startRedisServer(options: RedisServerOptions = {}): Promise<RedisServer> {
  const port = options.port ?? (await freePort());
  const persistence = options.persistDir
    ? ['--dir', options.persistDir, '--appendonly', 'yes', '--appendfsync', 'always']
    : ['--appendonly', 'no'];
  const listen = options.tls
    ? ['--port', '0', '--tls-port', String(port), '--tls-cert-file', options.tls.certFile, '--tls-key-file', options.tls.keyFile, '--tls-ca-cert-file', options.tls.caFile, '--tls-auth-clients', 'no']
    : ['--port', String(port)];
  const args = [
    ...listen,
    '--bind', '127.0.0.1',
    '--save', '',
    '--maxmemory-policy', 'noeviction',
    '--daemonize', 'no',
    ...persistence,
    ...(options.aclFile ? ['--aclfile', options.aclFile] : []),
    ...(options.password === undefined ? [] : ['--requirepass', options.password]),
    ...(options.args ?? []),
  ];
  let server: RedisProcess | null = null;
  const start = async (extra: string[] = []): Promise<void> => {
    server = await spawnRedisProcess('redis-server', [...args, ...extra]);
  };
  const stop = async (): Promise<void> => {
    await server?.stop('SIGTERM');
  };
  const auth = options.password === undefined ? '' : `:${encodeURIComponent(options.password)}@`;
  const url = `${options.tls ? 'rediss' : 'redis'}://${auth}127.0.0.1:${port}`;
  const admin = async <T>(body: (client: Redis) => Promise<T>): Promise<T> => {
    const client = new Redis(url, { maxRetriesPerRequest: 1, lazyConnect: true });
    client.on('error', () => {});
    try {
      await client.connect();
      return await body(client);
    } finally {
      client.disconnect();
    }
  };
  let losses = 0;
  await start();
  return {
    url,
    port,
    restart: async () => {
      await stop();
      await start();
    },
    stop,
    snapshot: async () => {
      const dir = options.persistDir;
      if (!dir) throw new Error('snapshot needs a persistent server');
      await admin((client) => client.call('SAVE'));
      cpSync(join(dir, 'dump.rdb'), join(dir, 'snapshot.rdb'));
    },
    crashToSnapshot: async () => {
      const dir = options.persistDir;
      if (!dir || !existsSync(join(dir, 'snapshot.rdb'))) throw new Error('crashToSnapshot needs a snapshot() first');
      const began = Date.now();
      await server?.stop('SIGKILL');
      losses++;
      if (existsSync(join(dir, 'appendonlydir'))) renameSync(join(dir, 'appendonlydir'), join(dir, `appendonlydir-before-loss-${losses}`));
      cpSync(join(dir, 'snapshot.rdb'), join(dir, 'dump.rdb'));
      // Redis loads an RDB only with AOF off; turning AOF on then writes it from the loaded data.
      await start(['--appendonly', 'no']);
      await admin(async (client) => {
        await client.config('SET', 'appendonly', 'yes');
        for (;;) {
          const info = await client.info('persistence');
          if (/^aof_enabled:1/m.test(info) && /^aof_rewrite_in_progress:0/m.test(info) && /^aof_rewrite_scheduled:0/m.test(info)) break;
          await new Promise((r) => setTimeout(r, 20));
        }
      });
      return Date.now() - began;
    },
  };
}
