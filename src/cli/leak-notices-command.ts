/**
 * `leak-notices list|clear`: the leak alerts waiting for a credential's next completed rotation.
 * A credential that cannot reach `rotated` (a cluster down, a foreign pending version) keeps its
 * notices, and every job of it runs in leak mode until one does; `clear` is the operator's way out
 * once the leak is handled otherwise (rotated by hand, false positive). Reads and writes Redis only.
 */
import type { Config } from '../config/types.ts';
import { LeakFlags } from '../queue/leak-flags.ts';
import { closeRedisConnection, createRedisConnection, waitForRedis } from '../queue/redis-connection.ts';
import { EXIT, type ExitCode } from '../rotation/exit-code.ts';
import { credentialsOrAll } from './credential-selection.ts';
import { withRedisFailures, type CliIo, type OneShotContext } from './one-shot.ts';
import { table } from './output.ts';
import { UsageError } from './usage-error.ts';

export interface LeakNoticesOptions {
  credential?: string[];
  all?: boolean;
  json?: boolean;
}

/** LeakFlags on a ready producer connection, registered for release; Redis trouble is a `RedisUnavailableError` (exit 4). */
async function withLeakFlags<T>(config: Config, context: OneShotContext, body: (flags: LeakFlags) => Promise<T>): Promise<T> {
  const { releases, logger } = context;
  return withRedisFailures(config.redis, async () => {
    const connection = releases.add('redis connection (leak-notices)', createRedisConnection(config.redis, 'producer', { logger, name: 'leak-notices' }), closeRedisConnection);
    await waitForRedis(connection, config.redis);
    return body(new LeakFlags(connection, config.redis.prefix));
  });
}

/** `leak-notices list [--credential ID...]`: count, earliest receipt and the last alert id per credential. */
export async function runLeakNoticesList(config: Config, options: LeakNoticesOptions, io: Pick<CliIo, 'out'>, context: OneShotContext): Promise<ExitCode> {
  const credentials = credentialsOrAll(config, options.credential);
  const rows = await withLeakFlags(config, context, (flags) =>
    Promise.all(
      credentials.map(async (credential) => {
        const summary = await flags.read(credential.id);
        return {
          credential: credential.id,
          count: summary.count,
          firstReceivedAt: summary.firstReceivedAt === null ? null : new Date(summary.firstReceivedAt).toISOString(),
          lastAlertId: summary.recent.at(-1)?.alertId ?? null,
        };
      }),
    ),
  );
  if (options.json) for (const row of rows) io.out(JSON.stringify(row));
  else io.out(table(['CREDENTIAL', 'NOTICES', 'FIRST RECEIVED', 'LAST ALERT'], rows.map((r) => [r.credential, String(r.count), r.firstReceivedAt ?? '-', r.lastAlertId ?? '-'])));
  return EXIT.ok;
}

/** `leak-notices clear --credential ID... | --all`: drops the waiting notices; prints how many each had. */
export async function runLeakNoticesClear(config: Config, options: LeakNoticesOptions, io: Pick<CliIo, 'out'>, context: OneShotContext): Promise<ExitCode> {
  const ids = options.credential ?? [];
  if (options.all && ids.length > 0) throw new UsageError('give either --credential or --all, not both');
  if (!options.all && ids.length === 0) throw new UsageError('give --credential ID (repeatable) or --all');
  const credentials = credentialsOrAll(config, ids);
  const cleared = await withLeakFlags(config, context, async (flags) => {
    const out: { credential: string; cleared: number }[] = [];
    for (const credential of credentials) out.push({ credential: credential.id, cleared: await flags.clear(credential.id) });
    return out;
  });
  for (const row of cleared) io.out(options.json ? JSON.stringify(row) : `${row.credential}: cleared ${row.cleared} leak notice(s)`);
  return EXIT.ok;
}
