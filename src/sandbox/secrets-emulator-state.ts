/**
 * The emulator's state and its operations, with the semantics of spec/secrets-manager.md section 2.
 *
 * Every operation is one synchronous function from a parsed request body to a response body. The
 * HTTP layer awaits nothing between reading the state and writing it, so an operation is atomic: no
 * two requests interleave inside one (floci raced here, spec 2.4). A change notifies `onChange`
 * synchronously, after the whole change is applied.
 */
import { randomUUID } from 'node:crypto';
import { emulatedError } from './secrets-emulator-errors.ts';
import {
  LIMIT,
  checkLength,
  optionalBlob,
  optionalBoolean,
  optionalInteger,
  optionalString,
  optionalStringList,
  requiredString,
  type JsonObject,
} from './secrets-emulator-input.ts';
import {
  LABEL,
  attachLabel,
  detachLabel,
  holderOf,
  labelledVersions,
  sameValue,
  type SecretValue,
  type StoredSecret,
  type StoredVersion,
} from './secrets-emulator-model.ts';

/** The operations the emulator speaks (the part after `secretsmanager.` in X-Amz-Target). */
export const SECRETS_OPERATION = {
  createSecret: 'CreateSecret',
  getSecretValue: 'GetSecretValue',
  putSecretValue: 'PutSecretValue',
  describeSecret: 'DescribeSecret',
  updateSecretVersionStage: 'UpdateSecretVersionStage',
  listSecretVersionIds: 'ListSecretVersionIds',
  deleteSecret: 'DeleteSecret',
  restoreSecret: 'RestoreSecret',
} as const;
export type SecretsOperation = (typeof SECRETS_OPERATION)[keyof typeof SECRETS_OPERATION];

/** The operations that count against the shared write quota (spec 2.3: 50/s per account and region). */
export const WRITE_QUOTA_OPERATIONS: ReadonlySet<string> = new Set([
  SECRETS_OPERATION.putSecretValue,
  SECRETS_OPERATION.updateSecretVersionStage,
]);

export interface StateChange {
  op: SecretsOperation | 'seed';
  secretName: string;
}

export interface SecretsStateDeps {
  /** Epoch milliseconds. */
  now: () => number;
  /** Versions a secret may hold after pruning; a PutSecretValue beyond it is LimitExceededException. @defaultValue DEFAULT_VERSION_QUOTA */
  versionQuota?: number;
  /** Uniform in [0, 1); only used for ARN suffixes here. */
  random: () => number;
  region: string;
  accountId: string;
  onChange: (change: StateChange) => void;
}

const SECONDS_PER_DAY = 86_400;
/** AWS prunes unlabelled versions beyond this many, if they are older than a day (spec 2.3). */
const VERSIONS_KEPT = 100;
/**
 * The versions one secret may hold. AWS documents the pruning rule and that more than one new
 * version per 10 minutes, sustained, reaches "the quota for secret versions", not the number: one
 * a day of 10-minute versions (144, all too young to prune) plus the labelled ones is what that
 * guidance sustains, so the emulator refuses past 150.
 */
export const DEFAULT_VERSION_QUOTA = 150;
const DEFAULT_RECOVERY_WINDOW_DAYS = 30;
const ARN_SUFFIX_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const NAME_PATTERN = /^[A-Za-z0-9/_+=.@!-]+$/;

export class SecretsState {
  private readonly deps: SecretsStateDeps;
  private readonly secrets = new Map<string, StoredSecret>();
  private readonly seenValues = new Set<string>();

  constructor(deps: SecretsStateDeps) {
    this.deps = deps;
  }

  /** Runs one operation. Throws EmulatedServiceError for every error reply. */
  execute(op: SecretsOperation, body: JsonObject): JsonObject {
    switch (op) {
      case SECRETS_OPERATION.createSecret:
        return this.createSecret(body);
      case SECRETS_OPERATION.getSecretValue:
        return this.getSecretValue(body);
      case SECRETS_OPERATION.putSecretValue:
        return this.putSecretValue(body);
      case SECRETS_OPERATION.describeSecret:
        return this.describeSecret(body);
      case SECRETS_OPERATION.updateSecretVersionStage:
        return this.updateSecretVersionStage(body);
      case SECRETS_OPERATION.listSecretVersionIds:
        return this.listSecretVersionIds(body);
      case SECRETS_OPERATION.deleteSecret:
        return this.deleteSecret(body);
      case SECRETS_OPERATION.restoreSecret:
        return this.restoreSecret(body);
      default: {
        const unreachable: never = op;
        throw new Error(`unhandled operation ${String(unreachable)}`);
      }
    }
  }

