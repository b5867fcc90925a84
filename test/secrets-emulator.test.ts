/**
 * The Secrets Manager emulator, exercised only through the real AWS SDK client over HTTP (pointed
 * at it by AWS_ENDPOINT_URL_SECRETS_MANAGER), against spec/secrets-manager.md section 2. The SDK
 * client here makes one attempt per call, so every reply the emulator gives is seen as it is.
 */
import {
  CreateSecretCommand,
  DeleteSecretCommand,
  DescribeSecretCommand,
  GetSecretValueCommand,
  ListSecretVersionIdsCommand,
  PutSecretValueCommand,
  RestoreSecretCommand,
  SecretsManagerClient,
  UpdateSecretVersionStageCommand,
} from '@aws-sdk/client-secrets-manager';
import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { SecretsManagerEmulator, type WriteEvent } from '../src/sandbox/secrets-emulator.ts';

let emulator: SecretsManagerEmulator;
let sm: SecretsManagerClient;

beforeAll(async () => {
  emulator = await SecretsManagerEmulator.start({ port: 0 });
  process.env.AWS_ENDPOINT_URL_SECRETS_MANAGER = emulator.url;
  process.env.AWS_ACCESS_KEY_ID = 'test';
  process.env.AWS_SECRET_ACCESS_KEY = 'test';
  process.env.AWS_REGION = 'us-east-1';
  sm = new SecretsManagerClient({ maxAttempts: 1 });
});

afterAll(async () => {
  sm.destroy();
  // Emulator bugs would be answered as 500 and could hide behind retries: there must be none.
  expect(emulator.internalErrors()).toEqual([]);
  expect(emulator.listenerErrors()).toEqual([]);
  await emulator.close();
});

afterEach(() => {
  emulator.clearFaults();
  emulator.setRandomFaults(undefined);
  emulator.setLatency(0);
  emulator.setWriteLimit(undefined);
});

/** A fresh secret name per test, so tests never share state. */
function secretName(): string {
  return `test/emulator/${randomUUID()}`;
}

/** The AWS error a call failed with (name and message), or a failure if it succeeded. */
async function awsError(call: Promise<unknown>): Promise<{ name: string; message: string; status: number | undefined }> {
  try {
    await call;
  } catch (error) {
    const e = error as { name: string; message: string; $metadata?: { httpStatusCode?: number } };
    return { name: e.name, message: e.message, status: e.$metadata?.httpStatusCode };
  }
  throw new Error('expected the call to fail');
}

function put(secretId: string, token: string, value: string, stages?: string[]): Promise<unknown> {
  return sm.send(
    new PutSecretValueCommand({ SecretId: secretId, ClientRequestToken: token, SecretString: value, ...(stages ? { VersionStages: stages } : {}) }),
  );
}

function move(secretId: string, stage: string, moveTo?: string, removeFrom?: string): Promise<unknown> {
  return sm.send(
    new UpdateSecretVersionStageCommand({
      SecretId: secretId,
      VersionStage: stage,
      ...(moveTo ? { MoveToVersionId: moveTo } : {}),
      ...(removeFrom ? { RemoveFromVersionId: removeFrom } : {}),
    }),
  );
}

