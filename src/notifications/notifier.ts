/**
 * Delivers notifications in the background. `notify` returns at once: a rotation never waits for,
 * nor fails because of, a receiver. Each delivery is retried with full-jitter exponential backoff
 * while the answer says another try may help, for at most `maxElapsedMs`; then it is dropped and
 * counted. `close` gives deliveries under way a bounded time, then aborts them.
 *
 * Bounded on every side: at most `maxInFlight` deliveries at once (a storm drops the newest and
 * counts them, never queues without end), at most `maxElapsedMs` per delivery, one attempt at a time
 * per delivery, each attempt bounded by the sink's own timeout.
 */
import { setTimeout as delay } from 'node:timers/promises';
import type { DeliveryAttempt, NotificationSink } from './sinks.ts';
import type { Notification } from './notification.ts';

export const DELIVERY_RESULT = {
  delivered: 'delivered',
  /** One attempt failed and another follows. */
  retried: 'retried',
  /** Given up: a permanent answer, or out of time. */
  failed: 'failed',
  /** Never tried: too many deliveries were already under way, or the notifier was closing. */
  dropped: 'dropped',
} as const;
export type DeliveryResult = (typeof DELIVERY_RESULT)[keyof typeof DELIVERY_RESULT];

export interface NotifierOptions {
  /** Told of every attempt's result (metrics). */
  onDelivery?: (sink: NotificationSink, notification: Notification, result: DeliveryResult, attempt: DeliveryAttempt | null) => void;
  /** First backoff; doubles per attempt. @defaultValue 500 */
  baseDelayMs?: number;
  /** Largest backoff. @defaultValue 30000 */
  maxDelayMs?: number;
  /** A delivery is given up this long after the notification. @defaultValue 300000 */
  maxElapsedMs?: number;
  /** @defaultValue 200 */
  maxInFlight?: number;
  now?: () => number;
  random?: () => number;
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
}

export const NOTIFIER_DEFAULTS = { baseDelayMs: 500, maxDelayMs: 30_000, maxElapsedMs: 300_000, maxInFlight: 200 } as const;

const abortableSleep = async (ms: number, signal: AbortSignal): Promise<void> => {
  await delay(ms, undefined, { signal }).catch(() => undefined);
};

export class Notifier {
  private readonly inFlight = new Set<Promise<void>>();
  private readonly abort = new AbortController();
  private readonly options: Required<Omit<NotifierOptions, 'onDelivery'>> & Pick<NotifierOptions, 'onDelivery'>;
  private closing = false;
  private readonly sinks: readonly NotificationSink[];

  constructor(sinks: readonly NotificationSink[], options: NotifierOptions = {}) {
    this.sinks = sinks;
    this.options = {
      ...NOTIFIER_DEFAULTS,
      now: Date.now,
      random: Math.random,
      sleep: abortableSleep,
      ...options,
    };
  }

  /** True when at least one sink is configured. */
  get enabled(): boolean {
    return this.sinks.length > 0;
  }

  /** Starts delivering to every sink that wants this event; returns at once. */
  notify(notification: Notification): void {
    for (const sink of this.sinks) {
      if (!sink.events.has(notification.event)) continue;
      if (this.closing || this.inFlight.size >= this.options.maxInFlight) {
        this.options.onDelivery?.(sink, notification, DELIVERY_RESULT.dropped, null);
        continue;
      }
      const delivery = this.deliver(sink, notification).finally(() => this.inFlight.delete(delivery));
      this.inFlight.add(delivery);
    }
  }

  /** Deliveries under way. */
  get pending(): number {
    return this.inFlight.size;
  }

  /** Waits up to `boundMs` for deliveries under way, then aborts the rest; closes the sinks. */
  async close(boundMs: number): Promise<{ abandoned: number }> {
    this.closing = true;
    let timer: NodeJS.Timeout | undefined;
    const bound = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, boundMs);
    });
    await Promise.race([Promise.allSettled([...this.inFlight]), bound]);
    clearTimeout(timer);
    const abandoned = this.inFlight.size;
    this.abort.abort();
    await Promise.allSettled([...this.inFlight]);
    for (const sink of this.sinks) sink.close();
    return { abandoned };
  }

  private async deliver(sink: NotificationSink, notification: Notification): Promise<void> {
    const { now, random, sleep, baseDelayMs, maxDelayMs, maxElapsedMs, onDelivery } = this.options;
    const signal = this.abort.signal;
    const deadline = now() + maxElapsedMs;
    for (let attempt = 0; ; attempt++) {
      const answer = await sink.deliver(notification, signal);
      if (answer.ok) {
        onDelivery?.(sink, notification, DELIVERY_RESULT.delivered, answer);
        return;
      }
      const wait = Math.floor(random() * Math.min(maxDelayMs, baseDelayMs * 2 ** attempt));
      if (!answer.retryable || signal.aborted || now() + wait >= deadline) {
        onDelivery?.(sink, notification, DELIVERY_RESULT.failed, answer);
        return;
      }
      onDelivery?.(sink, notification, DELIVERY_RESULT.retried, answer);
      await sleep(wait, signal);
    }
  }
}
