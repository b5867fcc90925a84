import { hostname } from 'node:os';
import { randomUUID } from 'node:crypto';
import { Queue } from 'bullmq';
import type { Logger } from 'pino';
import type { Config } from './config/types.ts';
import { RotatorMetrics } from './observability/metrics.ts';
import { createRedisConnection } from './queue/redis-connection.ts';
import { CredentialStateStore } from './queue/credential-state.ts';
import { ReconcileState } from './queue/reconcile-state.ts';
import { SecretVersionsFeed } from './queue/secret-versions.ts';
import { QUEUE } from './queue/names.ts';
import { JOB_RETENTION, RotationQueue } from './queue/rotation-queue.ts';
import { listSchedules, syncSchedules } from './queue/schedules.ts';
import { refreshQueueGauge, startQueueWorkers } from './queue/workers.ts';
import { createEngineRuntime, type EngineRuntime } from './rotation/create-engine.ts';
import { createProcessors } from '../jobs/index.ts';

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
  /** Redis answers a PING (readiness). */
  redisReady: () => Promise<boolean>;
  /** Graceful stop within the config's shutdown bound; every connection closed. */
  close: () => Promise<{ drained: boolean }>;
}

const GAUGE_REFRESH_MS = 15_000;
const READY_TIMEOUT_MS = 1_000;

/**
 * Starts the long-running form of milvus-rotator: the rotation and control workers, the
 * schedulers synced under a Redis lock (one replica does it; the others find it held), and a
 * queue-depth gauge. The composition root of `worker`.
 */
export async function startWorker(config: Config, logger: Logger, options: { syncSchedules?: boolean; metrics?: RotatorMetrics } = {}): Promise<RunningWorker> {
  const workerId = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  const metrics = options.metrics ?? new RotatorMetrics();
  const connection = createRedisConnection(config.redis.url, 'worker');
  connection.on('error', (err: Error) => logger.warn({ err: { name: err.name, message: err.message } }, 'redis connection error'));
  const runtime = createEngineRuntime(config, {
    onSecretsCall: (operation, _durationMs, errorCode) => metrics.secretsManagerCalls.inc({ operation, result: errorCode ?? 'ok' }),
  });
  const rotations = new RotationQueue(connection, config.redis.prefix);
  const control = new Queue(QUEUE.control, { connection, prefix: config.redis.prefix, defaultJobOptions: JOB_RETENTION });
  const credentialState = new CredentialStateStore(connection, config.redis.prefix);
  metrics.setFleetSource(() => credentialState.readAll());
  const reconcileState = new ReconcileState(connection, config.redis.prefix);
  const feed = new SecretVersionsFeed(connection, config.redis.prefix);
  const processors = createProcessors({ config, runtime, redis: connection, rotations, metrics, credentialState, reconcileState, feed, logger, workerId });
  const workers = startQueueWorkers({ config, connection, processors, logger, metrics });

  if (options.syncSchedules ?? true) {
    const sync = await syncSchedules(control, connection, config.redis.prefix, config);
    if (sync) logger.info({ upserted: sync.upserted.length, removed: sync.removed }, 'job schedulers synced');
    else logger.info('another replica is syncing the job schedulers');
  }
  const refresh = (): void => {
    refreshQueueGauge([rotations.queue, control], metrics).catch((err: Error) => logger.debug({ err: { message: err.message } }, 'queue gauge refresh failed'));
    // A scheduler whose next run is in the past is silent (BullMQ #3272): the alert watches this.
    listSchedules(control)
      .then((schedules) => {
        for (const s of schedules) if (s.next !== null) metrics.schedulerNextRun.set({ scheduler: s.id }, Math.floor(s.next / 1000));
      })
      .catch((err: Error) => logger.debug({ err: { message: err.message } }, 'scheduler gauge refresh failed'));
  };
  refresh();
  const gaugeTimer = setInterval(refresh, GAUGE_REFRESH_MS);
  gaugeTimer.unref();
  logger.info({ workerId, concurrency: config.worker.concurrency, credentials: Object.keys(config.credentials).length }, 'worker started');

  return {
    workerId,
    metrics,
    credentialState,
    reconcileState,
    feed,
    runtime,
    rotations,
    control,
    redisReady: async () => {
      // The worker connection queues commands while Redis is away: bound the wait.
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<false>((resolve) => {
        timer = setTimeout(() => resolve(false), READY_TIMEOUT_MS);
      });
      try {
        return await Promise.race([connection.ping().then((pong) => pong === 'PONG'), timeout]);
      } catch {
        return false;
      } finally {
        clearTimeout(timer);
      }
    },
    close: async () => {
      clearInterval(gaugeTimer);
      const result = await workers.close(config.worker.shutdownTimeoutMs);
      await Promise.allSettled([rotations.close(), control.close()]);
      runtime.close();
      await connection.quit().catch(() => connection.disconnect());
      logger.info({ drained: result.drained }, 'worker stopped');
      return result;
    },
  };
}
