/**
 * The consumer helper (milvus-rotator/consumer) with the official SDK's two clients:
 * - the REST HttpClient against the sandbox's Milvus simulator;
 * - the gRPC MilvusClient against a minimal gRPC server built from the SDK's own proto
 *   descriptors, fronting the same simulator's users (one Milvus, two protocols).
 * Rotations are real: the rotation engine over the sandbox (Secrets Manager emulator + simulator).
 */
import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import { PutSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { CONNECT_STATUS, type MilvusClient } from '@zilliz/milvus2-sdk-node';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  CONSUMER_ERROR_CODE,
  ConsumerAuthenticationError,
  ConsumerSecretNotFoundError,
  createHttpClientConsumer,
  createMilvusClientConsumer,
  type ConsumerEvent,
  type RotatingClient,
} from '../src/consumer/index.ts';
import type { MilvusSimulator } from '../src/sandbox/milvus-simulator.ts';
import { findExposures } from './helpers/exposure.ts';
import { USER_A, startAlternatingFixture, type AlternatingFixture as AlternatingSandbox } from './helpers/alternating-fixture.ts';
import { MilvusGrpcServer } from './helpers/milvus-grpc-server.ts';
import { startRotationFixture, type RotationFixture } from './helpers/rotation-fixture.ts';

const USER = 'app_reader';
const NEW_PASSWORD = 'Pending-Pass-0123456789-abcdEF!';

let fixture: RotationFixture;
let simulator: MilvusSimulator;
let secretsManager: SecretsManagerClient;
let logs: string[];
let events: ConsumerEvent[];
const opened: Array<RotatingClient<unknown>> = [];

beforeEach(async () => {
  fixture = await startRotationFixture({});
  simulator = fixture.sandbox.clusters.get('west') as MilvusSimulator;
  secretsManager = new SecretsManagerClient({ region: 'us-east-1' });
  logs = [];
  events = [];
});

afterEach(async () => {
  await Promise.all(opened.splice(0).map((c) => c.close()));
  secretsManager.destroy();
  await fixture.close();
});

function logger() {
  return pino(
    { level: 'debug' },
    new Writable({
      write(chunk: Buffer, _encoding, callback) {
        logs.push(chunk.toString());
        callback();
      },
    }),
  );
}

function common(secretId = fixture.credential.secretId) {
  return { secretId, secretsManager, logger: logger(), onEvent: (e: ConsumerEvent) => events.push(e), cacheMs: 1_000 };
}

function track<C>(consumer: RotatingClient<C>): RotatingClient<C> {
  opened.push(consumer as RotatingClient<unknown>);
  return consumer;
}

/** A rotation that stops between setting the clusters and promoting: AWSPENDING holds what the clusters hold. */
async function midRotation(): Promise<string> {
  const versionId = randomUUID();
  await secretsManager.send(
    new PutSecretValueCommand({ SecretId: fixture.credential.secretId, ClientRequestToken: versionId, SecretString: JSON.stringify({ username: USER, password: NEW_PASSWORD }), VersionStages: ['AWSPENDING'] }),
  );
  simulator.setPassword(USER, NEW_PASSWORD);
  return versionId;
}

/** Calls `call` back to back from `streams` concurrent loops until `during` settles; every outcome is kept. */
async function streamDuring<T>(streams: number, call: () => Promise<T>, during: Promise<unknown>): Promise<{ ok: number; errors: unknown[] }> {
  let done = false;
  const errors: unknown[] = [];
  let ok = 0;
  const loops = Array.from({ length: streams }, async () => {
    while (!done) {
      try {
        await call();
        ok++;
      } catch (error) {
        errors.push(error);
      }
    }
  });
  try {
    await during;
  } finally {
    done = true;
    await Promise.all(loops);
  }
  return { ok, errors };
}

function auditedTexts(errors: unknown[]): string[] {
  const texts = [...logs, JSON.stringify(events)];
  for (let error = errors.shift(); error !== undefined; error = errors.shift()) {
    if (error instanceof Error) {
      texts.push(`${error.name} ${error.message} ${error.stack ?? ''}`);
      if (error.cause !== undefined) errors.push(error.cause);
    } else texts.push(String(error));
  }
  return texts;
}

function passwords(): string[] {
  return [...simulator.passwordsSeen(), NEW_PASSWORD];
}