  /** The secret named by `secretId` (name, full ARN or ARN without the random suffix). */
  find(secretId: string): StoredSecret | undefined {
    let secret = this.secrets.get(secretId);
    if (!secret && secretId.startsWith('arn:')) {
      for (const candidate of this.secrets.values()) {
        if (candidate.arn === secretId) secret = candidate;
      }
      const marker = ':secret:';
      const at = secretId.indexOf(marker);
      if (!secret && at >= 0) secret = this.secrets.get(secretId.slice(at + marker.length));
    }
    if (secret?.purgeAtSec !== undefined && this.nowSec() >= secret.purgeAtSec) {
      // The recovery window has passed: the deletion is final.
      this.secrets.delete(secret.name);
      return undefined;
    }
    return secret;
  }

  /**
   * Creates a secret with `value` under AWSCURRENT, bypassing the wire (test setup). `nameOrArn` may
   * be a full ARN (configs name secrets either way): the secret then has exactly that ARN, and its
   * name is the part after `:secret:` without the six-character suffix.
   */
  seed(nameOrArn: string, value: string, versionId: string = randomUUID()): StoredSecret {
    const parsed = parseArn(nameOrArn);
    const name = parsed?.name ?? nameOrArn;
    this.createSecret({ Name: name, SecretString: value, ClientRequestToken: versionId }, 'seed', parsed?.arn);
    const secret = this.secrets.get(name);
    if (!secret) throw new Error(`seeding ${name} failed`);
    return secret;
  }

  /** Every SecretString ever stored, in first-stored order. */
  valuesSeen(): string[] {
    return [...this.seenValues];
  }

  private createSecret(body: JsonObject, op: StateChange['op'] = SECRETS_OPERATION.createSecret, arn?: string): JsonObject {
    const name = requiredString(body, 'Name', LIMIT.name);
    if (!NAME_PATTERN.test(name)) throw emulatedError.invalidName();
    const description = optionalString(body, 'Description', LIMIT.description);
    const kmsKeyId = optionalString(body, 'KmsKeyId');
    const value = readValue(body, false);
    const token = readToken(body, value !== undefined);

    const existing = this.secrets.get(name);
    if (existing) {
      if (existing.deletedDateSec !== undefined) throw emulatedError.nameScheduledForDeletion();
      // Same token and same value: the identical result again (spec 2.2, AWS-verified).
      const version = token === undefined ? undefined : existing.versions.get(token);
      if (version && value && sameValue(version.value, value)) {
        return { ARN: existing.arn, Name: existing.name, VersionId: version.versionId, ReplicationStatus: [] };
      }
      if (version) throw emulatedError.tokenInUse(version.versionId, existing.arn);
      throw emulatedError.secretExists(name);
    }

    const nowSec = this.nowSec();
    const secret: StoredSecret = {
      name,
      arn: arn ?? `arn:aws:secretsmanager:${this.deps.region}:${this.deps.accountId}:secret:${name}-${this.arnSuffix()}`,
      createdDateSec: nowSec,
      lastChangedDateSec: nowSec,
      versions: new Map(),
      ...(description === undefined ? {} : { description }),
      ...(kmsKeyId === undefined ? {} : { kmsKeyId }),
    };
    this.secrets.set(name, secret);
    const output: JsonObject = { ARN: secret.arn, Name: secret.name, ReplicationStatus: [] };
    if (value && token !== undefined) {
      this.addVersion(secret, token, value, [LABEL.current]);
      output.VersionId = token;
    }
    this.deps.onChange({ op, secretName: name });
    return output;
  }

