#!/usr/bin/env node
import { Command, CommanderError, Option } from 'commander';
import { pathToFileURL } from 'node:url';
import { realpathSync } from 'node:fs';
import { ConfigError, formatIssue } from './config/errors.ts';
import { loadConfig } from './config/load.ts';
import type { Config } from './config/types.ts';
import { createLogger } from './observability/logger.ts';
import { EXIT, type ExitCode } from './rotation/exit-code.ts';
import { runLeakNoticesClear, runLeakNoticesList } from './cli/leak-notices-command.ts';
import { resolveConfigPath } from './cli/config-path.ts';
import { runRotate } from './cli/rotate-command.ts';
import { runVerify } from './cli/verify-command.ts';
import { runOnboard } from './cli/onboard-command.ts';
import { runStatus } from './cli/status-command.ts';
import { runConfigCheck } from './cli/config-check-command.ts';
import { runSandbox } from './cli/sandbox-command.ts';
import { runDemo } from './cli/demo-command.ts';
import { runWorker } from './cli/worker-command.ts';
import { runEnqueue } from './cli/enqueue-command.ts';
import { runSchedulesList, runSchedulesSync } from './cli/schedules-command.ts';
import { UsageError } from './cli/usage-error.ts';
import type { CliIo } from './cli/one-shot.ts';
import { exitWithin, Releases } from './cli/releases.ts';
import { packageVersion } from './cli/package-version.ts';
import { RedisUnavailableError } from './queue/redis-connection.ts';
import { MODE } from './rotation/types.ts';

export type { CliIo } from './cli/one-shot.ts';
export { exitWithin } from './cli/releases.ts';

const defaultIo: CliIo = {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
};

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

