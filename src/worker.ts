import { hostname } from 'node:os';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Queue } from 'bullmq';
import type { RedisClient } from './queue/redis-client.ts';
import type { Logger } from 'pino';
import type { Config } from './config/types.ts';
import { createNotifier } from './notifications/create-notifier.ts';
import type { Notifier } from './notifications/notifier.ts';
import { RotatorMetrics } from './observability/metrics.ts';
import { closeRedisConnection, createRedisConnection } from './queue/redis-connection.ts';
import { CredentialStateStore } from './queue/credential-state.ts';
import { ReconcileState } from './queue/reconcile-state.ts';
import { SecretVersionsFeed } from './queue/secret-versions.ts';
import { QUEUE } from './queue/names.ts';
import { JOB_RETENTION, RotationQueue } from './queue/rotation-queue.ts';
import { boundedMap } from './bounded-map.ts';
import { readConsumerVersions } from './queue/consumer-versions.ts';
import { startScheduleWatch, type ScheduleWatch } from './queue/schedule-watch.ts';
import { rememberedCronStrategy } from './queue/remembered-cron.ts';
import { hasDrift, listSchedules, scheduleDrift, syncSchedules } from './queue/schedules.ts';
import { settleWithin } from './queue/settle-within.ts';
import { refreshQueueGauge, startQueueWorkers, type QueueWorkers } from './queue/workers.ts';
import { createEngineRuntime, type EngineRuntime } from './rotation/create-engine.ts';
import { createProcessors } from '../jobs/index.ts';

/** Why a worker is not ready yet (or any more), beyond Redis being unreachable. */
export type WorkerNotReadyReason = 'schedules_not_synced' | 'shutting_down';

/** A running worker process: BullMQ workers, the queues it produces to, metrics. */
export interface RunningWorker {
  workerId: string;
  metrics: RotatorMetrics;
  /** Fleet-wide per-credential facts behind the per-credential gauges. */
  credentialState: CredentialStateStore;
  /** What reconcile remembers between passes (last checks, unfinished rotations). */
  reconcileState: ReconcileState;
  /** The fleet's feed of version labels (fingerprint indexes follow it). */
  feed: SecretVersionsFeed;
  /** The engine's clients (the Secrets Manager store, cluster clients), shared with anything else the process serves. */
  runtime: EngineRuntime;
  rotations: RotationQueue;
  control: Queue;
  /**
   * Resolves once the BullMQ workers run and the first schedule sync succeeded (at once after the
   * construction when Redis is up; whenever Redis comes up otherwise). Never rejects.
   */
  started: Promise<void>;
  /** What keeps this worker from being ready; empty when it is (readiness). */
  notReady: () => WorkerNotReadyReason[];
  /** Redis answers a PING (readiness). */
  redisReady: () => Promise<boolean>;
  /** Delivers outcome notifications (config `notifications`) in the background. */
  notifier: Notifier;
  /** Graceful stop within the config's shutdown bound; every connection closed. */
  /**
   * Stops taking jobs at once and lets running rotations finish within
   * `worker.shutdownTimeoutMs` (then gives up on them: they stall and resume elsewhere). From the
   * call on, `notReady` says `shutting_down`. Idempotent; connections stay open (see close).
   */
  drain: () => Promise<{ drained: boolean }>;
  /** Graceful stop within the config's shutdown bound (drain first); every connection closed. */
  close: () => Promise<{ drained: boolean }>;
}

export interface StartWorkerOptions {
  /** Sync the job schedulers at start and keep them in sync (self-healing). @defaultValue true */
  syncSchedules?: boolean;
  metrics?: RotatorMetrics;
}

const GAUGE_REFRESH_MS = 15_000;
/** Heartbeat hashes read at once when /metrics is scraped (one per credential). */
const CONSUMER_READ_CONCURRENCY = 64;
const READY_TIMEOUT_MS = 1_000;
/** At shutdown, how long notifications under way may still take. */
const NOTIFY_DRAIN_MS = 3_000;
/** Bound of each close step, so that a Redis gone away cannot hold the shutdown. */
const CLOSE_STEP_MS = 2_000;
/** Backoff of the startup schedule sync when it fails or another replica holds the lock. */
const SYNC_RETRY = { firstMs: 500, maxMs: 15_000 } as const;

