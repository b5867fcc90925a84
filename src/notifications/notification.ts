/**
 * What the rotator tells the outside world when something happens: a closed set of events and the
 * one payload every format is built from. A payload holds ids, outcomes, reasons and durations:
 * never a password, a hash of one, or free text from a cluster (a rotation's `error` is left out
 * for that reason: it is built from cluster answers).
 */
import type { NotificationEventName } from '../config/types.ts';
import { MODE, OUTCOME, REASON, type RotationResult } from '../rotation/types.ts';

export const NOTIFICATION_EVENT = {
  rotated: 'rotated',
  rolledBack: 'rolled_back',
  failed: 'failed',
  needsAttention: 'needs_attention',
  /** A leak rotation that rotated: the leaked password is dead everywhere. */
  leakRotated: 'leak_rotated',
  /** A leak rotation that could not move every cluster: the leaked password still works somewhere. */
  leakNotContained: 'leak_not_contained',
  /** A verified leak alert that matched no credential: nothing was rotated. */
  alertUnmatched: 'alert_unmatched',
} as const satisfies Record<string, NotificationEventName>;
/** The config's event names (src/config/types.ts); formats.ts maps every one, so none can be missed. */
export type NotificationEvent = NotificationEventName;
export const NOTIFICATION_EVENTS: readonly NotificationEvent[] = Object.values(NOTIFICATION_EVENT);

/** The payload of every notification; formats only reshape it. */
export interface Notification {
  event: NotificationEvent;
  /** When the rotator emitted it (ISO 8601). */
  at: string;
  credential: string | null;
  outcome: RotationResult['outcome'] | null;
  reason: RotationResult['reason'] | null;
  mode: RotationResult['mode'] | null;
  rotationId: string | null;
  versionId: string | null;
  clusters: Record<string, string>;
  durationMs: number | null;
  /** Leak rotations and unmatched alerts: the alert ids (as the feeds sent them) and sources. */
  alertIds: string[];
  sources: string[];
  /** Leak rotations: from the first alert's receipt to the old password rejected everywhere. */
  receiptToRevokedMs: number | null;
}

/** What a leak rotation answered, as the rotate job reports it. */
export interface LeakSummary {
  alertIds: readonly string[];
  sources: readonly string[];
  receiptToRevokedMs: number | null;
}

/** At most this many alert ids travel in one notification (a storm must not make a huge payload). */
export const MAX_ALERT_IDS = 20;

/**
 * The events one rotation result raises: its outcome, plus `leak_rotated` for a leak rotation that
 * rotated and `leak_not_contained` for one that could not kill the leaked password everywhere.
 */
export function notificationsOfResult(result: RotationResult, leak: LeakSummary | undefined, nowMs: number): Notification[] {
  const events: NotificationEvent[] = [result.outcome];
  if (result.mode === MODE.leak && result.outcome === OUTCOME.rotated) events.push(NOTIFICATION_EVENT.leakRotated);
  if (result.reason === REASON.leakNotContained) events.push(NOTIFICATION_EVENT.leakNotContained);
  const base = {
    at: new Date(nowMs).toISOString(),
    credential: result.credential,
    outcome: result.outcome,
    reason: result.reason,
    mode: result.mode,
    rotationId: result.rotationId,
    versionId: result.versionId,
    clusters: { ...result.clusters },
    durationMs: result.durationMs,
    alertIds: [...new Set(leak?.alertIds ?? [])].slice(-MAX_ALERT_IDS),
    sources: [...new Set(leak?.sources ?? [])].slice(0, MAX_ALERT_IDS),
    receiptToRevokedMs: leak?.receiptToRevokedMs ?? null,
  };
  return events.map((event) => ({ event, ...base }));
}

/** The event for a verified alert that matched nothing. */
export function unmatchedAlertNotification(alert: { alertId: string; source: string }, nowMs: number): Notification {
  return {
    event: NOTIFICATION_EVENT.alertUnmatched,
    at: new Date(nowMs).toISOString(),
    credential: null,
    outcome: null,
    reason: null,
    mode: null,
    rotationId: null,
    versionId: null,
    clusters: {},
    durationMs: null,
    alertIds: [alert.alertId],
    sources: [alert.source],
    receiptToRevokedMs: null,
  };
}
