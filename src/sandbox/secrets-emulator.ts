/**
 * An in-process AWS Secrets Manager emulator for tests, benchmarks, the demo and `sandbox`.
 *
 * It speaks the real wire protocol (spec/secrets-manager.md section 2.1: `POST /`,
 * `X-Amz-Target: secretsmanager.<Operation>`, `application/x-amz-json-1.1`, errors as non-2xx with
 * `{"__type", "Message"}` and `X-Amzn-ErrorType`), so the real `@aws-sdk/client-secrets-manager`
 * client talks to it over HTTP when pointed at it with `AWS_ENDPOINT_URL_SECRETS_MANAGER=<url>`: our
 * client code, the SDK's retries and our error mapping all run for real (docs/design.md section 1).
 *
 * Beyond the wire it offers fault injection and instrumentation that reads the state directly, for
 * test assertions and the chaos invariant checker.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { EmulatedServiceError, emulatedError } from './secrets-emulator-errors.ts';
import { FaultPlan, WriteRateLimiter, type Fault, type FaultRule, type RandomFaults } from './secrets-emulator-faults.ts';
import { parseBody, type JsonObject } from './secrets-emulator-input.ts';
import { LABEL, holderOf, labelledVersions, type StoredSecret } from './secrets-emulator-model.ts';
import {
  SECRETS_OPERATION,
  SecretsState,
  WRITE_QUOTA_OPERATIONS,
  type SecretsOperation,
  type StateChange,
} from './secrets-emulator-state.ts';

export type { Fault, FaultRule, RandomFaults } from './secrets-emulator-faults.ts';
export { SECRETS_OPERATION, type SecretsOperation } from './secrets-emulator-state.ts';

export interface SecretsManagerEmulatorOptions {
  /** @defaultValue '127.0.0.1' */
  host?: string;
  /** TCP port; 0 picks a free one. @defaultValue 0 */
  port?: number;
  /** Latency added to every request, in ms. @defaultValue 0 */
  latencyMs?: number;
  /**
   * Admitted PutSecretValue + UpdateSecretVersionStage calls per rolling second, across all secrets
   * (AWS: 50/s shared); beyond it the answer is ThrottlingException. @defaultValue no limit
   */
  writeLimitPerSecond?: number;
  /** Clock in epoch ms, for timestamps and the write limit. @defaultValue Date.now */
  now?: () => number;
  /** Uniform [0, 1) source for random faults, jitter and ARN suffixes. @defaultValue Math.random */
  random?: () => number;
  /** Region written into ARNs. @defaultValue 'us-east-1' */
  region?: string;
  /**
   * Versions one secret may hold after pruning (unlabelled versions are pruned only beyond 100 and
   * only when older than 24 h); PutSecretValue past it answers LimitExceededException.
   * @defaultValue DEFAULT_VERSION_QUOTA (150)
   */
  versionQuota?: number;
}

/** What seedSecret() created. */
export interface SeededSecret {
  name: string;
  arn: string;
  versionId: string;
}

/** The values under the three rotation labels at one instant (absent = no version carries it). */
export type LabelledValues = Partial<Record<(typeof LABEL)[keyof typeof LABEL], string>>;

/** One state change, reported synchronously after it is applied. */
export type WriteEvent = StateChange;

const ACCOUNT_ID = '000000000000';
const JSON_CONTENT_TYPE = 'application/x-amz-json-1.1';
const TARGET_PREFIX = 'secretsmanager.';
/** A 64 KiB value JSON-escaped at worst (\u00XX) plus the other members. */
const MAX_BODY_BYTES = 1_048_576;
const OPERATIONS: ReadonlySet<string> = new Set(Object.values(SECRETS_OPERATION));

export class SecretsManagerEmulator {
  /** Base URL to put in AWS_ENDPOINT_URL_SECRETS_MANAGER, e.g. http://127.0.0.1:41234 */
  readonly url: string;
  readonly region: string;

  private readonly server: Server;
  private readonly state: SecretsState;
  private readonly faults: FaultPlan;
  private readonly writeLimiter: WriteRateLimiter;
  private readonly listeners = new Set<(event: WriteEvent) => void>();
  private readonly listenerFailures: unknown[] = [];
  private readonly unexpected: unknown[] = [];
  private readonly calls = new Map<string, number>();
  private readonly sleeping = new Set<NodeJS.Timeout>();
  private latencyMs: number;
  private throttled = 0;

  /** Starts an emulator listening on `host:port` (a free port by default). */
  static async start(options: SecretsManagerEmulatorOptions = {}): Promise<SecretsManagerEmulator> {
    const server = createServer();
    const host = options.host ?? '127.0.0.1';
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port ?? 0, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const { port } = server.address() as AddressInfo;
    const urlHost = host.includes(':') ? `[${host}]` : host;
    return new SecretsManagerEmulator(server, `http://${urlHost}:${port}`, options);
  }

