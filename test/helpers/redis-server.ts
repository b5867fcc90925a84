import { createServer } from 'node:net';
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

/**
 * A private `redis-server` (Debian package) on a free port, with eviction off as BullMQ requires.
 * Nothing is persisted unless `persistDir` is given.
 */
export async function startRedisServer(options: RedisServerOptions = {}): Promise<RedisServer> {
  const port = await freePort();
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
    ...(options.args ?? []),
  ];
  let server: RedisProcess | null = null;
  const start = async (): Promise<void> => {
    server = await spawnRedisProcess('redis-server', args);
  };
  const stop = async (): Promise<void> => {
    await server?.stop('SIGTERM');
  };
  await start();
  return {
    url: `${options.tls ? 'rediss' : 'redis'}://127.0.0.1:${port}`,
    port,
    restart: async () => {
      await stop();
      await start();
    },
    stop,
  };
}
