/**
 * The heart of the consumer helper: one SDK client built from the credential in Secrets Manager,
 * swapped for a new one when Milvus rejects it, with the failed call retried once.
 *
 * On an authentication failure of a call made with version V:
 *  1. Another call already swapped away from V: retry on the current client (no read).
 *  2. A renewal is under way: wait for it, then retry (concurrent failures share one renewal).
 *  3. Otherwise renew: read AWSCURRENT; if it names another version than V, build a client with it.
 *     Else read AWSPENDING (a rotation between setting the clusters and promoting: the clusters
 *     already hold the pending password); if it names another version, build a client with it.
 *  4. Nothing newer: ConsumerAuthenticationError. For `cacheMs` after such a fruitless renewal,
 *     further failures of V throw at once without reading (a wrong password costs at most two
 *     reads per `cacheMs`, never a loop).
 * The new client replaces the old one for every later call; the old one is closed once its last
 * in-flight call has settled. The failed call is retried exactly once, on the new client; a second
 * rejection is returned to the caller as ConsumerAuthenticationError.
 *
 * Nothing here logs or throws a password: events and log lines carry the secret id, version id,
 * label and username-free facts only.
 */
import { ConsumerAuthenticationError, ConsumerClosedError } from './errors.ts';
import { VersionHeartbeatWriter, type HeartbeatOptions } from './heartbeat.ts';
import { CONSUMER_STAGE, SecretReader, type ConsumerCredential, type ConsumerStage, type SecretReaderOptions } from './secret-reader.ts';

/** Which version a consumer uses now (what a heartbeat or a gauge reports). */
export interface ConsumerVersion {
  secretId: string;
  versionId: string;
  stage: ConsumerStage;
  username: string;
}

export type ConsumerEvent =
  | { kind: 'opened'; version: ConsumerVersion }
  | { kind: 'auth_failure'; versionId: string }
  | { kind: 'swapped'; from: string; version: ConsumerVersion }
  | { kind: 'retry'; versionId: string; ok: boolean }
  | { kind: 'renewal_failed'; versionId: string; reason: string }
  | { kind: 'heartbeat_failed'; error: string };

/** A pino-compatible logger (child loggers work); only `info` and `warn` are used. */
export interface ConsumerLogger {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
}

/** What the rotating client counts (benchmarks count the helper's own retries apart from failures). */
export interface ConsumerStats {
  /** GetSecretValue calls. */
  reads: number;
  /** Clients replaced after an authentication failure. */
  swaps: number;
  /** Calls retried after an authentication failure. */
  retries: number;
  /** Retries that failed again. */
  retriesFailed: number;
}

/** How one SDK flavour is built, recognised as rejected and closed. */
export interface ClientAdapter<C> {
  /**
   * Builds a client for a credential. May verify it (the gRPC client's Connect is authenticated);
   * a rejection must then throw an error that `isAuthFailure` recognises.
   */
  build(credential: ConsumerCredential): Promise<C>;
  close(client: C): Promise<void>;
  /** Whether a thrown error means Milvus rejected the credential. */
  isAuthFailure(error: unknown): boolean;
  /** Whether a resolved result means Milvus rejected the credential (REST code 1800 on HTTP 200). */
  isAuthFailureResult?(result: unknown): boolean;
}

export type RotatingClientOptions = SecretReaderOptions & {
  /** Structured events (for metrics, heartbeats, tests); must not throw. */
  onEvent?: (event: ConsumerEvent) => void;
  logger?: ConsumerLogger;
  /** Report the version in use to the rotator's Redis (see heartbeat-layout.ts). Off by default. */
  heartbeat?: HeartbeatOptions;
};

interface Handle<C> {
  client: C;
  credential: ConsumerCredential;
  /** The reader's number for the read that produced `credential`. */
  seq: number;
  inFlight: number;
  retired: boolean;
  closed?: Promise<void>;
}

export class RotatingClient<C> {
  readonly stats: ConsumerStats = { reads: 0, swaps: 0, retries: 0, retriesFailed: 0 };
  readonly #adapter: ClientAdapter<C>;
  readonly #reader: SecretReader;
  readonly #onEvent: RotatingClientOptions['onEvent'];
  readonly #logger: ConsumerLogger | undefined;
  readonly #now: () => number;
  readonly #cacheMs: number;
  readonly #secretId: string;
  readonly #heartbeat: VersionHeartbeatWriter | undefined;
  #handle: Handle<C> | undefined;
  #opening: Promise<Handle<C>> | undefined;
  #renewing: Promise<Handle<C>> | undefined;
  /** The version whose renewal found nothing newer, and when. */
  #fruitless: { versionId: string; at: number; reason: string } | undefined;
  readonly #retiring = new Set<Promise<void>>();
  /** The last open failure, rethrown for `cacheMs` so a wrong secret id costs one read per `cacheMs`, not one per call. */
  #openFailure: { error: unknown; at: number } | undefined;
  #closed = false;