  private constructor(server: Server, url: string, options: SecretsManagerEmulatorOptions) {
    const now = options.now ?? Date.now;
    const random = options.random ?? Math.random;
    this.server = server;
    this.url = url;
    this.region = options.region ?? 'us-east-1';
    this.latencyMs = 0;
    this.setLatency(options.latencyMs ?? 0);
    this.faults = new FaultPlan(random);
    this.writeLimiter = new WriteRateLimiter(options.writeLimitPerSecond, now);
    this.state = new SecretsState({
      now,
      random,
      region: this.region,
      accountId: ACCOUNT_ID,
      ...(options.versionQuota === undefined ? {} : { versionQuota: options.versionQuota }),
      onChange: (change) => this.emitWrite(change),
    });
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      void this.handle(req, res);
    });
  }

  /** Stops listening and destroys every open connection (SDK clients keep sockets alive). */
  async close(): Promise<void> {
    for (const timer of this.sleeping) clearTimeout(timer);
    this.sleeping.clear();
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  // ---- faults -------------------------------------------------------------------------------

  /** Queues a fault for the next `times` matching requests (first injected, first used). */
  injectFault(rule: FaultRule): void {
    this.faults.inject(rule);
  }

  /** Drops every injected fault that has not fired yet. */
  clearFaults(): void {
    this.faults.clear();
  }

  /** Random faults for chaos runs, drawn from the `random` option; undefined turns them off. */
  setRandomFaults(faults: RandomFaults | undefined): void {
    this.faults.setRandom(faults);
  }

  /** Fixed latency added to every request from now on, in ms. */
  setLatency(ms: number): void {
    if (!(ms >= 0)) throw new RangeError('latency must be >= 0 ms');
    this.latencyMs = ms;
  }

  /** Changes the shared write quota (undefined = none) and forgets the writes counted so far. */
  setWriteLimit(perSecond: number | undefined): void {
    this.writeLimiter.setLimit(perSecond);
  }

  // ---- state, bypassing HTTP -----------------------------------------------------------------

  /**
   * Creates a secret whose only version holds `value` under AWSCURRENT. `nameOrArn` may be a full
   * ARN (`...:secret:<name>-AbCdEf`), which the secret then has exactly, so a config naming secrets by
   * ARN works unchanged.
   */
  seedSecret(nameOrArn: string, value: string): SeededSecret {
    const secret = this.state.seed(nameOrArn, value);
    const current = holderOf(secret, LABEL.current);
    if (!current) throw new Error(`seeded secret ${nameOrArn} has no AWSCURRENT version`);
    return { name: secret.name, arn: secret.arn, versionId: current.versionId };
  }

  /**
   * Adds a version holding `value` to an existing secret, bypassing HTTP, as PutSecretValue does:
   * without `stages` it becomes AWSCURRENT (the old AWSCURRENT turns AWSPREVIOUS); with them it
   * takes exactly those labels. Returns the new VersionId.
   */
  seedVersion(secretId: string, value: string, stages?: string[]): string {
    const versionId = randomUUID();
    this.state.execute(SECRETS_OPERATION.putSecretValue, {
      SecretId: secretId,
      SecretString: value,
      ClientRequestToken: versionId,
      ...(stages ? { VersionStages: stages } : {}),
    });
    return versionId;
  }

  /** VersionId -> staging labels, for the versions that carry a label (as DescribeSecret lists them). */
  labelsOf(secretId: string): Record<string, string[]> {
    return labelledVersions(this.require(secretId));
  }

  /** How many versions the secret holds, labelled or not (what the version quota counts). */
  versionCount(secretId: string): number {
    return this.require(secretId).versions.size;
  }

  /** The SecretString under `stage`, or undefined when no version carries it (or it is binary). */
  valueUnder(secretId: string, stage: string): string | undefined {
    const version = holderOf(this.require(secretId), stage);
    return version?.value.kind === 'string' ? version.value.text : undefined;
  }

  /** The values under AWSCURRENT, AWSPENDING and AWSPREVIOUS at this instant. */
  valuesUnderLabels(secretId: string): LabelledValues {
    const secret = this.require(secretId);
    const values: LabelledValues = {};
    for (const stage of Object.values(LABEL)) {
      const version = holderOf(secret, stage);
      if (version?.value.kind === 'string') values[stage] = version.value.text;
    }
    return values;
  }

  /**
   * Calls `listener` synchronously after each state change, before the reply is sent, so an
   * invariant checker sees every intermediate state. A listener that throws does not break the
   * request; its error is kept for listenerErrors(). Returns the unsubscribe function.
   */
  onWrite(listener: (event: WriteEvent) => void): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  /** Errors thrown by onWrite listeners, oldest first. */
  listenerErrors(): unknown[] {
    return [...this.listenerFailures];
  }

  /**
   * Errors the emulator did not mean to throw (its own bugs), answered as InternalServiceError. The
   * SDK retries those, so a test that wants to be sure should assert this stays empty.
   */
  internalErrors(): unknown[] {
    return [...this.unexpected];
  }

  /** Requests received for `op` (every operation when absent), faulted ones included. */
  callCount(op?: string): number {
    if (op !== undefined) return this.calls.get(op) ?? 0;
    let total = 0;
    for (const count of this.calls.values()) total += count;
    return total;
  }

  /** ThrottlingException replies so far: injected, random and from the write limit. */
  throttledCount(): number {
    return this.throttled;
  }

  /** Every SecretString ever stored, seeds included: for scans that no value leaked elsewhere. */
  valuesSeen(): string[] {
    return this.state.valuesSeen();
  }

  // ---- the wire -----------------------------------------------------------------------------

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const requestId = randomUUID();
    try {
      const raw = await readBody(req);
      if (req.method !== 'POST') throw emulatedError.unknownOperation();
      const op = parseTarget(req.headers['x-amz-target']);
      if (op === undefined) throw emulatedError.unknownOperation();
      this.calls.set(op, (this.calls.get(op) ?? 0) + 1);
      const body = parseBody(raw);
      const fault = this.faults.next(op, (secretId) => this.namesSecret(body, secretId));

      const delayMs = this.latencyMs + this.faults.jitterMs() + (fault?.kind === 'latency' ? fault.ms : 0);
      if (delayMs > 0) await this.sleep(delayMs);
      this.failBefore(fault);
      if (WRITE_QUOTA_OPERATIONS.has(op) && !this.writeLimiter.tryAdmit()) {
        this.throttled += 1;
        throw emulatedError.throttled();
      }
      // Synchronous from here to the reply: one operation's read and write never interleave with another's.
      const output = this.state.execute(op, body);
      if (fault?.kind === 'applied-then-500') throw emulatedError.internal();
      send(res, 200, requestId, output);
    } catch (error) {
      if (!(error instanceof EmulatedServiceError)) this.unexpected.push(error);
      const reply = error instanceof EmulatedServiceError ? error : emulatedError.internal();
      send(res, reply.status, requestId, { __type: reply.type, Message: reply.message }, reply.type);
    }
  }

  /** Faults that answer before the operation runs. */
  private failBefore(fault: Fault | undefined): void {
    if (fault?.kind === 'throttle') {
      this.throttled += 1;
      throw emulatedError.throttled();
    }
    if (fault?.kind === 'status') throw fault.status === 503 ? emulatedError.unavailable() : emulatedError.internal();
  }

  /** Whether the request (SecretId, or Name for CreateSecret) is about the same secret as `secretId`. */
  private namesSecret(body: JsonObject, secretId: string): boolean {
    const named = typeof body.SecretId === 'string' ? body.SecretId : typeof body.Name === 'string' ? body.Name : undefined;
    if (named === undefined) return false;
    if (named === secretId) return true;
    const a = this.state.find(named)?.name ?? nameFromArn(named);
    const b = this.state.find(secretId)?.name ?? nameFromArn(secretId);
    return a === b;
  }

  private emitWrite(change: StateChange): void {
    for (const listener of this.listeners) {
      try {
        listener(change);
      } catch (error) {
        this.listenerFailures.push(error);
      }
    }
  }

  private require(secretId: string): StoredSecret {
    const secret = this.state.find(secretId);
    if (!secret) throw new Error(`the emulator has no secret ${secretId}`);
    return secret;
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.sleeping.delete(timer);
        resolve();
      }, ms);
      this.sleeping.add(timer);
    });
  }
}

