/**
 * Fuzz: random and mutated bodies and headers against every endpoint through inject(). Whatever
 * arrives, the app answers (no crash, no hang), never with a 5xx, never queues a rotation, and no
 * reply holds a secret. Every error reply is the fixed `{"error": ...}` shape.
 *
 * The generator is a seeded PRNG (mulberry32), so a failure reproduces: the assertion message names
 * the seed and the case; rerun with FUZZ_SEED=<seed> (and FUZZ_CASES to change the count per
 * endpoint). Bodies come from three sources: random JSON values (keys drawn from the API's own key
 * names, so validators see near-misses), random bytes, and mutations of valid requests (bit flips,
 * insertions, deletions, truncation, splices of JSON-special tokens). Leak-alert cases are signed
 * correctly half of the time, after mutation, so the parsers behind the signature are fuzzed too;
 * every base request names something that is not configured, and a mutation cannot make it ours.
 * No reply repeats client text: the bases carry a canary (CANARY) that no reply may hold.
 */
import { describe, expect, it, onTestFinished } from 'vitest';
import { signGithubWebhook } from '../src/alerts/github-webhook.ts';
import type { AppDeps } from '../src/http/deps.ts';
import { findExposures } from './helpers/exposure.ts';
import { startGithubApiFake } from './helpers/github-api-fake.ts';
import { NOW_SECONDS, TRIGGER_TOKENS, WEBHOOK_SECRETS, appHarness, makeHttpConfig, sha256Hex, signedGeneric, signedGithub, type AppHarness } from './http-support.ts';

/**
 * Client text no reply may repeat (a password pasted where an id goes): the base requests carry it
 * as an unknown credential id, a cluster name and a token, and every reply is searched for it.
 */
const CANARY = 'Pasted-Passw0rd-Canary';

const SEED = Number(process.env.FUZZ_SEED ?? 0x5eed_1234);
const CASES_PER_ENDPOINT = Number(process.env.FUZZ_CASES ?? 1_000);

/** mulberry32: a small, well-mixed 32-bit PRNG; the same seed gives the same sequence. */
function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

class Rand {
  readonly next: () => number;
  constructor(seed: number) {
    this.next = mulberry32(seed);
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  bool(p = 0.5): boolean {
    return this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)] as T;
  }
  bytes(n: number): Buffer {
    return Buffer.from(Array.from({ length: n }, () => this.int(256)));
  }
  text(n: number, alphabet = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_:.!@#$%^&*()[]{}"\'\\/ '): string {
    return Array.from({ length: n }, () => alphabet[this.int(alphabet.length)]).join('');
  }
}

const API_KEYS = ['credential', 'credentials', 'all', 'username', 'cluster', 'tokenSha256', 'id', 'source', 'url', 'detectedAt', 'token', 'type', '__proto__', 'constructor', 'prototype'];
const SPECIAL_TOKENS = ['"', '{', '}', '[', ']', ',', ':', '\\', '\\u0000', '\u0000', '\uFFFF', '1e999', '-0', 'null', 'true', '__proto__', '\r\n', '\u2028', '\xff', '9'.repeat(400)];
/** Strings a generator may use as values: none is a configured credential, user or cluster. */
const VALUE_STRINGS = ['ghost', 'not-ours', 'nope_user', 'app-readerX', 'billing ', 'west2', '', ' ', 'a'.repeat(64), 'A'.repeat(300), '../../etc', '%00', '${ENV}'];

function randomJson(r: Rand, depth = 0): unknown {
  const kind = r.int(depth > 3 ? 6 : 9);
  switch (kind) {
    case 0:
      return null;
    case 1:
      return r.bool();
    case 2:
      return r.pick([0, -1, 1.5, 1e308, -1e-308, Number.MAX_SAFE_INTEGER, r.int(1e9)]);
    case 3:
      return r.pick(VALUE_STRINGS);
    case 4:
      return r.text(r.int(80));
    case 5:
      return sha256Hex(r.text(12));
    case 6:
    case 7: {
      const object: Record<string, unknown> = {};
      const n = r.int(6);
      for (let i = 0; i < n; i++) object[r.bool(0.8) ? r.pick(API_KEYS) : r.text(r.int(10))] = randomJson(r, depth + 1);
      return object;
    }
    default:
      return Array.from({ length: r.int(5) }, () => randomJson(r, depth + 1));
  }
}

