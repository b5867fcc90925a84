/**
 * AwsSecretStore over the real AWS SDK client, talking HTTP to the Secrets Manager emulator (the
 * SDK is pointed at it only by AWS_ENDPOINT_URL_SECRETS_MANAGER). The SDK's own retries, our error
 * mapping and the read-back that settles ambiguous stage changes all run for real.
 */
import { CreateSecretCommand, PutSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { RotatorError } from '../src/errors.ts';
import { SecretsManagerEmulator } from '../src/sandbox/secrets-emulator.ts';
import { ERROR_CODE } from '../src/error-codes.ts';
import { SecretStoreError } from '../src/secrets/errors.ts';
import { createSecretStore, type AwsSecretStore, type SecretStoreOptions } from '../src/secrets/store.ts';
import { STAGE } from '../src/secrets/types.ts';

let emulator: SecretsManagerEmulator;
let store: AwsSecretStore;
const extraStores: AwsSecretStore[] = [];

beforeAll(async () => {
  emulator = await SecretsManagerEmulator.start({ port: 0 });
  process.env.AWS_ENDPOINT_URL_SECRETS_MANAGER = emulator.url;
  process.env.AWS_ACCESS_KEY_ID = 'test';
  process.env.AWS_SECRET_ACCESS_KEY = 'test';
  process.env.AWS_REGION = 'us-east-1';
  store = createSecretStore({ maxAttempts: 3 });
});

afterAll(async () => {
  store.close();
  for (const extra of extraStores) extra.close();
  // Emulator bugs would be answered as 500 and could hide behind retries: there must be none.
  expect(emulator.internalErrors()).toEqual([]);
  await emulator.close();
});

afterEach(() => {
  emulator.clearFaults();
  vi.restoreAllMocks();
});

/** A store of its own (fresh SDK retry quota), closed after the file. */
function newStore(options: Partial<SecretStoreOptions> = {}): AwsSecretStore {
  const created = createSecretStore({ maxAttempts: 3, ...options });
  extraStores.push(created);
  return created;
}

/**
 * The SDK's backoff is full jitter over Math.random: pinning it near 0 keeps retry tests fast
 * (throttling backs off from a 1 s base) without changing what is retried or how often.
 */
function pinJitterLow(): void {
  vi.spyOn(Math, 'random').mockReturnValue(0.001);
}

function secretName(): string {
  return `test/store/${randomUUID()}`;
}

function secretValue(password: string): string {
  return JSON.stringify({ username: 'app_reader', password });
}

/** Seeds a secret with a current value and a pending version; returns their ids. */
async function seedWithPending(): Promise<{ name: string; current: string; token: string }> {
  const name = secretName();
  const current = emulator.seedSecret(name, secretValue('Current-Pa55word')).versionId;
  const token = randomUUID();
  await store.putPending(name, token, secretValue('Pending-Pa55word'));
  return { name, current, token };
}

async function failure(call: Promise<unknown>): Promise<SecretStoreError> {
  try {
    await call;
  } catch (error) {
    expect(error).toBeInstanceOf(SecretStoreError);
    return error as SecretStoreError;
  }
  throw new Error('expected the call to fail');
}

describe('describe', () => {
  it('returns the ARN, the name and only the labelled versions', async () => {
    const { name, current, token } = await seedWithPending();
    const described = await store.describe(name);
    expect(described.name).toBe(name);
    expect(described.arn).toMatch(/^arn:aws:secretsmanager:/);
    expect(described.versions).toEqual({ [current]: ['AWSCURRENT'], [token]: ['AWSPENDING'] });
    expect(described.lastChangedDate).toBeInstanceOf(Date);
  });

  it('a missing secret is SECRET_NOT_FOUND naming the secret and the operation, with the SDK error as cause', async () => {
    const name = secretName();
    const error = await failure(store.describe(name));
    expect(error).toBeInstanceOf(RotatorError);
    expect(error.code).toBe(ERROR_CODE.secretNotFound);
    expect(error.message).toContain(name);
    expect(error.message).toContain('DescribeSecret');
    expect(error.retryable).toBe(false);
    expect((error.cause as Error).name).toBe('ResourceNotFoundException');
  });
});

describe('listVersions', () => {
  it('lists only labelled versions, with creation dates, paging past 100', async () => {
    const name = secretName();
    emulator.seedSecret(name, secretValue('Seed-Pa55word'));
    const client = new SecretsManagerClient({ maxAttempts: 1 });
    try {
      for (let i = 0; i < 104; i += 1) {
        await client.send(
          new PutSecretValueCommand({
            SecretId: name,
            ClientRequestToken: randomUUID(),
            SecretString: `v${i}`,
            VersionStages: [`LABEL_${i}`],
          }),
        );
      }
    } finally {
      client.destroy();
    }
    // One more version, then unlabelled: it must not be listed.
    const deprecated = randomUUID();
    await store.putPending(name, deprecated, secretValue('Dropped-Pa55word'));
    await store.abandon(name, deprecated);
    const before = emulator.callCount('ListSecretVersionIds');
    const listed = await store.listVersions(name);
    expect(listed).toHaveLength(105);
    expect(listed.map((v) => v.versionId).sort()).toEqual(Object.keys(emulator.labelsOf(name)).sort());
    expect(listed.every((v) => v.createdDate instanceof Date && v.stages.length > 0)).toBe(true);
    expect(emulator.callCount('ListSecretVersionIds') - before).toBe(2);
  });
});

describe('getByStage and getByVersion', () => {
  it('return the version with its value, labels and creation date', async () => {
    const { name, current, token } = await seedWithPending();
    const byStage = await store.getByStage(name, STAGE.current);
    expect(byStage).toMatchObject({ versionId: current, stages: ['AWSCURRENT'], value: secretValue('Current-Pa55word') });
    expect(byStage?.createdDate).toBeInstanceOf(Date);
    const byVersion = await store.getByVersion(name, token);
    expect(byVersion).toMatchObject({ versionId: token, stages: ['AWSPENDING'], value: secretValue('Pending-Pa55word') });
  });

  it('return null for a label or version that does not exist', async () => {
    const name = secretName();
    emulator.seedSecret(name, secretValue('Current-Pa55word'));
    expect(await store.getByStage(name, STAGE.pending)).toBeNull();
    expect(await store.getByStage(name, STAGE.previous)).toBeNull();
    expect(await store.getByVersion(name, randomUUID())).toBeNull();
  });

  it('throw SECRET_NOT_FOUND when the secret itself does not exist', async () => {
    const name = secretName();
    expect((await failure(store.getByStage(name, STAGE.current))).code).toBe(ERROR_CODE.secretNotFound);
    expect((await failure(store.getByVersion(name, randomUUID()))).code).toBe(ERROR_CODE.secretNotFound);
  });

  it('throw SECRET_NOT_STRING for a binary secret', async () => {
    const name = secretName();
    const client = new SecretsManagerClient({ maxAttempts: 1 });
    try {
      await client.send(new CreateSecretCommand({ Name: name, SecretBinary: Buffer.from([1, 2, 3]), ClientRequestToken: randomUUID() }));
    } finally {
      client.destroy();
    }
    expect((await failure(store.getByStage(name, STAGE.current))).code).toBe(ERROR_CODE.secretNotString);
  });
});

describe('putPending', () => {
  it('writes the value as version `token` under AWSPENDING and leaves AWSCURRENT alone', async () => {
    const { name, current, token } = await seedWithPending();
    expect(emulator.labelsOf(name)).toEqual({ [current]: ['AWSCURRENT'], [token]: ['AWSPENDING'] });
    expect(emulator.valuesUnderLabels(name)).toEqual({
      AWSCURRENT: secretValue('Current-Pa55word'),
      AWSPENDING: secretValue('Pending-Pa55word'),
    });
  });

  it('repeated with the same token and value is a no-op', async () => {
    const { name, current, token } = await seedWithPending();
    const writes: string[] = [];
    const stop = emulator.onWrite((event) => writes.push(event.op));
    await store.putPending(name, token, secretValue('Pending-Pa55word'));
    stop();
    expect(writes).toEqual([]);
    expect(emulator.labelsOf(name)).toEqual({ [current]: ['AWSCURRENT'], [token]: ['AWSPENDING'] });
  });

  it('with another value for the token is SECRET_VERSION_CONFLICT (ResourceExistsException) and changes nothing', async () => {
    const { name, token } = await seedWithPending();
    const error = await failure(store.putPending(name, token, secretValue('Another-Pa55word')));
    expect(error.code).toBe(ERROR_CODE.secretVersionConflict);
    expect(error.awsCode).toBe('ResourceExistsException');
    expect((error.cause as Error).name).toBe('ResourceExistsException');
    expect(emulator.valueUnder(name, 'AWSPENDING')).toBe(secretValue('Pending-Pa55word'));
  });

  it('replaying a token whose version was abandoned is SECRET_VERSION_CONFLICT, never a silent revival', async () => {
    const { name, token } = await seedWithPending();
    await store.abandon(name, token);
    expect((await failure(store.putPending(name, token, secretValue('Pending-Pa55word')))).code).toBe(ERROR_CODE.secretVersionConflict);
    expect(emulator.valueUnder(name, 'AWSPENDING')).toBeUndefined();
  });

  it('survives a 500 after the write applied: the SDK retry with the same token is a no-op', async () => {
    const name = secretName();
    const current = emulator.seedSecret(name, secretValue('Current-Pa55word')).versionId;
    const token = randomUUID();
    emulator.injectFault({ op: 'PutSecretValue', secretId: name, fault: { kind: 'applied-then-500' } });
    const before = emulator.callCount('PutSecretValue');
    await store.putPending(name, token, secretValue('Pending-Pa55word'));
    expect(emulator.callCount('PutSecretValue') - before).toBe(2);
    expect(emulator.labelsOf(name)).toEqual({ [current]: ['AWSCURRENT'], [token]: ['AWSPENDING'] });
  });
});

describe('promote', () => {
  it('moves AWSCURRENT to the token, AWSPREVIOUS to the old current, and removes AWSPENDING', async () => {
    const { name, current, token } = await seedWithPending();
    await store.promote(name, token);
    expect(emulator.labelsOf(name)).toEqual({ [current]: ['AWSPREVIOUS'], [token]: ['AWSCURRENT'] });
  });

  it('with keepPendingLabel leaves AWSPENDING beside AWSCURRENT', async () => {
    const { name, current, token } = await seedWithPending();
    await store.promote(name, token, { keepPendingLabel: true });
    expect(emulator.labelsOf(name)).toEqual({ [current]: ['AWSPREVIOUS'], [token]: ['AWSPENDING', 'AWSCURRENT'] });
  });

  it('with currentVersionId given does not describe first', async () => {
    const { name, current, token } = await seedWithPending();
    const before = emulator.callCount('DescribeSecret');
    await store.promote(name, token, { currentVersionId: current, keepPendingLabel: true });
    expect(emulator.callCount('DescribeSecret')).toBe(before);
    expect(emulator.labelsOf(name)[token]).toContain('AWSCURRENT');
  });

  it('twice is the same as once, and the second time writes nothing', async () => {
    const { name, current, token } = await seedWithPending();
    await store.promote(name, token);
    const after = emulator.labelsOf(name);
    const writes = emulator.callCount('UpdateSecretVersionStage');
    await store.promote(name, token);
    expect(emulator.callCount('UpdateSecretVersionStage')).toBe(writes);
    expect(emulator.labelsOf(name)).toEqual(after);
    expect(after).toEqual({ [current]: ['AWSPREVIOUS'], [token]: ['AWSCURRENT'] });
  });

  it('repeated with the now stale currentVersionId still ends in the same state', async () => {
    const { name, current, token } = await seedWithPending();
    await store.promote(name, token, { currentVersionId: current });
    await store.promote(name, token, { currentVersionId: current });
    expect(emulator.labelsOf(name)).toEqual({ [current]: ['AWSPREVIOUS'], [token]: ['AWSCURRENT'] });
  });

  it('ends correct when the move applied but answered 500 (the SDK retry then meets InvalidParameterException)', async () => {
    const { name, current, token } = await seedWithPending();
    emulator.injectFault({ op: 'UpdateSecretVersionStage', secretId: name, fault: { kind: 'applied-then-500' } });
    await store.promote(name, token, { currentVersionId: current });
    expect(emulator.labelsOf(name)).toEqual({ [current]: ['AWSPREVIOUS'], [token]: ['AWSCURRENT'] });
  });

  it('ends correct when removing AWSPENDING applied but answered 500', async () => {
    const { name, current, token } = await seedWithPending();
    // The first stage change (the move) passes untouched; the second (the removal) applies, then fails.
    emulator.injectFault({ op: 'UpdateSecretVersionStage', secretId: name, times: 1, fault: { kind: 'latency', ms: 0 } });
    emulator.injectFault({ op: 'UpdateSecretVersionStage', secretId: name, times: 1, fault: { kind: 'applied-then-500' } });
    await store.promote(name, token, { currentVersionId: current });
    expect(emulator.labelsOf(name)).toEqual({ [current]: ['AWSPREVIOUS'], [token]: ['AWSCURRENT'] });
  });

  it('a move that never applied surfaces SECRET_SERVICE_ERROR after maxAttempts and changes nothing', async () => {
    pinJitterLow();
    const { name, current, token } = await seedWithPending();
    emulator.injectFault({ op: 'UpdateSecretVersionStage', secretId: name, times: 3, fault: { kind: 'status', status: 500 } });
    const error = await failure(newStore().promote(name, token, { currentVersionId: current }));
    expect(error.code).toBe(ERROR_CODE.secretServiceError);
    expect(error.retryable).toBe(true);
    expect(emulator.labelsOf(name)).toEqual({ [current]: ['AWSCURRENT'], [token]: ['AWSPENDING'] });
  });

  it('refuses with SECRET_INVALID_PARAMETER when AWSCURRENT moved elsewhere since currentVersionId was read', async () => {
    const { name, current, token } = await seedWithPending();
    const intruder = randomUUID();
    const client = new SecretsManagerClient({ maxAttempts: 1 });
    try {
      await client.send(new PutSecretValueCommand({ SecretId: name, ClientRequestToken: intruder, SecretString: 'x', VersionStages: ['AWSCURRENT'] }));
    } finally {
      client.destroy();
    }
    const error = await failure(store.promote(name, token, { currentVersionId: current }));
    expect(error.code).toBe(ERROR_CODE.secretInvalidParameter);
    expect(emulator.labelsOf(name)[intruder]).toEqual(['AWSCURRENT']);
    expect(emulator.labelsOf(name)[token]).toEqual(['AWSPENDING']);
  });
});

describe('abandon', () => {
  it('takes AWSPENDING off the token and leaves AWSCURRENT alone', async () => {
    const { name, current, token } = await seedWithPending();
    await store.abandon(name, token);
    expect(emulator.labelsOf(name)).toEqual({ [current]: ['AWSCURRENT'] });
  });

  it('is a no-op without any write when the token does not hold AWSPENDING', async () => {
    const { name, current, token } = await seedWithPending();
    await store.abandon(name, token);
    const writes = emulator.callCount('UpdateSecretVersionStage');
    await store.abandon(name, token);
    await store.abandon(name, randomUUID());
    expect(emulator.callCount('UpdateSecretVersionStage')).toBe(writes);
    expect(emulator.labelsOf(name)).toEqual({ [current]: ['AWSCURRENT'] });
  });

  it('leaves another version’s AWSPENDING alone', async () => {
    const { name, current, token } = await seedWithPending();
    await store.abandon(name, randomUUID());
    expect(emulator.labelsOf(name)).toEqual({ [current]: ['AWSCURRENT'], [token]: ['AWSPENDING'] });
  });

  it('with returnTo, moves AWSPENDING back onto that version in one write (AWSCURRENT untouched)', async () => {
    const { name, current, token } = await seedWithPending();
    const writes = emulator.callCount('UpdateSecretVersionStage');
    await store.abandon(name, token, { returnTo: current });
    expect(emulator.labelsOf(name)).toEqual({ [current]: ['AWSCURRENT', 'AWSPENDING'] });
    expect(emulator.callCount('UpdateSecretVersionStage') - writes).toBe(1);
    // Repeated (a retry after a lost answer): nothing left to move, no write.
    await store.abandon(name, token, { returnTo: current });
    expect(emulator.callCount('UpdateSecretVersionStage') - writes).toBe(1);
  });

  it('ends correct when the removal applied but answered 500', async () => {
    const { name, current, token } = await seedWithPending();
    emulator.injectFault({ op: 'UpdateSecretVersionStage', secretId: name, fault: { kind: 'applied-then-500' } });
    await store.abandon(name, token);
    expect(emulator.labelsOf(name)).toEqual({ [current]: ['AWSCURRENT'] });
  });
});

describe('retries (SDK standard strategy; a throttled write excepted)', () => {
  it('retries throttling injected twice and succeeds on the third attempt', async () => {
    pinJitterLow();
    const name = secretName();
    emulator.seedSecret(name, secretValue('Current-Pa55word'));
    emulator.injectFault({ op: 'GetSecretValue', secretId: name, times: 2, fault: { kind: 'throttle' } });
    const before = emulator.callCount('GetSecretValue');
    const version = await newStore({ maxAttempts: 3 }).getByStage(name, STAGE.current);
    expect(version?.value).toBe(secretValue('Current-Pa55word'));
    expect(emulator.callCount('GetSecretValue') - before).toBe(3);
  });

  it('surfaces SECRET_THROTTLED when a read is throttled on more than maxAttempts attempts', async () => {
    pinJitterLow();
    const name = secretName();
    emulator.seedSecret(name, secretValue('Current-Pa55word'));
    emulator.injectFault({ op: 'DescribeSecret', secretId: name, times: 4, fault: { kind: 'throttle' } });
    const before = emulator.callCount('DescribeSecret');
    const error = await failure(newStore({ maxAttempts: 3 }).describe(name));
    expect(error.code).toBe(ERROR_CODE.secretThrottled);
    expect(error.retryable).toBe(true);
    expect(emulator.callCount('DescribeSecret') - before).toBe(3);
  });

  // The caller books a new slot in the write budget before a throttled write is sent again
  // (src/rotation/write-retry.ts): an SDK retry would be a write no one booked.
  it('does not retry a throttled write: PutSecretValue throws SECRET_THROTTLED after one attempt, and nothing is written', async () => {
    const name = secretName();
    emulator.seedSecret(name, secretValue('Current-Pa55word'));
    emulator.injectFault({ op: 'PutSecretValue', secretId: name, times: 1, fault: { kind: 'throttle' } });
    const before = emulator.callCount('PutSecretValue');
    const token = randomUUID();
    const error = await failure(newStore({ maxAttempts: 3 }).putPending(name, token, secretValue('Pending-Pa55word')));
    expect(error.code).toBe(ERROR_CODE.secretThrottled);
    expect(error.retryable).toBe(true);
    expect(emulator.callCount('PutSecretValue') - before).toBe(1);
    expect(emulator.labelsOf(name)[token]).toBeUndefined();
  });

  it('does not retry a throttled stage change: promote throws SECRET_THROTTLED after one UpdateSecretVersionStage, AWSCURRENT unmoved', async () => {
    const { name, current, token } = await seedWithPending();
    emulator.injectFault({ op: 'UpdateSecretVersionStage', secretId: name, times: 1, fault: { kind: 'throttle' } });
    const before = emulator.callCount('UpdateSecretVersionStage');
    const error = await failure(newStore({ maxAttempts: 3 }).promote(name, token, { currentVersionId: current, keepPendingLabel: true }));
    expect(error.code).toBe(ERROR_CODE.secretThrottled);
    expect(emulator.callCount('UpdateSecretVersionStage') - before).toBe(1);
    expect(emulator.labelsOf(name)).toEqual({ [current]: ['AWSCURRENT'], [token]: ['AWSPENDING'] });
  });

  it('still retries a write that answered 500 before it applied', async () => {
    pinJitterLow();
    const name = secretName();
    emulator.seedSecret(name, secretValue('Current-Pa55word'));
    emulator.injectFault({ op: 'PutSecretValue', secretId: name, times: 2, fault: { kind: 'status', status: 500 } });
    const before = emulator.callCount('PutSecretValue');
    const token = randomUUID();
    await newStore({ maxAttempts: 3 }).putPending(name, token, secretValue('Pending-Pa55word'));
    expect(emulator.callCount('PutSecretValue') - before).toBe(3);
    expect(emulator.labelsOf(name)[token]).toEqual(['AWSPENDING']);
  });

  it('retries 500 and 503 answers', async () => {
    pinJitterLow();
    const name = secretName();
    emulator.seedSecret(name, secretValue('Current-Pa55word'));
    emulator.injectFault({ op: 'DescribeSecret', secretId: name, times: 1, fault: { kind: 'status', status: 500 } });
    emulator.injectFault({ op: 'DescribeSecret', secretId: name, times: 1, fault: { kind: 'status', status: 503 } });
    const before = emulator.callCount('DescribeSecret');
    await newStore({ maxAttempts: 3 }).describe(name);
    expect(emulator.callCount('DescribeSecret') - before).toBe(3);
  });

  it('does not retry a client error', async () => {
    const name = secretName();
    const before = emulator.callCount('DescribeSecret');
    await failure(store.describe(name));
    expect(emulator.callCount('DescribeSecret') - before).toBe(1);
  });

  it('times an attempt out after requestTimeoutMs as a retryable SECRET_SERVICE_ERROR', async () => {
    const name = secretName();
    emulator.seedSecret(name, secretValue('Current-Pa55word'));
    emulator.injectFault({ op: 'DescribeSecret', secretId: name, fault: { kind: 'latency', ms: 2_000 } });
    const startedMs = performance.now();
    const error = await failure(newStore({ maxAttempts: 1, requestTimeoutMs: 100 }).describe(name));
    expect(performance.now() - startedMs).toBeLessThan(1_500);
    expect(error.code).toBe(ERROR_CODE.secretServiceError);
    expect(error.retryable).toBe(true);
  });

  it('maps an unreachable endpoint to a retryable SECRET_SERVICE_ERROR', async () => {
    const closed = await SecretsManagerEmulator.start();
    const url = closed.url;
    await closed.close();
    // The SDK reads the variable when a client first resolves its endpoint, i.e. on its first call.
    process.env.AWS_ENDPOINT_URL_SECRETS_MANAGER = url;
    let error: SecretStoreError;
    try {
      error = await failure(newStore({ maxAttempts: 1 }).describe('any/secret'));
    } finally {
      process.env.AWS_ENDPOINT_URL_SECRETS_MANAGER = emulator.url;
    }
    expect(error.code).toBe(ERROR_CODE.secretServiceError);
    expect(error.retryable).toBe(true);
    expect(error.message).toContain('ECONNREFUSED');
  });
});

describe('error messages and metrics', () => {
  it('never contain a secret value, whatever failed', async () => {
    pinJitterLow();
    const password = 'Le4k-Me-N0t-Ever!';
    const value = secretValue(password);
    const name = secretName();
    emulator.seedSecret(name, secretValue('Current-Pa55word'));
    const token = randomUUID();
    await store.putPending(name, token, secretValue('Pending-Pa55word'));
    const oneShot = newStore({ maxAttempts: 1 });

    const errors: SecretStoreError[] = [];
    errors.push(await failure(store.putPending(name, token, value)));
    errors.push(await failure(store.putPending(secretName(), randomUUID(), value)));
    errors.push(await failure(store.putPending(name, randomUUID(), `${value}${'x'.repeat(70_000)}`)));
    errors.push(await failure(store.putPending(name, 'short-token', value)));
    emulator.injectFault({ op: 'PutSecretValue', secretId: name, fault: { kind: 'throttle' } });
    errors.push(await failure(oneShot.putPending(name, randomUUID(), value)));
    emulator.injectFault({ op: 'PutSecretValue', secretId: name, fault: { kind: 'status', status: 500 } });
    errors.push(await failure(oneShot.putPending(name, randomUUID(), value)));

    expect(errors.map((e) => e.code)).toEqual([
      ERROR_CODE.secretVersionConflict,
      ERROR_CODE.secretNotFound,
      ERROR_CODE.secretInvalidParameter,
      ERROR_CODE.secretInvalidParameter,
      ERROR_CODE.secretThrottled,
      ERROR_CODE.secretServiceError,
    ]);
    for (const error of errors) {
      for (const text of [error.message, String(error), JSON.stringify({ ...error }), error.stack ?? '']) {
        expect(text).not.toContain(password);
        expect(text).not.toContain('Pending-Pa55word');
      }
      expect(error.message).toContain('PutSecretValue');
    }
  });

  it('reports each call to onCall with its duration and, on failure, our error code', async () => {
    const calls: [string, number, string | undefined][] = [];
    const metered = newStore({ onCall: (operation, durationMs, errorCode) => calls.push([operation, durationMs, errorCode]) });
    const name = secretName();
    emulator.seedSecret(name, secretValue('Current-Pa55word'));
    await metered.getByStage(name, STAGE.current);
    expect(await metered.getByStage(name, STAGE.pending)).toBeNull();
    expect(calls.map(([operation, , code]) => [operation, code])).toEqual([
      ['GetSecretValue', undefined],
      ['GetSecretValue', ERROR_CODE.secretNotFound],
      ['DescribeSecret', undefined],
    ]);
    expect(calls.every(([, durationMs]) => durationMs >= 0)).toBe(true);
  });

  it('refuses maxAttempts below 1', () => {
    expect(() => createSecretStore({ maxAttempts: 0 })).toThrow(RangeError);
  });
});