describe('wire protocol', () => {
  it('answers an error as a 400 with __type, Message and X-Amzn-ErrorType', async () => {
    const response = await fetch(emulator.url, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-amz-json-1.1', 'X-Amz-Target': 'secretsmanager.GetSecretValue' },
      body: JSON.stringify({ SecretId: 'no/such/secret' }),
    });
    expect(response.status).toBe(400);
    expect(response.headers.get('content-type')).toBe('application/x-amz-json-1.1');
    expect(response.headers.get('x-amzn-errortype')).toBe('ResourceNotFoundException');
    expect(await response.json()).toEqual({ __type: 'ResourceNotFoundException', Message: "Secrets Manager can't find the specified secret." });
  });

  it('refuses an unknown operation with UnknownOperationException', async () => {
    const response = await fetch(emulator.url, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-amz-json-1.1', 'X-Amz-Target': 'secretsmanager.RotateEverything' },
      body: '{}',
    });
    expect(response.status).toBe(400);
    expect(response.headers.get('x-amzn-errortype')).toBe('UnknownOperationException');
  });

  it('refuses a raw PutSecretValue without ClientRequestToken (SDKs always send one)', async () => {
    const name = secretName();
    emulator.seedSecret(name, 'v1');
    const response = await fetch(emulator.url, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-amz-json-1.1', 'X-Amz-Target': 'secretsmanager.PutSecretValue' },
      body: JSON.stringify({ SecretId: name, SecretString: 'v2' }),
    });
    expect(response.status).toBe(400);
    expect(response.headers.get('x-amzn-errortype')).toBe('InvalidRequestException');
  });

  it('returns timestamps as epoch seconds that the SDK reads as Dates', async () => {
    const clock = { nowMs: Date.UTC(2026, 0, 2, 3, 4, 5, 500) };
    const timed = await SecretsManagerEmulator.start({ now: () => clock.nowMs });
    try {
      const response = await fetch(timed.url, {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-amz-json-1.1', 'X-Amz-Target': 'secretsmanager.CreateSecret' },
        body: JSON.stringify({ Name: 'timed', SecretString: 'v1', ClientRequestToken: randomUUID() }),
      });
      expect(response.status).toBe(200);
      const described = await fetch(timed.url, {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-amz-json-1.1', 'X-Amz-Target': 'secretsmanager.DescribeSecret' },
        body: JSON.stringify({ SecretId: 'timed' }),
      });
      const body = (await described.json()) as { CreatedDate: unknown };
      expect(body.CreatedDate).toBe(clock.nowMs / 1000);
    } finally {
      await timed.close();
    }
  });
});

describe('CreateSecret', () => {
  it('creates the first version under AWSCURRENT with an ARN carrying a six-character suffix', async () => {
    const name = secretName();
    const token = randomUUID();
    const created = await sm.send(new CreateSecretCommand({ Name: name, SecretString: 'v1', ClientRequestToken: token }));
    expect(created.VersionId).toBe(token);
    expect(created.ARN).toMatch(new RegExp(`^arn:aws:secretsmanager:us-east-1:000000000000:secret:${name}-[A-Za-z0-9]{6}$`));
    const got = await sm.send(new GetSecretValueCommand({ SecretId: name }));
    expect(got).toMatchObject({ SecretString: 'v1', VersionId: token, VersionStages: ['AWSCURRENT'], Name: name });
    expect(got.CreatedDate).toBeInstanceOf(Date);
  });

  it('with the same token and value returns the identical result; with another value is ResourceExistsException', async () => {
    const name = secretName();
    const token = randomUUID();
    const first = await sm.send(new CreateSecretCommand({ Name: name, SecretString: 'v1', ClientRequestToken: token }));
    const again = await sm.send(new CreateSecretCommand({ Name: name, SecretString: 'v1', ClientRequestToken: token }));
    expect({ ARN: again.ARN, VersionId: again.VersionId }).toEqual({ ARN: first.ARN, VersionId: first.VersionId });

    const conflict = await awsError(sm.send(new CreateSecretCommand({ Name: name, SecretString: 'v2', ClientRequestToken: token })));
    expect(conflict.name).toBe('ResourceExistsException');
    expect(conflict.message).toBe(`You can't use ClientRequestToken ${token} because that value is already in use for a version of secret ${first.ARN}.`);

    const other = await awsError(sm.send(new CreateSecretCommand({ Name: name, SecretString: 'v1', ClientRequestToken: randomUUID() })));
    expect(other).toMatchObject({ name: 'ResourceExistsException', message: `The operation failed because the secret ${name} already exists.` });
  });
});

