import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import type { Config, WorkerConfig } from '../config/types.ts';
import { startHttpServer, type RunningHttpServer } from '../http/server.ts';
import { EXIT, type ExitCode } from '../rotation/exit-code.ts';
import { startWorker, type RunningWorker } from '../worker.ts';

export interface WorkerCommandOptions {
  /** Serve the HTTP API (trigger, leak alerts, health, metrics) on config.http. @defaultValue true */
  http?: boolean;
}

/** Time the closing steps after the drain may take (HTTP in-flight requests, queues, connections) before the watchdog exits. */
export const SHUTDOWN_CLOSE_SLACK_MS = 10_000;

/**
 * The longest a `worker` takes from SIGTERM to its exit: the drain (the listener accepting for
 * `drainDelayMs` while running rotations get up to `shutdownTimeoutMs`, both at once), then the
 * closing steps; past it the watchdog exits (1). The pod's terminationGracePeriodSeconds must
 * exceed it (test/deploy-kubernetes.test.ts checks the manifests).
 */
export function shutdownBoundMs(worker: Pick<WorkerConfig, 'drainDelayMs' | 'shutdownTimeoutMs'>): number {
  return Math.max(worker.drainDelayMs, worker.shutdownTimeoutMs) + SHUTDOWN_CLOSE_SLACK_MS;
}

/**
 * `worker`: runs until SIGTERM or SIGINT, serving the HTTP API unless `--no-http`.
 *
 * Start, in this order: signal handlers; the engine's clients (a config error, an unreadable
 * `caFile` included, throws here with nothing opened: exit 2); the HTTP server (`/healthz` 200
 * as soon as it listens, `/readyz` 503 with its reasons until Redis answers and the first schedule
 * sync succeeded); then the Redis-bound work, which waits out a Redis outage (reconnect with
 * backoff) instead of exiting, so Kubernetes does not restart the pod in a loop.
 *
 * The first signal drains: `/readyz` answers 503 (`shutting_down`) at once and the listener keeps
 * accepting for `worker.drainDelayMs`, so that endpoints and load balancers stop routing here
 * before it closes (an alert sent meanwhile is still queued); at the same time the worker stops
 * taking jobs and lets running rotations finish within `worker.shutdownTimeoutMs`. Then the HTTP
 * server closes (in-flight requests finish), every connection closes, and the process exits 0. A
 * second signal exits 1 at once; an unref'd watchdog exits 1 when the closing hangs past
 * `shutdownBoundMs`.
 */
export async function runWorker(config: Config, logger: Logger, options: WorkerCommandOptions = {}): Promise<ExitCode> {
  const signalled = new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
  });
  const worker = await startWorker(config, logger);
  let http: RunningHttpServer | null = null;
  if (options.http ?? true) {
    try {
      http = await startHttpServer({ config, logger, worker });
    } catch (error) {
      // A port in use or a bad listen address: nothing served, so the worker does not run either.
      await worker.close();
      throw error;
    }
  } else {
    logger.info('HTTP server disabled (--no-http): no trigger, leak-alert, health or metrics endpoint');
  }
  const signal = await signalled;
  return shutDown(signal, { config, logger, worker, http });
}

async function shutDown(signal: NodeJS.Signals, parts: { config: Config; logger: Logger; worker: RunningWorker; http: RunningHttpServer | null }): Promise<ExitCode> {
  const { config, logger, worker, http } = parts;
  const { drainDelayMs, shutdownTimeoutMs } = config.worker;
  const force = (): void => {
    logger.warn('second signal: exiting now; running rotations resume on another worker');
    process.exit(EXIT.failed);
  };
  process.once('SIGTERM', force);
  process.once('SIGINT', force);
  const boundMs = shutdownBoundMs(config.worker);
  const watchdog = setTimeout(() => {
    logger.error({ boundMs }, 'shutdown did not finish in time: exiting');
    process.exit(EXIT.failed);
  }, boundMs);
  watchdog.unref();

  const drainDelay = http ? drainDelayMs : 0;
  logger.info(
    { signal, drainDelayMs: drainDelay, shutdownTimeoutMs },
    'shutting down: /readyz answers 503; still accepting requests for the drain delay; no new jobs; running rotations may finish. A second signal exits at once.',
  );
  const [{ drained }] = await Promise.all([worker.drain(), sleep(drainDelay)]);
  if (http) {
    logger.info({ drained }, 'drain delay over: closing the HTTP server');
    await http.close().catch((error: unknown) => logger.warn({ err: { message: error instanceof Error ? error.message : String(error) } }, 'HTTP server did not close cleanly'));
  }
  await worker.close();
  clearTimeout(watchdog);
  return EXIT.ok;
}