function mutate(r: Rand, input: Buffer): Buffer {
  let out = Buffer.from(input);
  const rounds = 1 + r.int(4);
  for (let i = 0; i < rounds; i++) {
    const at = out.length === 0 ? 0 : r.int(out.length);
    switch (r.int(6)) {
      case 0:
        if (out.length > 0) out[at] = (out[at] as number) ^ (1 << r.int(8));
        break;
      case 1:
        out = Buffer.concat([out.subarray(0, at), r.bytes(1 + r.int(4)), out.subarray(at)]);
        break;
      case 2:
        out = Buffer.concat([out.subarray(0, at), out.subarray(at + 1 + r.int(6))]);
        break;
      case 3:
        out = out.subarray(0, at);
        break;
      case 4:
        out = Buffer.concat([out.subarray(0, at), Buffer.from(r.pick(SPECIAL_TOKENS)), out.subarray(at)]);
        break;
      default:
        out = Buffer.concat([out, out.subarray(0, r.int(out.length + 1))]);
    }
  }
  return out;
}

/** A body: random JSON text, random bytes, a deep nest, `base` itself, or a mutation of it. */
function randomBody(r: Rand, base: Buffer): Buffer {
  switch (r.int(7)) {
    case 0:
      return Buffer.from(JSON.stringify(randomJson(r)) ?? 'null');
    case 1:
      return r.bytes(r.int(300));
    case 2: {
      const depth = 1 + r.int(20_000);
      return Buffer.from(r.bool() ? `${'['.repeat(depth)}${']'.repeat(depth)}` : `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`);
    }
    case 3:
      return base;
    default:
      return mutate(r, base);
  }
}

function randomContentType(r: Rand): string | undefined {
  return r.pick([undefined, 'application/json', 'application/json; charset=utf-8', 'text/plain', 'application/octet-stream', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'a b c', '*/*', 'application/json; charset=utf-16', r.text(r.int(30))]);
}

/** Extra headers: noise, repeated signature headers, odd lengths. Values are printable ASCII (what HTTP can carry). */
function randomHeaders(r: Rand): Record<string, string | string[]> {
  const headers: Record<string, string | string[]> = {};
  const n = r.int(4);
  const names = ['x-rotator-timestamp', 'x-rotator-signature', 'github-public-key-identifier', 'github-public-key-signature', 'authorization', 'x-forwarded-for', 'x-request-id', 'accept', 'content-encoding', 'content-length'];
  for (let i = 0; i < n; i++) {
    const name = r.pick(names);
    const value = name === 'content-length' ? String(r.int(200)) : r.text(r.int(120), ' !#$%&*+-.0123456789=ABCDEFabcdef^_`|~');
    headers[name] = r.bool(0.15) ? [value, r.text(8)] : value;
  }
  return headers;
}

interface Case {
  method: string;
  url: string;
  headers: Record<string, string | string[]>;
  payload?: Buffer;
}

function triggerCase(r: Rand): Case {
  const base = Buffer.from(JSON.stringify(r.pick([{ credential: CANARY }, { credentials: ['ghost-a', CANARY] }, { credential: 'nope' }])));
  let payload = randomBody(r, base);
  // A valid token with a body that parses to {"all": true} would queue for real: strip `all`.
  try {
    const parsed: unknown = JSON.parse(payload.toString());
    if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed) && Object.hasOwn(parsed, 'all')) {
      const { all: _all, ...rest } = parsed as Record<string, unknown>;
      payload = Buffer.from(JSON.stringify(rest));
    }
  } catch {
    // not JSON: nothing to strip
  }
  const headers = randomHeaders(r);
  const auth = r.int(5);
  if (auth === 0) headers.authorization = `Bearer ${TRIGGER_TOKENS[0]}`;
  else if (auth === 1) headers.authorization = `Bearer ${TRIGGER_TOKENS[1]}`;
  else if (auth === 2) headers.authorization = `Bearer ${mutate(r, Buffer.from(TRIGGER_TOKENS[0])).toString('latin1').replace(/[^\x20-\x7e]/g, 'x')}`;
  const contentType = randomContentType(r);
  if (contentType !== undefined) headers['content-type'] = contentType;
  return { method: 'POST', url: '/v1/rotations', headers, payload };
}