describe('PutSecretValue', () => {
  it('repeated with the same token and value is a no-op that returns the same version and stages', async () => {
    const name = secretName();
    emulator.seedSecret(name, 'v1');
    const token = randomUUID();
    const first = await put(name, token, 'v2', ['AWSPENDING']);
    const writes: WriteEvent[] = [];
    const stop = emulator.onWrite((event) => writes.push(event));
    const again = await put(name, token, 'v2', ['AWSPENDING']);
    stop();
    expect(again).toMatchObject({ VersionId: token, VersionStages: ['AWSPENDING'] });
    expect((first as { VersionId: string }).VersionId).toBe(token);
    expect(writes).toEqual([]);
    const listed = await sm.send(new ListSecretVersionIdsCommand({ SecretId: name, IncludeDeprecated: true }));
    expect(listed.Versions).toHaveLength(2);
  });

  it('with a used token and another value is ResourceExistsException and changes nothing', async () => {
    const name = secretName();
    const seeded = emulator.seedSecret(name, 'v1');
    const token = randomUUID();
    await put(name, token, 'v2', ['AWSPENDING']);
    const error = await awsError(put(name, token, 'v3', ['AWSPENDING']));
    expect(error.name).toBe('ResourceExistsException');
    expect(error.message).toBe(`You can't use ClientRequestToken ${token} because that value is already in use for a version of secret ${seeded.arn}.`);
    expect(emulator.valueUnder(name, 'AWSPENDING')).toBe('v2');
  });

  it('without VersionStages moves AWSCURRENT to the new version and AWSPREVIOUS to the old one', async () => {
    const name = secretName();
    const seeded = emulator.seedSecret(name, 'v1');
    const token = randomUUID();
    await put(name, token, 'v2');
    expect(emulator.labelsOf(name)).toEqual({ [seeded.versionId]: ['AWSPREVIOUS'], [token]: ['AWSCURRENT'] });
    const third = randomUUID();
    await put(name, third, 'v3');
    // The first version lost its last label: deprecated, no longer listed.
    expect(emulator.labelsOf(name)).toEqual({ [token]: ['AWSPREVIOUS'], [third]: ['AWSCURRENT'] });
  });

  it('keeps the other labels of the version AWSCURRENT leaves (unlike moto)', async () => {
    const name = secretName();
    const seeded = emulator.seedSecret(name, 'v1');
    await move(name, 'CUSTOM', seeded.versionId);
    const token = randomUUID();
    await put(name, token, 'v2');
    expect(emulator.labelsOf(name)[seeded.versionId]?.sort()).toEqual(['AWSPREVIOUS', 'CUSTOM']);
  });

  it('keeps one version per label for AWSPENDING too: a second pending put moves the label', async () => {
    const name = secretName();
    const seeded = emulator.seedSecret(name, 'v1');
    const first = randomUUID();
    const second = randomUUID();
    await put(name, first, 'p1', ['AWSPENDING']);
    await put(name, second, 'p2', ['AWSPENDING']);
    expect(emulator.labelsOf(name)).toEqual({ [seeded.versionId]: ['AWSCURRENT'], [second]: ['AWSPENDING'] });
  });

  it('listing AWSCURRENT also moves AWSPREVIOUS', async () => {
    const name = secretName();
    const seeded = emulator.seedSecret(name, 'v1');
    const token = randomUUID();
    await put(name, token, 'v2', ['AWSCURRENT', 'AWSPENDING']);
    expect(emulator.labelsOf(name)).toEqual({ [seeded.versionId]: ['AWSPREVIOUS'], [token]: ['AWSCURRENT', 'AWSPENDING'] });
  });

  it('keeps each label on exactly one version under 20 concurrent pending puts', async () => {
    const name = secretName();
    emulator.seedSecret(name, 'v1');
    const tokens = Array.from({ length: 20 }, () => randomUUID());
    await Promise.all(tokens.map((token, i) => put(name, token, `p${i}`, ['AWSPENDING'])));
    const holders = Object.entries(emulator.labelsOf(name)).filter(([, stages]) => stages.includes('AWSPENDING'));
    expect(holders).toHaveLength(1);
  });

  it('on a secret scheduled for deletion is InvalidRequestException until it is restored', async () => {
    const name = secretName();
    emulator.seedSecret(name, 'v1');
    await sm.send(new DeleteSecretCommand({ SecretId: name, RecoveryWindowInDays: 7 }));
    expect((await awsError(put(name, randomUUID(), 'v2'))).name).toBe('InvalidRequestException');
    expect((await awsError(sm.send(new GetSecretValueCommand({ SecretId: name })))).name).toBe('InvalidRequestException');
    const described = await sm.send(new DescribeSecretCommand({ SecretId: name }));
    expect(described.DeletedDate).toBeInstanceOf(Date);
    await sm.send(new RestoreSecretCommand({ SecretId: name }));
    await put(name, randomUUID(), 'v2');
    expect(emulator.valueUnder(name, 'AWSCURRENT')).toBe('v2');
  });
});

