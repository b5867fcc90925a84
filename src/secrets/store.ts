/**
 * The SecretStore port over AWS Secrets Manager (@aws-sdk/client-secrets-manager).
 *
 * - Where it talks: the SDK's own resolution. No endpoint is ever passed in code; tests, the demo and
 *   `sandbox` point the SDK at the emulator with AWS_ENDPOINT_URL_SECRETS_MANAGER (docs/design.md section 1).
 * - Retries: the SDK's standard strategy (bounded `maxAttempts`, exponential backoff with full
 *   jitter, a retry quota) retries throttling, 5xx, timeouts and socket errors, with one exception:
 *   a write (PutSecretValue, UpdateSecretVersionStage) that the service throttled is not retried
 *   here. It throws SECRET_THROTTLED at once, so that the caller books a new slot in the fleet's
 *   write budget before trying again (the engine does, through its fence: src/rotation/write-retry.ts).
 *   We add no loop of our own; we only settle the ambiguous outcome of a stage change by reading
 *   the labels back.
 * - Errors: mapped once, here, by toSecretStoreError(); no SDK type leaves src/secrets/.
 * - No logging: callers log, and an optional `onCall` hook feeds metrics.
 */
import { ConfiguredRetryStrategy } from '@smithy/core/retry';
import {
  DescribeSecretCommand,
  GetSecretValueCommand,
  ListSecretVersionIdsCommand,
  PutSecretValueCommand,
  SecretsManagerClient,
  UpdateSecretVersionStageCommand,
  type GetSecretValueCommandOutput,
} from '@aws-sdk/client-secrets-manager';
import { performance } from 'node:perf_hooks';
import {
  SecretNotFoundError,
  SecretNotStringError,
  SecretServiceError,
  SecretVersionConflictError,
  toSecretStoreError,
  type SecretStoreError,
} from './errors.ts';
import { STAGE, type SecretDescription, type SecretStore, type SecretVersion, type SecretVersionInfo, type Stage } from './types.ts';

/** The Secrets Manager operations the store calls (the names metrics and errors use). */
export const SECRET_STORE_OPERATION = {
  describe: 'DescribeSecret',
  getValue: 'GetSecretValue',
  listVersions: 'ListSecretVersionIds',
  putValue: 'PutSecretValue',
  updateStage: 'UpdateSecretVersionStage',
} as const;
export type SecretStoreOperation = (typeof SECRET_STORE_OPERATION)[keyof typeof SECRET_STORE_OPERATION];

export interface SecretStoreOptions {
  /** AWS region; absent = the SDK's resolution (AWS_REGION, profile, IMDS). */
  region?: string;
  /** Attempts per call, first included (SDK standard retry mode). Integer >= 1. */
  maxAttempts: number;
  /** Backoff bound of the first retry; doubles each retry up to retryCapMs (full jitter below it). @defaultValue 100 */
  retryBaseMs?: number;
  /** @defaultValue 2000 */
  retryCapMs?: number;
  /**
   * Time for one attempt, from sending to the full response, in ms. On expiry the attempt fails
   * with a TimeoutError, which the SDK retries. @defaultValue 5000
   */
  requestTimeoutMs?: number;
  /** Time to establish a connection, in ms. @defaultValue 2000 */
  connectionTimeoutMs?: number;
  /**
   * Called after every call (retries included in `durationMs`), with our error code on failure.
   * For metrics; it must not throw.
   */
  onCall?: (operation: SecretStoreOperation, durationMs: number, errorCode?: string) => void;
  /** Monotonic clock in ms for `onCall` durations. @defaultValue performance.now */
  nowMs?: () => number;
}

export const SECRET_STORE_DEFAULTS = {
  requestTimeoutMs: 5_000,
  connectionTimeoutMs: 2_000,
  retryBaseMs: 100,
  retryCapMs: 2_000,
} as const satisfies Partial<SecretStoreOptions>;

