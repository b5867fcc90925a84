/**
 * The core of bench/consumer-impact: what rotations cost the applications holding the password.
 *
 * K simulated consumers per policy send authenticated requests (the official SDK's HttpClient,
 * `collections/list`) at R per second each to the sandbox's clusters for the whole run, while the
 * real rotation engine rotates the credential at a fixed cadence. Every policy runs at the same time
 * against the same rotations. Each consumer's raw HTTP answers are observed through the SDK's
 * `fetch` option, so the time a consumer had no working password is measured the same way for
 * every policy (first 401 until the next 200), the helper's hidden retries included.
 *
 * Policies (how a consumer holds its credential):
 * - `read-once`: reads AWSCURRENT at start, never again (a Deployment that reads at boot).
 * - `ttl`: re-reads AWSCURRENT every `ttlMs` (caching clients, ESO refreshInterval, CSI poll, ...).
 * - `re-read-on-auth-failure`: on a 401, re-reads AWSCURRENT and retries once if it changed; the
 *   usual hand-written recipe, without the AWSPENDING step.
 * - `helper`: milvus-rotator/consumer (AWSCURRENT, then AWSPENDING, retry once).
 *
 * Strategies: `single` (one user, its password changed in place). `alternating` needs the
 * alternating-users strategy in the engine; until it exists its rows are reported as pending.
 */
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { HttpClient } from '@zilliz/milvus2-sdk-node';
import { createHttpClientConsumer, type RotatingClient } from '../src/consumer/index.ts';
import { createEngineRuntime } from '../src/rotation/create-engine.ts';
import { startSandbox } from '../src/sandbox/sandbox.ts';
import { makeAlternatingConfig } from '../test/helpers/alternating-fixture.ts';
import { makeConfig } from '../test/helpers/config.ts';

export const POLICIES = ['read-once', 'ttl', 're-read-on-auth-failure', 'helper'] as const;
export type Policy = (typeof POLICIES)[number];
export const STRATEGIES = ['single', 'alternating'] as const;
export type Strategy = (typeof STRATEGIES)[number];

export interface ConsumerImpactOptions {
  /** Consumers in all, spread round-robin over the policies. */
  consumers: number;
  /** Requests per second of each consumer. */
  ratePerSecond: number;
  rotations: number;
  /** One rotation starts every this many ms (the compressed schedule). */
  rotationIntervalMs: number;
  /** The `ttl` policy's re-read period. */
  ttlMs: number;
  /** The helper's cache (compressed). */
  helperCacheMs: number;
  /** Alternating only: the retired user's guaranteed validity (compressed). */
  graceMs: number;
  clusters: number;
  policies: readonly Policy[];
  strategy: Strategy;
  /** Progress lines (stderr in the CLI). */
  log?: (line: string) => void;
}

export interface PolicyResult {
  policy: Policy;
  strategy: Strategy;
  rotations: number;
  consumers: number;
  requests: number;
  /** Requests per second each consumer really sent (below the target when the machine is saturated). */
  achievedRatePerConsumer: number;
  /** Requests whose failure reached the caller. */
  failedRequests: number;
  /** The failures by kind: `auth` (401 / ConsumerAuthenticationError), `timeout`, `other`. */
  failedByKind: Record<string, number>;
  failedPerRotation: number;
  /** The helper's own retries (hidden from the caller), per rotation. */
  hiddenRetriesPerRotation: number;
  /** The longest time any consumer of this policy had no working password (first 401 to next 200), ms. */
  maxNoPasswordMs: number;
  /** The median of those stretches, ms (0 when there were none). */
  medianNoPasswordMs: number;
  /** GetSecretValue calls per consumer per rotation, the start-up read excluded. */
  readsPerConsumerPerRotation: number;
  /** The most GetSecretValue calls any one consumer made between two rotation starts (start-up read excluded). */
  maxReadsPerConsumerPerRotation: number;
}