describe('UpdateSecretVersionStage', () => {
  it('moving AWSCURRENT without RemoveFromVersionId is InvalidParameterException with the AWS message', async () => {
    const name = secretName();
    const seeded = emulator.seedSecret(name, 'v1');
    const token = randomUUID();
    await put(name, token, 'v2', ['AWSPENDING']);
    const error = await awsError(move(name, 'AWSCURRENT', token));
    expect(error.name).toBe('InvalidParameterException');
    expect(error.message).toBe(
      `The parameter RemoveFromVersionId can't be empty. Staging label AWSCURRENT is currently attached to version ${seeded.versionId}, so you must explicitly reference that version in RemoveFromVersionId.`,
    );
    expect(emulator.valueUnder(name, 'AWSCURRENT')).toBe('v1');
  });

  it('requires RemoveFromVersionId for every label, not only AWSCURRENT', async () => {
    const name = secretName();
    emulator.seedSecret(name, 'v1');
    const first = randomUUID();
    const second = randomUUID();
    await put(name, first, 'p1', ['AWSPENDING']);
    await put(name, second, 'v2', ['OTHER']);
    const error = await awsError(move(name, 'AWSPENDING', second));
    expect(error.name).toBe('InvalidParameterException');
    expect(error.message).toContain(`Staging label AWSPENDING is currently attached to version ${first}`);
    expect(emulator.labelsOf(name)[first]).toEqual(['AWSPENDING']);
  });

  it('with RemoveFromVersionId moves AWSCURRENT, AWSPREVIOUS goes to the old version, AWSPENDING stays until removed', async () => {
    const name = secretName();
    const seeded = emulator.seedSecret(name, 'v1');
    const token = randomUUID();
    await put(name, token, 'v2', ['AWSPENDING']);
    await move(name, 'AWSCURRENT', token, seeded.versionId);
    expect(emulator.labelsOf(name)).toEqual({ [seeded.versionId]: ['AWSPREVIOUS'], [token]: ['AWSPENDING', 'AWSCURRENT'] });
    expect(emulator.valuesUnderLabels(name)).toEqual({ AWSCURRENT: 'v2', AWSPENDING: 'v2', AWSPREVIOUS: 'v1' });

    await move(name, 'AWSPENDING', undefined, token);
    expect(emulator.labelsOf(name)).toEqual({ [seeded.versionId]: ['AWSPREVIOUS'], [token]: ['AWSCURRENT'] });
  });

  it('moving AWSCURRENT back onto AWSPREVIOUS swaps the two labels (rollback)', async () => {
    const name = secretName();
    const seeded = emulator.seedSecret(name, 'v1');
    const token = randomUUID();
    await put(name, token, 'v2');
    await move(name, 'AWSCURRENT', seeded.versionId, token);
    expect(emulator.labelsOf(name)).toEqual({ [seeded.versionId]: ['AWSCURRENT'], [token]: ['AWSPREVIOUS'] });
  });

  it('a RemoveFromVersionId that does not hold the label is InvalidParameterException', async () => {
    const name = secretName();
    const seeded = emulator.seedSecret(name, 'v1');
    const token = randomUUID();
    await put(name, token, 'v2', ['AWSPENDING']);
    const wrongHolder = await awsError(move(name, 'AWSCURRENT', token, token));
    expect(wrongHolder.name).toBe('InvalidParameterException');
    const absentLabel = await awsError(move(name, 'AWSPENDING', undefined, seeded.versionId));
    expect(absentLabel.name).toBe('InvalidParameterException');
    expect(emulator.labelsOf(name)).toEqual({ [seeded.versionId]: ['AWSCURRENT'], [token]: ['AWSPENDING'] });
  });

  it('refuses to remove AWSCURRENT without moving it, and an unknown version is ResourceNotFoundException', async () => {
    const name = secretName();
    const seeded = emulator.seedSecret(name, 'v1');
    expect((await awsError(move(name, 'AWSCURRENT', undefined, seeded.versionId))).name).toBe('InvalidParameterException');
    expect((await awsError(move(name, 'AWSCURRENT', randomUUID(), seeded.versionId))).name).toBe('ResourceNotFoundException');
    expect((await awsError(move(name, 'AWSCURRENT'))).name).toBe('InvalidParameterException');
  });

  it('moving a label onto the version that already holds it changes nothing', async () => {
    const name = secretName();
    const seeded = emulator.seedSecret(name, 'v1');
    await move(name, 'AWSCURRENT', seeded.versionId);
    await move(name, 'AWSCURRENT', seeded.versionId, seeded.versionId);
    expect(emulator.labelsOf(name)).toEqual({ [seeded.versionId]: ['AWSCURRENT'] });
  });
});