  constructor(adapter: ClientAdapter<C>, options: RotatingClientOptions) {
    this.#adapter = adapter;
    this.#secretId = options.secretId;
    this.#now = options.now ?? Date.now;
    this.#cacheMs = options.cacheMs ?? 5_000;
    this.#onEvent = options.onEvent;
    this.#logger = options.logger;
    this.#heartbeat = options.heartbeat
      ? new VersionHeartbeatWriter(options.secretId, options.heartbeat, this.#now, (error) =>
          this.#emit({ kind: 'heartbeat_failed', error: error instanceof Error ? error.name : 'error' }),
        )
      : undefined;
    const onRead = options.onRead;
    this.#reader = new SecretReader({
      ...options,
      onRead: (stage, found) => {
        this.stats.reads++;
        onRead?.(stage, found);
      },
    });
  }

  /** The version in use, or undefined before the first call or open(). */
  get version(): ConsumerVersion | undefined {
    return this.#handle ? versionOf(this.#handle.credential) : undefined;
  }

  /**
   * Reads AWSCURRENT and builds the first client. Called by the first `call()` if not before;
   * calling it first makes a wrong secret id fail at startup.
   */
  async open(): Promise<ConsumerVersion> {
    const handle = await this.#current();
    return versionOf(handle.credential);
  }

  /**
   * Runs `work` with the current client. On an authentication failure the client is renewed from
   * Secrets Manager and `work` runs once more; any other error is passed through unchanged.
   * Do not keep the client beyond `work`: it may be closed after a rotation.
   */
  async call<T>(work: (client: C) => Promise<T>): Promise<T> {
    const first = await this.#current();
    const outcome = await this.#run(first, work);
    if (!outcome.rejected) return outcome.value;
    this.#emit({ kind: 'auth_failure', versionId: first.credential.versionId });
    const next = await this.#renew(first, outcome.error);
    this.stats.retries++;
    const retried = await this.#run(next, work);
    this.#emit({ kind: 'retry', versionId: next.credential.versionId, ok: !retried.rejected });
    if (!retried.rejected) return retried.value;
    this.stats.retriesFailed++;
    if (retried.error === undefined) return retried.value; // a rejection as a result: the SDK's own contract
    throw new ConsumerAuthenticationError(this.#secretId, next.credential.versionId, 'the retry on the renewed client was rejected too', { cause: retried.error });
  }

  /** Closes the current client and every retired one (after their in-flight calls) and the reader's own AWS client. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const handle = this.#handle ?? (await this.#opening?.catch(() => undefined));
    if (handle) this.#retire(handle);
    await Promise.all([...this.#retiring, this.#heartbeat?.stop()]);
    this.#reader.close();
  }

  async #current(): Promise<Handle<C>> {
    if (this.#closed) throw new ConsumerClosedError(this.#secretId);
    if (this.#handle) return this.#handle;
    const failure = this.#openFailure;
    if (failure && this.#now() - failure.at < this.#cacheMs) throw failure.error;
    this.#opening ??= this.#open()
      .catch((error: unknown) => {
        this.#openFailure = { error, at: this.#now() };
        throw error;
      })
      .finally(() => {
        this.#opening = undefined;
      });
    return this.#opening;
  }

  /**
   * The first client, from AWSCURRENT. A client rejected at connect (a rotation moved the clusters
   * between the read and the connect) gets one renewal, as a failed call would.
   */
  async #open(): Promise<Handle<C>> {
    const read = await this.#reader.read(CONSUMER_STAGE.current);
    // AWSCURRENT always exists once the secret does (a missing secret threw in read()).
    const credential = read.credential as ConsumerCredential;
    let handle: Handle<C>;
    try {
      handle = await this.#build(credential, read.seq);
    } catch (error) {
      if (!(error instanceof ConsumerAuthenticationError)) throw error;
      handle = await this.#replace(credential.versionId, read.seq, error);
    }
    if (this.#closed) {
      await this.#adapter.close(handle.client);
      throw new ConsumerClosedError(this.#secretId);
    }
    this.#handle = handle;
    void this.#heartbeat?.report(handle.credential.versionId, handle.credential.stage);
    this.#emit({ kind: 'opened', version: versionOf(handle.credential) });
    this.#logger?.info({ secretId: this.#secretId, versionId: handle.credential.versionId, stage: handle.credential.stage }, 'milvus consumer opened');
    return handle;
  }

  async #run<T>(handle: Handle<C>, work: (client: C) => Promise<T>): Promise<{ rejected: false; value: T } | { rejected: true; error?: unknown; value: T }> {
    handle.inFlight++;
    try {
      const value = await work(handle.client);
      if (this.#adapter.isAuthFailureResult?.(value)) return { rejected: true, value };
      return { rejected: false, value };
    } catch (error) {
      if (this.#adapter.isAuthFailure(error)) return { rejected: true, error, value: undefined as T };
      throw error;
    } finally {
      handle.inFlight--;
      if (handle.retired && handle.inFlight === 0) this.#closeRetired(handle);
    }
  }

  /** Steps 1-4 of the header. */
  async #renew(failed: Handle<C>, cause: unknown): Promise<Handle<C>> {
    // 1. Someone swapped already.
    if (this.#handle && this.#handle !== failed) return this.#handle;
    // 2. A renewal is under way.
    if (this.#renewing) return this.#renewing;
    const versionId = failed.credential.versionId;
    // 4. A recent renewal found nothing newer for this version: do not read again yet.
    const fruitless = this.#fruitless;
    if (fruitless && fruitless.versionId === versionId && this.#now() - fruitless.at < this.#cacheMs) {
      throw new ConsumerAuthenticationError(this.#secretId, versionId, fruitless.reason, { cause });
    }
    this.#renewing = (async () => {
      const next = await this.#replace(versionId, failed.seq, cause);
      if (this.#closed) {
        await this.#adapter.close(next.client);
        throw new ConsumerClosedError(this.#secretId);
      }
      const previous = this.#handle;
      this.#handle = next;
      this.stats.swaps++;
      if (previous) this.#retire(previous);
      void this.#heartbeat?.report(next.credential.versionId, next.credential.stage);
      this.#emit({ kind: 'swapped', from: versionId, version: versionOf(next.credential) });
      this.#logger?.info({ secretId: this.#secretId, from: versionId, versionId: next.credential.versionId, stage: next.credential.stage }, 'milvus consumer: swapped to a new credential version');
      return next;
    })().finally(() => {
      this.#renewing = undefined;
    });
    return this.#renewing;
  }

  /**
   * Step 3: a client for the version that replaces the rejected `versionId` (read number `seq`):
   * AWSCURRENT if it names another version, else AWSPENDING if it does; else step 4.
   */
  async #replace(versionId: string, seq: number, cause: unknown): Promise<Handle<C>> {
    const since = { unlike: versionId, after: seq };
    let read = await this.#reader.read(CONSUMER_STAGE.current, since);
    if (!read.credential || read.credential.versionId === versionId) read = await this.#reader.read(CONSUMER_STAGE.pending, since);
    const candidate = read.credential;
    if (!candidate || candidate.versionId === versionId) {
      this.#giveUp(versionId, 'Secrets Manager holds no other version under AWSCURRENT or AWSPENDING (the secret was changed outside the rotator, or the password was changed on the cluster only)');
      throw new ConsumerAuthenticationError(this.#secretId, versionId, this.#fruitless?.reason ?? '', { cause });
    }
    try {
      const next = await this.#build(candidate, read.seq);
      this.#fruitless = undefined;
      return next;
    } catch (error) {
      if (error instanceof ConsumerAuthenticationError) this.#giveUp(versionId, `version ${candidate.versionId} (${candidate.stage}) was rejected at connect too`);
      throw error;
    }
  }

  #giveUp(versionId: string, reason: string): void {
    this.#fruitless = { versionId, at: this.#now(), reason };
    this.#emit({ kind: 'renewal_failed', versionId, reason });
    this.#logger?.warn({ secretId: this.#secretId, versionId, reason }, 'milvus consumer: credential rejected and no newer version accepted');
  }

  async #build(credential: ConsumerCredential, seq: number): Promise<Handle<C>> {
    try {
      return { client: await this.#adapter.build(credential), credential, seq, inFlight: 0, retired: false };
    } catch (error) {
      if (this.#adapter.isAuthFailure(error)) {
        throw new ConsumerAuthenticationError(this.#secretId, credential.versionId, `rejected at connect (${credential.stage})`, { cause: error });
      }
      throw error;
    }
  }

  #retire(handle: Handle<C>): void {
    handle.retired = true;
    if (handle.inFlight === 0) this.#closeRetired(handle);
  }

  #closeRetired(handle: Handle<C>): void {
    if (handle.closed) return;
    const closed = this.#adapter.close(handle.client).catch(() => undefined);
    handle.closed = closed;
    this.#retiring.add(closed);
    void closed.then(() => this.#retiring.delete(closed));
  }

  #emit(event: ConsumerEvent): void {
    try {
      this.#onEvent?.(event);
    } catch {
      // A faulty listener must not break the application's call.
    }
  }
}

function versionOf(credential: ConsumerCredential): ConsumerVersion {
  return { secretId: credential.secretId, versionId: credential.versionId, stage: credential.stage, username: credential.username };
}
