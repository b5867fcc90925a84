/**
 * Every Redis connection of the process is made here: the worker's, the HTTP producers', the
 * queue-events listeners' and the one-shot commands'. One place decides the options per role, logs
 * connection errors (JSON lines, one per distinct cause per interval, never a stack) and turns
 * Redis trouble into a `RedisUnavailableError` whose message names the URL (without its password)
 * and the cause.
 *
 * Workers need `maxRetriesPerRequest: null` (BullMQ refuses otherwise: a blocking command must wait
 * out a reconnect); producers fail fast instead of queueing commands while Redis is away, so they
 * must `waitForRedis` before their first command. BullMQ never closes connections it is given:
 * whoever calls `createRedisConnection` closes what it returns (`closeRedisConnection`).
 */
import { Cluster, Redis, type RedisOptions } from 'ioredis';
import { REDIS_MODE, type Config } from '../config/types.ts';
import { ERROR_CODE } from '../error-codes.ts';
import { RotatorError } from '../errors.ts';
import type { Logger } from '../observability/logger.ts';
import { redisTarget, type RedisClient } from './redis-client.ts';

export type RedisRole = 'worker' | 'producer';

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE', 'EPROTO']);
/** ioredis's own words for a connection that is not (or no longer) usable; they say nothing of why. */
const CONNECTION_MESSAGES = ["Stream isn't writeable", 'Connection is closed', 'Socket closed unexpectedly', 'Reached the max retries per request limit'];
const CONNECTION_LOST = 'connection lost';

/** How often the same connection error is logged again (the others in between are counted). */
export const REDIS_ERROR_LOG_INTERVAL_MS = 30_000;

export interface RedisConnectionOptions {
  /** Where connection errors go (rate-limited JSON lines). */
  logger: Logger;
  /** Names the connection in its log lines, e.g. `enqueue` or `queue-events`. Default: the role. */
  name?: string;
  /** @defaultValue REDIS_ERROR_LOG_INTERVAL_MS */
  errorLogIntervalMs?: number;
  /** Injected clock of the rate limit. @defaultValue Date.now */
  now?: () => number;
  /** ioredis options over the role's (tests). */
  extra?: RedisOptions;
}

/** Redis could not be used: unreachable, refused authentication, TLS mismatch, a cluster node. */
export class RedisUnavailableError extends RotatorError {
  /** The URL without its password. */
  readonly url: string;
  /** The cause as a short phrase (`connection refused`, `authentication refused (WRONGPASS)`...). */
  readonly reason: string;

  constructor(url: string, reason: string, options?: ErrorOptions) {
    super(ERROR_CODE.redisUnavailable, `redis ${url}: ${reason}`, options);
    this.url = url;
    this.reason = reason;
  }
}

/** The URL with its password (and user name's password part) replaced by `***`; never throws. */
export function redactRedisUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== '') parsed.password = '***';
    return parsed.toString().replace(/\/$/, '');
  } catch {
    return '<unparsable redis url>';
  }
}

interface ErrorWithCode {
  code?: unknown;
  message?: unknown;
  errors?: unknown;
}

function codeOf(error: unknown): string {
  const code = (error as ErrorWithCode | null)?.code;
  return typeof code === 'string' ? code : '';
}

function messageOf(error: unknown): string {
  const message = (error as ErrorWithCode | null)?.message;
  return typeof message === 'string' ? message : String(error);
}

/**
 * A connection error as a short, stable phrase: the key of the log rate limit and the cause in
 * `RedisUnavailableError`. Never quotes the server's free text beyond the error's first word, so
 * nothing the URL carried can come back through it.
 */