/**
 * Starts the long-running form of milvus-rotator: the rotation and control workers, the
 * schedulers synced under a Redis lock (one replica does it; the others find it held) and kept in
 * sync (src/queue/schedule-watch.ts), and a queue-depth gauge. The composition root of `worker`.
 *
 * Order of start: first what can fail as configuration (the engine's clients read each cluster's
 * `caFile`: a `ConfigError` here has opened nothing), then the Redis connection, which connects in
 * the background and reconnects with backoff for as long as Redis is away. This function returns
 * without waiting for Redis, so that the caller can serve `/healthz` and `/readyz` at once; the
 * Redis-bound work (BullMQ workers, the first schedule sync) starts when Redis first answers, and
 * `started` resolves when it has.
 */
export async function startWorker(config: Config, logger: Logger, options: StartWorkerOptions = {}): Promise<RunningWorker> {
  const workerId = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  const metrics = options.metrics ?? new RotatorMetrics();
  const runtime = createEngineRuntime(config, {
    onSecretsCall: (operation, _durationMs, errorCode) => metrics.secretsManagerCalls.inc({ operation, result: errorCode ?? 'ok' }),
  });
  const connection = createRedisConnection(config.redis, 'worker', { logger, name: 'worker' });
  const rotations = new RotationQueue(connection, config.redis.prefix, { minIntervalMs: config.rotation.minIntervalMs });
  // The schedule sync and the schedule watch upsert through this queue: cron answers remembered (src/queue/remembered-cron.ts).
  const control = new Queue(QUEUE.control, { connection, prefix: config.redis.prefix, defaultJobOptions: JOB_RETENTION, settings: { repeatStrategy: rememberedCronStrategy() } });
  // The queue re-emits its connection's errors (the factory logs them); without a listener BullMQ prints
  // each one to stderr with its stack.
  control.on('error', () => {});
  const credentialState = new CredentialStateStore(connection, config.redis.prefix);
  // A scrape while Redis is away keeps the last values instead of waiting for it (the worker
  // connection would queue the read until Redis is back).
  metrics.setFleetSource(async () => {
    if (connection.status !== 'ready') throw new Error('redis not ready');
    return credentialState.readAll();
  });
  metrics.setConsumerSource(async () => {
    if (connection.status !== 'ready') throw new Error('redis not ready');
    const now = Date.now();
    // Bounded: one read per credential, and 10,000 at once held megabytes of pending calls.
    const entries = await boundedMap(Object.values(config.credentials), CONSUMER_READ_CONCURRENCY, async (c) => [c.id, await readConsumerVersions(connection, config.redis.prefix, c.secretId, now)] as const);
    return new Map(entries);
  });
  const notifier = createNotifier(config, { logger, metrics });
  const reconcileState = new ReconcileState(connection, config.redis.prefix);
  const feed = new SecretVersionsFeed(connection, config.redis.prefix);
  const processors = createProcessors({ config, runtime, redis: connection, rotations, metrics, credentialState, reconcileState, feed, logger, workerId, notifier });
  const syncing = options.syncSchedules ?? true;

  const stopping = new AbortController();
  let workers: QueueWorkers | null = null;
  let watch: ScheduleWatch | null = null;
  let schedulesSynced = !syncing;
  let draining: Promise<{ drained: boolean }> | null = null;

  const started = (async (): Promise<void> => {
    if (!(await readyOrStopped(connection, stopping.signal))) return;
    workers = startQueueWorkers({ config, connection, processors, logger, metrics });
    if (syncing) {
      if (!(await syncAtStart(control, connection, config, logger, stopping.signal))) return;
      schedulesSynced = true;
      if (stopping.signal.aborted) return; // draining began during the sync: no watch to start
      watch = startScheduleWatch({ control, redis: connection, config, logger, metrics });
    }
    logger.info({ workerId, concurrency: config.worker.concurrency, credentials: Object.keys(config.credentials).length }, 'worker started');
  })().catch((error: unknown) => {
    logger.error({ err: { message: error instanceof Error ? error.message : String(error) } }, 'worker start failed');
  });

  const refresh = (): void => {
    if (connection.status !== 'ready') return;
    refreshQueueGauge([rotations.queue, control], metrics).catch((err: Error) => logger.debug({ err: { message: err.message } }, 'queue gauge refresh failed'));
    // A scheduler whose next run is in the past is silent (BullMQ #3272): the alert watches this.
    listSchedules(control)
      .then((schedules) => {
        for (const s of schedules) if (s.next !== null) metrics.schedulerNextRun.set({ scheduler: s.id }, Math.floor(s.next / 1000));
      })
      .catch((err: Error) => logger.debug({ err: { message: err.message } }, 'scheduler gauge refresh failed'));
  };
  void started.then(refresh);
  const gaugeTimer = setInterval(refresh, GAUGE_REFRESH_MS);
  gaugeTimer.unref();

  const drain = (): Promise<{ drained: boolean }> => {
    draining ??= (async () => {
      stopping.abort();
      watch?.stop();
      clearInterval(gaugeTimer);
      // Workers are created only once Redis answered; before that there is nothing to drain.
      return workers ? workers.close(config.worker.shutdownTimeoutMs) : { drained: true };
    })();
    return draining;
  };

  return {
    workerId,
    metrics,
    credentialState,
    reconcileState,
    feed,
    runtime,
    rotations,
    control,
    notifier,
    started,
    notReady: () => [...(schedulesSynced ? [] : (['schedules_not_synced'] as const)), ...(draining ? (['shutting_down'] as const) : [])],
    redisReady: async () => {
      if (connection.status !== 'ready') return false;
      // The worker connection queues commands while Redis is away: bound the wait.
      return (await settleWithin(connection.ping().then((pong) => pong === 'PONG'), READY_TIMEOUT_MS)) ?? false;
    },
    drain,
    close: async () => {
      const result = await drain();
      await Promise.allSettled([settleWithin(rotations.close(), CLOSE_STEP_MS), settleWithin(control.close(), CLOSE_STEP_MS)]);
      // The last outcomes' notifications get a short, bounded chance to leave.
      const { abandoned } = await notifier.close(NOTIFY_DRAIN_MS);
      if (abandoned > 0) logger.warn({ abandoned }, 'notifications still under way at shutdown were abandoned');
      runtime.close();
      await closeRedisConnection(connection);
      logger.info({ drained: result.drained }, 'worker stopped');
      return result;
    },
  };
}

