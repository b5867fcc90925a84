/**
 * Where notifications go: an HTTPS receiver (Slack incoming webhook or our signed JSON) or an
 * EventBridge bus. A sink delivers one notification once and says whether trying again may help;
 * retrying is the notifier's job. A sink's name is its place in the config (`notifications[0]`)
 * and its format, never its URL: a Slack webhook URL is itself a secret.
 */
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import type { NotificationSinkConfig } from '../config/types.ts';
import { eventBridgeEntry, signedJson, slackBody } from './formats.ts';
import type { Notification, NotificationEvent } from './notification.ts';

/** One attempt's answer. `status` is the HTTP status when there was one (no body is kept: it is free text). */
export type DeliveryAttempt = { ok: true } | { ok: false; retryable: boolean; status?: number; cause: string };

export interface NotificationSink {
  /** `notifications[<index>] (<format>)`: safe to log. */
  readonly name: string;
  /** The metric label: the config's format, or `github_resolve` for the alert resolver. */
  readonly format: NotificationSinkConfig['format'] | 'github_resolve';
  readonly events: ReadonlySet<NotificationEvent>;
  deliver(notification: Notification, signal: AbortSignal): Promise<DeliveryAttempt>;
  close(): void;
}

/** An HTTP answer worth another try: throttled, timed out, or a server error. */
function retryableStatus(status: number): boolean {
  return status === 408 || status === 425 || status === 429 || status >= 500;
}

/** Why a request failed, in our words (never an error message of the server or of the socket). */
function failureCause(error: unknown, signal: AbortSignal): string {
  if (signal.aborted) return 'aborted';
  if (error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError')) return 'timeout';
  return 'connection_error';
}

/** A POST of the formatted body to an http(s) receiver, bounded by `attemptTimeoutMs`. */
export class HttpSink implements NotificationSink {
  readonly name: string;
  readonly format: 'slack' | 'json';
  readonly events: ReadonlySet<NotificationEvent>;
  private readonly url: string;
  private readonly secret: string | undefined;
  private readonly options: { attemptTimeoutMs: number; now: () => number };

  constructor(index: number, config: Extract<NotificationSinkConfig, { format: 'slack' | 'json' }>, options: { attemptTimeoutMs: number; now: () => number }) {
    this.options = options;
    this.name = `notifications[${index}] (${config.format})`;
    this.format = config.format;
    this.events = new Set(config.events);
    this.url = config.url;
    this.secret = config.format === 'json' ? config.secret : undefined;
  }

  async deliver(notification: Notification, signal: AbortSignal): Promise<DeliveryAttempt> {
    const { body, headers } =
      this.secret === undefined ? { body: slackBody(notification), headers: {} } : signedJson(notification, this.secret, this.options.now());
    try {
      const response = await fetch(this.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'user-agent': 'milvus-rotator', ...headers },
        body,
        redirect: 'error',
        signal: AbortSignal.any([signal, AbortSignal.timeout(this.options.attemptTimeoutMs)]),
      });
      // The body is drained and dropped: a receiver's text is never logged or stored.
      await response.arrayBuffer().catch(() => undefined);
      if (response.ok) return { ok: true };
      return { ok: false, retryable: retryableStatus(response.status), status: response.status, cause: `http_${response.status}` };
    } catch (error) {
      return { ok: false, retryable: !signal.aborted, cause: failureCause(error, signal) };
    }
  }

  close(): void {}
}

/** PutEvents on an EventBridge bus through the AWS SDK (standard credential chain and endpoint resolution). */
export class EventBridgeSink implements NotificationSink {
  readonly name: string;
  readonly format = 'eventbridge' as const;
  readonly events: ReadonlySet<NotificationEvent>;
  private readonly eventBusName: string;
  private readonly client: EventBridgeClient;

  constructor(index: number, config: Extract<NotificationSinkConfig, { format: 'eventbridge' }>, client: EventBridgeClient) {
    this.client = client;
    this.name = `notifications[${index}] (eventbridge)`;
    this.events = new Set(config.events);
    this.eventBusName = config.eventBusName;
  }

  async deliver(notification: Notification, signal: AbortSignal): Promise<DeliveryAttempt> {
    try {
      const answer = await this.client.send(new PutEventsCommand({ Entries: [eventBridgeEntry(notification, this.eventBusName)] }), { abortSignal: signal });
      const failed = answer.FailedEntryCount ?? 0;
      if (failed === 0) return { ok: true };
      // An entry-level failure (e.g. ThrottlingException inside a 200 answer) is worth another try.
      return { ok: false, retryable: true, cause: 'entry_failed' };
    } catch (error) {
      const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
      if (typeof status === 'number') return { ok: false, retryable: retryableStatus(status), status, cause: `http_${status}` };
      return { ok: false, retryable: !signal.aborted, cause: failureCause(error, signal) };
    }
  }

  close(): void {
    this.client.destroy();
  }
}

/** The sinks of a config, each built once; an EventBridge client is made only when a sink needs one. */
export function createSinks(
  configs: readonly NotificationSinkConfig[],
  options: { attemptTimeoutMs: number; now: () => number; region?: string },
): NotificationSink[] {
  return configs.map((config, index) => {
    if (config.format === 'eventbridge') {
      // The SDK retries nothing: the notifier owns retries, one policy for every format.
      const client = new EventBridgeClient({ ...(options.region !== undefined && { region: options.region }), maxAttempts: 1 });
      return new EventBridgeSink(index, config, client);
    }
    return new HttpSink(index, config, options);
  });
}