export function describeRedisError(error: unknown): string {
  const code = codeOf(error);
  const message = messageOf(error);
  if (error instanceof AggregateError && Array.isArray(error.errors) && error.errors.length > 0) return describeRedisError(error.errors[0]);
  // ioredis Cluster: "Failed to refresh slots cache" carries the reason of the last node tried.
  const lastNodeError = (error as { lastNodeError?: unknown } | null)?.lastNodeError;
  if (lastNodeError !== undefined && lastNodeError !== null) return describeRedisError(lastNodeError);
  // ioredis says this both when no sentinel answers and when none knows the master's name.
  if (message.includes('All sentinels are unreachable')) return 'no sentinel named a primary (are redis.sentinels reachable, and is redis.sentinelName the monitored name?)';
  if (/^WRONGPASS/.test(message) || message.includes('WRONGPASS')) return 'authentication refused (WRONGPASS: wrong user name or password)';
  if (message.includes('NOAUTH')) return 'authentication required (NOAUTH: the URL carries no password)';
  if (message.includes('no password is set') || message.includes('without any password configured')) return 'the URL carries a password but the server requires none';
  if (message.startsWith('MOVED') || message.includes(' MOVED ') || message.startsWith('CLUSTERDOWN')) return 'the server is a Redis Cluster node (MOVED): set redis.mode: cluster';
  if (code === 'ECONNREFUSED') return 'connection refused (is Redis running at this address?)';
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return 'host name does not resolve';
  if (code === 'ETIMEDOUT' || message === 'connect ETIMEDOUT') return 'connection timed out';
  if (message.includes('before secure TLS connection was established')) return 'TLS handshake failed: rediss:// given for a server that does not speak TLS?';
  if (code === 'EHOSTUNREACH' || code === 'ENETUNREACH') return 'host unreachable';
  if (code.startsWith('ERR_SSL') || code === 'EPROTO' || /SSL|TLS|certificate/i.test(message)) {
    if (/wrong version number|packet length too long|record layer failure/i.test(message)) return 'TLS handshake failed: rediss:// given for a server that does not speak TLS';
    if (/certificate|self.signed|unable to verify/i.test(message)) return `TLS certificate refused (${code || 'certificate error'})`;
    return `TLS error (${code || 'handshake failed'})`;
  }
  if (code === 'ECONNRESET') return 'the server reset the connection (a TLS-only server given a redis:// URL?)';
  if (CONNECTION_MESSAGES.some((m) => message.includes(m))) return CONNECTION_LOST;
  if (message.includes('LOADING')) return 'Redis is loading its data set';
  if (message.includes('READONLY')) return 'the server is a read-only replica';
  const firstWord = /^[A-Z][A-Z_]+\b/.exec(message)?.[0];
  return firstWord !== undefined ? `redis error ${firstWord}` : `connection error${code ? ` ${code}` : ''}`;
}

/** True when retrying cannot help (the answer will be the same until someone changes something). */
export function isFatalRedisError(error: unknown): boolean {
  const cause = describeRedisError(error);
  return cause.startsWith('authentication') || cause.startsWith('TLS') || cause.includes('Cluster node') || cause.includes('requires none');
}

const ROLE_OPTIONS: Record<RedisRole, RedisOptions> = {
  worker: { maxRetriesPerRequest: null, enableReadyCheck: true },
  producer: { maxRetriesPerRequest: 1, enableOfflineQueue: false, enableReadyCheck: true },
};

/**
 * How messages name the Redis of `redis`: the URL without its password (standalone), the seeds
 * (cluster), or the master name and the sentinels (sentinel).
 */
export function redisEndpoint(redis: Config['redis']): string {
  switch (redis.mode ?? REDIS_MODE.standalone) {
    case REDIS_MODE.standalone:
      return redactRedisUrl(redis.url);
    case REDIS_MODE.cluster:
      return `cluster ${(redis.nodes ?? [redis.url]).map(redactRedisUrl).join(',')}`;
    case REDIS_MODE.sentinel:
      return redisTarget(redis).endpoint;
  }
}

/**
 * A connection for `role` to the Redis `redis` describes (a server, a Redis Cluster, or the primary
 * the sentinels name; TLS verified against `redis.caFile` or the system store), connecting at
 * once, with connection errors logged (rate-limited) on `options.logger`. The caller owns it:
 * close it with `closeRedisConnection`.
 */