function statusCase(r: Rand): Case {
  const headers = randomHeaders(r);
  if (r.bool(0.6)) headers.authorization = `Bearer ${TRIGGER_TOKENS[r.int(2)]}`;
  const id = r.pick([
    String(r.int(1e6)),
    r.text(1 + r.int(40)),
    encodeURIComponent(r.text(1 + r.int(20))),
    'x'.repeat(200),
    '%',
    '..%2F..',
    '%00',
    // BullMQ's own keys beside the jobs', and prototype names: never a rotation id.
    r.pick([...BULLMQ_KEY_NAMES, 'constructor', '__proto__', 'prototype', 'hasOwnProperty']),
    r.pick(['0b6d3a44-5c5e-4a33-9f44-6a4f1d7f7a11', '0B6D3A44-5C5E-4A33-9F44-6A4F1D7F7A11', '0b6d3a44-5c5e-4a33-9f44-6a4f1d7f7a1', `repeat:cred:${r.int(1e9)}`]),
  ]);
  return { method: r.pick(['GET', 'GET', 'HEAD', 'DELETE', 'POST']), url: `/v1/rotations/${id}`, headers };
}

/** BullMQ keys under the queue prefix that a job id must never name (reading them as a job gave 503). */
const BULLMQ_KEY_NAMES = ['events', 'id', 'completed', 'failed', 'wait', 'waiting', 'active', 'delayed', 'prioritized', 'paused', 'meta', 'stalled', 'stalled-check', 'limiter', 'marker', 'pc', 'de', 'repeat'];

function genericCase(r: Rand): Case {
  const base = Buffer.from(
    JSON.stringify(
      r.pick([
        { credential: CANARY, id: 'fz-1' },
        { username: 'nobody', cluster: CANARY },
        { tokenSha256: sha256Hex('not any password'), source: 'fuzz' },
        // A source of its own per alert, short or oversized: label cardinality.
        { credential: 'ghost-cred', source: r.text(1 + r.int(r.bool(0.5) ? 60 : 5_000), 'abcdefghijklmnopqrstuvwxyz0123456789-') },
      ]),
    ),
  );
  const payload = randomBody(r, base);
  let headers = randomHeaders(r);
  const timestampSeconds = r.pick([NOW_SECONDS, NOW_SECONDS, NOW_SECONDS - 299, NOW_SECONDS + 5000, 0, r.int(2 ** 31)]);
  if (r.bool()) headers = { ...headers, ...signedGeneric(payload, { secret: r.pick(WEBHOOK_SECRETS), timestampSeconds }).headers };
  else if (r.bool()) headers = { ...headers, ...signedGeneric(mutate(r, payload), { secret: WEBHOOK_SECRETS[0], timestampSeconds }).headers };
  const contentType = randomContentType(r);
  if (r.bool(0.3)) {
    if (contentType === undefined) delete headers['content-type'];
    else headers['content-type'] = contentType;
  }
  return { method: 'POST', url: '/v1/leak-alerts', headers, payload };
}

function githubCase(r: Rand, h: AppHarness): Case {
  const base = Buffer.from(JSON.stringify([{ token: r.bool() ? CANARY : `ghp_${r.text(20, 'abcdef0123456789')}`, type: 'milvus_password', url: '', source: r.pick(['content', 'npm', 'commit']) }]));
  const payload = randomBody(r, base);
  let headers = randomHeaders(r);
  if (r.bool()) headers = { ...headers, ...signedGithub(payload, h.github).headers };
  else if (r.bool()) headers = { ...headers, ...signedGithub(mutate(r, payload), h.github).headers };
  else if (r.bool()) headers = { ...headers, ...signedGithub(payload, { ...h.github, keyId: r.text(64, 'abcdef0123456789') }).headers };
  const contentType = randomContentType(r);
  if (r.bool(0.3)) {
    if (contentType === undefined) delete headers['content-type'];
    else headers['content-type'] = contentType;
  }
  return { method: 'POST', url: '/v1/leak-alerts/github', headers, payload };
}

