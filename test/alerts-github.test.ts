/**
 * The GitHub secret scanning partner feed: ECDSA P-256 / SHA-256 over the raw body with a key
 * chosen by identifier from a keys file in GitHub's meta format, the loader that refuses anything
 * but P-256 public keys, and the batch schema. Key pairs are generated here with node:crypto.
 */
import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ERROR_CODE } from '../src/error-codes.ts';
import { GithubKeysError } from '../src/alerts/errors.ts';
import {
  GITHUB_SIGNATURE_FAILURE,
  loadGithubKeys,
  parseGithubMatches,
  verifyGithubSignature,
  type GithubKeys,
} from '../src/alerts/github-partner.ts';
import { watchGithubKeys } from '../src/alerts/github-keys-file.ts';
import { GITHUB_OTHER_KEY_ID, githubSigner } from './http-support.ts';

const CURRENT_ID = 'bcb53661c06b4728e59d897fb6165d5c9cda0fd9cdf9d09ead458168deb7518c';
const OLD_ID = '90a421169f0a406205f1563a953312f0be898d3c7b6c06b681aa86a874555f4a';

interface Pair {
  publicPem: string;
  privateKey: KeyObject;
}

function p256(): Pair {
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { publicPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(), privateKey };
}

function publicPemOf(type: 'p384' | 'rsa' | 'ed25519'): string {
  const pair =
    type === 'p384'
      ? generateKeyPairSync('ec', { namedCurve: 'P-384' })
      : type === 'rsa'
        ? generateKeyPairSync('rsa', { modulusLength: 2048 })
        : generateKeyPairSync('ed25519');
  return pair.publicKey.export({ type: 'spki', format: 'pem' }).toString();
}

/** What GitHub sends: base64 of the DER ECDSA signature over the raw body. */
function githubSignature(privateKey: KeyObject, body: Uint8Array): string {
  return sign('sha256', body, { key: privateKey, dsaEncoding: 'der' }).toString('base64');
}

let dir: string;
let current: Pair;
let old: Pair;
let stranger: Pair;
let keys: GithubKeys;

function writeKeysFile(name: string, document: unknown): string {
  const path = join(dir, name);
  writeFileSync(path, typeof document === 'string' ? document : JSON.stringify(document, null, 2));
  return path;
}

async function loadError(document: unknown): Promise<GithubKeysError> {
  const path = writeKeysFile(`keys-${Math.random().toString(36).slice(2)}.json`, document);
  try {
    await loadGithubKeys(path);
  } catch (error) {
    expect(error).toBeInstanceOf(GithubKeysError);
    expect((error as GithubKeysError).code).toBe(ERROR_CODE.githubKeysInvalid);
    return error as GithubKeysError;
  }
  throw new Error('expected the keys file to be refused');
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'alerts-github-'));
  current = p256();
  old = p256();
  stranger = p256();
  const path = writeKeysFile('secret_scanning.json', {
    public_keys: [
      { key_identifier: OLD_ID, key: old.publicPem, is_current: false },
      { key_identifier: CURRENT_ID, key: current.publicPem, is_current: true },
    ],
  });
  keys = await loadGithubKeys(path);
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

const BODY = Buffer.from(
  JSON.stringify([
    { token: 'app_reader:Zq9xP-not-a-real-password', type: 'milvus_user_password', url: 'https://github.com/o/r/blob/main/.env', source: 'content' },
  ]),
);

