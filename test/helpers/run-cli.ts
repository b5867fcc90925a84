import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** The installed entry point, as a user (and the Docker image) runs it. */
export const BIN = fileURLToPath(new URL('../../bin/milvus-rotator.js', import.meta.url));

export interface CliRun {
  /** The exit code, or null when the process was killed (by the hard timeout or a signal). */
  code: number | null;
  /** The signal that ended it, when one did. */
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** Wall time from spawn to exit, in milliseconds. */
  ms: number;
  /** True when the hard timeout killed it: the command did not exit by itself. */
  timedOut: boolean;
}

export interface RunCliOptions {
  /** Added to the environment (over process.env unless `cleanEnv`). */
  env?: Record<string, string>;
  /** Start from an environment with only PATH and HOME (plus `env`). @defaultValue false */
  cleanEnv?: boolean;
  /** Hard bound: the process is SIGKILLed after this long. @defaultValue 30000 */
  timeoutMs?: number;
  cwd?: string;
  /** The Node binary. @defaultValue the tests' own (Node 24) */
  node?: string;
}

/**
 * Runs `node bin/milvus-rotator.js <args>` as a real child process with a hard timeout and returns
 * its exit code, output and time. A command that leaves a handle open shows here as `timedOut`,
 * which an in-process `main()` call would never see.
 */
export async function runCli(args: string[], options: RunCliOptions = {}): Promise<CliRun> {
  const timeoutMs = options.timeoutMs ?? 30_000;
  const base = options.cleanEnv ? { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp' } : process.env;
  const started = performance.now();
  const child = spawn(options.node ?? process.execPath, [BIN, ...args], {
    cwd: options.cwd,
    env: { ...base, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, timeoutMs);
  const { code, signal } = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (c, s) => resolve({ code: c, signal: s }));
  });
  clearTimeout(timer);
  return { code, signal, stdout, stderr, ms: performance.now() - started, timedOut };
}

/** The non-empty lines of a stream's output. */
export function linesOf(text: string): string[] {
  return text.split('\n').filter((line) => line.trim() !== '');
}
