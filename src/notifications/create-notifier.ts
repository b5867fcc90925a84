/**
 * The notifier of a process, from the config: one sink per `notifications` entry (plus the GitHub
 * alert resolver with `leakAlerts.githubWebhook.resolveAlerts`), deliveries
 * counted in `milvus_rotator_notifications_total`, and a log line for each delivery given up (by
 * sink name and our cause code: never the receiver's URL or its answer).
 */
import type { Logger } from 'pino';
import type { Config } from '../config/types.ts';
import type { RotatorMetrics } from '../observability/metrics.ts';
import { GithubAlertsApi } from '../alerts/github-alerts-api.ts';
import { GithubAlertResolver } from './github-alert-resolver.ts';
import { DELIVERY_RESULT, Notifier, type NotifierOptions } from './notifier.ts';
import { createSinks } from './sinks.ts';

/** One attempt may take this long before it counts as a timeout (and is retried). */
const ATTEMPT_TIMEOUT_MS = 10_000;

/** `options.maxElapsedMs`: how long one delivery may be retried (a one-shot command gives it its exit bound). */
export function createNotifier(config: Config, deps: { logger: Logger; metrics?: RotatorMetrics }, options: Pick<NotifierOptions, 'maxElapsedMs'> = {}): Notifier {
  const sinks = createSinks(config.notifications, { attemptTimeoutMs: ATTEMPT_TIMEOUT_MS, now: Date.now, ...(config.aws.region !== undefined && { region: config.aws.region }) });
  const github = config.leakAlerts.githubWebhook;
  if (github?.resolveAlerts) sinks.push(new GithubAlertResolver(new GithubAlertsApi({ apiUrl: github.apiUrl, token: github.token, timeoutMs: ATTEMPT_TIMEOUT_MS })));
  return new Notifier(sinks, {
    ...options,
    onDelivery: (sink, notification, result, attempt) => {
      deps.metrics?.notifications.inc({ format: sink.format, event: notification.event, result });
      if (result === DELIVERY_RESULT.failed || result === DELIVERY_RESULT.dropped) {
        deps.logger.warn(
          {
            sink: sink.name,
            event: notification.event,
            credential: notification.credential,
            rotationId: notification.rotationId,
            result,
            cause: attempt && !attempt.ok ? attempt.cause : 'not_attempted',
          },
          'notification not delivered',
        );
      }
    },
  });
}
