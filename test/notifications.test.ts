/**
 * Notifications out: the events a rotation raises, the three formats, and a notifier that never
 * blocks a rotation, retries within its bound, gives up on permanent answers, and closes.
 * Receivers are real HTTP servers on loopback; EventBridge is a wire-level fake of PutEvents
 * (JSON 1.1, `X-Amz-Target: AWSEvents.PutEvents`) reached through the real AWS SDK.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createGenericSignatureVerifier } from '../src/alerts/generic-signature.ts';
import { parseConfig } from '../src/config/load.ts';
import type { NotificationSinkConfig } from '../src/config/types.ts';
import { DETAIL_TYPE, NOTIFICATION_SOURCE, slackBody } from '../src/notifications/formats.ts';
import { MAX_ALERT_IDS, NOTIFICATION_EVENT, notificationsOfResult, unmatchedAlertNotification, type Notification } from '../src/notifications/notification.ts';
import { DELIVERY_RESULT, Notifier, type DeliveryResult } from '../src/notifications/notifier.ts';
import { createSinks } from '../src/notifications/sinks.ts';
import { waitFor } from './helpers/wait-for.ts';
import type { RotationResult } from '../src/rotation/types.ts';

const SECRET = 'notify-secret-0123456789abcdef';

function result(overrides: Partial<RotationResult> = {}): RotationResult {
  return {
    credential: 'app-reader',
    outcome: 'rotated',
    reason: 'ok',
    mode: 'manual',
    rotationId: 'rot-1234567890abcdef1234567890abcdef',
    versionId: 'rot-1234567890abcdef1234567890abcdef',
    clusters: { west: 'updated', dr: 'updated' },
    durationMs: 412,
    ...overrides,
  };
}

interface Receiver {
  url: string;
  bodies: { headers: IncomingMessage['headers']; body: string }[];
  close: () => Promise<void>;
}

/** A loopback HTTP receiver; `answer` picks the status of each request (by its 0-based index). */
async function startReceiver(answer: (index: number, req: IncomingMessage, res: ServerResponse) => number | null = () => 200): Promise<Receiver> {
  const bodies: Receiver['bodies'] = [];
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      const index = bodies.length;
      bodies.push({ headers: req.headers, body });
      const status = answer(index, req, res);
      if (status === null) return; // hang: the client's timeout must cut it
      res.writeHead(status, { 'content-type': 'application/json' }).end(status === 200 ? '{}' : '{"echo":"whatever the receiver says"}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hook`,
    bodies,
    close: () => new Promise((resolve) => server.closeAllConnections() ?? server.close(() => resolve())),
  };
}

const closers: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

async function receiver(answer?: Parameters<typeof startReceiver>[0]): Promise<Receiver> {
  const r = await startReceiver(answer);
  closers.push(r.close);
  return r;
}

function notifierFor(configs: NotificationSinkConfig[], record: DeliveryResult[] = [], options: ConstructorParameters<typeof Notifier>[1] = {}): Notifier {
  const notifier = new Notifier(createSinks(configs, { attemptTimeoutMs: 500, now: Date.now, region: 'us-east-1' }), {
    baseDelayMs: 10,
    maxDelayMs: 40,
    random: () => 1,
    onDelivery: (_sink, _n, r) => record.push(r),
    ...options,
  });
  closers.push(() => notifier.close(2_000));
  return notifier;
}

describe('the events of a rotation result', () => {
  it('raises the outcome, plus leak_rotated for a leak rotation that rotated', () => {
    const events = notificationsOfResult(result({ mode: 'leak' }), { alertIds: ['a1', 'a1', 'a2'], sources: ['github'], receiptToRevokedMs: 80 }, 0).map((n) => n.event);
    expect(events).toEqual(['rotated', 'leak_rotated']);
  });

  it('raises leak_not_contained beside needs_attention when a leak could not be contained', () => {
    const [first, second] = notificationsOfResult(result({ mode: 'leak', outcome: 'needs_attention', reason: 'leak_not_contained' }), undefined, 0);
    expect([first?.event, second?.event]).toEqual(['needs_attention', 'leak_not_contained']);
  });

  it('carries ids, outcome, durations and alert ids, deduplicated and capped, and never the error text', () => {
    const ids = Array.from({ length: 50 }, (_, i) => `alert-${i}`);
    const [n] = notificationsOfResult(result({ outcome: 'failed', reason: 'cluster_unreachable', error: 'west said: <echo of the request>' }), { alertIds: ids, sources: ['generic'], receiptToRevokedMs: null }, Date.UTC(2026, 11, 1));
    expect(n).toMatchObject({ event: 'failed', credential: 'app-reader', reason: 'cluster_unreachable', rotationId: result().rotationId, durationMs: 412, at: '2026-12-01T00:00:00.000Z' });
    expect(n?.alertIds).toHaveLength(MAX_ALERT_IDS);
    expect(n?.alertIds.at(-1)).toBe('alert-49');
    expect(JSON.stringify(n)).not.toContain('echo');
  });

  it('maps every configurable event to an EventBridge detail-type', () => {
    for (const event of Object.values(NOTIFICATION_EVENT)) expect(DETAIL_TYPE[event]).toMatch(/\S/);
  });
});