  private putSecretValue(body: JsonObject): JsonObject {
    const secret = this.requireLive(requiredString(body, 'SecretId', LIMIT.secretId));
    const value = readValue(body, true);
    const token = readToken(body, true);
    const stages = optionalStringList(body, 'VersionStages', LIMIT.stagesPerCall, LIMIT.stage);
    if (value === undefined || token === undefined) throw emulatedError.valueRequired();

    const existing = secret.versions.get(token);
    if (existing) {
      // A token pins a version: the same value again is a no-op that changes no label, another
      // value is refused (spec 2.2, AWS-verified). Overwriting a filled version is never allowed
      // (moto did, spec 2.4).
      if (!sameValue(existing.value, value)) throw emulatedError.tokenInUse(token, secret.arn);
      return { ARN: secret.arn, Name: secret.name, VersionId: token, VersionStages: [...existing.stages] };
    }

    // The version quota, after pruning what may be pruned (AWS prunes as it creates).
    this.pruneDeprecated(secret);
    const quota = this.deps.versionQuota ?? DEFAULT_VERSION_QUOTA;
    if (secret.versions.size >= quota) throw emulatedError.versionQuotaReached(secret.name, quota);

    // No VersionStages = AWSCURRENT; the first version of a secret always gets AWSCURRENT.
    const labels = new Set(stages ?? [LABEL.current]);
    if (!holderOf(secret, LABEL.current)) labels.add(LABEL.current);
    const version = this.addVersion(secret, token, value, [...labels]);
    secret.lastChangedDateSec = this.nowSec();
    this.deps.onChange({ op: SECRETS_OPERATION.putSecretValue, secretName: secret.name });
    return { ARN: secret.arn, Name: secret.name, VersionId: token, VersionStages: [...version.stages] };
  }

  private getSecretValue(body: JsonObject): JsonObject {
    const secret = this.requireLive(requiredString(body, 'SecretId', LIMIT.secretId));
    const versionId = optionalString(body, 'VersionId', LIMIT.token);
    const stage = optionalString(body, 'VersionStage', LIMIT.stage);

    let version: StoredVersion | undefined;
    if (versionId !== undefined) {
      version = secret.versions.get(versionId);
      if (!version) throw emulatedError.noValueForVersion(versionId);
      if (stage !== undefined && !version.stages.includes(stage)) throw emulatedError.stageVersionMismatch();
    } else {
      const wanted = stage ?? LABEL.current;
      version = holderOf(secret, wanted);
      if (!version) throw emulatedError.noValueForStage(wanted);
    }

    const accessedSec = Math.floor(this.nowSec() / SECONDS_PER_DAY) * SECONDS_PER_DAY;
    version.lastAccessedDateSec = accessedSec;
    secret.lastAccessedDateSec = accessedSec;
    const output: JsonObject = {
      ARN: secret.arn,
      Name: secret.name,
      VersionId: version.versionId,
      VersionStages: [...version.stages],
      CreatedDate: version.createdDateSec,
    };
    if (version.value.kind === 'string') output.SecretString = version.value.text;
    else output.SecretBinary = version.value.bytes.toString('base64');
    return output;
  }

  private describeSecret(body: JsonObject): JsonObject {
    const secret = this.find(requiredString(body, 'SecretId', LIMIT.secretId));
    if (!secret) throw emulatedError.secretNotFound();
    const output: JsonObject = {
      ARN: secret.arn,
      Name: secret.name,
      RotationEnabled: false,
      CreatedDate: secret.createdDateSec,
      LastChangedDate: secret.lastChangedDateSec,
      Tags: [],
      VersionIdsToStages: labelledVersions(secret),
    };
    if (secret.description !== undefined) output.Description = secret.description;
    if (secret.kmsKeyId !== undefined) output.KmsKeyId = secret.kmsKeyId;
    if (secret.lastAccessedDateSec !== undefined) output.LastAccessedDate = secret.lastAccessedDateSec;
    if (secret.deletedDateSec !== undefined) output.DeletedDate = secret.deletedDateSec;
    return output;
  }