/** Starts an emulator; the same as SecretsManagerEmulator.start(). */
export function startSecretsEmulator(options: SecretsManagerEmulatorOptions = {}): Promise<SecretsManagerEmulator> {
  return SecretsManagerEmulator.start(options);
}

function parseTarget(header: string | string[] | undefined): SecretsOperation | undefined {
  if (typeof header !== 'string' || !header.startsWith(TARGET_PREFIX)) return undefined;
  const op = header.slice(TARGET_PREFIX.length);
  return OPERATIONS.has(op) ? (op as SecretsOperation) : undefined;
}

function nameFromArn(secretId: string): string {
  const marker = ':secret:';
  const at = secretId.indexOf(marker);
  return secretId.startsWith('arn:') && at >= 0 ? secretId.slice(at + marker.length) : secretId;
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buffer = Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk));
    size += buffer.length;
    if (size > MAX_BODY_BYTES) throw emulatedError.serialization('The request body is too large.');
    chunks.push(buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function send(res: ServerResponse, status: number, requestId: string, body: JsonObject, errorType?: string): void {
  if (res.destroyed || res.writableEnded) return;
  const text = JSON.stringify(body);
  const headers: Record<string, string | number> = {
    'Content-Type': JSON_CONTENT_TYPE,
    'Content-Length': Buffer.byteLength(text),
    'x-amzn-RequestId': requestId,
  };
  if (errorType !== undefined) headers['X-Amzn-ErrorType'] = errorType;
  res.writeHead(status, headers);
  res.end(text);
}
