import { Queue } from 'bullmq';
import type { Config } from '../config/types.ts';
import { createRedisConnection } from '../queue/redis-connection.ts';
import { QUEUE } from '../queue/names.ts';
import { listSchedules, syncSchedules } from '../queue/schedules.ts';
import { EXIT, type ExitCode } from '../rotation/exit-code.ts';
import { table } from './output.ts';

async function withControlQueue<T>(config: Config, body: (queue: Queue, connection: ReturnType<typeof createRedisConnection>) => Promise<T>): Promise<T> {
  const connection = createRedisConnection(config.redis.url, 'worker');
  const queue = new Queue(QUEUE.control, { connection, prefix: config.redis.prefix });
  try {
    return await body(queue, connection);
  } finally {
    await queue.close();
    await connection.quit().catch(() => connection.disconnect());
  }
}

/** `schedules sync`: the job schedulers match the config (idempotent); exit 1 if another sync holds the lock. */
export async function runSchedulesSync(config: Config, io: { out: (line: string) => void; err: (line: string) => void }): Promise<ExitCode> {
  const sync = await withControlQueue(config, (queue, connection) => syncSchedules(queue, connection, config.redis.prefix, config));
  if (!sync) {
    io.err('another process is syncing the schedulers right now; try again');
    return EXIT.failed;
  }
  io.out(`synced ${sync.upserted.length} scheduler(s): ${sync.upserted.join(', ')}`);
  io.out(sync.removed.length > 0 ? `removed ${sync.removed.length}: ${sync.removed.join(', ')}` : 'removed none');
  return EXIT.ok;
}

/** `schedules list`: id, cron (or interval), time zone, next run. */
export async function runSchedulesList(config: Config, options: { json?: boolean }, io: { out: (line: string) => void }): Promise<ExitCode> {
  const schedules = await withControlQueue(config, (queue) => listSchedules(queue));
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