  /**
   * Cases (spec 2.2):
   * 1. Neither MoveToVersionId nor RemoveFromVersionId: nothing to do -> InvalidParameterException.
   * 2. RemoveFromVersionId names a version that does not hold the label -> InvalidParameterException.
   * 3. The label is on another version and RemoveFromVersionId is absent -> InvalidParameterException
   *    (AWS-verified for AWSCURRENT; enforced for every label, unlike moto).
   * 4. Move: the label goes to MoveToVersionId; moving AWSCURRENT moves AWSPREVIOUS to the version it
   *    left; AWSPENDING on the target stays (AWS-verified).
   * 5. Remove only: the label is detached; AWSCURRENT can only be moved, never removed.
   */
  private updateSecretVersionStage(body: JsonObject): JsonObject {
    const secret = this.requireLive(requiredString(body, 'SecretId', LIMIT.secretId));
    const stage = requiredString(body, 'VersionStage', LIMIT.stage);
    const moveTo = optionalString(body, 'MoveToVersionId', LIMIT.token);
    const removeFrom = optionalString(body, 'RemoveFromVersionId', LIMIT.token);
    const holder = holderOf(secret, stage);

    // Case 1.
    if (moveTo === undefined && removeFrom === undefined) throw emulatedError.moveOrRemoveRequired();
    const target = moveTo === undefined ? undefined : secret.versions.get(moveTo);
    if (moveTo !== undefined && !target) throw emulatedError.versionNotFound(moveTo);
    if (removeFrom !== undefined) {
      if (!secret.versions.has(removeFrom)) throw emulatedError.versionNotFound(removeFrom);
      // Case 2.
      if (holder?.versionId !== removeFrom) throw emulatedError.removeFromNotHolder(stage, removeFrom, holder?.versionId);
    }
    // Case 3.
    if (target && holder && holder !== target && removeFrom === undefined) {
      throw emulatedError.removeFromRequired(stage, holder.versionId);
    }

    if (target) {
      // Case 4. Already on the target (removeFrom, if given, is the target too): nothing changes.
      if (holder === target) return { ARN: secret.arn, Name: secret.name };
      attachLabel(secret, stage, target);
    } else if (holder) {
      // Case 5.
      if (stage === LABEL.current) throw emulatedError.currentCannotBeRemoved();
      detachLabel(holder, stage);
    }
    secret.lastChangedDateSec = this.nowSec();
    this.deps.onChange({ op: SECRETS_OPERATION.updateSecretVersionStage, secretName: secret.name });
    return { ARN: secret.arn, Name: secret.name };
  }

  private listSecretVersionIds(body: JsonObject): JsonObject {
    const secret = this.find(requiredString(body, 'SecretId', LIMIT.secretId));
    if (!secret) throw emulatedError.secretNotFound();
    const maxResults = optionalInteger(body, 'MaxResults', LIMIT.maxResults) ?? LIMIT.maxResults.max;
    const includeDeprecated = optionalBoolean(body, 'IncludeDeprecated') ?? false;
    const offset = decodeNextToken(optionalString(body, 'NextToken', { min: 1, max: 4_096 }));

    const all = [...secret.versions.values()].filter((version) => includeDeprecated || version.stages.length > 0);
    if (offset > all.length) throw emulatedError.invalidNextToken();
    const page = all.slice(offset, offset + maxResults);
    const output: JsonObject = {
      ARN: secret.arn,
      Name: secret.name,
      Versions: page.map((version) => {
        const entry: JsonObject = {
          VersionId: version.versionId,
          VersionStages: [...version.stages],
          CreatedDate: version.createdDateSec,
          KmsKeyIds: ['DefaultEncryptionKey'],
        };
        if (version.lastAccessedDateSec !== undefined) entry.LastAccessedDate = version.lastAccessedDateSec;
        return entry;
      }),
    };
    if (offset + maxResults < all.length) output.NextToken = encodeNextToken(offset + maxResults);
    return output;
  }

  private deleteSecret(body: JsonObject): JsonObject {
    const secretId = requiredString(body, 'SecretId', LIMIT.secretId);
    const windowDays = optionalInteger(body, 'RecoveryWindowInDays', LIMIT.recoveryWindowDays);
    const force = optionalBoolean(body, 'ForceDeleteWithoutRecovery') ?? false;
    if (force && windowDays !== undefined) throw emulatedError.forceWithWindow();
    const secret = this.find(secretId);
    if (!secret) throw emulatedError.secretNotFound();

    const nowSec = this.nowSec();
    if (force) {
      this.secrets.delete(secret.name);
      this.deps.onChange({ op: SECRETS_OPERATION.deleteSecret, secretName: secret.name });
      return { ARN: secret.arn, Name: secret.name, DeletionDate: nowSec };
    }
    if (secret.deletedDateSec !== undefined) throw emulatedError.markedForDeletion();
    secret.deletedDateSec = nowSec;
    secret.purgeAtSec = nowSec + (windowDays ?? DEFAULT_RECOVERY_WINDOW_DAYS) * SECONDS_PER_DAY;
    this.deps.onChange({ op: SECRETS_OPERATION.deleteSecret, secretName: secret.name });
    return { ARN: secret.arn, Name: secret.name, DeletionDate: secret.purgeAtSec };
  }

  private restoreSecret(body: JsonObject): JsonObject {
    const secret = this.find(requiredString(body, 'SecretId', LIMIT.secretId));
    if (!secret) throw emulatedError.secretNotFound();
    if (secret.deletedDateSec !== undefined) {
      delete secret.deletedDateSec;
      delete secret.purgeAtSec;
      this.deps.onChange({ op: SECRETS_OPERATION.restoreSecret, secretName: secret.name });
    }
    return { ARN: secret.arn, Name: secret.name };
  }