describe('GitHub partner signature', () => {
  it('accepts a body signed with the key its identifier names', () => {
    const check = verifyGithubSignature({ rawBody: BODY, keyIdentifier: CURRENT_ID, signature: githubSignature(current.privateKey, BODY) }, keys);
    expect(check).toEqual({ ok: true, keyIdentifier: CURRENT_ID });
  });

  it('accepts a body signed with an older key that is still in the file', () => {
    const check = verifyGithubSignature({ rawBody: BODY, keyIdentifier: OLD_ID, signature: githubSignature(old.privateKey, BODY) }, keys);
    expect(check.ok).toBe(true);
  });

  it('refuses an unknown key identifier', () => {
    const check = verifyGithubSignature({ rawBody: BODY, keyIdentifier: 'f'.repeat(64), signature: githubSignature(current.privateKey, BODY) }, keys);
    expect(check).toEqual({ ok: false, reason: GITHUB_SIGNATURE_FAILURE.unknownKey });
  });

  it('refuses an identifier that is an Object.prototype member', () => {
    const check = verifyGithubSignature({ rawBody: BODY, keyIdentifier: 'constructor', signature: githubSignature(current.privateKey, BODY) }, keys);
    expect(check).toEqual({ ok: false, reason: GITHUB_SIGNATURE_FAILURE.unknownKey });
  });

  it('refuses a signature by one listed key presented under the other key identifier', () => {
    const check = verifyGithubSignature({ rawBody: BODY, keyIdentifier: CURRENT_ID, signature: githubSignature(old.privateKey, BODY) }, keys);
    expect(check).toEqual({ ok: false, reason: GITHUB_SIGNATURE_FAILURE.mismatch });
  });

  it('refuses a signature by a key that is not in the file', () => {
    const check = verifyGithubSignature({ rawBody: BODY, keyIdentifier: CURRENT_ID, signature: githubSignature(stranger.privateKey, BODY) }, keys);
    expect(check).toEqual({ ok: false, reason: GITHUB_SIGNATURE_FAILURE.mismatch });
  });

  it('refuses a body tampered by one byte', () => {
    const signature = githubSignature(current.privateKey, BODY);
    const tampered = Buffer.from(BODY);
    tampered[5] = (tampered[5] ?? 0) ^ 0x01;
    expect(verifyGithubSignature({ rawBody: tampered, keyIdentifier: CURRENT_ID, signature }, keys)).toEqual({
      ok: false,
      reason: GITHUB_SIGNATURE_FAILURE.mismatch,
    });
  });

  it('refuses a signature over re-serialized JSON', () => {
    const pretty = Buffer.from(JSON.stringify(JSON.parse(BODY.toString('utf8')), null, 2));
    const signature = githubSignature(current.privateKey, pretty);
    expect(verifyGithubSignature({ rawBody: BODY, keyIdentifier: CURRENT_ID, signature }, keys).ok).toBe(false);
  });

  it.each([
    ['no identifier', { keyIdentifier: undefined }],
    ['no signature', { signature: undefined }],
    ['an empty signature', { signature: '' }],
  ])('answers missing for %s', (_label, patch) => {
    const request = { rawBody: BODY, keyIdentifier: CURRENT_ID, signature: githubSignature(current.privateKey, BODY), ...patch };
    expect(verifyGithubSignature(request, keys)).toEqual({ ok: false, reason: GITHUB_SIGNATURE_FAILURE.missing });
  });

  it.each([
    ['a signature that is not base64', { signature: 'not base64 at all!' }],
    ['a signature of absurd length', { signature: 'A'.repeat(400) }],
    ['a repeated identifier header', { keyIdentifier: [CURRENT_ID, OLD_ID] }],
  ])('answers malformed for %s', (_label, patch) => {
    const request = { rawBody: BODY, keyIdentifier: CURRENT_ID, signature: githubSignature(current.privateKey, BODY), ...patch };
    expect(verifyGithubSignature(request, keys)).toEqual({ ok: false, reason: GITHUB_SIGNATURE_FAILURE.malformed });
  });

  it('answers mismatch, without throwing, for base64 that is not a DER signature', () => {
    const request = { rawBody: BODY, keyIdentifier: CURRENT_ID, signature: Buffer.from('definitely not DER').toString('base64') };
    expect(() => verifyGithubSignature(request, keys)).not.toThrow();
    expect(verifyGithubSignature(request, keys)).toEqual({ ok: false, reason: GITHUB_SIGNATURE_FAILURE.mismatch });
  });
});