export function createRedisConnection(redis: Config['redis'], role: RedisRole, options: RedisConnectionOptions): RedisClient {
  const url = redisEndpoint(redis);
  const connection = redisTarget(redis).connect({
    ...ROLE_OPTIONS[role],
    // Half the bound per attempt: a silent address shows as a timed-out attempt within the bound.
    connectTimeout: Math.max(100, Math.floor(redis.connectTimeoutMs / 2)),
    // A socket that never connected does not close on end(): ioredis destroys it after this long.
    disconnectTimeout: 200,
    lazyConnect: false,
    ...options.extra,
  });
  trackDuplicates(connection);
  const log = rateLimitedErrorLog(options.logger, { redis: url, connection: options.name ?? role }, options.errorLogIntervalMs ?? REDIS_ERROR_LOG_INTERVAL_MS, options.now ?? Date.now);
  connection.on('error', (error: unknown) => {
    // "Stream isn't writeable" and the like always follow the error that says why, which is logged.
    if (!closing.has(connection) && describeRedisError(error) !== CONNECTION_LOST) log(error);
  });
  return connection;
}

/** One warn line per distinct cause per interval; the repeats in between are counted in the next. */
function rateLimitedErrorLog(logger: Logger, bindings: Record<string, string>, intervalMs: number, now: () => number): (error: unknown) => void {
  const last = new Map<string, { at: number; suppressed: number }>();
  return (error) => {
    const cause = describeRedisError(error);
    const seen = last.get(cause);
    const at = now();
    if (seen && at - seen.at < intervalMs) {
      seen.suppressed += 1;
      return;
    }
    last.set(cause, { at, suppressed: 0 });
    const code = codeOf(error);
    logger.warn({ ...bindings, cause, ...(code && { code }), ...(seen && seen.suppressed > 0 && { repeated: seen.suppressed }) }, 'redis connection error');
  };
}

/**
 * Resolves once `connection` is ready and is what `redis` says it is (a standalone server), or
 * rejects with a `RedisUnavailableError` within `timeoutMs`: at once for a cause retrying cannot
 * mend (refused authentication, TLS mismatch, a cluster node), at the bound for the others
 * (unreachable, loading), naming the last cause seen.
 */
export async function waitForRedis(connection: RedisClient, redis: Config['redis'], timeoutMs: number = redis.connectTimeoutMs): Promise<void> {
  const url = redisEndpoint(redis);
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown = null;
  let settle: ((error: unknown) => void) | null = null;
  const onError = (error: unknown): void => {
    // ioredis's "stream isn't writeable" follows the error that says why: keep the one that says why.
    if (lastError === null || describeRedisError(error) !== CONNECTION_LOST) lastError = error;
    if (isFatalRedisError(error)) settle?.(error);
  };
  const onReady = (): void => settle?.(null);
  let timer: NodeJS.Timeout | undefined;
  try {
    connection.on('error', onError);
    if (connection.status !== 'ready') {
      const outcome = await new Promise<unknown>((resolve) => {
        settle = resolve;
        connection.once('ready', onReady);
        // Closed while waiting (a sibling connection failed first and the command is releasing
        // both): answer now, so the wait's timer does not hold the process for the rest of the
        // bound. ioredis emits nothing when a reconnecting client is disconnected, hence the hook.
        waitsOf.set(connection, () => resolve('closed'));
        timer = setTimeout(() => resolve(lastError ?? 'silent'), timeoutMs);
      });
      if (outcome === 'closed') throw new RedisUnavailableError(url, 'the connection was closed before it was ready');
      if (outcome === 'silent') {
        const hint = redis.url.startsWith('rediss:') ? ' (no TLS handshake: does the server speak TLS?)' : '';
        throw new RedisUnavailableError(url, `no answer within ${timeoutMs} ms${hint}`);
      }
      if (outcome !== null) {
        const cause = describeRedisError(outcome);
        const reason = cause === 'connection timed out' && redis.url.startsWith('rediss:') ? `${cause} (no TLS handshake: does the server speak TLS?)` : cause;
        throw new RedisUnavailableError(url, isFatalRedisError(outcome) ? reason : `${reason}; gave up after ${timeoutMs} ms`, { cause: outcome });
      }
    }
    // A Cluster client is what redis.mode: cluster asks for; anything else must not be a cluster node.
    if (connection instanceof Cluster) {
      await waitForClusterNodes(connection, url, timeoutMs, deadline);
      return;
    }
    const info = await connection.info('cluster').catch((error: unknown) => {
      throw new RedisUnavailableError(url, describeRedisError(error), { cause: error });
    });
    if (/^cluster_enabled:1/m.test(info)) throw new RedisUnavailableError(url, describeRedisError(new Error('MOVED')));
  } finally {
    clearTimeout(timer);
    connection.off('error', onError);
    connection.off('ready', onReady);
    waitsOf.delete(connection);
  }
}

