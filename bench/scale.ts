/**
 * bench/scale: how the rotator's costs grow with the fleet. For each size (default 1,000 and
 * 10,000; 50,000 with `--large`, it needs ~3 GB and several minutes), in one process with a real
 * redis-server, the emulator and 2 Milvus simulators:
 *
 *   schedules sync   syncSchedules for every credential (one job scheduler each, plus reconcile);
 *   redis bytes      INFO memory used_memory before and after (schedulers, then the feed of
 *                    version labels and the reconcile state after the passes below), per credential;
 *   worker memory    heap used (after a forced GC) and RSS of this process before the worker and
 *                    its fingerprint index start and after everything below, per credential (the
 *                    sandbox's own memory is allocated before the first reading; a small
 *                    unreported run first warms the code up);
 *   fingerprints     the full startup load of the index (unpaced: the production pacing of 20
 *                    calls/s is a choice, not a cost), its time and calls;
 *   reconcile        one full pass with every check due (a labels and a drift check of every
 *                    credential), its time and calls;
 *   status           `milvus-rotator status --json` over all credentials, as a child process;
 *   config load      the config file's bytes, and loading it in fresh child processes: time, peak
 *                    heap, the smallest --max-old-space-size that loads it (bench/config-load-core.ts;
 *                    `npm run bench:config-load` measures only this, in minutes).
 *
 * Prints each figure per size, the ratio between consecutive sizes (linear growth: the ratio of
 * the sizes), then `BENCH {json}`. Leak p99 at 10,000 credentials is bench/leak-latency's job:
 * `node bench/leak-latency.ts --fleet 10000`.
 *
 * Run: node --expose-gc bench/scale.ts [--sizes 1000,10000] [--large]
 */
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import pino from 'pino';
import { processReconcile } from '../jobs/reconcile.ts';
import { FingerprintIndex } from '../src/alerts/fingerprint-index.ts';
import type { Config } from '../src/config/types.ts';
import { QUEUE } from '../src/queue/names.ts';
import { rememberedCronStrategy } from '../src/queue/remembered-cron.ts';
import { syncSchedules } from '../src/queue/schedules.ts';
import { startSandbox } from '../src/sandbox/sandbox.ts';
import { startWorker } from '../src/worker.ts';
import { writeConfigFile } from '../test/helpers/config-file.ts';
import { makeConfig } from '../test/helpers/config.ts';
import { runCli } from '../test/helpers/run-cli.ts';
import { startBenchRedis } from './bench-redis.ts';
import { measureConfigLoad, type ConfigLoadResult } from './config-load-core.ts';

const { values } = parseArgs({
  options: {
    sizes: { type: 'string', default: '1000,10000' },
    large: { type: 'boolean', default: false },
  },
});
const SIZES = [...values.sizes.split(',').map(Number), ...(values.large ? [50_000] : [])];
const CLUSTERS = ['west', 'east'];
const WEEK_MS = 7 * 86_400_000;

interface SizeResult {
  credentials: number;
  schedulesSyncMs: number;
  redisBytesPerCredential: { schedulers: number; total: number };
  workerHeapBytesPerCredential: number;
  workerRssBytesPerCredential: number;
  workerHeapMiB: number;
  workerRssMiB: number;
  fingerprintLoad: { ms: number; calls: number; msPerCredential: number };
  reconcilePass: { ms: number; calls: number; probes: number; msPerCredential: number };
  status: { ms: number; exitCode: number | null; timedOut: boolean; msPerCredential: number };
  configLoad: ConfigLoadResult;
}

/** A partial figure as soon as it is measured (stderr), so a large size that runs out of time still tells something. */
function progress(size: number, text: string): void {
  console.error(`[${size}] ${text}`);
}

