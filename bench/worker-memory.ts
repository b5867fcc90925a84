/**
 * bench/worker-memory: the memory of one `milvus-rotator worker` process at startup, with
 * bench/fleet's fleet (makeFleetConfig) on the sandbox and the heap flags of the Deployment
 * (k8s/base/deployment.yaml NODE_OPTIONS, or WORKER_NODE_OPTIONS).
 *
 * Samples the worker's RSS (/proc/PID/status VmRSS, and VmHWM, the peak so far) and its V8 heap
 * in use (its own /metrics: milvus_rotator_nodejs_heap_size_used_bytes, garbage included) at the
 * points of its startup, in the order they happen:
 *   started      "worker started": the config loaded, the job schedulers synced;
 *   ready        /readyz answers 200;
 *   indexed      the fingerprint index's startup load is done (unpaced here:
 *                fingerprintReadsPerSecond at its maximum, so that it ends in a minute; the index
 *                holds the same entries either way);
 *   end          a second after the last of them.
 * A worker that dies (out of heap) ends the run with its last stderr.
 *
 * With --min-heap, then finds by bisection the smallest --max-old-space-size (MiB, the
 * Deployment's --max-semi-space-size=4 kept) with which the worker reaches all three points: the
 * heap the Deployment must give for that many credentials. Redis is emptied between runs, so
 * each one syncs every job scheduler anew, as a first start does.
 *
 * Run: node bench/worker-memory.ts [--credentials 10000] [--min-heap] [--dist]
 * (--dist: dist/src/cli.js as the image runs it, `npm run build` first; default node src/cli.ts).
 */
import { spawn } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname } from 'node:path';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { startSandbox } from '../src/sandbox/sandbox.ts';
import { makeFleetConfig } from '../test/helpers/config.ts';
import { writeConfigFile } from '../test/helpers/config-file.ts';
import { startBenchRedis } from './bench-redis.ts';

const { values } = parseArgs({
  options: {
    credentials: { type: 'string', default: '10000' },
    dist: { type: 'boolean', default: false },
    'min-heap': { type: 'boolean', default: false },
    'timeout-s': { type: 'string', default: '900' },
  },
});
const count = Number(values.credentials);
const deployment = readFileSync(new URL('../k8s/base/deployment.yaml', import.meta.url), 'utf8');
const NODE_OPTIONS = process.env.WORKER_NODE_OPTIONS ?? /name: NODE_OPTIONS\s+value: (.+)/.exec(deployment)?.[1]?.trim() ?? '';
const MIB = 1_048_576;
const POINTS = ['started', 'ready', 'indexed'] as const;

