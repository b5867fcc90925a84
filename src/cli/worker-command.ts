import type { Logger } from 'pino';
import type { Config } from '../config/types.ts';
import { startHttpServer, type RunningHttpServer } from '../http/server.ts';
import { EXIT, type ExitCode } from '../rotation/exit-code.ts';
import { startWorker } from '../worker.ts';

export interface WorkerCommandOptions {
  /** Serve the HTTP API (trigger, leak alerts, health, metrics) on config.http. @defaultValue true */
  http?: boolean;
}

/**
 * `worker`: runs until SIGTERM or SIGINT, serving the HTTP API unless `--no-http`. The first signal
 * stops the HTTP server (in-flight requests finish; new ones are refused), then stops taking jobs
 * and lets running rotations finish within `worker.shutdownTimeoutMs`, closes every connection and
 * exits 0; a second signal exits at once (1). An unref'd watchdog ends a shutdown that hangs anyway.
 */
export async function runWorker(config: Config, logger: Logger, options: WorkerCommandOptions = {}): Promise<ExitCode> {
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
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
  });
  logger.info({ signal, boundMs: config.worker.shutdownTimeoutMs }, 'shutting down: no new jobs; running rotations may finish. A second signal exits at once.');
  const force = (): void => {
    logger.warn('second signal: exiting now; running rotations resume on another worker');
    process.exit(EXIT.failed);
  };
  process.once('SIGTERM', force);
  process.once('SIGINT', force);
  const watchdog = setTimeout(() => {
    logger.error('shutdown did not finish in time: exiting');
    process.exit(EXIT.ok);
  }, config.worker.shutdownTimeoutMs + 10_000);
  watchdog.unref();
  if (http) {
    await http.close().catch((error: unknown) => logger.warn({ err: { message: error instanceof Error ? error.message : String(error) } }, 'HTTP server did not close cleanly'));
  }
  await worker.close();
  return EXIT.ok;
}