const CLUSTER_POLL_MS = 20;

/**
 * A Cluster client is `ready` once it knows the slots, while its connections to the masters may
 * still be opening; a client without an offline queue (a producer) refuses every command sent to
 * a node in that state ("Connection is closed"). Resolves once every master is connected and the
 * cluster says `cluster_state:ok`, or rejects at `deadline` saying which was missing.
 */
async function waitForClusterNodes(cluster: Cluster, url: string, timeoutMs: number, deadline: number): Promise<void> {
  for (;;) {
    const masters = cluster.nodes('master');
    const opening = masters.filter((node) => node.status !== 'ready').length;
    let missing: string;
    if (masters.length === 0 || opening > 0) {
      missing = `${opening} of ${masters.length} masters not connected`;
    } else {
      const info = await cluster.cluster('INFO').then(String, (error: unknown) => error);
      if (typeof info === 'string' && !/^cluster_state:fail/m.test(info)) return;
      if (typeof info !== 'string' && isFatalRedisError(info)) throw new RedisUnavailableError(url, describeRedisError(info), { cause: info });
      missing = typeof info === 'string' ? 'cluster_state:fail' : describeRedisError(info);
    }
    if (closing.has(cluster) || cluster.status === 'end') throw new RedisUnavailableError(url, 'the connection was closed before it was ready');
    if (Date.now() >= deadline) throw new RedisUnavailableError(url, `the cluster was not usable within ${timeoutMs} ms (${missing})`);
    await new Promise((resolve) => setTimeout(resolve, CLUSTER_POLL_MS));
  }
}

/** The wait for ready under way on a connection, ended by closeRedisConnection. */
const waitsOf = new WeakMap<RedisClient, () => void>();

/** Connections being closed: the errors of their teardown are not news. */
const closing = new WeakSet<RedisClient>();

/**
 * The copies made of each connection with `duplicate()`: BullMQ's QueueEvents and Worker duplicate
 * the connection they are given for their blocking reads, and own the copy. Their close waits for a
 * Redis that is away (the copy keeps reconnecting, and its reconnect timer holds the process), so
 * closing the connection drops whatever copy is still open.
 */
const duplicatesOf = new WeakMap<RedisClient, Set<Redis>>();

function trackDuplicates(connection: RedisClient): void {
  // A Cluster client's copies are Cluster clients with their own node connections: not tracked.
  if (!(connection instanceof Redis)) return;
  const copies = new Set<Redis>();
  duplicatesOf.set(connection, copies);
  const duplicate = connection.duplicate.bind(connection);
  connection.duplicate = (override?: Partial<RedisOptions>): Redis => {
    const copy = duplicate(override);
    copies.add(copy);
    copy.once('end', () => copies.delete(copy));
    return copy;
  };
}

/**
 * Ends a client that `disconnect()` left half closed. Called while it waits to reconnect (no
 * socket), ioredis's disconnect() clears the reconnect timer and stops there: the status stays
 * `reconnecting`, no `end` is emitted, and its queued commands stay pending for good (ioredis
 * issues #1247 and #1830; upstream PR #2169 runs the close handler in that case, not released).
 * Whoever waits for the client's `end` then waits forever: BullMQ's Worker.close() waits for its
 * blocking copy's, and until it gets it never stops its lock-renewal timer, which kept a worker
 * that lost Redis alive past its shutdown (its process exited only by the exit watchdog). This
 * does what ioredis's close handler does for a closed socket: the queued commands are rejected as
 * a closed connection's are, and the status becomes `end` (with its event). setStatus is private
 * in ioredis's types: the one cast to it is here.
 */