function gc(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

async function usedMemory(redis: Redis): Promise<number> {
  const info = await redis.info('memory');
  return Number(/used_memory:(\d+)/.exec(info)?.[1] ?? Number.NaN);
}

async function measureSize(size: number, redisUrl: string): Promise<SizeResult> {
  const base = makeConfig(
    CLUSTERS,
    Array.from({ length: size }, (_, i) => ({ id: `c${i}`, username: `user_${i}`, clusters: CLUSTERS })),
  );
  const sandbox = await startSandbox({ ...base, redis: { url: redisUrl, prefix: `{bench-scale-${randomUUID().slice(0, 8)}}`, connectTimeoutMs: 10_000 } });
  Object.assign(process.env, sandbox.env);
  const config: Config = sandbox.config;
  const logger = pino({ level: process.env.LOG_LEVEL ?? 'error' }, pino.destination(2));
  const admin = new Redis(redisUrl, { maxRetriesPerRequest: null });
  const calls = (): number => sandbox.emulator.callCount();
  const probes = (): number => [...sandbox.clusters.values()].reduce((n, sim) => n + sim.requestCount('probe'), 0);

  gc();
  const heap0 = process.memoryUsage().heapUsed;
  const rss0 = process.memoryUsage().rss;
  const redis0 = await usedMemory(admin);

  const worker = await startWorker(config, logger, { syncSchedules: false });
  // As the worker and \`schedules sync\` build it (src/worker.ts).
  const control = new Queue(QUEUE.control, { connection: admin, prefix: config.redis.prefix, settings: { repeatStrategy: rememberedCronStrategy() } });
  let t = performance.now();
  await syncSchedules(control, admin, config.redis.prefix, config);
  const schedulesSyncMs = performance.now() - t;
  const redisSchedulers = await usedMemory(admin);
  progress(size, `schedules sync ${Math.round(schedulesSyncMs)} ms, redis +${Math.round((redisSchedulers - redis0) / size)} B/credential`);

  // The fingerprint index, as the HTTP server holds it; loaded once, in full.
  const index = new FingerprintIndex({ store: worker.runtime.store, credentials: config.credentials, concurrency: 16 });
  let c0 = calls();
  t = performance.now();
  const load = await index.refresh();
  const fingerprintLoad = { ms: performance.now() - t, calls: calls() - c0, msPerCredential: 0 };
  fingerprintLoad.msPerCredential = fingerprintLoad.ms / size;
  progress(size, `fingerprint load ${Math.round(fingerprintLoad.ms)} ms, ${fingerprintLoad.calls} calls`);
  if (load.failed.length > 0) console.error(`fingerprint load: ${load.failed.length} failed`);

  const deps = {
    config,
    runtime: worker.runtime,
    rotations: worker.rotations,
    credentialState: worker.credentialState,
    reconcileState: worker.reconcileState,
    feed: worker.feed,
    logger,
    sleep: async () => {},
  };
  const now = Date.now();
  await processReconcile({ ...deps, now: () => now }); // seeds every credential's check times
  c0 = calls();
  const p0 = probes();
  t = performance.now();
  const pass = await processReconcile({ ...deps, now: () => now + WEEK_MS });
  const reconcilePass = { ms: performance.now() - t, calls: calls() - c0, probes: probes() - p0, msPerCredential: 0 };
  reconcilePass.msPerCredential = reconcilePass.ms / size;
  progress(size, `reconcile pass ${Math.round(reconcilePass.ms)} ms, ${reconcilePass.calls} calls, ${reconcilePass.probes} probes`);
  if (pass.driftChecked + pass.labelsChecked < size) console.error(`reconcile: only ${pass.driftChecked} drift and ${pass.labelsChecked} label checks of ${size}`);
  const redisAll = await usedMemory(admin);

  gc();
  const heap1 = process.memoryUsage().heapUsed;
  const rss1 = process.memoryUsage().rss;

  const file = writeConfigFile(config);
  const status = await runCli(['status', '--config', file, '--json'], { env: sandbox.env, timeoutMs: 600_000 });
  const configLoad = await measureConfigLoad(file, size, { runs: 1 });
  progress(size, `config load ${configLoad.ms} ms, min heap ${configLoad.minOldSpaceMiB} MiB`);

  await control.close();
  await worker.close();
  // The next size starts from an empty Redis (this bench's own server; never a REDIS_URL one).
  if (!process.env.REDIS_URL) await admin.flushall();
  admin.disconnect();
  await sandbox.close();
  void index;
  return {
    credentials: size,
    schedulesSyncMs: Math.round(schedulesSyncMs),
    redisBytesPerCredential: { schedulers: Math.round((redisSchedulers - redis0) / size), total: Math.round((redisAll - redis0) / size) },
    workerHeapBytesPerCredential: Math.round((heap1 - heap0) / size),
    workerRssBytesPerCredential: Math.round((rss1 - rss0) / size),
    workerHeapMiB: Math.round((heap1 - heap0) / 1_048_576),
    workerRssMiB: Math.round((rss1 - rss0) / 1_048_576),
    fingerprintLoad: { ...fingerprintLoad, ms: Math.round(fingerprintLoad.ms), msPerCredential: Math.round(fingerprintLoad.msPerCredential * 1000) / 1000 },
    reconcilePass: { ...reconcilePass, ms: Math.round(reconcilePass.ms), msPerCredential: Math.round(reconcilePass.msPerCredential * 1000) / 1000 },
    status: { ms: Math.round(status.ms), exitCode: status.code, timedOut: status.timedOut, msPerCredential: Math.round((status.ms / size) * 1000) / 1000 },
    configLoad,
  };
}

function ratio(a: number, b: number): number {
  return Math.round((b / a) * 100) / 100;
}

async function main(): Promise<void> {
  if ((globalThis as { gc?: unknown }).gc === undefined) console.error('run with --expose-gc for heap figures after a forced GC');
  const redis = await startBenchRedis();
  const results: SizeResult[] = [];
  try {
    // A small unreported run first, so the first size does not carry the cost of loading and compiling the code.
    await measureSize(100, redis.url);
    for (const size of SIZES) {
      const r = await measureSize(size, redis.url);
      results.push(r);
      console.log(
        `${size} credentials: schedules sync ${r.schedulesSyncMs} ms; redis ${r.redisBytesPerCredential.total} B/credential (${r.redisBytesPerCredential.schedulers} of it schedulers); ` +
          `worker heap ${r.workerHeapMiB} MiB (${r.workerHeapBytesPerCredential} B/credential), rss ${r.workerRssMiB} MiB; ` +
          `fingerprint load ${r.fingerprintLoad.ms} ms / ${r.fingerprintLoad.calls} calls; reconcile pass ${r.reconcilePass.ms} ms / ${r.reconcilePass.calls} calls / ${r.reconcilePass.probes} probes; ` +
          `status ${r.status.ms} ms (exit ${r.status.exitCode}${r.status.timedOut ? ', timed out' : ''}); ` +
          `config ${r.configLoad.bytes} bytes, load ${r.configLoad.ms} ms (cpu ${r.configLoad.cpuMs} ms), peak heap ${r.configLoad.peakHeapMiB} MiB, min heap ${r.configLoad.minOldSpaceMiB} MiB`,
      );
    }
  } finally {
    await redis.stop();
  }
  const ratios = results.slice(1).map((r, i) => {
    const p = results[i] as SizeResult;
    return {
      from: p.credentials,
      to: r.credentials,
      sizeRatio: ratio(p.credentials, r.credentials),
      schedulesSync: ratio(p.schedulesSyncMs, r.schedulesSyncMs),
      redisBytes: ratio(p.redisBytesPerCredential.total * p.credentials, r.redisBytesPerCredential.total * r.credentials),
      workerHeap: ratio(p.workerHeapBytesPerCredential * p.credentials, r.workerHeapBytesPerCredential * r.credentials),
      fingerprintLoad: ratio(p.fingerprintLoad.ms, r.fingerprintLoad.ms),
      reconcilePass: ratio(p.reconcilePass.ms, r.reconcilePass.ms),
      status: ratio(p.status.ms, r.status.ms),
      configBytes: ratio(p.configLoad.bytes, r.configLoad.bytes),
      configLoadCpu: ratio(p.configLoad.cpuMs, r.configLoad.cpuMs),
      configMinHeap: p.configLoad.minOldSpaceMiB === null || r.configLoad.minOldSpaceMiB === null ? null : ratio(p.configLoad.minOldSpaceMiB, r.configLoad.minOldSpaceMiB),
    };
  });
  for (const q of ratios) console.log(`x${q.sizeRatio} credentials (${q.from} -> ${q.to}): ${JSON.stringify(q)}`);
  console.log(`BENCH ${JSON.stringify({ bench: 'scale', clustersPerCredential: CLUSTERS.length, sizes: results, ratios })}`);
}

await main();