describe('the REST HttpClient consumer (against the Milvus simulator)', () => {
  const make = (secretId?: string) => track(createHttpClientConsumer({ ...common(secretId), client: { endpoint: simulator.url, timeout: 5_000 } }));

  it('keeps every call of a stream working through three rotations: no error reaches the caller, one swap per rotation', async () => {
    const consumer = make();
    const before = await consumer.open();
    const rotations = (async () => {
      for (let i = 0; i < 3; i++) expect((await fixture.rotate()).outcome).toBe('rotated');
    })();
    const stream = await streamDuring(4, async () => {
      const reply = await consumer.call((client) => client.listCollections());
      if (reply.code !== 0) throw new Error(`code ${reply.code}`);
    }, rotations);
    expect(stream.errors).toEqual([]);
    expect(stream.ok).toBeGreaterThan(10);
    expect(consumer.stats.swaps).toBe(3);
    expect(consumer.stats.retriesFailed).toBe(0);
    // One read at open, then AWSCURRENT (and AWSPENDING when caught between set and promote) per rotation.
    expect(consumer.stats.reads).toBeLessThanOrEqual(1 + 2 * 3);
    const labels = fixture.sandbox.emulator.labelsOf(fixture.credential.secretId);
    const current = Object.entries(labels).find(([, stages]) => stages.includes('AWSCURRENT'))?.[0];
    expect(consumer.version?.versionId).toBe(current);
    expect(consumer.version?.versionId).not.toBe(before.versionId);
  });

  it('falls back to AWSPENDING mid-rotation (clusters set, not yet promoted) and retries the failed call once', async () => {
    const consumer = make();
    const before = await consumer.open();
    const pending = await midRotation();
    const reply = await consumer.call((client) => client.listCollections());
    expect(reply.code).toBe(0);
    expect(consumer.version).toMatchObject({ versionId: pending, stage: 'AWSPENDING', username: USER });
    expect(consumer.version?.versionId).not.toBe(before.versionId);
    expect(consumer.stats).toMatchObject({ reads: 3, swaps: 1, retries: 1, retriesFailed: 0 });
    expect(events.map((e) => e.kind)).toEqual(['opened', 'auth_failure', 'swapped', 'retry']);
  });

  it('a wrong secret id fails with a clear error after one read, and does not read again within cacheMs', async () => {
    const consumer = make('test/milvus/no-such-secret');
    const reads = fixture.sandbox.emulator.callCount('GetSecretValue');
    const error = await consumer.call((client) => client.listCollections()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConsumerSecretNotFoundError);
    expect((error as ConsumerSecretNotFoundError).code).toBe(CONSUMER_ERROR_CODE.secretNotFound);
    expect((error as Error).message).toBe('secret "test/milvus/no-such-secret" not found in Secrets Manager (check the secret id, the region and the account)');
    await expect(consumer.call((client) => client.listCollections())).rejects.toBe(error);
    expect(fixture.sandbox.emulator.callCount('GetSecretValue') - reads).toBe(1);
    expect(simulator.requestCount('any')).toBe(0);
  });

  it('a password changed outside Secrets Manager: one renewal (two reads), a clear error, then no more reads within cacheMs (no loop)', async () => {
    const consumer = make();
    await consumer.open();
    simulator.setPassword(USER, 'Changed-By-Hand-0123456789-xyZ!');
    const error = await consumer.call((client) => client.listCollections()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConsumerAuthenticationError);
    expect((error as ConsumerAuthenticationError).code).toBe(CONSUMER_ERROR_CODE.authenticationRejected);
    expect((error as Error).message).toMatch(/^Milvus rejected the credential of secret "test\/milvus\/app-reader" \(version [0-9a-f-]{36}\): Secrets Manager holds no other version/);
    expect(consumer.stats.reads).toBe(3);
    for (let i = 0; i < 5; i++) await expect(consumer.call((client) => client.listCollections())).rejects.toBeInstanceOf(ConsumerAuthenticationError);
    expect(consumer.stats.reads).toBe(3);
    expect(simulator.requestCount('probe')).toBe(6);
    expect(findExposures(auditedTexts([error]), passwords(), [USER])).toEqual([]);
  });

  it('writes no password, in any form, into its logs, events or errors across rotations, a fallback and a rejection', async () => {
    const consumer = make();
    const errors: unknown[] = [];
    await consumer.call((client) => client.listCollections());
    await fixture.rotate();
    await consumer.call((client) => client.listCollections());
    await midRotation();
    await consumer.call((client) => client.listCollections());
    simulator.setPassword(USER, 'Changed-By-Hand-0123456789-xyZ!');
    errors.push(await consumer.call((client) => client.listCollections()).catch((e: unknown) => e));
    expect(errors[0]).toBeInstanceOf(ConsumerAuthenticationError);
    expect(logs.length).toBeGreaterThanOrEqual(3);
    expect(findExposures(auditedTexts(errors), [...passwords(), 'Changed-By-Hand-0123456789-xyZ!'], [USER])).toEqual([]);
  });
});