const WEBHOOK_SECRET = 'fuzz-webhook-secret-0123456789';

function githubWebhookCase(r: Rand): Case {
  const base = Buffer.from(JSON.stringify({ action: r.pick(['created', 'reopened', 'publicly_leaked', 'resolved']), alert: { number: 1 + r.int(5) }, repository: { full_name: 'acme/payments' } }));
  const payload = randomBody(r, base);
  let headers = randomHeaders(r);
  headers['x-github-event'] = r.pick(['secret_scanning_alert', 'secret_scanning_alert', 'ping', r.text(10)]);
  if (r.bool(0.7)) headers['x-github-delivery'] = r.pick([`d-${r.int(1e9)}`, r.text(1 + r.int(60)), 'x'.repeat(200)]);
  if (r.bool()) headers['x-hub-signature-256'] = signGithubWebhook(WEBHOOK_SECRET, payload);
  else if (r.bool()) headers['x-hub-signature-256'] = signGithubWebhook(WEBHOOK_SECRET, mutate(r, payload));
  const contentType = randomContentType(r);
  if (contentType !== undefined) headers['content-type'] = contentType;
  return { method: 'POST', url: '/v1/leak-alerts/github-webhook', headers, payload };
}

/** The app with the GitHub webhook configured against a fake API whose every alert holds a literal that is not ours. */
async function webhookHarness(overrides: Partial<AppDeps> = {}): Promise<AppHarness> {
  const api = await startGithubApiFake({ token: 'fuzz-token', anySecret: 'Not-A-Password-Of-Ours-42!' });
  onTestFinished(api.close);
  const config = makeHttpConfig();
  return appHarness({ ...overrides, config: { ...config, leakAlerts: { ...config.leakAlerts, githubWebhook: { secrets: [WEBHOOK_SECRET], apiUrl: api.url, token: 'fuzz-token', resolveAlerts: false } } } });
}

function publicCase(r: Rand, path: string): Case {
  const headers = randomHeaders(r);
  const withBody = r.bool(0.3);
  return { method: r.pick(['GET', 'GET', 'GET', 'HEAD', 'POST', 'OPTIONS']), url: `${path}${r.bool(0.2) ? `?${r.text(10, 'abc=&%')}` : ''}`, headers, ...(withBody ? { payload: r.bytes(r.int(100)) } : {}) };
}

function randomPathCase(r: Rand): Case {
  const path = r.pick(['/', '/v1', '/v1/', '/v1/rotations/', '/v1/leak-alerts/', '/v1/leak-alerts/gitlab', '/V1/ROTATIONS', '//v1//rotations', '/v1/rotations?all=true', `/${r.text(r.int(50), 'abc/%.-_')}`]);
  return { method: r.pick(['GET', 'POST', 'PUT', 'PATCH', 'DELETE']), url: path, headers: randomHeaders(r), payload: r.bytes(r.int(50)) };
}

const ENDPOINTS: { name: string; make: (r: Rand, h: AppHarness) => Case; harness?: (overrides: Partial<AppDeps>) => Promise<AppHarness> }[] = [
  { name: 'POST /v1/rotations', make: (r) => triggerCase(r) },
  { name: 'GET /v1/rotations/:jobId', make: (r) => statusCase(r) },
  { name: 'POST /v1/leak-alerts', make: (r) => genericCase(r) },
  { name: 'POST /v1/leak-alerts/github', make: (r, h) => githubCase(r, h) },
  { name: 'POST /v1/leak-alerts/github-webhook', make: (r) => githubWebhookCase(r), harness: webhookHarness },
  { name: 'GET /healthz', make: (r) => publicCase(r, '/healthz') },
  { name: 'GET /readyz', make: (r) => publicCase(r, '/readyz') },
  { name: 'GET /metrics', make: (r) => publicCase(r, '/metrics') },
  { name: 'unknown routes', make: (r) => randomPathCase(r) },
];