/** Builds a store over a new SecretsManagerClient. Call close() to release its sockets. */
export function createSecretStore(options: SecretStoreOptions): AwsSecretStore {
  const maxAttempts = options.maxAttempts;
  if (!Number.isInteger(maxAttempts) || maxAttempts < 1) throw new RangeError('maxAttempts must be an integer >= 1');
  const requestTimeoutMs = options.requestTimeoutMs ?? SECRET_STORE_DEFAULTS.requestTimeoutMs;
  const connectionTimeoutMs = options.connectionTimeoutMs ?? SECRET_STORE_DEFAULTS.connectionTimeoutMs;
  if (!(requestTimeoutMs > 0)) throw new RangeError('requestTimeoutMs must be greater than 0');
  if (!(connectionTimeoutMs > 0)) throw new RangeError('connectionTimeoutMs must be greater than 0');

  const retryBaseMs = options.retryBaseMs ?? SECRET_STORE_DEFAULTS.retryBaseMs;
  const retryCapMs = options.retryCapMs ?? SECRET_STORE_DEFAULTS.retryCapMs;
  // The SDK's standard strategy (retry quota, which errors are retryable) with our own backoff:
  // its throttling backoff starts at 500 ms-1 s, too slow for a leak that must die within a
  // second. Full jitter over an exponential bound, capped, so replicas do not retry in step.
  const backoff = (attempt: number): number => Math.floor(Math.random() * Math.min(retryCapMs, retryBaseMs * 2 ** attempt));
  const clientFor = (retryStrategy: ConfiguredRetryStrategy): SecretsManagerClient =>
    new SecretsManagerClient({
      ...(options.region === undefined ? {} : { region: options.region }),
      retryStrategy,
      requestHandler: {
        connectionTimeout: connectionTimeoutMs,
        requestTimeout: requestTimeoutMs,
        // Without this the SDK only logs a warning when requestTimeout passes.
        throwOnRequestTimeout: true,
      },
    });
  // Two clients, because the SDK picks its retry strategy per client, not per command.
  return new AwsSecretStore({ reads: clientFor(new ConfiguredRetryStrategy(maxAttempts, backoff)), writes: clientFor(new WriteRetryStrategy(maxAttempts, backoff)) }, options);
}

/**
 * The SDK's strategy for writes: the reads' strategy, except that a throttled write is not retried.
 * An SDK retry would send a write that no one booked into a quota that has just said it is full,
 * and under load those unbooked retries are what keeps the quota full (docs/design.md section 2,
 * write pacing). Refusing the retry token makes the SDK throw the ThrottlingException itself.
 * 5xx, timeouts and socket errors are still retried here (rare; PutSecretValue with the same
 * token is idempotent and a stage change is read back).
 */
class WriteRetryStrategy extends ConfiguredRetryStrategy {
  override async refreshRetryTokenForRetry(...args: Parameters<ConfiguredRetryStrategy['refreshRetryTokenForRetry']>): ReturnType<ConfiguredRetryStrategy['refreshRetryTokenForRetry']> {
    const [, errorInfo] = args;
    if (errorInfo.errorType === 'THROTTLING') throw new Error('a throttled write is retried by the caller, through its write budget');
    return super.refreshRetryTokenForRetry(...args);
  }
}

/** The store's SDK clients: reads retry throttling inside the SDK, writes do not (WriteRetryStrategy). */
export interface SecretStoreClients {
  reads: SecretsManagerClient;
  writes: SecretsManagerClient;
}

export class AwsSecretStore implements SecretStore {
  /** DescribeSecret, GetSecretValue, ListSecretVersionIds. */
  private readonly client: SecretsManagerClient;
  /** PutSecretValue, UpdateSecretVersionStage: a throttled one is not retried by the SDK. */
  private readonly writer: SecretsManagerClient;
  private readonly onCall: SecretStoreOptions['onCall'];
  private readonly nowMs: () => number;

  constructor(clients: SecretStoreClients, options: Pick<SecretStoreOptions, 'onCall' | 'nowMs'> = {}) {
    this.client = clients.reads;
    this.writer = clients.writes;
    this.onCall = options.onCall;
    this.nowMs = options.nowMs ?? (() => performance.now());
  }

  /** Closes the clients' connections. */
  close(): void {
    this.client.destroy();
    this.writer.destroy();
  }

  async describe(secretId: string): Promise<SecretDescription> {
    const output = await this.call(SECRET_STORE_OPERATION.describe, secretId, () =>
      this.client.send(new DescribeSecretCommand({ SecretId: secretId })),
    );
    const versions: Record<string, string[]> = {};
    for (const [versionId, stages] of Object.entries(output.VersionIdsToStages ?? {})) {
      if (stages.length > 0) versions[versionId] = [...stages];
    }
    return {
      arn: output.ARN ?? secretId,
      name: output.Name ?? secretId,
      versions,
      ...(output.LastChangedDate ? { lastChangedDate: output.LastChangedDate } : {}),
    };
  }

