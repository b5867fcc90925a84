/**
 * bench/schedules-sync: how `syncSchedules` (src/queue/schedules.ts) grows with the fleet, and
 * where its time goes. For each size (default 1,000, 10,000 and 50,000 credentials, one job
 * scheduler each, plus reconcile), in one process against a private redis-server:
 *
 *   first sync   every scheduler new (an empty prefix);
 *   resync       the same config again (every scheduler exists: what each worker start does);
 *   list         `listSchedules` (SCHEDULER_PAGE at a time), the read the removal phase, the
 *                drift watch and the next-run gauge start with; and, beside it, one
 *                `getJobSchedulers(0, -1)` (every scheduler's read under way at once, as before).
 *
 * For the first sync it also splits the time: Redis's own time in the upsert scripts (INFO
 * commandstats, `evalsha`, reset before the sync), this process's GC pauses (PerformanceObserver),
 * and the upsert rate over the first and the last tenth of the upserts (a per-call cost that grows
 * with the number of schedulers shows as a slower last tenth). The machine's load average
 * (1, 5, 15 min) is printed with each size: on a shared machine, read times against it.
 *
 * Prints one line per size, the ratios between consecutive sizes (linear growth: the ratio of the
 * sizes), then `BENCH {json}`.
 *
 * `--worker` runs a BullMQ worker on the control queue meanwhile (concurrency 2, a no-op
 * processor), as a worker start does: it syncs with its queue workers already fetching, and every
 * upsert wakes them (the delay marker).
 *
 * `--sandbox` sets up as bench/scale does before its sync: the sandbox (Secrets Manager emulator
 * and a Milvus simulator holding every credential, in this process) and a whole worker
 * (startWorker, its schedule sync off), so the sync runs beside their heap and queue workers.
 *
 * `--concurrency N` sets the upserts in flight (default: syncSchedules's own, SYNC_SCHEDULES_DEFAULTS).
 *
 * Run: node bench/schedules-sync.ts [--sizes 1000,10000,50000] [--worker | --sandbox] [--concurrency N]
 */
import { randomUUID } from 'node:crypto';
import { loadavg } from 'node:os';
import { PerformanceObserver } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import pino from 'pino';
import type { Config } from '../src/config/types.ts';
import { QUEUE } from '../src/queue/names.ts';
import { rememberedCronStrategy } from '../src/queue/remembered-cron.ts';
import { startSandbox, type Sandbox } from '../src/sandbox/sandbox.ts';
import { startWorker, type RunningWorker } from '../src/worker.ts';
import { listSchedules, SYNC_SCHEDULES_DEFAULTS, syncSchedules } from '../src/queue/schedules.ts';
import { makeConfig } from '../test/helpers/config.ts';
import { startBenchRedis } from './bench-redis.ts';

const { values } = parseArgs({
  options: {
    sizes: { type: 'string', default: '1000,10000,50000' },
    worker: { type: 'boolean', default: false },
    sandbox: { type: 'boolean', default: false },
    concurrency: { type: 'string' },
  },
});
const SIZES = values.sizes.split(',').map(Number);
/** Upserts in flight; syncSchedules's default unless given. */
const SYNC_OPTIONS = values.concurrency === undefined ? {} : { concurrency: Number(values.concurrency) };

interface SizeResult {
  credentials: number;
  firstSyncMs: number;
  resyncMs: number;
  listMs: number;
  listAtOnceMs: number;
  /** Redis's time in upsert scripts during the first sync, total and per call. */
  redisScriptMs: number;
  redisUsPerScript: number;
  /** This process's GC pauses during the first sync. */
  gcMs: number;
  /** Milliseconds per 1,000 upserts over the first and the last tenth of the first sync. */
  msPer1000: { firstTenth: number; lastTenth: number };
  loadAverage: { before: number[]; after: number[] };
}

function round(n: number, digits = 0): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

function loads(): number[] {
  return loadavg().map((l) => round(l, 2));
}

/** `cmdstat_evalsha` of INFO commandstats: calls and total microseconds. */
async function scriptStats(redis: Redis): Promise<{ calls: number; usec: number }> {
  const info = await redis.info('commandstats');
  const line = /cmdstat_evalsha:calls=(\d+),usec=(\d+)/.exec(info);
  return { calls: Number(line?.[1] ?? 0), usec: Number(line?.[2] ?? 0) };
}