describe(`fuzz (seed ${SEED}, ${CASES_PER_ENDPOINT} cases per endpoint)`, () => {
  for (const [index, endpoint] of ENDPOINTS.entries()) {
    it(`${endpoint.name}: no 5xx, no crash, nothing queued, no secret in a reply`, { timeout: 120_000 }, async () => {
      // The status reader behaves as BullMQ does for a job id naming one of its own keys: it throws (503).
      const rotationStatus: AppDeps['rotationStatus'] = async (jobId) => {
        if (BULLMQ_KEY_NAMES.includes(jobId)) throw new Error('WRONGTYPE Operation against a key holding the wrong kind of value');
        return null;
      };
      const h = await (endpoint.harness ?? appHarness)({ rotationStatus });
      const r = new Rand(SEED + index * 7919);
      const statuses = new Map<number, number>();
      const replies: string[] = [];
      for (let i = 0; i < CASES_PER_ENDPOINT; i++) {
        const c = endpoint.make(r, h);
        const where = `seed ${SEED}, endpoint ${index} (${endpoint.name}), case ${i}: ${c.method} ${c.url}`;
        const res = await h.app.inject({ method: c.method as 'GET', url: c.url, headers: c.headers, ...(c.payload === undefined ? {} : { payload: c.payload }) });
        statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1);
        expect(res.statusCode, where).toBeLessThan(500);
        if (res.statusCode >= 400 && c.method !== 'HEAD') {
          const body: unknown = res.json();
          expect(body, where).toHaveProperty('error');
          expect(Object.keys(body as object).every((key) => key === 'error' || key === 'detail'), where).toBe(true);
        }
        replies.push(res.body);
        expect(h.enqueued, where).toEqual([]);
      }
      expect(findExposures(replies, [...Object.values(h.passwords), ...TRIGGER_TOKENS, ...WEBHOOK_SECRETS, CANARY])).toEqual([]);
      if (process.env.FUZZ_VERBOSE) console.log(endpoint.name, JSON.stringify([...statuses].sort()));
      // Label values come from closed sets: however many sources the alerts named, a few series.
      const series = (await h.metrics.leakAlerts.get()).values;
      expect(series.length, JSON.stringify(series.map((v) => v.labels))).toBeLessThanOrEqual(24);
      // The fuzz reached past the first gate, not only 401s: several statuses per authenticated endpoint.
      if (index <= 4) expect(statuses.size, JSON.stringify([...statuses])).toBeGreaterThanOrEqual(3);
    });
  }
});

describe('fuzz: alerts with a source of their own, short or oversized', () => {
  it('answers 202 or 400 (never 5xx) and keeps the source label to a closed set', async () => {
    const h = await appHarness();
    const r = new Rand(SEED + 104_729);
    const statuses = new Map<number, number>();
    for (let i = 0; i < 400; i++) {
      const source = `${i}-${r.text(r.int(r.bool(0.6) ? 60 : 6_000), 'abcdefghijklmnopqrstuvwxyz0123456789-_.')}`;
      const signed = signedGeneric({ credential: r.pick(['ghost-cred', 'app-reader']), id: `src-${i}`, source }, { secret: WEBHOOK_SECRETS[0], timestampSeconds: NOW_SECONDS });
      const res = await h.app.inject({ method: 'POST', url: '/v1/leak-alerts', headers: signed.headers, payload: signed.payload });
      statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1);
      expect(res.statusCode, `case ${i}`).toBeLessThan(500);
    }
    expect(statuses.get(202) ?? 0).toBeGreaterThan(100);
    expect(statuses.get(400) ?? 0).toBeGreaterThan(50);
    const series = (await h.metrics.leakAlerts.get()).values;
    expect(new Set(series.map((v) => v.labels.source))).toEqual(new Set(['generic', 'other']));
  });
});