  async listVersions(secretId: string): Promise<SecretVersionInfo[]> {
    const versions: SecretVersionInfo[] = [];
    let nextToken: string | undefined;
    do {
      const token = nextToken;
      const output = await this.call(SECRET_STORE_OPERATION.listVersions, secretId, () =>
        this.client.send(
          new ListSecretVersionIdsCommand({ SecretId: secretId, IncludeDeprecated: false, MaxResults: 100, ...(token ? { NextToken: token } : {}) }),
        ),
      );
      for (const entry of output.Versions ?? []) {
        const stages = entry.VersionStages ?? [];
        if (!entry.VersionId || stages.length === 0) continue;
        versions.push({ versionId: entry.VersionId, stages: [...stages], ...(entry.CreatedDate ? { createdDate: entry.CreatedDate } : {}) });
      }
      nextToken = output.NextToken;
    } while (nextToken);
    return versions;
  }

  getByStage(secretId: string, stage: Stage): Promise<SecretVersion | null> {
    return this.getValue(secretId, { VersionStage: stage });
  }

  getByVersion(secretId: string, versionId: string): Promise<SecretVersion | null> {
    return this.getValue(secretId, { VersionId: versionId });
  }

  /**
   * PutSecretValue(ClientRequestToken = token, VersionStages = [AWSPENDING]). A repeat with the same
   * token and value is a no-op at the service (so an SDK retry after a lost reply is safe); another
   * value for the token is SECRET_VERSION_CONFLICT. So is a replay whose version exists but no longer
   * carries AWSPENDING or AWSCURRENT (it was abandoned): the token is spent, never silently revived.
   */
  async putPending(secretId: string, token: string, value: string): Promise<void> {
    const output = await this.call(
      SECRET_STORE_OPERATION.putValue,
      secretId,
      () =>
        this.writer.send(
          new PutSecretValueCommand({ SecretId: secretId, ClientRequestToken: token, SecretString: value, VersionStages: [STAGE.pending] }),
        ),
      true,
    );
    const stages = output.VersionStages ?? [STAGE.pending];
    if (!stages.includes(STAGE.pending) && !stages.includes(STAGE.current)) {
      throw new SecretVersionConflictError(
        { operation: SECRET_STORE_OPERATION.putValue, secretId, retryable: false },
        `version ${token} already exists and is no longer pending (it was abandoned); use a new token`,
      );
    }
  }

  /**
   * Cases (spec/secrets-manager.md 1.2 finishSecret, 2.2):
   * 1. Where AWSCURRENT is: `currentVersionId` when given, else DescribeSecret.
   * 2. `token` already holds it: no move (a late or repeated promote is harmless).
   * 3. Move it: UpdateSecretVersionStage(AWSCURRENT, MoveTo = token, RemoveFrom = holder); AWSPREVIOUS
   *    follows at the service.
   * 4. The move failed: the failure may be ambiguous (a 500 after the change applied; an SDK retry
   *    of an applied move answered InvalidParameterException because RemoveFrom no longer holds the
   *    label). Read the labels back: AWSCURRENT on `token` is success, anything else rethrows.
   * 5. Unless `keepPendingLabel`, take AWSPENDING off `token` (the service does not, spec 1.1).
   */
  async promote(secretId: string, token: string, options: { currentVersionId?: string; keepPendingLabel?: boolean } = {}): Promise<void> {
    // Case 1.
    let labels: Record<string, string[]> | undefined;
    let holder = options.currentVersionId;
    if (holder === undefined) {
      labels = (await this.describe(secretId)).versions;
      holder = holderOf(labels, STAGE.current);
    }
    // Case 2: nothing to move. Case 3 otherwise.
    if (holder !== token) {
      try {
        await this.updateStage(secretId, STAGE.current, { moveTo: token, ...(holder === undefined ? {} : { removeFrom: holder }) });
      } catch (error) {
        // Case 4.
        const after = await this.readBack(secretId, error);
        if (!after[token]?.includes(STAGE.current)) throw error;
        labels = after;
      }
    }
    // Case 5. Moving AWSCURRENT never touches AWSPENDING, so labels read before the move still tell.
    if (!options.keepPendingLabel) await this.removePending(secretId, token, labels);
  }

