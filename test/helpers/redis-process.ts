import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';

/**
 * Every redis-server / redis-sentinel process the test helpers started and every temp dir they
 * made, so that a test that fails (or a vitest worker that exits) still leaves nothing behind:
 * the helpers' own `stop()` is the normal path, the exit hook the safety net.
 */
const running = new Set<ChildProcess>();
const tempDirs = new Set<string>();
let hooked = false;

function hookExit(): void {
  if (hooked) return;
  hooked = true;
  process.once('exit', () => {
    for (const child of running) child.kill('SIGKILL');
    for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
  });
}

/** Registers a temp dir for removal at exit (the helper's stop() removes it first, normally). */
export function trackTempDir(dir: string): void {
  hookExit();
  tempDirs.add(dir);
}

export function removeTempDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  tempDirs.delete(dir);
}

export interface RedisProcess {
  child: ChildProcess;
  /** Everything it printed so far. */
  output: () => string;
  /** SIGKILL (a crash: nothing flushed) or SIGTERM; resolves when it has exited. */
  stop: (signal?: NodeJS.Signals) => Promise<void>;
}

/**
 * Spawns `binary args` (redis-server or redis-sentinel, Debian packages) and resolves once its
 * output contains `ready` (within 10 s), or rejects with what it printed.
 */
export async function spawnRedisProcess(binary: string, args: string[], ready: string | RegExp = 'Ready to accept connections'): Promise<RedisProcess> {
  hookExit();
  const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  child.once('exit', () => running.delete(child));
  let out = '';
  child.stdout?.on('data', (chunk: Buffer) => (out += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (out += chunk.toString()));
  const matches = (): boolean => (typeof ready === 'string' ? out.includes(ready) : ready.test(out));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => fail(new Error(`${binary} did not start within 10 s:\n${out}`)), 10_000);
    const poll = setInterval(() => {
      if (matches()) finish();
    }, 20);
    function finish(): void {
      clearTimeout(timer);
      clearInterval(poll);
      child.off('exit', onExit);
      resolve();
    }
    function fail(error: Error): void {
      clearTimeout(timer);
      clearInterval(poll);
      child.kill('SIGKILL');
      reject(error);
    }
    function onExit(code: number | null): void {
      fail(new Error(`${binary} exited with ${code} before it was ready:\n${out}`));
    }
    child.once('exit', onExit);
    child.once('error', (err) => fail(new Error(`${binary} could not be started (${err.message}); install the Debian package (redis-server, redis-sentinel)`)));
  });
  return {
    child,
    output: () => out,
    stop: async (signal = 'SIGTERM') => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill(signal);
      await exited;
    },
  };
}