describe('GitHub keys file', () => {
  it('loads every listed key by identifier and ignores fields GitHub may add', async () => {
    const path = writeKeysFile('extra-fields.json', {
      public_keys: [{ key_identifier: CURRENT_ID, key: current.publicPem, is_current: true, added_later: 1 }],
      note: 'ignored',
    });
    const loaded = await loadGithubKeys(path);
    expect([...loaded.keys()]).toEqual([CURRENT_ID]);
  });

  it.each([
    ['a P-384 key', 'p384'],
    ['an RSA key', 'rsa'],
    ['an Ed25519 key', 'ed25519'],
  ] as const)('refuses %s at load, naming the key identifier', async (_label, type) => {
    const error = await loadError({
      public_keys: [
        { key_identifier: CURRENT_ID, key: current.publicPem, is_current: true },
        { key_identifier: 'not-p256', key: publicPemOf(type), is_current: false },
      ],
    });
    expect(error.message).toMatch(/public_keys\[1\] \("not-p256"\): key is not an ECDSA P-256 public key/);
  });

  it('refuses a private key and never quotes it', async () => {
    const privatePem = current.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const error = await loadError({ public_keys: [{ key_identifier: CURRENT_ID, key: privatePem, is_current: true }] });
    expect(error.message).toMatch(/private key/);
    expect(error.message).not.toContain(privatePem.split('\n')[1]);
  });

  it.each([
    ['text that is not JSON', 'public_keys: []'],
    ['an empty key list', { public_keys: [] }],
    ['no key list', { keys: [] }],
    ['a key that is not PEM', { public_keys: [{ key_identifier: CURRENT_ID, key: 'MFkwEw...', is_current: true }] }],
    ['an entry without identifier', { public_keys: [{ key: 'x', is_current: true }] }],
    [
      'a duplicate identifier',
      {
        public_keys: [
          { key_identifier: CURRENT_ID, key: 'PLACEHOLDER', is_current: true },
          { key_identifier: CURRENT_ID, key: 'PLACEHOLDER', is_current: false },
        ],
      },
    ],
  ])('refuses %s', async (_label, document) => {
    const withKeys = JSON.parse(JSON.stringify(document).replaceAll('PLACEHOLDER', JSON.stringify(current.publicPem).slice(1, -1))) as unknown;
    await loadError(typeof document === 'string' ? document : withKeys);
  });

  it('refuses a file that does not exist', async () => {
    await expect(loadGithubKeys(join(dir, 'missing.json'))).rejects.toMatchObject({ code: ERROR_CODE.githubKeysInvalid });
  });
});

describe('GitHub match batch', () => {
  it('parses a batch, an empty url included', () => {
    const batch = [
      { token: 'app_reader:secret-1', type: 'milvus_user_password', url: '', source: 'npm' },
      { token: 'secret-2', type: 'milvus_user_password', url: 'https://gist.github.com/x', source: 'gist_content', extra: true },
    ];
    expect(parseGithubMatches(Buffer.from(JSON.stringify(batch)))).toEqual({
      ok: true,
      matches: [
        { token: 'app_reader:secret-1', type: 'milvus_user_password', url: '', source: 'npm' },
        { token: 'secret-2', type: 'milvus_user_password', url: 'https://gist.github.com/x', source: 'gist_content' },
      ],
    });
  });

  it.each([
    ['an object instead of an array', { token: 't', type: 'x', url: '', source: 'content' }],
    ['an empty array', []],
    ['more than 1000 matches', Array.from({ length: 1_001 }, () => ({ token: 't', type: 'x', url: '', source: 'content' }))],
    ['a match without token', [{ type: 'x', url: '', source: 'content' }]],
    ['an empty token', [{ token: '', type: 'x', url: '', source: 'content' }]],
    ['a token that is a number', [{ token: 42, type: 'x', url: '', source: 'content' }]],
    ['a match without url', [{ token: 't', type: 'x', source: 'content' }]],
    ['a match that is a string', ['t']],
  ])('refuses %s', (_label, body) => {
    const parsed = parseGithubMatches(JSON.stringify(body));
    expect(parsed.ok).toBe(false);
  });

  it('accepts exactly 1000 matches', () => {
    const batch = Array.from({ length: 1_000 }, (_, i) => ({ token: `t${i}`, type: 'x', url: '', source: 'content' }));
    expect(parseGithubMatches(JSON.stringify(batch)).ok).toBe(true);
  });

  it('names the failing match by index and never quotes a token', () => {
    const leaked = 'Zq9!xP-leaked-password-value';
    const parsed = parseGithubMatches(JSON.stringify([{ token: leaked, type: 'x', url: '', source: 'content' }, { token: leaked, type: 7 }]));
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) {
      expect(parsed.error).toMatch(/^\[1\]\.type: /);
      expect(parsed.error).not.toContain('Zq9');
    }
    const broken = parseGithubMatches(`[{"token": ${leaked}}]`);
    expect(broken).toEqual({ ok: false, error: 'body is not valid JSON' });
  });
});

