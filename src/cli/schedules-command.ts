import { Queue } from 'bullmq';
import type { Config } from '../config/types.ts';
import type { RedisClient } from '../queue/redis-client.ts';
import { closeRedisConnection, createRedisConnection, waitForRedis } from '../queue/redis-connection.ts';
import { QUEUE } from '../queue/names.ts';
import { rememberedCronStrategy } from '../queue/remembered-cron.ts';
import { listSchedules, syncSchedules, type ScheduleSync } from '../queue/schedules.ts';
import { SchedulesSyncLockLostError } from '../queue/schedules-sync-lock.ts';
import { EXIT, type ExitCode } from '../rotation/exit-code.ts';
import { table } from './output.ts';
import { ignoreLoggedByConnection, withRedisFailures, type CliIo, type OneShotContext } from './one-shot.ts';

/** The control queue on a ready producer connection, both registered for release; Redis trouble is a `RedisUnavailableError`. */
async function withControlQueue<T>(config: Config, context: OneShotContext, body: (queue: Queue, connection: RedisClient) => Promise<T>): Promise<T> {
  const { releases, logger } = context;
  return withRedisFailures(config.redis, async () => {
    const connection = releases.add('redis connection (schedules)', createRedisConnection(config.redis, 'producer', { logger, name: 'schedules' }), closeRedisConnection);
    await waitForRedis(connection, config.redis);
    const queue = releases.add('control queue', new Queue(QUEUE.control, { connection, prefix: config.redis.prefix, settings: { repeatStrategy: rememberedCronStrategy() } }), (q) => q.close());
    queue.on('error', ignoreLoggedByConnection);
    return body(queue, connection);
  });
}

/** `schedules sync`: the job schedulers match the config (idempotent); exit 1 if another sync holds the lock, or took it meanwhile. */
export async function runSchedulesSync(config: Config, io: CliIo, context: OneShotContext): Promise<ExitCode> {
  let sync: ScheduleSync | null;
  try {
    sync = await withControlQueue(config, context, (queue, connection) => syncSchedules(queue, connection, config.redis.prefix, config));
  } catch (error) {
    if (!(error instanceof SchedulesSyncLockLostError)) throw error;
    io.err(`error: ${error.message}`);
    return EXIT.failed;
  }
  if (!sync) {
    io.err('another process is syncing the schedulers right now; try again');
    return EXIT.failed;
  }
  io.out(`synced ${sync.upserted.length} scheduler(s): ${sync.upserted.join(', ')}`);
  io.out(sync.removed.length > 0 ? `removed ${sync.removed.length}: ${sync.removed.join(', ')}` : 'removed none');
  return EXIT.ok;
}

/** `schedules list`: id, cron (or interval), time zone, next run. */
export async function runSchedulesList(config: Config, options: { json?: boolean }, io: Pick<CliIo, 'out'>, context: OneShotContext): Promise<ExitCode> {
  const schedules = await withControlQueue(config, context, (queue) => listSchedules(queue));
  if (options.json) {
    for (const s of schedules) io.out(JSON.stringify({ ...s, next: s.next === null ? null : new Date(s.next).toISOString() }));
  } else {
    io.out(
      table(
        ['ID', 'SCHEDULE', 'TZ', 'NEXT RUN'],
        schedules.map((s) => [s.id, s.pattern ?? (s.every === null ? '-' : `every ${s.every} ms`), s.timezone ?? '-', s.next === null ? '-' : new Date(s.next).toISOString()]),
      ),
    );
  }
  return EXIT.ok;
}
