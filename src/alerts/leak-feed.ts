/**
 * One interface for every leak-alert feed. A feed says how a delivery is verified (over the raw
 * bytes and headers), what its replay key is, how its body becomes leak claims, and how the sender
 * is answered; one pipeline (src/http/leak-feed-routes.ts) runs every feed the same way: verify,
 * rate limit, replay claim, read, resolve each claim against the config and the fingerprint index,
 * enqueue leak rotations, count the delivery processed, count, log, reply.
 *
 * A new feed is one file under ./feeds/ plus its config section, and a line in the pipeline's list
 * (src/http/app.ts). Nothing here knows HTTP frameworks: a feed returns statuses and bodies.
 */
import type { GenericAlert } from './generic-alert.ts';
import type { HeaderValue } from './header-value.ts';

/** The feeds, also the closed `source` label before a body is read. */
export const FEED_NAME = {
  generic: 'generic',
  githubPartner: 'github',
  githubWebhook: 'github_webhook',
} as const;
export type FeedName = (typeof FEED_NAME)[keyof typeof FEED_NAME];

/** One delivery, as received. */
export interface FeedRequest {
  /** The body exactly as received: signatures cover these bytes. Holds a secret for some feeds. */
  rawBody: Buffer;
  headers: Readonly<Record<string, HeaderValue>>;
  /** When it arrived (unix ms), before its body was read: the alert's receipt time. */
  receivedAt: number;
}

/**
 * What a delivery says leaked. Generic alerts name it by credential, by username + cluster or by
 * the SHA-256 of the token; the GitHub feeds carry the leaked text itself (`literal`), which is
 * matched through the fingerprint index and dropped.
 */
export type LeakClaim = GenericAlert | { by: 'literal'; token: string; type: string };

/** A reply: the pipeline sends it as is (bodies never quote the request). */
export interface FeedReply {
  status: number;
  body: unknown;
}

export type FeedVerification<Verified> = { ok: true; verified: Verified } | { ok: false; reason: string };

export type FeedRead =
  | {
      kind: 'alert';
      /** The sender's alert id, when it gives one (else the pipeline makes one). */
      alertId?: string;
      /** The sender's source (a metric label only when it is a known one). */
      source?: string;
      claims: LeakClaim[];
      /** Safe fields for the log line (counts, ids; never a token or a body). */
      logFields?: Record<string, unknown>;
    }
  /** A delivery to acknowledge and ignore (an event or action that is not a leak). */
  | { kind: 'ignored'; why: string; reply: FeedReply }
  /** The body is not of the feed's form: 400 with `problem` (names keys and rules, never values). */
  | { kind: 'invalid'; problem: string }
  /** A call the feed needs failed (e.g. reading the alert from GitHub): 503, the delivery stays retriable. */
  | { kind: 'unavailable'; what: string };

/** How each claim of a delivery resolved. */
export interface ClaimOutcome {
  claim: LeakClaim;
  /** The credentials it names (empty: not ours). */
  credentials: string[];
}

export interface QueuedLeakRotation {
  credential: string;
  jobId: string;
}

export interface LeakFeed<Verified = unknown> {
  readonly name: FeedName;
  readonly route: string;
  /** Request body limit, bytes (413 past it). */
  readonly bodyLimit: number;
  /** JSON schemas of the success replies by status (the pipeline adds the error replies). */
  readonly replySchemas: Readonly<Record<number, unknown>>;
  /** Why the feed cannot take deliveries now (not configured, no usable keys): 503; null when it can. */
  unavailable(): string | null;
  /** Checks the delivery's signature over the raw bytes; `reason` goes to a debug log line only. */
  verify(request: FeedRequest): FeedVerification<Verified>;
  /** The replay-guard key of a verified delivery, how long it is remembered, and the reply to a copy. */
  replay(verified: Verified, request: FeedRequest): { key: string; ttlSeconds: number; reply: FeedReply };
  /** Reads the verified body into claims (may call out: the GitHub webhook reads the alert). */
  read(request: FeedRequest, verified: Verified): Promise<FeedRead>;
  /** The reply once every claim is resolved and the rotations are queued. */
  answer(outcomes: readonly ClaimOutcome[], rotations: readonly QueuedLeakRotation[]): FeedReply;
}