describe('the gRPC MilvusClient consumer (against a gRPC server from the SDK proto descriptors)', () => {
  let grpc: MilvusGrpcServer;
  beforeEach(async () => {
    grpc = await MilvusGrpcServer.start({ passwordOf: (user) => simulator.passwordOf(user), collections: ['docs'] });
  });
  afterEach(async () => {
    await grpc.close();
  });
  const make = () => track(createMilvusClientConsumer({ ...common(), client: { address: grpc.address, timeout: 5_000, logLevel: 'error' } }));

  it('keeps a stream of RPCs working through two rotations, closing each old client', async () => {
    const consumer = make();
    const clients = new Set<MilvusClient>();
    await consumer.open();
    const rotations = (async () => {
      for (let i = 0; i < 2; i++) expect((await fixture.rotate()).outcome).toBe('rotated');
    })();
    const stream = await streamDuring(3, async () => {
      const reply = await consumer.call((client) => {
        clients.add(client);
        return client.showCollections();
      });
      expect((reply as unknown as { collection_names: string[] }).collection_names).toEqual(['docs']);
    }, rotations);
    expect(stream.errors).toEqual([]);
    expect(consumer.stats.swaps).toBe(2);
    expect(grpc.unauthenticated).toBeGreaterThan(0);
    expect(clients.size).toBe(3);
    await new Promise((resolve) => setTimeout(resolve, 50));
    const states = [...clients].map((c) => c.connectStatus);
    expect(states.filter((s) => s === CONNECT_STATUS.SHUTDOWN)).toHaveLength(2);
    expect(states.at(-1)).toBe(CONNECT_STATUS.CONNECTED);
  });

  it('falls back to AWSPENDING mid-rotation, and closes the old client only after its in-flight call settled', async () => {
    const consumer = make();
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let held: MilvusClient | undefined;
    await consumer.open();
    // A call that took the old client and is still working with it when the swap happens.
    const slow = consumer.call(async (client) => {
      held ??= client;
      await gate;
      return client.getVersion();
    });
    await new Promise((resolve) => setTimeout(resolve, 10));
    const pending = await midRotation();
    const reply = await consumer.call((client) => client.showCollections());
    expect((reply as unknown as { collection_names: string[] }).collection_names).toEqual(['docs']);
    expect(consumer.version).toMatchObject({ versionId: pending, stage: 'AWSPENDING' });
    expect(held?.connectStatus).not.toBe(CONNECT_STATUS.SHUTDOWN);
    release();
    // The slow call's RPC went out on the old client with the old password: rejected, retried on the new one.
    expect((await slow).version).toBe('v2.6.0-grpc-test-server');
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(held?.connectStatus).toBe(CONNECT_STATUS.SHUTDOWN);
    expect(consumer.stats).toMatchObject({ swaps: 1, retries: 2, retriesFailed: 0 });
  });

  it('a credential nobody holds: UNAUTHENTICATED becomes one clear ConsumerAuthenticationError, no loop, no password in logs or errors', async () => {
    const consumer = make();
    await consumer.open();
    simulator.setPassword(USER, 'Changed-By-Hand-0123456789-xyZ!');
    const calls = grpc.count('ShowCollections');
    const error = await consumer.call((client) => client.showCollections()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConsumerAuthenticationError);
    expect(grpc.count('ShowCollections') - calls).toBe(1);
    expect(consumer.stats.reads).toBe(3);
    await expect(consumer.call((client) => client.showCollections())).rejects.toBeInstanceOf(ConsumerAuthenticationError);
    expect(consumer.stats.reads).toBe(3);
    expect(findExposures(auditedTexts([error]), [...passwords(), 'Changed-By-Hand-0123456789-xyZ!'], [USER])).toEqual([]);
  });
});

describe('the REST HttpClient consumer with an alternating credential', () => {
  let alt: AlternatingSandbox;
  beforeEach(async () => {
    alt = await startAlternatingFixture({ clusters: ['west'] });
  });
  afterEach(async () => {
    await alt.close();
  });

  it('follows the users taking turns through three rotations: no error reaches the caller, AWSCURRENT alone is enough (no AWSPENDING read)', async () => {
    const west = alt.sandbox.clusters.get('west') as MilvusSimulator;
    // Its own client, created after this sandbox pointed the AWS SDK at its emulator; the helper closes it.
    const consumer = track(createHttpClientConsumer({ secretId: alt.credential.secretId, secretsManagerConfig: { region: 'us-east-1' }, cacheMs: 1_000, client: { endpoint: west.url } }));
    const before = await consumer.open();
    const rotations = (async () => {
      for (let i = 0; i < 3; i++) {
        alt.clock.offsetMs += alt.credential.graceMs + 60_000; // past the grace of the last promotion
        expect((await alt.rotate()).outcome).toBe('rotated');
      }
    })();
    const stream = await streamDuring(3, async () => {
      const reply = await consumer.call((client) => client.listCollections());
      if (reply.code !== 0) throw new Error(`code ${reply.code}`);
    }, rotations);
    expect(stream.errors).toEqual([]);
    expect(before.username).toBe(USER_A);
    // Rotation 1 changes app_b (nobody holds it); 2 changes app_a (swap to app_b); 3 changes app_b (swap to app_a).
    expect(consumer.stats.swaps).toBe(2);
    expect(consumer.stats.reads).toBe(1 + 2);
    expect(consumer.version?.username).toBe(USER_A);
  });
});
