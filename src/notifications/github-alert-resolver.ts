/**
 * Closes the loop on GitHub: after a leak rotation rotated, the secret-scanning alerts it answered
 * are resolved as revoked, with a comment naming the rotation. It is a sink of the notifier
 * (`leak_rotated` only), so it gets the same background delivery, retries and bounds, and can
 * never delay or fail the rotation. Alerts of other feeds in the same rotation are left alone.
 */
import { parseGithubAlertId } from '../alerts/github-webhook.ts';
import type { GithubAlertsApi } from '../alerts/github-alerts-api.ts';
import { NOTIFICATION_EVENT, type Notification, type NotificationEvent } from './notification.ts';
import type { DeliveryAttempt, NotificationSink } from './sinks.ts';

export class GithubAlertResolver implements NotificationSink {
  readonly name = 'leakAlerts.githubWebhook (resolve)';
  readonly format = 'github_resolve' as const;
  readonly events: ReadonlySet<NotificationEvent> = new Set([NOTIFICATION_EVENT.leakRotated]);
  private readonly api: GithubAlertsApi;

  constructor(api: GithubAlertsApi) {
    this.api = api;
  }

  async deliver(notification: Notification, signal: AbortSignal): Promise<DeliveryAttempt> {
    const alerts = notification.alertIds.map(parseGithubAlertId).filter((a) => a !== null);
    const comment = `Revoked by milvus-rotator: credential ${notification.credential ?? '?'} rotated (rotation ${notification.rotationId ?? '?'}); the leaked password no longer works.`;
    // PATCH to resolved is idempotent, so a retry may send the alerts already resolved again.
    for (const alert of alerts) {
      const answer = await this.api.resolveRevoked(alert, comment, signal);
      if (!answer.ok) return { ok: false, retryable: answer.retryable, ...(answer.status !== null && { status: answer.status }), cause: answer.cause };
    }
    return { ok: true };
  }

  close(): void {}
}