describe('DescribeSecret and ListSecretVersionIds', () => {
  it('DescribeSecret lists only versions that carry a label', async () => {
    const name = secretName();
    const seeded = emulator.seedSecret(name, 'v1');
    const pending = randomUUID();
    await put(name, pending, 'p1', ['AWSPENDING']);
    await move(name, 'AWSPENDING', undefined, pending);
    const described = await sm.send(new DescribeSecretCommand({ SecretId: name }));
    expect(described.VersionIdsToStages).toEqual({ [seeded.versionId]: ['AWSCURRENT'] });
    expect(described.ARN).toBe(seeded.arn);
    expect(described.LastChangedDate).toBeInstanceOf(Date);
  });

  it('ListSecretVersionIds hides deprecated versions unless IncludeDeprecated, and pages', async () => {
    const name = secretName();
    emulator.seedSecret(name, 'v1');
    for (let i = 2; i <= 4; i += 1) await put(name, randomUUID(), `v${i}`);
    const labelled = await sm.send(new ListSecretVersionIdsCommand({ SecretId: name }));
    expect(labelled.Versions?.map((v) => v.VersionStages)).toEqual([['AWSPREVIOUS'], ['AWSCURRENT']]);
    const all = await sm.send(new ListSecretVersionIdsCommand({ SecretId: name, IncludeDeprecated: true, MaxResults: 3 }));
    expect(all.Versions).toHaveLength(3);
    expect(all.NextToken).toBeTruthy();
    const rest = await sm.send(new ListSecretVersionIdsCommand({ SecretId: name, IncludeDeprecated: true, MaxResults: 3, NextToken: all.NextToken }));
    expect(rest.Versions).toHaveLength(1);
    expect(rest.NextToken).toBeUndefined();
  });
});

describe('GetSecretValue', () => {
  it('reads by stage, by version, by ARN, and checks that VersionId and VersionStage agree', async () => {
    const name = secretName();
    const seeded = emulator.seedSecret(name, 'v1');
    const token = randomUUID();
    await put(name, token, 'v2', ['AWSPENDING']);
    expect((await sm.send(new GetSecretValueCommand({ SecretId: name }))).SecretString).toBe('v1');
    expect((await sm.send(new GetSecretValueCommand({ SecretId: name, VersionStage: 'AWSPENDING' }))).SecretString).toBe('v2');
    expect((await sm.send(new GetSecretValueCommand({ SecretId: seeded.arn, VersionId: token }))).SecretString).toBe('v2');
    const agreed = await sm.send(new GetSecretValueCommand({ SecretId: name, VersionId: token, VersionStage: 'AWSPENDING' }));
    expect(agreed.VersionStages).toEqual(['AWSPENDING']);

    const mismatch = await awsError(sm.send(new GetSecretValueCommand({ SecretId: name, VersionId: token, VersionStage: 'AWSCURRENT' })));
    expect(mismatch).toMatchObject({ name: 'InvalidRequestException', message: 'You provided a VersionStage that is not associated to the provided VersionId.' });
  });

  it('a missing label, version or secret is ResourceNotFoundException with the spec message', async () => {
    const name = secretName();
    emulator.seedSecret(name, 'v1');
    const missingVersion = randomUUID();
    expect(await awsError(sm.send(new GetSecretValueCommand({ SecretId: name, VersionStage: 'AWSPENDING' })))).toMatchObject({
      name: 'ResourceNotFoundException',
      message: "Secrets Manager can't find the specified secret value for staging label: AWSPENDING",
      status: 400,
    });
    expect(await awsError(sm.send(new GetSecretValueCommand({ SecretId: name, VersionId: missingVersion })))).toMatchObject({
      name: 'ResourceNotFoundException',
      message: `Secrets Manager can't find the specified secret value for VersionId: ${missingVersion}`,
    });
    expect(await awsError(sm.send(new GetSecretValueCommand({ SecretId: secretName() })))).toMatchObject({
      name: 'ResourceNotFoundException',
      message: "Secrets Manager can't find the specified secret.",
    });
  });
});

