import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';

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
  url: string;
  port: number;
  /** Stops the server and starts it again on the same port (and data directory, if persistent). */
  restart: () => Promise<void>;
  stop: () => Promise<void>;
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
 * Nothing is persisted unless `persistDir` is given: then an append-only file, fsynced on every
 * write, so a restart keeps the data (as a production Redis with AOF does).
 */
export async function startRedisServer(options: RedisServerOptions = {}): Promise<RedisServer> {
  const port = options.port ?? (await freePort());
  const persistence = options.persistDir
    ? ['--dir', options.persistDir, '--appendonly', 'yes', '--appendfsync', 'always']
    : ['--appendonly', 'no'];
  const auth = options.password === undefined ? [] : ['--requirepass', options.password];
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--maxmemory-policy', 'noeviction', '--daemonize', 'no', ...persistence, ...auth, ...(options.args ?? [])];
  let child: ChildProcess | null = null;
  const start = async (): Promise<void> => {
    const started = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    child = started;
    await new Promise<void>((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => reject(new Error(`redis-server on port ${port} did not start within 10 s`)), 10_000);
      started.stdout?.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        if (out.includes('Ready to accept connections')) {
          clearTimeout(timer);
          resolve();
        }
      });
      started.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`redis-server exited with ${code} before it was ready:\n${out}`));
      });
      started.once('error', (err) => {
        clearTimeout(timer);
        reject(new Error(`redis-server could not be started (${err.message}); install the Debian package redis-server or set REDIS_URL`));
      });
    });
  };
  const stop = async (): Promise<void> => {
    const running = child;
    if (!running || running.exitCode !== null || running.signalCode !== null) return;
    running.kill('SIGTERM');
    await new Promise((resolve) => running.once('exit', resolve));
  };
  await start();
  return {
    url: options.password === undefined ? `redis://127.0.0.1:${port}` : `redis://:${encodeURIComponent(options.password)}@127.0.0.1:${port}`,
    port,
    restart: async () => {
      await stop();
      await start();
    },
    stop,
  };
}
