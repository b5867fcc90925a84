/**
 * Shared by the HTTP tests (test/http-*.test.ts): how a sender signs a generic alert, how GitHub
 * signs a delivery (a P-256 key pair made here), an in-memory SecretStore for the fingerprint index,
 * and `appHarness`, which builds the app over recording fakes (no Redis, no network).
 */
import { createHash, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import { Writable } from 'node:stream';
import pino from 'pino';
import type { FastifyInstance } from 'fastify';
import { FingerprintIndex } from '../src/alerts/fingerprint-index.ts';
import { parseGithubKeys, type GithubKeys } from '../src/alerts/github-partner.ts';
import { signGenericAlert } from '../src/alerts/generic-signature.ts';
import { MemoryReplayGuard, type ReplayGuard } from '../src/alerts/replay-guard.ts';
import type { Config } from '../src/config/types.ts';
import { buildApp } from '../src/http/app.ts';
import type { AppDeps } from '../src/http/deps.ts';
import type { RotationStatus } from '../src/http/rotation-status.ts';
import { RotatorMetrics } from '../src/observability/metrics.ts';
import type { Enqueued, EnqueueRequest } from '../src/queue/rotation-queue.ts';
import { STAGE, type SecretStore, type SecretVersion, type Stage } from '../src/secrets/types.ts';
import { makeConfig, type SingleUserConfig } from './helpers/config.ts';

export function sha256Hex(text: string | Uint8Array): string {
  return createHash('sha256').update(text).digest('hex');
}

// ---- generic feed ------------------------------------------------------------------------------

export interface SignedRequest {
  headers: Record<string, string>;
  payload: Buffer;
}

/** A generic alert as a sender posts it: X-Rotator-Timestamp and X-Rotator-Signature over the raw body. */
export function signedGeneric(body: unknown, options: { secret: string; timestampSeconds: number }): SignedRequest {
  const payload = Buffer.isBuffer(body) ? body : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
  return {
    headers: {
      'content-type': 'application/json',
      'x-rotator-timestamp': String(options.timestampSeconds),
      'x-rotator-signature': signGenericAlert(options.secret, options.timestampSeconds, payload),
    },
    payload,
  };
}

// ---- GitHub feed -------------------------------------------------------------------------------

export const GITHUB_KEY_ID = 'bcb53661c06b4728e59d897fb6165d5c9cda0fd9cdf9d09ead458168deb7518c';
export const GITHUB_OTHER_KEY_ID = '90a421169f0a406205f1563a953312f0be898d3c7b6c06b681aa86a874555f4a';

export interface GithubSigner {
  keyId: string;
  privateKey: KeyObject;
  /** The keys document (GitHub's meta format) that names this key. */
  keysDocument: string;
  keys: GithubKeys;
}

/** A P-256 key pair and the keys file GitHub would publish for it. */
export function githubSigner(keyId: string = GITHUB_KEY_ID): GithubSigner {
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const keysDocument = JSON.stringify({
    public_keys: [{ key_identifier: keyId, key: publicKey.export({ type: 'spki', format: 'pem' }).toString(), is_current: true }],
  });
  return { keyId, privateKey, keysDocument, keys: parseGithubKeys(keysDocument, 'test keys') };
}

/** A delivery as GitHub posts it: base64 DER ECDSA P-256 / SHA-256 over the raw body. */
export function signedGithub(body: unknown, signer: Pick<GithubSigner, 'keyId' | 'privateKey'>): SignedRequest {
  const payload = Buffer.isBuffer(body) ? body : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
  return {
    headers: {
      'content-type': 'application/json',
      'github-public-key-identifier': signer.keyId,
      'github-public-key-signature': sign('sha256', payload, { key: signer.privateKey, dsaEncoding: 'der' }).toString('base64'),
    },
    payload,
  };
}

/** The order of the P-256 group. */
const P256_N = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;

function derInteger(value: bigint): Buffer {
  let hex = value.toString(16);
  if (hex.length % 2) hex = `0${hex}`;
  let bytes = Buffer.from(hex, 'hex');
  if ((bytes[0] ?? 0) & 0x80) bytes = Buffer.concat([Buffer.from([0]), bytes]);
  return Buffer.concat([Buffer.from([0x02, bytes.length]), bytes]);
}

/** The malleable twin (r, n - s) of a base64 DER signature: it verifies just as well. */
export function twinSignature(signatureBase64: string): string {
  const der = Buffer.from(signatureBase64, 'base64');
  const rLength = der[3] as number;
  const r = BigInt(`0x${der.subarray(4, 4 + rLength).toString('hex')}`);
  const sStart = 4 + rLength;
  const sLength = der[sStart + 1] as number;
  const s = BigInt(`0x${der.subarray(sStart + 2, sStart + 2 + sLength).toString('hex')}`);
  const body = Buffer.concat([derInteger(r), derInteger(P256_N - s)]);
  return Buffer.concat([Buffer.from([0x30, body.length]), body]).toString('base64');
}

// ---- an in-memory SecretStore for the fingerprint index ------------------------------------------

export interface MemorySecrets {
  store: Pick<SecretStore, 'getByStage' | 'describe' | 'getByVersion'>;
  set: (secretId: string, stage: Stage, username: string, password: string) => void;
}

export function memorySecrets(): MemorySecrets {
  const data = new Map<string, Map<Stage, SecretVersion>>();
  return {
    store: {
      getByStage: async (secretId, stage) => data.get(secretId)?.get(stage) ?? null,
      describe: async (secretId) => {
        const versions: Record<string, string[]> = {};
        for (const [stage, version] of data.get(secretId) ?? []) versions[version.versionId] = [...(versions[version.versionId] ?? []), stage];
        return { arn: secretId, name: secretId, versions };
      },
      getByVersion: async (secretId, versionId) => [...(data.get(secretId)?.values() ?? [])].find((v) => v.versionId === versionId) ?? null,
    },
    set: (secretId, stage, username, password) => {
      const stages = data.get(secretId) ?? new Map<Stage, SecretVersion>();
      stages.set(stage, { versionId: `v-${randomBytes(6).toString('hex')}`, stages: [stage], value: JSON.stringify({ username, password }) });
      data.set(secretId, stages);
    },
  };
}

/** A password the generator could have made (32 characters, all four classes). */
export function testPassword(): string {
  return `Aa1!${randomBytes(21).toString('base64url')}`.slice(0, 32);
}

// ---- the app over recording fakes --------------------------------------------------------------

export const TRIGGER_TOKENS = ['test-trigger-token-0123456789', 'second-trigger-token-abcdefgh'] as const;
export const WEBHOOK_SECRETS = ['test-webhook-secret-0123456789', 'next-webhook-secret-abcdefghij'] as const;
/** 2026-01-01T00:00:00Z: the app's clock in unit tests. */
export const NOW_MS = Date.UTC(2026, 0, 1);
export const NOW_SECONDS = NOW_MS / 1000;

export interface AppHarness {
  app: FastifyInstance;
  config: SingleUserConfig;
  /** Every enqueue call, in order. */
  enqueued: EnqueueRequest[];
  /** Every log line the app wrote. */
  logs: string[];
  metrics: RotatorMetrics;
  /** The passwords held in the fake Secrets Manager, by credential. */
  passwords: Record<string, string>;
  github: GithubSigner;
  /** Reads a counter value of milvus_rotator_leak_alerts_total. */
  alertCount: (source: string, result: string) => Promise<number>;
}

/**
 * Two clusters, two credentials (`app-reader` on both, `billing` on west), both trigger tokens and
 * both webhook secrets configured; the app's clock is NOW_MS.
 */
export function makeHttpConfig(): SingleUserConfig {
  const base = makeConfig(['west', 'east'], [
    { id: 'app-reader', username: 'app_reader', clusters: ['west', 'east'] },
    { id: 'billing', username: 'billing_svc', clusters: ['west'] },
  ]);
  return {
    ...base,
    http: { ...base.http, triggerTokens: [...TRIGGER_TOKENS] },
    leakAlerts: { ...base.leakAlerts, webhookSecrets: [...WEBHOOK_SECRETS], toleranceSeconds: 300 },
  };
}

export async function appHarness(overrides: Partial<AppDeps> = {}): Promise<AppHarness> {
  const config = makeHttpConfig();
  const secrets = memorySecrets();
  const passwords: Record<string, string> = {};
  for (const credential of Object.values(config.credentials)) {
    passwords[credential.id] = testPassword();
    secrets.set(credential.secretId, STAGE.current, credential.username, passwords[credential.id] as string);
  }
  const fingerprints = new FingerprintIndex({ store: secrets.store, credentials: config.credentials, nowMs: () => NOW_MS });
  await fingerprints.refresh();
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      logs.push(chunk.toString());
      callback();
    },
  });
  const logger = pino({ level: 'debug' }, sink);
  const metrics = new RotatorMetrics({ defaultMetrics: false });
  const enqueued: EnqueueRequest[] = [];
  let nextJob = 1;
  const jobOf = new Map<string, string>();
  const github = githubSigner();
  const replayGuard: ReplayGuard = new MemoryReplayGuard({ nowMs: () => NOW_MS });
  const app = buildApp({
    config,
    logger,
    metrics,
    redisReady: async () => true,
    enqueue: async (request): Promise<Enqueued> => {
      enqueued.push(request);
      const existing = jobOf.get(request.credentialId);
      const jobId = existing ?? String(nextJob++);
      jobOf.set(request.credentialId, jobId);
      return { credentialId: request.credentialId, jobId, deduplicated: existing !== undefined, mode: request.mode };
    },
    rotationStatus: async (): Promise<RotationStatus | null> => null,
    replayGuard,
    fingerprints,
    githubKeys: github.keys,
    nowMs: () => NOW_MS,
    ...overrides,
  });
  await app.ready();
  const alertCount = async (source: string, result: string): Promise<number> => {
    const metric = await metrics.leakAlerts.get();
    return metric.values.find((v) => v.labels.source === source && v.labels.result === result)?.value ?? 0;
  };
  return { app, config, enqueued, logs, metrics, passwords, github, alertCount };
}