export interface ConsumerImpactResult {
  strategy: Strategy;
  rotations: { rotated: number; other: Record<string, number> };
  elapsedMs: number;
  policies: PolicyResult[];
}

/** One simulated consumer: its request, and what it counted. */
interface Consumer {
  request(): Promise<void>;
  close(): Promise<void>;
  hiddenRetries(): number;
}

/** A consumer's GetSecretValue calls, bucketed by the rotation under way (0 = before the first). */
class ReadCounter {
  readonly byRotation = new Map<number, number>();
  readonly #rotation: () => number;
  constructor(rotation: () => number) {
    this.#rotation = rotation;
  }
  count(): void {
    const r = this.#rotation();
    this.byRotation.set(r, (this.byRotation.get(r) ?? 0) + 1);
  }
  /** Reads after start-up (the first read of bucket 0 is the start-up read). */
  get afterStart(): number {
    let total = -1;
    for (const n of this.byRotation.values()) total += n;
    return total;
  }
  get maxPerRotation(): number {
    return Math.max(0, ...[...this.byRotation].map(([r, n]) => (r === 0 ? n - 1 : n)));
  }
}

interface Observation {
  requests: number;
  failed: number;
  failedByKind: Record<string, number>;
  rejectedSince: number | undefined;
  maxNoPasswordMs: number;
  /** Every stretch without a working password, ms. */
  outages: number[];
}

/** A fetch for the SDK's HttpClient that records each raw answer's authentication outcome. */
function observingFetch(observation: Observation): typeof fetch {
  return async (input, init) => {
    const response = await fetch(input, init);
    const now = performance.now();
    if (response.status === 401) observation.rejectedSince ??= now;
    else if (response.ok && observation.rejectedSince !== undefined) {
      observation.maxNoPasswordMs = Math.max(observation.maxNoPasswordMs, now - observation.rejectedSince);
      observation.outages.push(now - observation.rejectedSince);
      observation.rejectedSince = undefined;
    }
    return response;
  };
}

interface Credential {
  versionId: string;
  username: string;
  password: string;
}

async function readCurrent(secrets: SecretsManagerClient, secretId: string): Promise<Credential> {
  const out = await secrets.send(new GetSecretValueCommand({ SecretId: secretId, VersionStage: 'AWSCURRENT' }));
  const value = JSON.parse(out.SecretString ?? '{}') as { username: string; password: string };
  return { versionId: out.VersionId ?? '', username: value.username, password: value.password };
}

function listCollections(client: HttpClient): Promise<void> {
  return client.listCollections().then((reply) => {
    if (reply.code !== 0) throw new Error(`code ${reply.code}`);
  });
}

/** The hand-written policies: an HttpClient rebuilt when the version they read changes. */
async function manualConsumer(policy: Exclude<Policy, 'helper'>, ctx: ConsumerContext): Promise<Consumer> {
  const read = async (): Promise<Credential> => {
    ctx.reads.count();
    return readCurrent(ctx.secrets, ctx.secretId);
  };
  let credential = await read();
  let readAt = performance.now();
  const build = (c: Credential) => new HttpClient({ endpoint: ctx.endpoint, username: c.username, password: c.password, timeout: 5_000, fetch: ctx.fetch });
  let client = build(credential);
  const refresh = async (): Promise<boolean> => {
    const next = await read();
    readAt = performance.now();
    if (next.versionId === credential.versionId) return false;
    credential = next;
    client = build(next);
    return true;
  };
  let retries = 0;
  const consumer: Consumer = {
    hiddenRetries: () => retries,
    close: async () => {},
    async request() {
      if (policy === 'ttl' && performance.now() - readAt >= ctx.ttlMs) await refresh();
      try {
        await listCollections(client);
      } catch (error) {
        if (policy !== 're-read-on-auth-failure' || (error as { status?: number }).status !== 401) throw error;
        if (!(await refresh())) throw error;
        retries++;
        await listCollections(client);
      }
    },
  };
  return consumer;
}