describe('the GitHub keys file, watched', () => {
  it('a change seen while a load runs is loaded again after it (that load may have read the file before the change, or half written)', async () => {
    const first = githubSigner();
    const next = githubSigner(GITHUB_OTHER_KEY_ID);
    const firstKeys = await loadFrom(first.keysDocument);
    const nextKeys = await loadFrom(next.keysDocument);
    let release = (): void => {};
    const calls: string[] = [];
    const load = async (): Promise<Awaited<ReturnType<typeof loadGithubKeys>>> => {
      calls.push('load');
      if (calls.length === 1) {
        await new Promise<void>((resolve) => (release = resolve));
        return firstKeys; // what the file held when this load read it
      }
      return nextKeys;
    };
    const watcher = watchGithubKeys('/nonexistent/keys.json', null, { info: () => {}, error: () => {} }, { pollMs: 60_000, load });
    try {
      const firstLoad = watcher.reload();
      const changedDuringIt = watcher.reload();
      release();
      await Promise.all([firstLoad, changedDuringIt]);
      expect(calls).toEqual(['load', 'load']);
      expect([...(watcher.current()?.keys() ?? [])]).toEqual([next.keyId]);
    } finally {
      watcher.stop();
    }
  });

  it('is re-read when it changes (a key GitHub adds is accepted without a restart); a broken update keeps the keys loaded before', async () => {
    const first = githubSigner();
    const next = githubSigner(GITHUB_OTHER_KEY_ID);
    const file = join(mkdtempSync(join(tmpdir(), 'gh-keys-')), 'keys.json');
    writeFileSync(file, first.keysDocument);
    const errors: string[] = [];
    const watcher = watchGithubKeys(file, await loadGithubKeys(file), { info: () => {}, error: (_f, message) => void errors.push(message) }, { pollMs: 20 });
    try {
      expect([...(watcher.current()?.keys() ?? [])]).toEqual([first.keyId]);
      writeFileSync(file, `${next.keysDocument}\n`);
      await expect.poll(() => [...(watcher.current()?.keys() ?? [])], { timeout: 9_000, interval: 20 }).toEqual([next.keyId]);
      writeFileSync(file, '{"public_keys": "not a list"}');
      await expect.poll(() => errors.length, { timeout: 9_000, interval: 20 }).toBeGreaterThan(0);
      expect([...(watcher.current()?.keys() ?? [])]).toEqual([next.keyId]);
    } finally {
      watcher.stop();
    }
  });
});

async function loadFrom(document: string): Promise<Awaited<ReturnType<typeof loadGithubKeys>>> {
  const file = join(mkdtempSync(join(tmpdir(), 'gh-keys-')), 'keys.json');
  writeFileSync(file, document);
  return loadGithubKeys(file);
}