function endHalfClosed(client: Redis): void {
  if (client.status !== 'reconnecting') return;
  const closed = new Error('Connection is closed.');
  client.recoverFromFatalError(closed, closed, { offlineQueue: true, commandQueue: true });
  (client as unknown as { setStatus: (status: 'end') => void }).setStatus('end');
}

/**
 * Closes a connection: QUIT when it is up (bounded), else a disconnect; never throws, never hangs.
 * Copies BullMQ made of it and left open (see `duplicatesOf`) are disconnected first. Each ends
 * (status `end`, its queued commands rejected), even one that was waiting to reconnect.
 */
export async function closeRedisConnection(connection: RedisClient, boundMs = 1_000): Promise<void> {
  waitsOf.get(connection)?.();
  for (const copy of duplicatesOf.get(connection) ?? []) {
    if (copy.status === 'end') continue;
    closing.add(copy);
    copy.disconnect();
    // A copy with no socket (reconnecting) never ends by itself: BullMQ's blocking read, raced
    // against a timer of its own, and BullMQ's close, waiting for the copy's `end`, would wait on.
    endHalfClosed(copy);
  }
  if (connection.status === 'end') return;
  closing.add(connection);
  if (connection.status !== 'ready') {
    connection.disconnect();
    if (connection instanceof Redis) endHalfClosed(connection);
    return;
  }
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, boundMs);
  });
  await Promise.race([connection.quit().then(() => undefined, () => undefined), bound]);
  clearTimeout(timer);
  connection.disconnect();
}


/**
 * A Redis failure met after the connection was ready (Redis gone mid-command, a MOVED reply, refused
 * authentication) as a `RedisUnavailableError` naming `redis`'s endpoint; any other error is returned unchanged.
 */
export function asRedisUnavailable(error: unknown, redis: Config['redis']): unknown {
  if (error instanceof RedisUnavailableError || !(error instanceof Error)) return error;
  const fromRedis =
    error.name === 'ReplyError' ||
    error.name === 'MaxRetriesPerRequestError' ||
    NETWORK_CODES.has(codeOf(error)) ||
    codeOf(error).startsWith('ERR_SSL') ||
    CONNECTION_MESSAGES.some((m) => error.message.includes(m));
  return fromRedis ? new RedisUnavailableError(redisEndpoint(redis), describeRedisError(error), { cause: error }) : error;
}

/**
 * For a command that waits on a connection which reconnects forever (a queue-events listener): a
 * promise that rejects with a `RedisUnavailableError` once the connection has been down for
 * `redis.connectTimeoutMs` without coming back, so the wait ends with an answer. `stop` detaches.
 */
export function watchRedisLoss(connection: RedisClient, redis: Config['redis']): { lost: Promise<never>; stop: () => void } {
  let timer: NodeJS.Timeout | undefined;
  let lastError: unknown = null;
  let fail: (error: Error) => void = () => {};
  const lost = new Promise<never>((_, reject) => {
    fail = reject;
  });
  lost.catch(() => {}); // a caller that stopped watching does not care
  const onError = (error: unknown): void => {
    if (lastError === null || describeRedisError(error) !== CONNECTION_LOST) lastError = error;
  };
  const onClose = (): void => {
    if (timer !== undefined) return;
    timer = setTimeout(() => {
      const cause = lastError === null ? CONNECTION_LOST : describeRedisError(lastError);
      fail(new RedisUnavailableError(redisEndpoint(redis), `${cause}; connection lost and not back within ${redis.connectTimeoutMs} ms`));
    }, redis.connectTimeoutMs);
  };
  const onReady = (): void => {
    clearTimeout(timer);
    timer = undefined;
    lastError = null;
  };
  connection.on('error', onError);
  connection.on('close', onClose);
  connection.on('ready', onReady);
  return {
    lost,
    stop: () => {
      clearTimeout(timer);
      connection.off('error', onError);
      connection.off('close', onClose);
      connection.off('ready', onReady);
    },
  };
}
