/**
 * GitHub secret scanning partner program (spec/leak-alert-feeds.md): GitHub finds our tokens in
 * public repositories, gists, issues or npm packages and POSTs them here.
 *
 *   Github-Public-Key-Identifier: <key_identifier from GitHub's meta keys>
 *   Github-Public-Key-Signature:  <base64 DER ECDSA P-256 / SHA-256 signature of the raw body>
 *   body: [ { "token": "...", "type": "...", "url": "...", "source": "content" }, ... ]
 *
 * The signature is checked over the raw body bytes (never re-serialized JSON) with the public key
 * named by the identifier, from a keys file in GitHub's own format
 * (`https://api.github.com/meta/public_keys/secret_scanning`, saved by the operator or a sidecar;
 * config `leakAlerts.githubKeysFile`). Every reported token is to be treated as public and
 * compromised, and GitHub expects 2xx for tokens that match nothing.
 */
import { createPublicKey, verify, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { GithubKeysError } from './errors.ts';
import { singleHeader, type HeaderValue } from './header-value.ts';
import { formatIssues, parseJson } from './json-body.ts';

/** Header names as Node presents them (lower case). */
export const GITHUB_HEADER = {
  keyIdentifier: 'github-public-key-identifier',
  signature: 'github-public-key-signature',
} as const;

export const GITHUB_SIGNATURE_FAILURE = {
  /** A header is absent or empty. */
  missing: 'missing',
  /** A header is present but not usable (repeated, not base64). */
  malformed: 'malformed',
  /** The identifier names no key in the keys file: GitHub rotated keys and the file is old, or a forgery. */
  unknownKey: 'unknown-key',
  /** The signature does not verify with the named key. */
  mismatch: 'mismatch',
} as const;
export type GithubSignatureFailure = (typeof GITHUB_SIGNATURE_FAILURE)[keyof typeof GITHUB_SIGNATURE_FAILURE];

export type GithubSignatureCheck = { ok: true; keyIdentifier: string } | { ok: false; reason: GithubSignatureFailure };

/** GitHub's verification keys by key identifier, each a P-256 public key. */
export type GithubKeys = ReadonlyMap<string, KeyObject>;

/** The curve GitHub signs with; OpenSSL calls P-256 prime256v1. */
const P256 = 'prime256v1';

/**
 * GitHub's meta format. Loose objects (unknown keys kept, not refused): the file is GitHub's, and a
 * field GitHub adds tomorrow must not stop the worker.
 */
const githubKeysFileSchema = z.looseObject({
  public_keys: z
    .array(
      z.looseObject({
        key_identifier: z.string({ error: 'must be a string' }).min(1, { error: 'must not be empty' }),
        key: z.string({ error: 'must be a PEM public key' }).min(1, { error: 'must not be empty' }),
        is_current: z.boolean({ error: 'must be true or false' }).optional(),
      }),
      { error: 'must be a list' },
    )
    .min(1, { error: 'must hold at least one key' }),
});

/** Reads and checks the keys file. Throws GithubKeysError: call at startup. */
export async function loadGithubKeys(path: string): Promise<GithubKeys> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new GithubKeysError(path, 'cannot be read', { cause: error });
  }
  return parseGithubKeys(text, path);
}

/** Checks a keys document (the text of the file); `source` names it in errors. */
export function parseGithubKeys(text: string, source: string): GithubKeys {
  const json = parseJson(text);
  if (!json.ok) throw new GithubKeysError(source, json.error);
  const parsed = githubKeysFileSchema.safeParse(json.value);
  if (!parsed.success) throw new GithubKeysError(source, formatIssues(parsed.error.issues));

  const keys = new Map<string, KeyObject>();
  for (const [index, entry] of parsed.data.public_keys.entries()) {
    const where = `public_keys[${index}] (${JSON.stringify(entry.key_identifier)})`;
    if (keys.has(entry.key_identifier)) throw new GithubKeysError(source, `${where}: duplicate key_identifier`);
    // createPublicKey would quietly derive the public half of a private key: such a file was made
    // by mistake, and a private key must not sit in a config volume at all.
    if (entry.key.includes('PRIVATE KEY')) throw new GithubKeysError(source, `${where}: holds a private key; only public keys belong here`);
    let key: KeyObject;
    try {
      key = createPublicKey({ key: entry.key, format: 'pem' });
    } catch (error) {
      throw new GithubKeysError(source, `${where}: key is not a PEM public key`, { cause: error });
    }
    // Refused here rather than failing every verification later: a key of another type or curve
    // is a wrong file (or a tampered one), and the operator should see it at startup.
    if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== P256) {
      throw new GithubKeysError(source, `${where}: key is not an ECDSA P-256 public key`);
    }
    keys.set(entry.key_identifier, key);
  }
  return keys;
}