async function helperConsumer(ctx: ConsumerContext): Promise<Consumer> {
  const helper: RotatingClient<HttpClient> = createHttpClientConsumer({
    secretId: ctx.secretId,
    secretsManager: ctx.secrets,
    cacheMs: ctx.helperCacheMs,
    onRead: () => ctx.reads.count(),
    client: { endpoint: ctx.endpoint, timeout: 5_000, fetch: ctx.fetch },
  });
  await helper.open();
  return {
    hiddenRetries: () => helper.stats.retries,
    close: () => helper.close(),
    request: () => helper.call(listCollections),
  };
}

interface ConsumerContext {
  secrets: SecretsManagerClient;
  secretId: string;
  endpoint: string;
  fetch: typeof fetch;
  ttlMs: number;
  helperCacheMs: number;
  reads: ReadCounter;
}

function failureKind(error: unknown): string {
  const { status, code, name } = (error ?? {}) as { status?: number; code?: string; name?: string };
  if (status === 401 || code === 'MILVUS_CONSUMER_AUTH_REJECTED') return 'auth';
  if (name === 'AbortError' || name === 'TimeoutError') return 'timeout';
  return 'other';
}

function median(values: number[]): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

function round(value: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

/** Runs one strategy with every policy's consumers at once; resolves when the last rotation and the last request are done. */
export async function runConsumerImpact(options: ConsumerImpactOptions): Promise<ConsumerImpactResult> {
  const log = options.log ?? (() => {});
  const clusterNames = Array.from({ length: options.clusters }, (_, i) => `c${i + 1}`);
  const base = makeConfig(clusterNames, [{ id: 'app', username: 'app_user', clusters: clusterNames }]);
  // Alternating: users app_a and app_b taking turns, the second seeded under AWSPREVIOUS.
  const sandbox = await startSandbox(options.strategy === 'single' ? base : makeAlternatingConfig(clusterNames, { graceMs: options.graceMs }));
  const previousEnv = { ...process.env };
  Object.assign(process.env, sandbox.env);
  const secrets = new SecretsManagerClient({ region: sandbox.env.AWS_REGION });
  const runtime = createEngineRuntime(sandbox.config);
  const credential = sandbox.config.credentials['app'];
  if (!credential) throw new Error('no credential');
  const groups: Array<{ policy: Policy; consumers: Consumer[]; observations: Observation[]; reads: ReadCounter[] }> = [];
  let rotationIndex = 0;
  try {
    let index = 0;
    for (const [p, policy] of options.policies.entries()) {
      const group = { policy, consumers: [] as Consumer[], observations: [] as Observation[], reads: [] as ReadCounter[] };
      const count = Math.floor(options.consumers / options.policies.length) + (p < options.consumers % options.policies.length ? 1 : 0);
      for (let i = 0; i < count; i++) {
        const observation: Observation = { requests: 0, failed: 0, failedByKind: {}, rejectedSince: undefined, maxNoPasswordMs: 0, outages: [] };
        const cluster = sandbox.config.clusters[clusterNames[index++ % clusterNames.length] as string];
        const ctx: ConsumerContext = {
          secrets,
          secretId: credential.secretId,
          endpoint: cluster?.endpoint ?? '',
          fetch: observingFetch(observation),
          ttlMs: options.ttlMs,
          helperCacheMs: options.helperCacheMs,
          reads: new ReadCounter(() => rotationIndex),
        };
        group.reads.push(ctx.reads);
        group.consumers.push(policy === 'helper' ? await helperConsumer(ctx) : await manualConsumer(policy, ctx));
        group.observations.push(observation);
      }
      groups.push(group);
    }

    let stop = false;
    const periodMs = 1000 / options.ratePerSecond;
    const loops = groups.flatMap((group) =>
      group.consumers.map(async (consumer, i) => {
        const observation = group.observations[i] as Observation;
        let next = performance.now() + Math.random() * periodMs;
        while (!stop) {
          const wait = next - performance.now();
          if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
          if (stop) break;
          next += periodMs;
          observation.requests++;
          try {
            await consumer.request();
          } catch (error) {
            observation.failed++;
            const kind = failureKind(error);
            observation.failedByKind[kind] = (observation.failedByKind[kind] ?? 0) + 1;
          }
        }
      }),
    );

    const began = performance.now();
    const outcomes: Record<string, number> = {};
    // Alternating refuses a rotation within grace of the last promotion (by design); when a slow
    // rotation on a loaded machine eats into the cadence, the next one waits for the grace instead.
    let notBefore = 0;
    for (let r = 0; r < options.rotations; r++) {
      const due = Math.max(began + (r + 1) * options.rotationIntervalMs, notBefore);
      const wait = due - performance.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      rotationIndex = r + 1;
      const result = await runtime.engine.rotate({ credential, mode: 'scheduled', rotationId: randomUUID() });
      if (options.strategy === 'alternating' && result.outcome === 'rotated') notBefore = performance.now() + options.graceMs * 1.1;
      const key = result.outcome === 'rotated' ? result.outcome : `${result.outcome}:${result.reason}`;
      outcomes[key] = (outcomes[key] ?? 0) + 1;
      if ((r + 1) % 50 === 0) log(`${options.strategy}: ${r + 1}/${options.rotations} rotations`);
    }
    // Let every consumer see the last rotation for one more interval.
    await new Promise((resolve) => setTimeout(resolve, options.rotationIntervalMs));
    stop = true;
    await Promise.all(loops);
    const elapsedMs = performance.now() - began;

    const policies = groups.map(({ policy, consumers, observations, reads }): PolicyResult => {
      const now = performance.now();
      const requests = observations.reduce((sum, o) => sum + o.requests, 0);
      const failed = observations.reduce((sum, o) => sum + o.failed, 0);
      const failedByKind: Record<string, number> = {};
      for (const o of observations) for (const [kind, n] of Object.entries(o.failedByKind)) failedByKind[kind] = (failedByKind[kind] ?? 0) + n;
      // A consumer still locked out at the end (read-once) has been since its first 401.
      const maxNoPasswordMs = Math.max(0, ...observations.map((o) => Math.max(o.maxNoPasswordMs, o.rejectedSince === undefined ? 0 : now - o.rejectedSince)));
      const totalReads = reads.reduce((sum, r) => sum + r.afterStart, 0);
      return {
        policy,
        strategy: options.strategy,
        rotations: options.rotations,
        consumers: consumers.length,
        requests,
        achievedRatePerConsumer: round(requests / consumers.length / (elapsedMs / 1000), 1),
        failedRequests: failed,
        failedByKind,
        failedPerRotation: round(failed / options.rotations),
        hiddenRetriesPerRotation: round(consumers.reduce((sum, c) => sum + c.hiddenRetries(), 0) / options.rotations),
        maxNoPasswordMs: Math.round(maxNoPasswordMs),
        medianNoPasswordMs: Math.round(median(observations.flatMap((o) => o.outages))),
        readsPerConsumerPerRotation: round(totalReads / consumers.length / options.rotations),
        maxReadsPerConsumerPerRotation: Math.max(0, ...reads.map((r) => r.maxPerRotation)),
      };
    });
    const { rotated = 0, ...other } = outcomes;
    return { strategy: options.strategy, rotations: { rotated, other }, elapsedMs: Math.round(elapsedMs), policies };
  } finally {
    await Promise.all(groups.flatMap((g) => g.consumers.map((c) => c.close())));
    runtime.close();
    secrets.destroy();
    await sandbox.close();
    for (const key of Object.keys(sandbox.env)) {
      if (previousEnv[key] === undefined) delete process.env[key];
      else process.env[key] = previousEnv[key];
    }
  }
}