describe('limits', () => {
  it('accepts a 65,536-byte value and refuses 65,537 bytes and an empty value', async () => {
    const name = secretName();
    emulator.seedSecret(name, 'v1');
    await put(name, randomUUID(), 'x'.repeat(65_536));
    expect((await awsError(put(name, randomUUID(), 'x'.repeat(65_537)))).name).toBe('ValidationException');
    // Bytes, not characters: 32,769 two-byte characters are 65,538 bytes.
    expect((await awsError(put(name, randomUUID(), 'é'.repeat(32_769)))).name).toBe('ValidationException');
    expect((await awsError(put(name, randomUUID(), ''))).name).toBe('ValidationException');
  });

  it('accepts tokens of 32 and 64 characters and refuses 31 and 65', async () => {
    const name = secretName();
    emulator.seedSecret(name, 'v1');
    await put(name, 'a'.repeat(32), 'v2');
    await put(name, 'b'.repeat(64), 'v3');
    const short = await awsError(put(name, 'c'.repeat(31), 'v4'));
    expect(short.name).toBe('ValidationException');
    expect(short.message).toContain("'clientRequestToken'");
    expect((await awsError(put(name, 'd'.repeat(65), 'v5'))).name).toBe('ValidationException');
  });

  it('refuses more than 20 labels in one call and a label longer than 256 characters', async () => {
    const name = secretName();
    emulator.seedSecret(name, 'v1');
    const labels = Array.from({ length: 21 }, (_, i) => `L${i}`);
    expect((await awsError(put(name, randomUUID(), 'v2', labels))).name).toBe('ValidationException');
    expect((await awsError(put(name, randomUUID(), 'v2', ['x'.repeat(257)]))).name).toBe('ValidationException');
    expect((await awsError(put(name, randomUUID(), 'v2', []))).name).toBe('ValidationException');
    await put(name, randomUUID(), 'v2', labels.slice(0, 20));
  });

  it('never quotes a refused value in its message', async () => {
    const name = secretName();
    emulator.seedSecret(name, 'v1');
    const value = `{"password":"${'S3cret!'.repeat(10_000)}"}`;
    const error = await awsError(put(name, randomUUID(), value));
    expect(error.message).not.toContain('S3cret!');
  });
});