interface Sample {
  point: string;
  seconds: number;
  rssMiB: number;
  peakRssMiB: number;
  heapUsedMiB: number | null;
}
interface WorkerRun {
  samples: Sample[];
  /** Why the worker ended before the run did, or null. */
  exited: string | null;
  /** Whether it reached every point of POINTS. */
  ok: boolean;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Starts the worker with `nodeOptions`, samples it at each point, stops it (SIGTERM). */
async function runWorker(file: string, env: Record<string, string>, port: number, nodeOptions: string): Promise<WorkerRun> {
  const cli = values.dist ? new URL('../dist/src/cli.js', import.meta.url).pathname : new URL('../src/cli.ts', import.meta.url).pathname;
  const started = performance.now();
  const child = spawn(process.execPath, [cli, 'worker', '--config', file], {
    env: { ...process.env, ...env, LOG_LEVEL: 'info', NODE_OPTIONS: nodeOptions },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const samples: Sample[] = [];
  const memory = (): { rssMiB: number; peakRssMiB: number } => {
    let status = '';
    try {
      status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
    } catch {
      // exited meanwhile: NaN figures
    }
    const kb = (field: string): number => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? Number.NaN);
    return { rssMiB: Math.round(kb('VmRSS') / 1024), peakRssMiB: Math.round(kb('VmHWM') / 1024) };
  };
  const heapUsedMiB = async (): Promise<number | null> => {
    try {
      const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      const bytes = Number(/^milvus_rotator_nodejs_heap_size_used_bytes (\d+)/m.exec(text)?.[1]);
      return Number.isFinite(bytes) ? Math.round((bytes / MIB) * 10) / 10 : null;
    } catch {
      return null;
    }
  };
  const seen = new Set<string>();
  const sample = async (point: string): Promise<void> => {
    seen.add(point);
    const s = { point, seconds: Math.round((performance.now() - started) / 100) / 10, ...memory(), heapUsedMiB: await heapUsedMiB() };
    samples.push(s);
    console.error(`[${count}, ${nodeOptions}] ${JSON.stringify(s)}`);
  };

  let stderr = '';
  let partial = '';
  let exited: string | null = null;
  let stopping = false;
  child.once('exit', (code, signal) => {
    if (!stopping) exited = `exited early (code ${code}, signal ${signal})`;
  });
  const pending: Promise<void>[] = [];
  child.stderr.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-100_000);
    const lines = (partial + chunk.toString()).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      let msg = '';
      try {
        msg = String((JSON.parse(line) as { msg?: unknown }).msg ?? '');
      } catch {
        continue; // not a log line (a fatal error's text)
      }
      const point = msg === 'worker started' ? 'started' : /^fingerprint index .*done$/.test(msg) ? 'indexed' : undefined;
      if (point !== undefined && !seen.has(point)) pending.push(sample(point));
    }
  });

  const deadline = Date.now() + Number(values['timeout-s']) * 1000;
  try {
    while (exited === null && Date.now() < deadline && !POINTS.every((p) => seen.has(p))) {
      if (!seen.has('ready')) {
        try {
          if ((await fetch(`http://127.0.0.1:${port}/readyz`)).status === 200) pending.push(sample('ready'));
        } catch {
          // not listening yet
        }
      }
      await sleep(500);
    }
    await Promise.all(pending);
    if (exited === null) await sleep(1_000);
    if (exited === null) await sample('end');
  } finally {
    if (exited === null) {
      stopping = true;
      child.kill('SIGTERM');
      await new Promise((resolve) => child.once('exit', resolve));
    }
  }
  if (exited !== null) console.error(`worker ${exited}:\n${stderr.slice(-3000)}`);
  return { samples, exited, ok: exited === null && POINTS.every((p) => seen.has(p)) };
}

const redis = await startBenchRedis();
const base = makeFleetConfig(count);
const sandbox = await startSandbox({
  ...base,
  redis: { url: redis.url, prefix: '{worker-memory}', connectTimeoutMs: 10_000, mode: 'standalone' as const },
  leakAlerts: { ...base.leakAlerts, fingerprintReadsPerSecond: 10_000 },
});
// Picked after the sandbox's simulators took theirs.
const port = await freePort();
const admin = new Redis(redis.url, { maxRetriesPerRequest: null });
const file = writeConfigFile({ ...sandbox.config, http: { ...sandbox.config.http, port } });
let run: WorkerRun;
let minOldSpaceMiB: number | null = null;
try {
  run = await runWorker(file, sandbox.env, port, NODE_OPTIONS);
  if (values['min-heap']) {
    const trial = async (mib: number): Promise<boolean> => {
      // The bench's own redis-server: a REDIS_URL one is never emptied.
      if (!process.env.REDIS_URL) await admin.flushall();
      return (await runWorker(file, sandbox.env, port, `--max-old-space-size=${mib} --max-semi-space-size=4`)).ok;
    };
    let lo = 16;
    let hi = 128;
    while (!(await trial(hi))) {
      lo = hi;
      hi *= 2;
      if (hi > 4_096) break;
    }
    if (hi <= 4_096) {
      while (hi - lo > 2) {
        const mid = Math.floor((lo + hi) / 2);
        if (await trial(mid)) hi = mid;
        else lo = mid;
      }
      minOldSpaceMiB = hi;
    }
  }
} finally {
  admin.disconnect();
  await sandbox.close();
  await redis.stop();
  rmSync(dirname(file), { recursive: true, force: true });
}
const result = { bench: 'worker-memory', credentials: count, nodeOptions: NODE_OPTIONS, entry: values.dist ? 'dist/src/cli.js' : 'src/cli.ts', exited: run.exited, samples: run.samples, minOldSpaceMiB };
console.log(
  `${count} credentials, NODE_OPTIONS "${NODE_OPTIONS}": ` +
    run.samples.map((s) => `${s.point} at ${s.seconds} s: rss ${s.rssMiB} MiB (peak ${s.peakRssMiB}), heap ${s.heapUsedMiB ?? '?'} MiB`).join('; ') +
    (run.exited === null ? '' : `; worker ${run.exited}`) +
    (values['min-heap'] ? `; smallest --max-old-space-size that starts: ${minOldSpaceMiB ?? '> 4096'} MiB (within 2)` : ''),
);
console.log(`BENCH ${JSON.stringify(result)}`);