/** Wraps the queue so that every finished upsert is timed (the sync calls it as it would the queue). */
function timedUpserts(queue: Queue): { queue: Queue; done: number[] } {
  const done: number[] = [];
  const proxy = new Proxy(queue, {
    get(target, property, receiver) {
      if (property === 'upsertJobScheduler') {
        return async (...args: Parameters<Queue['upsertJobScheduler']>) => {
          const job = await target.upsertJobScheduler(...args);
          done.push(performance.now());
          return job;
        };
      }
      const value: unknown = Reflect.get(target, property, receiver);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  return { queue: proxy, done };
}

function msPer1000(done: number[], start: number): { firstTenth: number; lastTenth: number } {
  const tenth = Math.max(1, Math.floor(done.length / 10));
  const first = ((done[tenth - 1] ?? start) - start) / tenth;
  const last = ((done[done.length - 1] ?? start) - (done[done.length - 1 - tenth] ?? start)) / tenth;
  return { firstTenth: round(first * 1000), lastTenth: round(last * 1000) };
}

async function measureSize(size: number, redisUrl: string): Promise<SizeResult> {
  const base = makeConfig(['west'], Array.from({ length: size }, (_, i) => ({ id: `c${i}`, username: `user_${i}`, clusters: ['west'] })));
  let config: Config = { ...base, redis: { ...base.redis, url: redisUrl, prefix: `{bench-sync-${randomUUID().slice(0, 8)}}` } };
  let sandbox: Sandbox | null = null;
  let running: RunningWorker | null = null;
  if (values.sandbox) {
    sandbox = await startSandbox(config);
    Object.assign(process.env, sandbox.env);
    config = sandbox.config;
    running = await startWorker(config, pino({ level: 'error' }, pino.destination(2)), { syncSchedules: false });
  }
  const admin = new Redis(redisUrl, { maxRetriesPerRequest: null });
  // As the worker and \`schedules sync\` build it (src/worker.ts).
  const control = new Queue(QUEUE.control, { connection: admin, prefix: config.redis.prefix, settings: { repeatStrategy: rememberedCronStrategy() } });
  const workerConnection = values.worker ? new Redis(redisUrl, { maxRetriesPerRequest: null }) : null;
  const worker = workerConnection ? new Worker(QUEUE.control, async () => undefined, { connection: workerConnection, prefix: config.redis.prefix, concurrency: 2 }) : null;
  let gcMs = 0;
  const gc = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) gcMs += entry.duration;
  });
  try {
    const before = loads();
    await admin.config('RESETSTAT');
    const timed = timedUpserts(control);
    gc.observe({ entryTypes: ['gc'] });
    let t = performance.now();
    await syncSchedules(timed.queue, admin, config.redis.prefix, config, SYNC_OPTIONS);
    const firstSyncMs = performance.now() - t;
    gc.disconnect();
    const scripts = await scriptStats(admin);
    const rates = msPer1000(timed.done, t);

    t = performance.now();
    await syncSchedules(control, admin, config.redis.prefix, config, SYNC_OPTIONS);
    const resyncMs = performance.now() - t;

    t = performance.now();
    const listed = await listSchedules(control);
    const listMs = performance.now() - t;
    if (listed.length !== size + 1) console.error(`${size}: ${listed.length} schedulers listed, ${size + 1} expected`);
    t = performance.now();
    await control.getJobSchedulers(0, -1);
    const listAtOnceMs = performance.now() - t;
    const after = loads();
    return {
      credentials: size,
      firstSyncMs: round(firstSyncMs),
      resyncMs: round(resyncMs),
      listMs: round(listMs),
      listAtOnceMs: round(listAtOnceMs),
      redisScriptMs: round(scripts.usec / 1000),
      redisUsPerScript: round(scripts.usec / Math.max(1, scripts.calls), 1),
      gcMs: round(gcMs),
      msPer1000: rates,
      loadAverage: { before, after },
    };
  } finally {
    gc.disconnect();
    await worker?.close();
    workerConnection?.disconnect();
    await running?.close();
    await sandbox?.close();
    // The next size starts from an empty Redis (this bench's own server; a REDIS_URL one loses the prefix only).
    if (process.env.REDIS_URL) await control.obliterate({ force: true }).catch(() => undefined);
    else await admin.flushall();
    await control.close();
    admin.disconnect();
  }
}

function ratio(a: number, b: number): number {
  return round(b / a, 2);
}

async function main(): Promise<void> {
  const redis = await startBenchRedis();
  const results: SizeResult[] = [];
  try {
    // A small unreported run first, so the first size does not carry the cost of loading and compiling the code.
    await measureSize(200, redis.url);
    for (const size of SIZES) {
      const r = await measureSize(size, redis.url);
      results.push(r);
      console.log(
        `${size} credentials: first sync ${r.firstSyncMs} ms, resync ${r.resyncMs} ms, list ${r.listMs} ms (all at once ${r.listAtOnceMs} ms); ` +
          `redis scripts ${r.redisScriptMs} ms (${r.redisUsPerScript} us each), gc ${r.gcMs} ms; ` +
          `ms per 1,000 upserts ${r.msPer1000.firstTenth} (first tenth) / ${r.msPer1000.lastTenth} (last tenth); ` +
          `load average ${r.loadAverage.before.join(' ')} -> ${r.loadAverage.after.join(' ')}`,
      );
    }
  } finally {
    await redis.stop();
  }
  const ratios = results.slice(1).map((r, i) => {
    const p = results[i] as SizeResult;
    return { from: p.credentials, to: r.credentials, sizeRatio: ratio(p.credentials, r.credentials), firstSync: ratio(p.firstSyncMs, r.firstSyncMs), resync: ratio(p.resyncMs, r.resyncMs) };
  });
  for (const q of ratios) console.log(`x${q.sizeRatio} credentials (${q.from} -> ${q.to}): first sync x${q.firstSync}, resync x${q.resync}`);
  console.log(`BENCH ${JSON.stringify({ bench: 'schedules-sync', worker: values.worker, sandbox: values.sandbox, concurrency: SYNC_OPTIONS.concurrency ?? SYNC_SCHEDULES_DEFAULTS.concurrency, sizes: results, ratios })}`);
}

await main();