describe('faults', () => {
  it('an injected throttle answers ThrottlingException the given number of times, then the call succeeds', async () => {
    const name = secretName();
    emulator.seedSecret(name, 'v1');
    emulator.injectFault({ op: 'GetSecretValue', secretId: name, times: 2, fault: { kind: 'throttle' } });
    const before = emulator.throttledCount();
    expect((await awsError(sm.send(new GetSecretValueCommand({ SecretId: name })))).name).toBe('ThrottlingException');
    expect((await awsError(sm.send(new GetSecretValueCommand({ SecretId: name })))).name).toBe('ThrottlingException');
    expect((await sm.send(new GetSecretValueCommand({ SecretId: name }))).SecretString).toBe('v1');
    expect(emulator.throttledCount() - before).toBe(2);
  });

  it('matches a fault by ARN when the request names the secret by name', async () => {
    const name = secretName();
    const seeded = emulator.seedSecret(name, 'v1');
    const other = secretName();
    emulator.seedSecret(other, 'o1');
    emulator.injectFault({ secretId: seeded.arn, fault: { kind: 'status', status: 503 } });
    await sm.send(new GetSecretValueCommand({ SecretId: other }));
    const error = await awsError(sm.send(new GetSecretValueCommand({ SecretId: name })));
    expect(error.status).toBe(503);
  });

  it('a 500 fault changes nothing; applied-then-500 keeps the change and still answers 500', async () => {
    const name = secretName();
    emulator.seedSecret(name, 'v1');
    emulator.injectFault({ op: 'PutSecretValue', fault: { kind: 'status', status: 500 } });
    const refused = await awsError(put(name, randomUUID(), 'v2'));
    expect(refused).toMatchObject({ name: 'InternalServiceError', status: 500 });
    expect(emulator.valueUnder(name, 'AWSCURRENT')).toBe('v1');

    emulator.injectFault({ op: 'PutSecretValue', fault: { kind: 'applied-then-500' } });
    const applied = await awsError(put(name, randomUUID(), 'v3'));
    expect(applied).toMatchObject({ name: 'InternalServiceError', status: 500 });
    expect(emulator.valueUnder(name, 'AWSCURRENT')).toBe('v3');
  });

  it('adds injected and fixed latency', async () => {
    const name = secretName();
    emulator.seedSecret(name, 'v1');
    emulator.injectFault({ op: 'DescribeSecret', fault: { kind: 'latency', ms: 120 } });
    let startedMs = performance.now();
    await sm.send(new DescribeSecretCommand({ SecretId: name }));
    expect(performance.now() - startedMs).toBeGreaterThanOrEqual(110);
    emulator.setLatency(80);
    startedMs = performance.now();
    await sm.send(new DescribeSecretCommand({ SecretId: name }));
    expect(performance.now() - startedMs).toBeGreaterThanOrEqual(70);
  });

  it('draws random faults from the injected random source', async () => {
    const rolls: number[] = [];
    const chaos = await SecretsManagerEmulator.start({ random: () => rolls.shift() ?? 0.99 });
    process.env.AWS_ENDPOINT_URL_SECRETS_MANAGER = chaos.url;
    const client = new SecretsManagerClient({ maxAttempts: 1 });
    try {
      chaos.seedSecret('chaos', 'v1');
      chaos.setRandomFaults({ rateThrottle: 0.1, rate5xx: 0.1 });
      // One roll per request: < 0.1 throttles, < 0.2 is a 500, the rest pass.
      rolls.push(0.05, 0.5, 0.15);
      expect((await awsError(client.send(new DescribeSecretCommand({ SecretId: 'chaos' })))).name).toBe('ThrottlingException');
      await client.send(new DescribeSecretCommand({ SecretId: 'chaos' }));
      expect((await awsError(client.send(new DescribeSecretCommand({ SecretId: 'chaos' })))).status).toBe(500);
      expect(chaos.throttledCount()).toBe(1);
    } finally {
      process.env.AWS_ENDPOINT_URL_SECRETS_MANAGER = emulator.url;
      client.destroy();
      await chaos.close();
    }
  });

  it('the write limit answers ThrottlingException beyond N writes per rolling second, across secrets, reads exempt', async () => {
    const clock = { nowMs: 1_000_000 };
    const limited = await SecretsManagerEmulator.start({ writeLimitPerSecond: 3, now: () => clock.nowMs });
    process.env.AWS_ENDPOINT_URL_SECRETS_MANAGER = limited.url;
    const client = new SecretsManagerClient({ maxAttempts: 1 });
    const write = (secretId: string): Promise<unknown> =>
      client.send(new PutSecretValueCommand({ SecretId: secretId, ClientRequestToken: randomUUID(), SecretString: 'v' }));
    try {
      limited.seedSecret('a', 'v1');
      limited.seedSecret('b', 'v1');
      await write('a');
      await write('b');
      await client.send(new UpdateSecretVersionStageCommand({ SecretId: 'a', VersionStage: 'X', MoveToVersionId: Object.keys(limited.labelsOf('a'))[0] }));
      expect((await awsError(write('b'))).name).toBe('ThrottlingException');
      await client.send(new GetSecretValueCommand({ SecretId: 'a' }));
      expect(limited.throttledCount()).toBe(1);
      clock.nowMs += 999;
      expect((await awsError(write('a'))).name).toBe('ThrottlingException');
      clock.nowMs += 1;
      await write('a');
    } finally {
      process.env.AWS_ENDPOINT_URL_SECRETS_MANAGER = emulator.url;
      client.destroy();
      await limited.close();
    }
  });
});