/** Resolves true when `connection` is ready (now or later), false when `signal` aborts first. */
async function readyOrStopped(connection: RedisClient, signal: AbortSignal): Promise<boolean> {
  if (connection.status === 'ready') return true;
  if (signal.aborted) return false;
  return new Promise<boolean>((resolve) => {
    const onReady = (): void => settle(true);
    const onAbort = (): void => settle(false);
    function settle(ready: boolean): void {
      connection.off('ready', onReady);
      signal.removeEventListener('abort', onAbort);
      resolve(ready);
    }
    connection.once('ready', onReady);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * The first schedule sync, retried with backoff until it succeeds: this replica synced, or another
 * holds the lock and the schedulers already match the config. False when stopped first.
 */
async function syncAtStart(control: Queue, connection: RedisClient, config: Config, logger: Logger, signal: AbortSignal): Promise<boolean> {
  for (let attempt = 0; !signal.aborted; attempt++) {
    try {
      const sync = await syncSchedules(control, connection, config.redis.prefix, config);
      if (sync) {
        logger.info({ upserted: sync.upserted.length, removed: sync.removed }, 'job schedulers synced');
        return true;
      }
      if (!hasDrift(await scheduleDrift(control, config))) {
        logger.info('another replica synced the job schedulers');
        return true;
      }
      logger.info('another replica is syncing the job schedulers; checking again');
    } catch (error) {
      logger.warn({ attempt, err: { message: error instanceof Error ? error.message : String(error) } }, 'job scheduler sync failed; retrying');
    }
    const waitMs = Math.min(SYNC_RETRY.maxMs, SYNC_RETRY.firstMs * 2 ** attempt) * (0.5 + Math.random() / 2);
    await sleep(waitMs, undefined, { signal }).catch(() => undefined);
  }
  return false;
}
