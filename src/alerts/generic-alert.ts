/**
 * The body of a generic leak alert (docs/design.md section 7, `POST /v1/leak-alerts`). It names the leak in
 * exactly one way:
 *
 *   { "credential": "app-reader" }                      a configured credential id
 *   { "username": "app_reader", "cluster": "prod-west" } every credential of that user on that cluster
 *   { "tokenSha256": "<64 hex>" }                        SHA-256 of `user:password` or of the password
 *
 * plus optional `id`, `source`, `url` and `detectedAt`, which travel into the job and the audit
 * trail. Two ways at once are refused rather than combined: a sender that means one credential and
 * names another by mistake should hear about it, not trigger two rotations.
 *
 * Objects are strict (an unknown key is refused) so a misspelled key (`tokenSHA256`) cannot turn an
 * alert into one that silently names nothing. Error texts are short, name only our own keys and
 * never repeat a value from the body: they reach logs and the 400 reply.
 */
import { z } from 'zod';
import { NAME_PATTERN, USERNAME_PATTERN } from '../config/schema.ts';
import { formatIssues, parseJson } from './json-body.ts';

/** How an alert named the leak; the same words as the `via` of a resolved credential. */
export const LEAK_NAMED_BY = {
  credential: 'credential',
  usernameCluster: 'username-cluster',
  token: 'token',
} as const;
export type LeakNamedBy = (typeof LEAK_NAMED_BY)[keyof typeof LEAK_NAMED_BY];

/** The optional context of an alert, kept for the job, the audit event and metrics. */
export interface AlertContext {
  /** The sender's alert id (<= 128 printable ASCII characters): deduplication and audit. */
  id?: string;
  /** Who detected the leak, e.g. "gitguardian" (<= 64 printable ASCII characters): a metric label. */
  source?: string;
  /** Where the leak was seen (<= 2048 characters). */
  url?: string;
  /** When the sender detected it, ISO 8601 with an offset or Z. */
  detectedAt?: string;
}

export type GenericAlert =
  | (AlertContext & { by: 'credential'; credential: string })
  | (AlertContext & { by: 'username-cluster'; username: string; cluster: string })
  | (AlertContext & { by: 'token'; tokenSha256: string });

export type GenericAlertParse = { ok: true; alert: GenericAlert } | { ok: false; error: string };

export const GENERIC_ALERT_LIMITS = {
  idLength: 128,
  sourceLength: 64,
  urlLength: 2_048,
} as const;

/** Printable ASCII without space: ids end up in job data, log fields and audit lines. */
const ID_PATTERN = /^[\x21-\x7e]+$/;
/** Printable ASCII: a metric label must not carry control characters. */
const SOURCE_PATTERN = /^[\x20-\x7e]+$/;
/** Anything but control characters (no line breaks smuggled into a log line). */
const URL_TEXT_PATTERN = /^[^\p{Cc}]+$/u;
const SHA256_HEX_PATTERN = /^[0-9a-fA-F]{64}$/;

const text = (what: string) => z.string({ error: `must be ${what}` });

const genericAlertShape = {
  credential: text('a credential id').regex(NAME_PATTERN, { error: 'must be a credential id' }).optional(),
  username: text('a user name').regex(USERNAME_PATTERN, { error: 'must be a Milvus user name' }).optional(),
  cluster: text('a cluster name').regex(NAME_PATTERN, { error: 'must be a cluster name' }).optional(),
  tokenSha256: text('a hex SHA-256').regex(SHA256_HEX_PATTERN, { error: 'must be 64 hex characters' }).optional(),
  id: text('a string')
    .max(GENERIC_ALERT_LIMITS.idLength, { error: `must be at most ${GENERIC_ALERT_LIMITS.idLength} characters` })
    .regex(ID_PATTERN, { error: 'must be printable ASCII without spaces' })
    .optional(),
  source: text('a string')
    .max(GENERIC_ALERT_LIMITS.sourceLength, { error: `must be at most ${GENERIC_ALERT_LIMITS.sourceLength} characters` })
    .regex(SOURCE_PATTERN, { error: 'must be printable ASCII' })
    .optional(),
  url: text('a string')
    .max(GENERIC_ALERT_LIMITS.urlLength, { error: `must be at most ${GENERIC_ALERT_LIMITS.urlLength} characters` })
    .regex(URL_TEXT_PATTERN, { error: 'must not be empty or hold control characters' })
    .optional(),
  detectedAt: z.iso.datetime({ offset: true, error: 'must be an ISO 8601 date-time with Z or an offset' }).optional(),
};

/** Named, not quoted: the reply lists what is allowed and never repeats a key the sender wrote. */
const ALLOWED_KEYS = Object.keys(genericAlertShape).join(', ');

export const genericAlertSchema = z
  .strictObject(genericAlertShape, {
    error: (issue) => (issue.code === 'unrecognized_keys' ? `unknown key refused; allowed keys: ${ALLOWED_KEYS}` : 'body must be a JSON object'),
  })
  .transform((body, ctx): GenericAlert => {
    const context: AlertContext = {
      ...(body.id === undefined ? {} : { id: body.id }),
      ...(body.source === undefined ? {} : { source: body.source }),
      ...(body.url === undefined ? {} : { url: body.url }),
      ...(body.detectedAt === undefined ? {} : { detectedAt: body.detectedAt }),
    };
    const byUser = body.username !== undefined || body.cluster !== undefined;
    const ways = [body.credential !== undefined, byUser, body.tokenSha256 !== undefined].filter(Boolean).length;
    if (ways !== 1) {
      ctx.issues.push({
        code: 'custom',
        input: undefined,
        message:
          ways === 0
            ? 'name the leak by credential, by username and cluster, or by tokenSha256'
            : 'name the leak in exactly one way: credential, username and cluster, or tokenSha256',
      });
      return z.NEVER;
    }
    if (body.credential !== undefined) return { by: 'credential', credential: body.credential, ...context };
    if (body.tokenSha256 !== undefined) return { by: 'token', tokenSha256: body.tokenSha256.toLowerCase(), ...context };
    if (body.username === undefined || body.cluster === undefined) {
      ctx.issues.push({ code: 'custom', input: undefined, message: 'username and cluster go together' });
      return z.NEVER;
    }
    return { by: 'username-cluster', username: body.username, cluster: body.cluster, ...context };
  });

/** Parses a raw generic alert body (bytes as received, or its text). Never throws. */
export function parseGenericAlert(rawBody: Uint8Array | string): GenericAlertParse {
  const json = parseJson(rawBody);
  if (!json.ok) return json;
  const result = genericAlertSchema.safeParse(json.value);
  if (result.success) return { ok: true, alert: result.data };
  return { ok: false, error: formatIssues(result.error.issues) };
}
