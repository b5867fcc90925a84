/**
 * The three wire formats of a notification. Each is a pure function of the payload (and, for the
 * signed JSON, of the secret and the clock), so the sinks only move bytes.
 *
 * - `slack`: an incoming-webhook message (`{"text": ...}`): one line a human reads in a channel.
 * - `json`: our schema, the payload itself, signed exactly like the inbound generic leak feed
 *   (X-Rotator-Timestamp and X-Rotator-Signature: sha256=HMAC(secret, timestamp + "." + body)),
 *   so a receiver verifies it with the same code.
 * - `eventbridge`: one PutEvents entry, `source: milvus-rotator`, `detail-type` per event.
 */
import { GENERIC_HEADER, signGenericAlert } from '../alerts/generic-signature.ts';
import { NOTIFICATION_EVENT, type Notification, type NotificationEvent } from './notification.ts';

export const NOTIFICATION_SOURCE = 'milvus-rotator';

/** EventBridge `detail-type` of each event. */
export const DETAIL_TYPE: Readonly<Record<NotificationEvent, string>> = {
  [NOTIFICATION_EVENT.rotated]: 'Rotation Rotated',
  [NOTIFICATION_EVENT.rolledBack]: 'Rotation Rolled Back',
  [NOTIFICATION_EVENT.failed]: 'Rotation Failed',
  [NOTIFICATION_EVENT.needsAttention]: 'Rotation Needs Attention',
  [NOTIFICATION_EVENT.leakRotated]: 'Leak Rotated',
  [NOTIFICATION_EVENT.leakNotContained]: 'Leak Not Contained',
  [NOTIFICATION_EVENT.alertUnmatched]: 'Leak Alert Unmatched',
};

const SLACK_PREFIX: Readonly<Record<NotificationEvent, string>> = {
  [NOTIFICATION_EVENT.rotated]: ':white_check_mark: rotated',
  [NOTIFICATION_EVENT.rolledBack]: ':leftwards_arrow_with_hook: rolled back (the old password still works)',
  [NOTIFICATION_EVENT.failed]: ':x: failed (the old password still works)',
  [NOTIFICATION_EVENT.needsAttention]: ':rotating_light: needs attention',
  [NOTIFICATION_EVENT.leakRotated]: ':lock: leaked password revoked',
  [NOTIFICATION_EVENT.leakNotContained]: ':rotating_light: leak NOT contained: the leaked password still works somewhere',
  [NOTIFICATION_EVENT.alertUnmatched]: ':grey_question: leak alert matched no credential',
};

/** A Slack incoming-webhook body. */
export function slackBody(n: Notification): string {
  const parts = [`milvus-rotator: ${SLACK_PREFIX[n.event]}`];
  if (n.credential !== null) parts.push(`credential \`${n.credential}\``);
  if (n.reason !== null && n.reason !== 'ok') parts.push(`reason \`${n.reason}\``);
  const clusters = Object.entries(n.clusters).map(([name, state]) => `${name}=${state}`);
  if (clusters.length > 0) parts.push(`clusters ${clusters.join(' ')}`);
  if (n.receiptToRevokedMs !== null) parts.push(`revoked ${n.receiptToRevokedMs} ms after the alert`);
  if (n.alertIds.length > 0) parts.push(`alerts ${n.alertIds.join(', ')}`);
  if (n.rotationId !== null) parts.push(`rotation ${n.rotationId}`);
  return JSON.stringify({ text: parts.join(' · ') });
}

/** The signed JSON format: the body and its two signature headers. */
export function signedJson(n: Notification, secret: string, nowMs: number): { body: string; headers: Record<string, string> } {
  const body = JSON.stringify(n);
  const timestamp = Math.floor(nowMs / 1000);
  return {
    body,
    headers: {
      [GENERIC_HEADER.timestamp]: String(timestamp),
      [GENERIC_HEADER.signature]: signGenericAlert(secret, timestamp, Buffer.from(body)),
    },
  };
}

/** One EventBridge PutEvents entry. */
export function eventBridgeEntry(n: Notification, eventBusName: string): { Source: string; DetailType: string; Detail: string; EventBusName: string; Time: Date } {
  return { Source: NOTIFICATION_SOURCE, DetailType: DETAIL_TYPE[n.event], Detail: JSON.stringify(n), EventBusName: eventBusName, Time: new Date(n.at) };
}