describe('formats', () => {
  it('slack: one text line naming the credential, the reason and the clusters', () => {
    const [n] = notificationsOfResult(result({ outcome: 'rolled_back', reason: 'verify_failed', clusters: { west: 'rolled_back' } }), undefined, 0);
    const body = JSON.parse(slackBody(n as Notification)) as { text: string };
    expect(body.text).toContain('rolled back');
    expect(body.text).toContain('`app-reader`');
    expect(body.text).toContain('`verify_failed`');
    expect(body.text).toContain('west=rolled_back');
  });

  it('json: the payload, signed so that the inbound generic-feed verifier accepts it', async () => {
    const r = await receiver();
    const notifier = notifierFor([{ format: 'json', url: r.url, events: ['rotated'], secret: SECRET }]);
    for (const n of notificationsOfResult(result(), undefined, Date.now())) notifier.notify(n);
    await waitFor(() => r.bodies.length === 1, 5_000, 'the deliveries');
    const [got] = r.bodies;
    const verify = createGenericSignatureVerifier({ secrets: [SECRET], toleranceSeconds: 300 });
    const check = verify({ rawBody: Buffer.from(got?.body ?? ''), timestamp: got?.headers['x-rotator-timestamp'], signature: got?.headers['x-rotator-signature'] });
    expect(check.ok).toBe(true);
    expect(JSON.parse(got?.body ?? '{}')).toMatchObject({ event: 'rotated', credential: 'app-reader' });
  });
});

describe('Notifier', () => {
  it('sends each sink only the events it asked for', async () => {
    const a = await receiver();
    const b = await receiver();
    const notifier = notifierFor([
      { format: 'slack', url: a.url, events: ['needs_attention'] },
      { format: 'slack', url: b.url, events: ['rotated', 'leak_rotated'] },
    ]);
    for (const n of notificationsOfResult(result({ mode: 'leak' }), undefined, Date.now())) notifier.notify(n);
    await waitFor(() => b.bodies.length === 2, 5_000, 'the deliveries');
    await notifier.close(1_000);
    expect(a.bodies).toHaveLength(0);
  });

  it('retries a 503 and a 429 with backoff, then delivers', async () => {
    const r = await receiver((i) => (i < 2 ? [503, 429][i] ?? 200 : 200));
    const record: DeliveryResult[] = [];
    const notifier = notifierFor([{ format: 'slack', url: r.url, events: ['rotated'] }], record);
    notifier.notify(notificationsOfResult(result(), undefined, Date.now())[0] as Notification);
    await waitFor(() => record.includes(DELIVERY_RESULT.delivered), 5_000, 'the deliveries');
    expect(record).toEqual(['retried', 'retried', 'delivered']);
    expect(r.bodies).toHaveLength(3);
  });

  it('gives up at once on a permanent answer (404)', async () => {
    const r = await receiver(() => 404);
    const record: DeliveryResult[] = [];
    const notifier = notifierFor([{ format: 'slack', url: r.url, events: ['rotated'] }], record);
    notifier.notify(notificationsOfResult(result(), undefined, Date.now())[0] as Notification);
    await waitFor(() => record.length === 1, 5_000, 'the deliveries');
    expect(record).toEqual(['failed']);
  });

  it('stops retrying a receiver that is down once the delivery bound has passed', async () => {
    const r = await receiver();
    const url = r.url;
    await r.close();
    closers.splice(closers.indexOf(r.close), 1);
    const record: DeliveryResult[] = [];
    const notifier = notifierFor([{ format: 'slack', url, events: ['rotated'] }], record, { maxElapsedMs: 300 });
    notifier.notify(notificationsOfResult(result(), undefined, Date.now())[0] as Notification);
    await waitFor(() => record.includes(DELIVERY_RESULT.failed), 5_000, 'the deliveries');
    expect(record.filter((x) => x === 'retried').length).toBeGreaterThan(0);
    expect(record.at(-1)).toBe('failed');
  });

  it('returns from notify at once even when the receiver hangs, and close() aborts within its bound', async () => {
    const r = await receiver(() => null);
    const record: DeliveryResult[] = [];
    const notifier = new Notifier(createSinks([{ format: 'slack', url: r.url, events: ['rotated'] }], { attemptTimeoutMs: 60_000, now: Date.now }), {
      onDelivery: (_s, _n, x) => record.push(x),
    });
    const started = performance.now();
    notifier.notify(notificationsOfResult(result(), undefined, Date.now())[0] as Notification);
    expect(performance.now() - started).toBeLessThan(50);
    await waitFor(() => r.bodies.length === 1, 5_000, 'the deliveries');
    const closing = performance.now();
    const { abandoned } = await notifier.close(200);
    expect(abandoned).toBe(1);
    expect(performance.now() - closing).toBeLessThan(2_000);
    expect(notifier.pending).toBe(0);
  });

  it('drops (and counts) what exceeds maxInFlight instead of queueing without end', async () => {
    const r = await receiver(() => null);
    const record: DeliveryResult[] = [];
    const notifier = notifierFor([{ format: 'slack', url: r.url, events: ['rotated'] }], record, { maxInFlight: 3 });
    for (let i = 0; i < 10; i++) notifier.notify(notificationsOfResult(result(), undefined, Date.now())[0] as Notification);
    expect(notifier.pending).toBe(3);
    expect(record.filter((x) => x === 'dropped')).toHaveLength(7);
  });

  it('eventbridge: one PutEvents entry per event through the AWS SDK, source milvus-rotator, detail-type per event', async () => {
    const calls: { target: string | undefined; body: { Entries: { Source: string; DetailType: string; Detail: string; EventBusName: string }[] } }[] = [];
    const r = await receiver((_i, req, res) => {
      calls.push({ target: req.headers['x-amz-target'] as string | undefined, body: JSON.parse(r.bodies.at(-1)?.body ?? '{}') });
      res.writeHead(200, { 'content-type': 'application/x-amz-json-1.1' }).end(JSON.stringify({ FailedEntryCount: 0, Entries: [{ EventId: 'e-1' }] }));
      return null;
    });
    const previous = process.env.AWS_ENDPOINT_URL_EVENTBRIDGE;
    process.env.AWS_ENDPOINT_URL_EVENTBRIDGE = r.url.replace('/hook', '');
    process.env.AWS_ACCESS_KEY_ID ??= 'test';
    process.env.AWS_SECRET_ACCESS_KEY ??= 'test';
    try {
      const record: DeliveryResult[] = [];
      const notifier = notifierFor([{ format: 'eventbridge', eventBusName: 'rotations', events: ['rotated', 'leak_rotated'] }], record);
      for (const n of notificationsOfResult(result({ mode: 'leak' }), undefined, Date.now())) notifier.notify(n);
      await waitFor(() => record.length === 2, 5_000, 'the deliveries');
      expect(record).toEqual(['delivered', 'delivered']);
      expect(calls.map((c) => c.target)).toEqual(['AWSEvents.PutEvents', 'AWSEvents.PutEvents']);
      const entries = calls.flatMap((c) => c.body.Entries);
      expect(entries.map((e) => e.Source)).toEqual([NOTIFICATION_SOURCE, NOTIFICATION_SOURCE]);
      expect(entries.map((e) => e.DetailType).sort()).toEqual(['Leak Rotated', 'Rotation Rotated']);
      expect(entries.every((e) => e.EventBusName === 'rotations')).toBe(true);
      expect(JSON.parse(entries[0]?.Detail ?? '{}')).toMatchObject({ credential: 'app-reader' });
    } finally {
      if (previous === undefined) delete process.env.AWS_ENDPOINT_URL_EVENTBRIDGE;
      else process.env.AWS_ENDPOINT_URL_EVENTBRIDGE = previous;
    }
  });

  it('an unmatched alert carries its id and source and no credential', () => {
    expect(unmatchedAlertNotification({ alertId: 'gh-1', source: 'github' }, 0)).toMatchObject({ event: 'alert_unmatched', credential: null, alertIds: ['gh-1'], sources: ['github'] });
  });
});

