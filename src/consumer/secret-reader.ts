/**
 * Reads a Milvus credential from Secrets Manager by staging label, with a short cache.
 *
 * The cache exists for one case: several failures close together (one consumer's concurrent calls,
 * or several consumers sharing a reader) must not each pay a GetSecretValue. It never hands back
 * the version that just failed, nor one older than it: `read(stage, { unlike, after })` serves the
 * cached value only when it is younger than `cacheMs`, names another version than `unlike`, and was
 * read after read number `after` (the read that produced the failing version), and reads again
 * otherwise. Without the last rule a cached AWSCURRENT from the previous rotation would send a
 * consumer back to a password that rotation already killed.
 *
 * Cost: one GetSecretValue per read ($0.05 per 10,000 calls). The helper reads at open and then
 * only after an authentication failure, so a consumer pays one or two reads per rotation that
 * kills its password, and none for a rotation that does not (alternating users within grace).
 */
import { GetSecretValueCommand, SecretsManagerClient, type SecretsManagerClientConfig } from '@aws-sdk/client-secrets-manager';
import { ConsumerSecretInvalidError, ConsumerSecretNotFoundError, ConsumerSecretReadError } from './errors.ts';

export const CONSUMER_STAGE = { current: 'AWSCURRENT', pending: 'AWSPENDING' } as const;
export type ConsumerStage = (typeof CONSUMER_STAGE)[keyof typeof CONSUMER_STAGE];

/** One version of the secret as a consumer uses it. The password lives only here, in memory. */
export interface ConsumerCredential {
  secretId: string;
  versionId: string;
  /** The label it was read under (a version may carry both; this is the one asked for). */
  stage: ConsumerStage;
  username: string;
  password: string;
}

/** Exclusive: a client the caller owns (and closes), or the config of one the reader creates and closes. */
export type SecretsManagerSource =
  | { secretsManager: SecretsManagerClient; secretsManagerConfig?: never }
  | { secretsManager?: never; secretsManagerConfig?: SecretsManagerClientConfig };

export type SecretReaderOptions = SecretsManagerSource & {
  secretId: string;
  /** How long a read may be reused for another version's failure, in ms. 0 = never reuse. @defaultValue 5000 */
  cacheMs?: number;
  /** Clock in ms. @defaultValue Date.now */
  now?: () => number;
  /** Called after every GetSecretValue (for metrics and benchmarks); it must not throw. */
  onRead?: (stage: ConsumerStage, found: boolean) => void;
};

export const SECRET_READER_DEFAULTS = { cacheMs: 5_000 } as const satisfies Partial<SecretReaderOptions>;

interface CacheEntry {
  at: number;
  seq: number;
  credential: ConsumerCredential | null;
}

export class SecretReader {
  readonly secretId: string;
  readonly #client: SecretsManagerClient;
  readonly #ownsClient: boolean;
  readonly #cacheMs: number;
  readonly #now: () => number;
  readonly #onRead: SecretReaderOptions['onRead'];
  readonly #cache = new Map<ConsumerStage, CacheEntry>();
  #seq = 0;

  constructor(options: SecretReaderOptions) {
    if (!options.secretId) throw new RangeError('secretId must be a non-empty string');
    const cacheMs = options.cacheMs ?? SECRET_READER_DEFAULTS.cacheMs;
    if (!Number.isFinite(cacheMs) || cacheMs < 0) throw new RangeError('cacheMs must be a number >= 0');
    this.secretId = options.secretId;
    this.#cacheMs = cacheMs;
    this.#now = options.now ?? Date.now;
    this.#onRead = options.onRead;
    this.#ownsClient = options.secretsManager === undefined;
    this.#client = options.secretsManager ?? new SecretsManagerClient(options.secretsManagerConfig ?? {});
  }

  /**
   * The credential under `stage`, or null when no version carries it (AWSPENDING outside a
   * rotation). A missing secret under AWSCURRENT is ConsumerSecretNotFoundError.
   *
   * @param unlike a version id the caller knows to be rejected: a cached read naming it is not reused.
   * @param after the `seq` of the read that produced that version: only later cached reads are reused.
   */
  async read(stage: ConsumerStage, options: { unlike?: string; after?: number } = {}): Promise<{ credential: ConsumerCredential | null; seq: number }> {
    const cached = this.#cache.get(stage);
    if (
      cached &&
      this.#now() - cached.at < this.#cacheMs &&
      cached.seq > (options.after ?? -1) &&
      (cached.credential === null || cached.credential.versionId !== options.unlike)
    ) {
      return { credential: cached.credential, seq: cached.seq };
    }
    const credential = await this.#get(stage);
    const seq = ++this.#seq;
    this.#cache.set(stage, { at: this.#now(), seq, credential });
    return { credential, seq };
  }

  /** Releases the Secrets Manager client if the reader created it. */
  close(): void {
    if (this.#ownsClient) this.#client.destroy();
  }

  async #get(stage: ConsumerStage): Promise<ConsumerCredential | null> {
    let secretString: string | undefined;
    let versionId: string | undefined;
    try {
      const output = await this.#client.send(new GetSecretValueCommand({ SecretId: this.secretId, VersionStage: stage }));
      secretString = output.SecretString;
      versionId = output.VersionId;
      this.#onRead?.(stage, true);
    } catch (error) {
      const name = error instanceof Error ? error.name : undefined;
      if (name === 'ResourceNotFoundException') {
        this.#onRead?.(stage, false);
        // No version carries the label: normal for AWSPENDING, a wrong secret id for AWSCURRENT.
        if (stage === CONSUMER_STAGE.pending) return null;
        throw new ConsumerSecretNotFoundError(this.secretId, { cause: error });
      }
      this.#onRead?.(stage, false);
      throw new ConsumerSecretReadError(this.secretId, stage, name, { cause: error });
    }
    return parseCredential(this.secretId, versionId ?? 'unknown', stage, secretString);
  }
}

/** The rotator's secret shape (a JSON object with at least `username` and `password`). */
function parseCredential(secretId: string, versionId: string, stage: ConsumerStage, secretString: string | undefined): ConsumerCredential {
  if (secretString === undefined) throw new ConsumerSecretInvalidError(secretId, versionId, 'it holds SecretBinary, not SecretString');
  let value: unknown;
  try {
    value = JSON.parse(secretString);
  } catch {
    // The parser's message quotes the text around the error: never pass it on.
    throw new ConsumerSecretInvalidError(secretId, versionId, 'its SecretString is not JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new ConsumerSecretInvalidError(secretId, versionId, 'its SecretString is not a JSON object');
  const { username, password } = value as Record<string, unknown>;
  if (typeof username !== 'string' || username === '') throw new ConsumerSecretInvalidError(secretId, versionId, '"username" is missing or not a non-empty string');
  if (typeof password !== 'string' || password === '') throw new ConsumerSecretInvalidError(secretId, versionId, '"password" is missing or not a non-empty string');
  return { secretId, versionId, stage, username, password };
}
