import type { Logger } from 'pino';
import type { Config } from '../config/types.ts';
import { EXIT, type ExitCode } from '../rotation/exit-code.ts';
import { startWorker } from '../worker.ts';

/**
 * `worker`: runs until SIGTERM or SIGINT. The first signal stops taking jobs and lets running
 * rotations finish within `worker.shutdownTimeoutMs`, closes every connection and exits 0; a
 * second signal exits at once (1). An unref'd watchdog ends a shutdown that hangs anyway.
 */
export async function runWorker(config: Config, logger: Logger): Promise<ExitCode> {
  const worker = await startWorker(config, logger);
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
  await worker.close();
  return EXIT.ok;
}