/** Builds the commander program; `run` resolves with the process exit code. */
export function buildProgram(
  io: CliIo = defaultIo,
  releases: Releases = new Releases(),
): { program: Command; exitCode: () => ExitCode; configPath: () => string | undefined } {
  let exitCode: ExitCode = EXIT.ok;
  // The file of the config loaded: a config error found after loading (an unreadable caFile, read
  // when a command builds its clients) names it, as one found while loading does.
  let configPath: string | undefined;
  const loadOrExit = (configOption: string | undefined): Config => {
    const path = resolveConfigPath(configOption);
    const config = loadConfig(path);
    configPath = path;
    return config;
  };
  const logger = () => createLogger({ level: process.env.LOG_LEVEL ?? 'info', destination: 2 });
  const oneShot = () => ({ releases, logger: logger() });
  const configOption = new Option('-c, --config <file>', 'config file (default: $ROTATOR_CONFIG, then ./rotator.yaml)');

  const program = new Command()
    .name('milvus-rotator')
    .description('Rotates Milvus / Zilliz Cloud user passwords into AWS Secrets Manager.')
    .version(packageVersion(), '-V, --version', 'print the version and exit')
    .showHelpAfterError()
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.out(s.trimEnd()), writeErr: (s) => io.err(s.trimEnd()) });

  program
    .command('rotate')
    .description('rotate now, in this process (no Redis needed): the CronJob and incident path')
    .addOption(configOption)
    .option('--credential <id>', 'credential id (repeatable)', collect)
    .option('--all', 'every configured credential')
    .addOption(new Option('--mode <mode>', 'why: scheduled, manual or leak (leak never restores the old password)').choices(Object.values(MODE)).default(MODE.manual))
    .option('--json', 'one JSON result object per credential')
    .option('--dry-run', 'print what would happen (what is pending, who holds it, what each cluster accepts); write nothing')
    .action(async (options: { config?: string; credential?: string[]; all?: boolean; mode: string; json?: boolean; dryRun?: boolean }) => {
      const config = loadOrExit(options.config);
      const context = oneShot();
      exitCode = await runRotate(config, options, { out: io.out, logger: context.logger }, context);
    });

  program
    .command('recover')
    .description('resume or settle an interrupted rotation, adopting its pending version even if it is recent')
    .addOption(configOption)
    .requiredOption('--credential <id>', 'credential id (repeatable)', collect)
    .option('--json', 'one JSON result object per credential')
    .option('--dry-run', 'print what would happen (what is pending, who holds it, what each cluster accepts); write nothing')
    .action(async (options: { config?: string; credential: string[]; json?: boolean; dryRun?: boolean }) => {
      const config = loadOrExit(options.config);
      const context = oneShot();
      exitCode = await runRotate(config, { ...options, mode: MODE.manual, recover: true }, { out: io.out, logger: context.logger }, context);
    });

  program
    .command('onboard')
    .description('alternating credentials: bring the second user in (creates it with admin; else says what to do)')
    .addOption(configOption)
    .requiredOption('--credential <id>', 'credential id')
    .option('--json', 'one JSON result object')
    .action(async (options: { config?: string; credential: string; json?: boolean }) => {
      const config = loadOrExit(options.config);
      exitCode = await runOnboard(config, options, { out: io.out, logger: logger() });
    });

  program
    .command('verify')
    .description('check that every cluster accepts AWSCURRENT and no pending version is stale (exit 0, 1 or 3)')
    .addOption(configOption)
    .option('--credential <id>', 'credential id (repeatable; default: all)', collect)
    .option('--all', 'every configured credential (the default)')
    .option('--json', 'one JSON object per credential')
    .action(async (options: { config?: string; credential?: string[]; all?: boolean; json?: boolean }) => {
      if (options.all && options.credential && options.credential.length > 0) throw new UsageError('give --credential or --all, not both');
      const config = loadOrExit(options.config);
      exitCode = await runVerify(config, options, io, oneShot());
    });

  program
    .command('status')
    .description('per credential: last rotation and its age, version ids, pending or not, next scheduled run')
    .addOption(configOption)
    .option('--credential <id>', 'credential id (repeatable; default: all)', collect)
    .option('--json', 'one JSON object per credential')
    .action(async (options: { config?: string; credential?: string[]; json?: boolean }) => {
      const config = loadOrExit(options.config);
      exitCode = await runStatus(config, options, io);
    });

  program
    .command('worker')
    .description('the long-running worker: runs scheduled, on-demand and leak rotations from the queue (Redis), syncs schedulers, serves the HTTP API')
    .addOption(configOption)
    .option('--no-http', 'do not serve the HTTP API (trigger, leak alerts, health, metrics)')
    .action(async (options: { config?: string; http: boolean }) => {
      const config = loadOrExit(options.config);
      exitCode = await runWorker(config, logger(), { http: options.http });
    });

  program
    .command('enqueue')
    .description('queue a rotation for the workers; with --wait, print its outcome and exit with its code')
    .addOption(configOption)
    .requiredOption('--credential <id>', 'credential id (repeatable)', collect)
    .addOption(new Option('--mode <mode>', 'why: scheduled, manual or leak').choices(Object.values(MODE)).default(MODE.manual))
    .option('--wait', 'wait for the outcome')
    .option('--timeout-ms <ms>', 'with --wait: how long to wait (default 300000)')
    .option('--json', 'JSON lines')
    .action(async (options: { config?: string; credential: string[]; mode: string; wait?: boolean; timeoutMs?: string; json?: boolean }) => {
      const config = loadOrExit(options.config);
      exitCode = await runEnqueue(config, options, io, oneShot());
    });

  const leakNotices = program.command('leak-notices').description('leak alerts waiting for a credential\'s next completed rotation');
  leakNotices
    .command('list')
    .description('per credential: how many notices wait, the earliest receipt, the last alert id')
    .addOption(configOption)
    .option('--credential <id>', 'credential id (repeatable; default: all)', collect)
    .option('--json', 'JSON lines')
    .action(async (options: { config?: string; credential?: string[]; json?: boolean }) => {
      const config = loadOrExit(options.config);
      exitCode = await runLeakNoticesList(config, options, io, oneShot());
    });
  leakNotices
    .command('clear')
    .description('drop the waiting notices (the leak was handled otherwise); later jobs run in their own mode')
    .addOption(configOption)
    .option('--credential <id>', 'credential id (repeatable)', collect)
    .option('--all', 'every configured credential')
    .option('--json', 'JSON lines')
    .action(async (options: { config?: string; credential?: string[]; all?: boolean; json?: boolean }) => {
      const config = loadOrExit(options.config);
      exitCode = await runLeakNoticesClear(config, options, io, oneShot());
    });

  const schedules = program.command('schedules').description('the job schedulers (one per scheduled credential, and reconcile)');
  schedules
    .command('sync')
    .description('make the schedulers match the config (idempotent; removed credentials lose theirs)')
    .addOption(configOption)
    .action(async (options: { config?: string }) => {
      const config = loadOrExit(options.config);
      exitCode = await runSchedulesSync(config, io, oneShot());
    });
  schedules
    .command('list')
    .description('id, schedule, time zone, next run')
    .addOption(configOption)
    .option('--json', 'JSON lines')
    .action(async (options: { config?: string; json?: boolean }) => {
      const config = loadOrExit(options.config);
      exitCode = await runSchedulesList(config, options, io, oneShot());
    });

  program
    .command('config')
    .description('configuration')
    .command('check')
    .description('validate a config file: exit 0, or 2 with one line per problem')
    .addOption(configOption)
    .action((options: { config?: string }) => {
      exitCode = runConfigCheck(resolveConfigPath(options.config), io);
    });

  program
    .command('sandbox')
    .description('start the Milvus simulator (one per configured cluster) and the Secrets Manager emulator, seeded from the config')
    .addOption(configOption)
    .option('--secrets-port <port>', 'port of the Secrets Manager emulator (default: a free one)')
    .action(async (options: { config?: string; secretsPort?: string }) => {
      const config = loadOrExit(options.config);
      exitCode = await runSandbox(config, options, io);
    });

  program
    .command('demo')
    .description('start the sandbox in this process, rotate a credential on two clusters, show before and after, verify')
    .action(async () => {
      exitCode = await runDemo(io);
    });

  return { program, exitCode: () => exitCode, configPath: () => configPath };
}