describe('notifications config', () => {
  const base = `
clusters: { west: { endpoint: "https://west.example:19530" } }
credentials: { app: { secretId: prod/app, username: app, clusters: [west] } }
`;
  it('accepts the three formats with their keys, eventBusName defaulting to "default"', () => {
    const config = parseConfig(`${base}
notifications:
  - { url: "https://hooks.slack.com/services/T0/B0/X", format: slack, events: [leak_rotated, needs_attention] }
  - { url: "https://receiver.example/hook", format: json, events: [rotated], secret: "${SECRET}" }
  - { format: eventbridge, events: [rotated, failed] }
`);
    expect(config.notifications.map((n) => n.format)).toEqual(['slack', 'json', 'eventbridge']);
    expect(config.notifications[2]).toMatchObject({ eventBusName: 'default' });
  });

  it.each([
    ['an http:// receiver off loopback', '- { url: "http://receiver.example/hook", format: slack, events: [rotated] }', 'notifications.0.url'],
    ['an unknown event', '- { url: "https://r.example/h", format: slack, events: [exploded] }', 'notifications.0.events.0'],
    ['json without a secret', '- { url: "https://r.example/h", format: json, events: [rotated] }', 'notifications.0.secret'],
    ['an unknown format', '- { url: "https://r.example/h", format: teams, events: [rotated] }', 'notifications.0.format'],
    ['no events', '- { url: "https://r.example/h", format: slack, events: [] }', 'notifications.0.events'],
  ])('refuses %s, naming the key and never quoting the URL', (_what, entry, path) => {
    let message = '';
    try {
      parseConfig(`${base}\nnotifications:\n  ${entry}\n`);
    } catch (error) {
      message = error instanceof Error ? error.message : String(error);
    }
    expect(message).toContain(path.replace(/\.(\d+)/g, '[$1]'));
    expect(message).not.toContain('receiver.example');
  });
});