describe('instrumentation', () => {
  it('onWrite runs synchronously after each change, with the new state visible', async () => {
    const name = secretName();
    emulator.seedSecret(name, 'v1');
    const seen: string[] = [];
    const stop = emulator.onWrite((event) => {
      if (event.secretName === name) seen.push(`${event.op}:${emulator.valueUnder(name, 'AWSPENDING') ?? '-'}`);
    });
    const token = randomUUID();
    await put(name, token, 'p1', ['AWSPENDING']);
    await move(name, 'AWSPENDING', undefined, token);
    await sm.send(new GetSecretValueCommand({ SecretId: name }));
    stop();
    expect(seen).toEqual(['PutSecretValue:p1', 'UpdateSecretVersionStage:-']);
  });

  it('counts calls per operation and records every value ever stored', async () => {
    const name = secretName();
    emulator.seedSecret(name, 'seed-value');
    const before = emulator.callCount('PutSecretValue');
    const total = emulator.callCount();
    await put(name, randomUUID(), 'stored-value');
    await awsError(put(name, randomUUID(), ''));
    expect(emulator.callCount('PutSecretValue') - before).toBe(2);
    expect(emulator.callCount() - total).toBe(2);
    expect(emulator.valuesSeen()).toEqual(expect.arrayContaining(['seed-value', 'stored-value']));
  });

  it('seedSecret accepts a full ARN and the secret then answers to that ARN and to its name', async () => {
    const name = `test/emulator/by-arn-${randomUUID().slice(0, 8)}`;
    const arn = `arn:aws:secretsmanager:us-west-2:123456789012:secret:${name}-Xy12Ab`;
    const seeded = emulator.seedSecret(arn, 'v1');
    expect(seeded).toMatchObject({ name, arn });
    expect((await sm.send(new GetSecretValueCommand({ SecretId: arn }))).SecretString).toBe('v1');
    expect((await sm.send(new DescribeSecretCommand({ SecretId: name }))).ARN).toBe(arn);
  });

  it('close() ends open keep-alive connections so the client sees the server gone', async () => {
    const short = await SecretsManagerEmulator.start();
    process.env.AWS_ENDPOINT_URL_SECRETS_MANAGER = short.url;
    const client = new SecretsManagerClient({ maxAttempts: 1 });
    try {
      short.seedSecret('s', 'v1');
      await client.send(new GetSecretValueCommand({ SecretId: 's' }));
      await short.close();
      await expect(client.send(new GetSecretValueCommand({ SecretId: 's' }))).rejects.toThrow();
    } finally {
      process.env.AWS_ENDPOINT_URL_SECRETS_MANAGER = emulator.url;
      client.destroy();
    }
  });
});

describe('the version quota (spec 2.3)', () => {
  it('prunes unlabelled versions only beyond 100 and only when a day old, and refuses a put past the quota with LimitExceededException', async () => {
    let nowMs = Date.UTC(2026, 0, 1);
    const own = await SecretsManagerEmulator.start({ port: 0, now: () => nowMs, versionQuota: 120 });
    const client = new SecretsManagerClient({ endpoint: own.url, maxAttempts: 1 });
    try {
      const name = secretName();
      own.seedSecret(name, 'v0');
      const putCurrent = (i: number) => client.send(new PutSecretValueCommand({ SecretId: name, ClientRequestToken: `token-${String(i).padStart(32, '0')}`, SecretString: `v${i}` }));
      // 119 more versions within the same hour: none may be pruned (all younger than 24 h).
      for (let i = 1; i < 120; i += 1) await putCurrent(i);
      expect(own.versionCount(name)).toBe(120);
      const refused = await awsError(putCurrent(120));
      expect(refused.name).toBe('LimitExceededException');
      expect(refused.message).toContain('120 versions');
      expect(own.versionCount(name)).toBe(120);
      expect(own.valueUnder(name, 'AWSCURRENT')).toBe('v119');
      // A day later the unlabelled ones may go, down to 100: puts work again.
      nowMs += 24 * 3600 * 1000 + 1_000;
      await putCurrent(120);
      expect(own.versionCount(name)).toBe(100);
      expect(own.valueUnder(name, 'AWSCURRENT')).toBe('v120');
    } finally {
      client.destroy();
      await own.close();
    }
  });
});
