import { Job, QueueEvents } from 'bullmq';
import type { Config } from '../config/types.ts';
import type { Redis } from 'ioredis';
import { asRedisUnavailable, closeRedisConnection, createRedisConnection, RedisUnavailableError, waitForRedis, watchRedisLoss } from '../queue/redis-connection.ts';
import { QUEUE } from '../queue/names.ts';
import { CooldownError } from '../queue/rotation-cooldown.ts';
import { RotationQueue } from '../queue/rotation-queue.ts';
import { EXIT, exitCodeOf, worstExitCode, type ExitCode } from '../rotation/exit-code.ts';
import type { RotationResult } from '../rotation/types.ts';
import { parseMode, renderResults } from './rotate-command.ts';
import { credentialsOrAll } from './credential-selection.ts';
import { UsageError } from './usage-error.ts';
import { ignoreLoggedByConnection, withRedisFailures, type CliIo, type OneShotContext } from './one-shot.ts';

export interface EnqueueOptions {
  credential: string[];
  mode?: string;
  wait?: boolean;
  timeoutMs?: string;
  json?: boolean;
}

/**
 * `enqueue --credential ID [--wait]`: queues rotations for the workers. Without --wait, prints
 * the job ids and exits 0; with --wait, waits for each job, prints its outcome and exits with the
 * rotation's exit code (2 when it did not finish within --timeout-ms, one deadline for all of them,
 * or the job failed). Redis trouble ends it with a `RedisUnavailableError` (exit 4) within
 * `redis.connectTimeoutMs`. Every connection, queue and listener is registered in
 * `context.releases`, which `main` closes.
 */
export async function runEnqueue(config: Config, options: EnqueueOptions, io: CliIo, context: OneShotContext): Promise<ExitCode> {
  if (options.credential.length === 0) throw new UsageError('give --credential ID (repeatable)');
  const credentials = credentialsOrAll(config, options.credential);
  const mode = parseMode(options.mode);
  const timeoutMs = options.timeoutMs === undefined ? 300_000 : Number(options.timeoutMs);
  if (!Number.isInteger(timeoutMs) || timeoutMs <= 0) throw new UsageError('--timeout-ms must be a positive integer');
  const { releases, logger } = context;
  return withRedisFailures(config.redis, async () => {
    const connection = releases.add('redis connection (enqueue)', createRedisConnection(config.redis, 'producer', { logger, name: 'enqueue' }), closeRedisConnection);
    // The listener is subscribed before the jobs are added, so no outcome can be missed.
    const eventsConnection = options.wait ? releases.add('redis connection (queue events)', createRedisConnection(config.redis, 'worker', { logger, name: 'enqueue-events' }), closeRedisConnection) : null;
    await Promise.all([waitForRedis(connection, config.redis), ...(eventsConnection ? [waitForRedis(eventsConnection, config.redis)] : [])]);
    const rotations = releases.add('rotation queue', new RotationQueue(connection, config.redis.prefix, { minIntervalMs: config.rotation.minIntervalMs }), (q) => q.close());
    rotations.queue.on('error', ignoreLoggedByConnection);
    const events = eventsConnection
      ? releases.add('queue events listener', new QueueEvents(QUEUE.rotations, { connection: eventsConnection, prefix: config.redis.prefix }), async (e) => {
          // Its close waits for its read loop, which a connection that is down does not end (BullMQ
          // retries it after 5 s): then the connection is dropped and the close not waited for.
          if (eventsConnection.status === 'ready') return e.close();
          eventsConnection.disconnect();
          e.close().catch(() => {});
        })
      : null;
    events?.on('error', ignoreLoggedByConnection);
    if (events) await events.waitUntilReady();
    const enqueued = [];
    let refused = false;
    for (const credential of credentials) {
      try {
        enqueued.push(await rotations.enqueue({ credentialId: credential.id, mode, requestedBy: 'cli' }));
      } catch (error) {
        if (!(error instanceof CooldownError)) throw error;
        // Exit 1: nothing changed, the current password stays valid; the message says when to retry.
        io.err(`${credential.id}: refused: ${error.message}`);
        if (options.json) io.out(JSON.stringify({ credential: credential.id, refused: 'min_interval', retryAt: new Date(error.retryAtMs).toISOString() }));
        refused = true;
      }
    }
    if (refused && enqueued.length === 0) return EXIT.failed;
    if (!events) {
      for (const e of enqueued) {
        // `credential`, as in every other JSON line of the CLI.
        const line = { credential: e.credentialId, jobId: e.jobId, deduplicated: e.deduplicated, mode: e.mode };
        io.out(options.json ? JSON.stringify(line) : `${e.credentialId}: job ${e.jobId}${e.deduplicated ? ' (joined a job already queued)' : ''}`);
      }
      return refused ? EXIT.failed : EXIT.ok;
    }
    const results: RotationResult[] = [];
    let incomplete = false;
    // The listener reconnects forever: Redis gone for longer than the bound ends the wait instead.
    const loss = releases.add('redis loss watch', watchRedisLoss(eventsConnection as Redis, config.redis), (w) => w.stop());
    // Our own deadline, not waitUntilFinished's ttl: BullMQ clears that timer only on an event, so a
    // wait ended by the loss of Redis would leave it holding the process for the whole timeout.
    const timeout = releases.add('wait deadline', waitDeadline(timeoutMs), (d) => d.cancel());
    for (const e of enqueued) {
      const job = await Job.fromId(rotations.queue, e.jobId);
      if (!job) {
        io.err(`${e.credentialId}: job ${e.jobId} is gone (already finished and trimmed?)`);
        incomplete = true;
        continue;
      }
      try {
        const result = (await Promise.race([job.waitUntilFinished(events), loss.lost, timeout.expired])) as RotationResult;
        results.push(result);
        if (options.json) io.out(JSON.stringify(result));
      } catch (err) {
        const redis = asRedisUnavailable(err, config.redis);
        if (redis instanceof RedisUnavailableError) throw redis;
        io.err(`${e.credentialId}: job ${e.jobId} did not complete: ${err instanceof Error ? err.message : String(err)}`);
        incomplete = true;
      }
    }
    if (!options.json && results.length > 0) io.out(renderResults(results));
    const codes = results.map((r) => exitCodeOf(r.outcome));
    return worstExitCode([...codes, ...(incomplete ? [EXIT.usage] : []), ...(refused ? [EXIT.failed] : [])]);
  });
}

/**
 * One deadline for every job of a wait: `expired` rejects `timeoutMs` after it was armed (at once for
 * a job waited for after that), unless cancelled first.
 */
function waitDeadline(timeoutMs: number): { expired: Promise<never>; cancel: () => void } {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no outcome within ${timeoutMs} ms (--timeout-ms); the job stays queued`)), timeoutMs);
  });
  expired.catch(() => {}); // expiring between two jobs' waits is not an unhandled rejection
  return { expired, cancel: () => clearTimeout(timer) };
}