  /**
   * Describes, then takes AWSPENDING off `token` only if it is there: an absent label costs no
   * write. With `returnTo`, the label moves onto that version instead of disappearing (one write
   * either way).
   */
  async abandon(secretId: string, token: string, options: { returnTo?: string } = {}): Promise<void> {
    const labels = (await this.describe(secretId)).versions;
    await this.removePending(secretId, token, labels, options.returnTo);
  }

  /**
   * UpdateSecretVersionStage(AWSPENDING, RemoveFrom = token, MoveTo = `returnTo` when given),
   * skipped when `labels` shows it absent. A failure is settled by reading back: if AWSPENDING is no
   * longer on `token` (an earlier attempt applied, or someone else moved or removed it), the goal is reached.
   */
  private async removePending(secretId: string, token: string, labels: Record<string, string[]> | undefined, returnTo?: string): Promise<void> {
    if (labels && !labels[token]?.includes(STAGE.pending)) return;
    try {
      await this.updateStage(secretId, STAGE.pending, { removeFrom: token, ...(returnTo === undefined ? {} : { moveTo: returnTo }) });
    } catch (error) {
      const after = await this.readBack(secretId, error);
      if (after[token]?.includes(STAGE.pending)) throw error;
    }
  }

  private async updateStage(secretId: string, stage: Stage, move: { moveTo?: string; removeFrom?: string }): Promise<void> {
    await this.call(SECRET_STORE_OPERATION.updateStage, secretId, () =>
      this.writer.send(
        new UpdateSecretVersionStageCommand({
          SecretId: secretId,
          VersionStage: stage,
          ...(move.moveTo === undefined ? {} : { MoveToVersionId: move.moveTo }),
          ...(move.removeFrom === undefined ? {} : { RemoveFromVersionId: move.removeFrom }),
        }),
      ),
    );
  }

  /** The labels after a failed stage change; if even that read fails, the original error stands. */
  private async readBack(secretId: string, original: unknown): Promise<Record<string, string[]>> {
    try {
      return (await this.describe(secretId)).versions;
    } catch {
      throw original;
    }
  }

  /**
   * GetSecretValue. ResourceNotFoundException means either "no such version or label" (-> null) or
   * "no such secret" (-> SECRET_NOT_FOUND). Messages are not an API, so we ask DescribeSecret, which
   * throws SECRET_NOT_FOUND exactly when the secret itself is missing.
   */
  private async getValue(secretId: string, selector: { VersionStage?: string; VersionId?: string }): Promise<SecretVersion | null> {
    let output: GetSecretValueCommandOutput;
    try {
      output = await this.call(SECRET_STORE_OPERATION.getValue, secretId, () =>
        this.client.send(new GetSecretValueCommand({ SecretId: secretId, ...selector })),
      );
    } catch (error) {
      if (!(error instanceof SecretNotFoundError)) throw error;
      await this.describe(secretId);
      return null;
    }
    const detail = { operation: SECRET_STORE_OPERATION.getValue, secretId, retryable: false };
    if (!output.VersionId) throw new SecretServiceError(detail, 'the response has no VersionId');
    if (output.SecretString === undefined) {
      throw new SecretNotStringError(detail, `version ${output.VersionId} holds SecretBinary; a SecretString (JSON) is required`);
    }
    return {
      versionId: output.VersionId,
      stages: [...(output.VersionStages ?? [])],
      value: output.SecretString,
      ...(output.CreatedDate ? { createdDate: output.CreatedDate } : {}),
    };
  }

  /** Sends one command (the SDK retries inside), maps its failure, and reports to `onCall`. */
  private async call<T>(operation: SecretStoreOperation, secretId: string, send: () => Promise<T>, valueSent = false): Promise<T> {
    const startedMs = this.nowMs();
    try {
      const output = await send();
      this.onCall?.(operation, this.nowMs() - startedMs);
      return output;
    } catch (error) {
      const mapped: SecretStoreError = toSecretStoreError(error, { operation, secretId, valueSent });
      this.onCall?.(operation, this.nowMs() - startedMs, mapped.code);
      throw mapped;
    }
  }
}

function holderOf(labels: Record<string, string[]>, stage: string): string | undefined {
  return Object.keys(labels).find((versionId) => labels[versionId]?.includes(stage));
}
