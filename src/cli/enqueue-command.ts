import { Job, QueueEvents } from 'bullmq';
import type { Config } from '../config/types.ts';
import { createRedisConnection } from '../queue/redis-connection.ts';
import { QUEUE } from '../queue/names.ts';
import { CooldownError } from '../queue/rotation-cooldown.ts';
import { RotationQueue } from '../queue/rotation-queue.ts';
import { EXIT, exitCodeOf, worstExitCode, type ExitCode } from '../rotation/exit-code.ts';
import type { RotationResult } from '../rotation/types.ts';
import { parseMode, renderResults } from './rotate-command.ts';
import { credentialsOrAll } from './credential-selection.ts';
import { UsageError } from './usage-error.ts';

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
 * rotation's exit code (2 when it did not finish in time or the job failed).
 */
export async function runEnqueue(config: Config, options: EnqueueOptions, io: { out: (line: string) => void; err: (line: string) => void }): Promise<ExitCode> {
  if (options.credential.length === 0) throw new UsageError('give --credential ID (repeatable)');
  const credentials = credentialsOrAll(config, options.credential);
  const mode = parseMode(options.mode);
  const timeoutMs = options.timeoutMs === undefined ? 300_000 : Number(options.timeoutMs);
  if (!Number.isInteger(timeoutMs) || timeoutMs <= 0) throw new UsageError('--timeout-ms must be a positive integer');
  const connection = createRedisConnection(config.redis.url, 'producer');
  const rotations = new RotationQueue(connection, config.redis.prefix, { minIntervalMs: config.rotation.minIntervalMs });
  const events = options.wait ? new QueueEvents(QUEUE.rotations, { connection: createRedisConnection(config.redis.url, 'worker'), prefix: config.redis.prefix }) : null;
  try {
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
        if (options.json) io.out(JSON.stringify({ credentialId: credential.id, refused: 'min_interval', retryAt: new Date(error.retryAtMs).toISOString() }));
        refused = true;
      }
    }
    if (refused && enqueued.length === 0) return EXIT.failed;
    if (!events) {
      for (const e of enqueued) io.out(options.json ? JSON.stringify(e) : `${e.credentialId}: job ${e.jobId}${e.deduplicated ? ' (joined a job already queued)' : ''}`);
      return refused ? EXIT.failed : EXIT.ok;
    }
    const results: RotationResult[] = [];
    let incomplete = false;
    for (const e of enqueued) {
      const job = await Job.fromId(rotations.queue, e.jobId);
      if (!job) {
        io.err(`${e.credentialId}: job ${e.jobId} is gone (already finished and trimmed?)`);
        incomplete = true;
        continue;
      }
      try {
        const result = (await job.waitUntilFinished(events, timeoutMs)) as RotationResult;
        results.push(result);
        if (options.json) io.out(JSON.stringify(result));
      } catch (err) {
        io.err(`${e.credentialId}: job ${e.jobId} did not complete: ${err instanceof Error ? err.message : String(err)}`);
        incomplete = true;
      }
    }
    if (!options.json && results.length > 0) io.out(renderResults(results));
    const codes = results.map((r) => exitCodeOf(r.outcome));
    return worstExitCode([...codes, ...(incomplete ? [EXIT.usage] : []), ...(refused ? [EXIT.failed] : [])]);
  } finally {
    await rotations.close();
    if (events) {
      await events.close();
    }
    connection.disconnect();
  }
}