  /** The secret, which must exist and not be scheduled for deletion (spec 2.2: InvalidRequestException). */
  private requireLive(secretId: string): StoredSecret {
    const secret = this.find(secretId);
    if (!secret) throw emulatedError.secretNotFound();
    if (secret.deletedDateSec !== undefined) throw emulatedError.markedForDeletion();
    return secret;
  }

  private addVersion(secret: StoredSecret, versionId: string, value: SecretValue, stages: string[]): StoredVersion {
    const version: StoredVersion = { versionId, value, stages: [], createdDateSec: this.nowSec() };
    secret.versions.set(versionId, version);
    for (const stage of stages) attachLabel(secret, stage, version);
    if (value.kind === 'string') this.seenValues.add(value.text);
    this.pruneDeprecated(secret);
    return version;
  }

  /** AWS drops unlabelled versions beyond 100 once they are a day old (spec 2.3). */
  private pruneDeprecated(secret: StoredSecret): void {
    const cutoffSec = this.nowSec() - SECONDS_PER_DAY;
    for (const version of [...secret.versions.values()]) {
      if (secret.versions.size <= VERSIONS_KEPT) return;
      if (version.stages.length === 0 && version.createdDateSec < cutoffSec) secret.versions.delete(version.versionId);
    }
  }

  private nowSec(): number {
    return this.deps.now() / 1_000;
  }

  private arnSuffix(): string {
    let suffix = '';
    for (let i = 0; i < 6; i += 1) {
      const index = Math.min(ARN_SUFFIX_ALPHABET.length - 1, Math.floor(this.deps.random() * ARN_SUFFIX_ALPHABET.length));
      suffix += ARN_SUFFIX_ALPHABET.charAt(index);
    }
    return suffix;
  }
}

/**
 * SecretString or SecretBinary, 1-65,536 bytes. Both at once is refused; neither is refused when
 * `required` (PutSecretValue), allowed otherwise (CreateSecret without a value).
 */
function readValue(body: JsonObject, required: boolean): SecretValue | undefined {
  const text = optionalString(body, 'SecretString');
  const bytes = optionalBlob(body, 'SecretBinary');
  if (text !== undefined && bytes !== undefined) throw emulatedError.valueRequired();
  if (text !== undefined) {
    checkLength('SecretString', Buffer.byteLength(text, 'utf8'), LIMIT.secretValueBytes);
    return { kind: 'string', text };
  }
  if (bytes !== undefined) {
    checkLength('SecretBinary', bytes.length, LIMIT.secretValueBytes);
    return { kind: 'binary', bytes };
  }
  if (required) throw emulatedError.valueRequired();
  return undefined;
}

/**
 * ClientRequestToken, 32-64 characters. AWS refuses a raw request without one when a version is
 * created (SDKs always fill it in), so a missing token is an error rather than a server-made UUID
 * (moto's behaviour).
 */
function readToken(body: JsonObject, required: boolean): string | undefined {
  const token = optionalString(body, 'ClientRequestToken', LIMIT.token);
  if (token === undefined && required) throw emulatedError.tokenRequired();
  return token;
}

/**
 * `arn:<partition>:secretsmanager:<region>:<account>:secret:<name>[-XXXXXX]` -> the name, and the ARN
 * to store: the given one when it carries the suffix, else undefined (a fresh suffix is drawn).
 */
function parseArn(value: string): { name: string; arn: string | undefined } | undefined {
  const match = /^arn:[^:]+:secretsmanager:[^:]*:[^:]*:secret:(.+)$/.exec(value);
  const resource = match?.[1];
  if (resource === undefined) return undefined;
  const suffixed = /^(.+)-[A-Za-z0-9]{6}$/.exec(resource);
  return suffixed?.[1] ? { name: suffixed[1], arn: value } : { name: resource, arn: undefined };
}

function encodeNextToken(offset: number): string {
  return Buffer.from(`offset:${offset}`, 'utf8').toString('base64');
}

function decodeNextToken(token: string | undefined): number {
  if (token === undefined) return 0;
  const match = /^offset:(\d+)$/.exec(Buffer.from(token, 'base64').toString('utf8'));
  if (!match?.[1]) throw emulatedError.invalidNextToken();
  return Number(match[1]);
}