/** Runs the CLI and returns the exit code; usage and config errors are exit 2 before any call. */
export async function main(argv: string[], io: CliIo = defaultIo): Promise<ExitCode> {
  const releases = new Releases();
  const { program, exitCode, configPath } = buildProgram(io, releases);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return exitCode();
  } catch (err) {
    if (err instanceof RedisUnavailableError) {
      io.err(`error: ${err.message}`);
      return EXIT.redisUnavailable;
    }
    if (err instanceof CommanderError) {
      return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    if (err instanceof ConfigError) {
      // The message already lists the issues; print the header and each issue once.
      io.err(`${configPath() ?? err.source}: invalid configuration:`);
      for (const issue of err.issues) io.err(`  ${formatIssue(issue)}`);
      return EXIT.usage;
    }
    if (err instanceof UsageError) {
      io.err(`error: ${err.message}`);
      return EXIT.usage;
    }
    io.err(`error: ${err instanceof Error ? err.message : String(err)}`);
    return EXIT.needsAttention;
  } finally {
    const { stuck, failed } = await releases.releaseAll();
    for (const name of stuck) io.err(`warning: closing the ${name} did not finish in time`);
    for (const name of failed) io.err(`warning: closing the ${name} failed`);
  }
}

function isEntryPoint(): boolean {
  const entry = process.argv[1];
  if (!entry) return false;
  try {
    return import.meta.url === pathToFileURL(realpathSync(entry)).href;
  } catch {
    return false;
  }
}

if (isEntryPoint()) exitWithin(await main(process.argv.slice(2)));