export interface GithubSignatureInput {
  /** The request body exactly as received. */
  rawBody: Uint8Array;
  /** Github-Public-Key-Identifier. */
  keyIdentifier: HeaderValue;
  /** Github-Public-Key-Signature. */
  signature: HeaderValue;
}

/** Standard base64 with padding. Buffer.from(..., 'base64') skips junk silently, so the form is checked first. */
const BASE64_PATTERN = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
/** A DER P-256 signature is at most 72 bytes (96 base64 characters); the bound keeps junk out. */
const MAX_SIGNATURE_BASE64_LENGTH = 256;
/** GitHub's identifiers are 64 hex characters; the bound only keeps absurd headers out. */
const MAX_KEY_IDENTIFIER_LENGTH = 256;

/** Verifies a delivery's ECDSA P-256 / SHA-256 signature over the raw body. Never throws. */
export function verifyGithubSignature(input: GithubSignatureInput, keys: GithubKeys): GithubSignatureCheck {
  const keyIdentifier = singleHeader(input.keyIdentifier);
  const signature = singleHeader(input.signature);
  if (keyIdentifier === undefined || signature === undefined) return { ok: false, reason: GITHUB_SIGNATURE_FAILURE.missing };
  if (
    keyIdentifier === null ||
    signature === null ||
    keyIdentifier.length > MAX_KEY_IDENTIFIER_LENGTH ||
    signature.length > MAX_SIGNATURE_BASE64_LENGTH ||
    !BASE64_PATTERN.test(signature)
  ) {
    return { ok: false, reason: GITHUB_SIGNATURE_FAILURE.malformed };
  }
  // A Map keyed by identifier: no prototype lookups, so "constructor" or "__proto__" name nothing.
  const key = keys.get(keyIdentifier);
  if (key === undefined) return { ok: false, reason: GITHUB_SIGNATURE_FAILURE.unknownKey };
  let valid: boolean;
  try {
    valid = verify('sha256', input.rawBody, { key, dsaEncoding: 'der' }, Buffer.from(signature, 'base64'));
  } catch {
    // OpenSSL refusing to decode the DER is a bad signature, not a server error.
    valid = false;
  }
  return valid ? { ok: true, keyIdentifier } : { ok: false, reason: GITHUB_SIGNATURE_FAILURE.mismatch };
}

/** One reported match. */
export interface GithubTokenMatch {
  /** The leaked text as GitHub found it. Holds a secret: never log it, never store it. */
  token: string;
  /** Our token type as registered with GitHub. */
  type: string;
  /** Where it was found; may be empty (e.g. npm). */
  url: string;
  /** content, commit, pull_request_comment, gist_content, npm, unknown, ... (the list grows). */
  source: string;
}

export const GITHUB_BATCH_LIMITS = {
  /** GitHub batches matches; a larger array is not GitHub. */
  maxMatches: 1_000,
  /** A `user:password`, a password or a URL with userinfo fits easily. */
  tokenLength: 4_096,
  typeLength: 256,
  urlLength: 4_096,
  sourceLength: 64,
} as const;

const bounded = (max: number, what: string) =>
  z.string({ error: `must be ${what}` }).max(max, { error: `must be at most ${max} characters` });

/**
 * The batch. Objects are loose (extra keys ignored, not refused) for the same reason as the keys
 * file: the format is GitHub's and may grow.
 */
export const githubMatchesSchema = z
  .array(
    z.object({
      token: bounded(GITHUB_BATCH_LIMITS.tokenLength, 'a string').min(1, { error: 'must not be empty' }),
      type: bounded(GITHUB_BATCH_LIMITS.typeLength, 'a string'),
      url: bounded(GITHUB_BATCH_LIMITS.urlLength, 'a string (may be empty)'),
      source: bounded(GITHUB_BATCH_LIMITS.sourceLength, 'a string'),
    }, { error: 'must be an object with token, type, url and source' }),
    { error: 'body must be a JSON array of matches' },
  )
  .min(1, { error: 'body must hold at least one match' })
  .max(GITHUB_BATCH_LIMITS.maxMatches, { error: `body must hold at most ${GITHUB_BATCH_LIMITS.maxMatches} matches` });

export type GithubMatchesParse = { ok: true; matches: GithubTokenMatch[] } | { ok: false; error: string };

/** Parses a verified delivery's raw body. Never throws; errors never quote the body. */
export function parseGithubMatches(rawBody: Uint8Array | string): GithubMatchesParse {
  const json = parseJson(rawBody);
  if (!json.ok) return json;
  const result = githubMatchesSchema.safeParse(json.value);
  if (result.success) return { ok: true, matches: result.data };
  return { ok: false, error: formatIssues(result.error.issues) };
}
