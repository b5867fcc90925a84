import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { Config, CredentialConfig } from '../config/types.ts';
import { logRotationEvents } from '../observability/rotation-log.ts';
import { createEngineRuntime } from '../rotation/create-engine.ts';
import { EXIT, exitCodeOf, worstExitCode, type ExitCode } from '../rotation/exit-code.ts';
import { rotateUntilFinished } from '../rotation/finish-retry.ts';
import type { RotationPlan } from '../rotation/rotation-plan.ts';
import { MODE, type Mode, type RotationResult } from '../rotation/types.ts';
import { UsageError } from './usage-error.ts';
import { credentialsOrAll } from './credential-selection.ts';
import { formatAge, shortId, table } from './output.ts';

export interface RotateOptions {
  credential?: string[];
  all?: boolean;
  mode?: string;
  json?: boolean;
  /** Adopt a foreign pending version (the `recover` command). */
  recover?: boolean;
  /** Print what would happen (the load step, reads and probes only) and write nothing. */
  dryRun?: boolean;
}

/** Rotations of different credentials run side by side, this many at a time. */
const PARALLEL_CREDENTIALS = 4;
/** A rotation left unfinished (finish_unknown, promote_failed) is run again this many times, within about 4 s. */
const FINISH_ATTEMPTS = 3;

/** Resolves `--credential ID... | --all` against the config; a usage error names what is wrong. */
export function selectCredentials(config: Config, options: Pick<RotateOptions, 'credential' | 'all'>): CredentialConfig[] {
  const ids = options.credential ?? [];
  if (options.all && ids.length > 0) throw new UsageError('give either --credential or --all, not both');
  if (!options.all && ids.length === 0) throw new UsageError('give --credential ID (repeatable) or --all');
  return credentialsOrAll(config, ids);
}

export function parseMode(value: string | undefined): Mode {
  const mode = value ?? MODE.manual;
  if (mode === MODE.scheduled || mode === MODE.manual || mode === MODE.leak) return mode;
  throw new UsageError(`--mode must be one of scheduled, manual, leak (got "${mode}")`);
}

/**
 * `rotate` and `recover`: runs the engine in this process (no Redis), prints one result per
 * credential, and returns the most severe exit code. With `dryRun`, prints each credential's plan
 * instead (exit code: what the command would end with at load; 0 when it would go on).
 */
export async function runRotate(config: Config, options: RotateOptions, io: { out: (line: string) => void; logger: Logger }): Promise<ExitCode> {
  const credentials = selectCredentials(config, options);
  const mode = parseMode(options.mode);
  const runtime = createEngineRuntime(config, { onEvent: logRotationEvents(io.logger) });
  const results: RotationResult[] = [];
  const plans: RotationPlan[] = [];
  try {
    const queue = [...credentials];
    const workers = Array.from({ length: Math.min(PARALLEL_CREDENTIALS, queue.length) }, async () => {
      for (let credential = queue.shift(); credential; credential = queue.shift()) {
        const req = { credential, mode, rotationId: randomUUID(), recover: options.recover ?? false };
        if (options.dryRun) {
          const plan = await runtime.engine.plan(req);
          plans.push(plan);
          if (options.json) io.out(JSON.stringify(plan));
          continue;
        }
        const { result } = await rotateUntilFinished((r) => runtime.engine.rotate(r), req, { attempts: FINISH_ATTEMPTS, sleep });
        results.push(result);
        if (options.json) io.out(JSON.stringify(result));
      }
    });
    await Promise.all(workers);
  } finally {
    runtime.close();
  }
  if (options.dryRun) {
    if (!options.json) io.out(renderPlans(plans));
    return worstExitCode(plans.map((p) => (p.outcome === null ? EXIT.ok : exitCodeOf(p.outcome))));
  }
  if (!options.json) io.out(renderResults(results));
  return results.length === 0 ? EXIT.ok : worstExitCode(results.map((r) => exitCodeOf(r.outcome)));
}

/** The dry run as a table: per credential what would happen, the pending version, and per cluster what it accepts. */
export function renderPlans(plans: RotationPlan[]): string {
  const rows = plans.map((p) => [
    p.credential,
    p.action,
    p.reason ?? '-',
    p.pending ? `${shortId(p.pending.versionId)}${p.pending.ageMs === null ? '' : ` (${formatAge(p.pending.ageMs)} old)`}` : '-',
    Object.entries(p.clusters)
      .map(([name, c]) => `${name}=current:${c.accepts.current}${c.accepts.pending ? ` pending:${c.accepts.pending}` : ''}${c.accepts.previous ? ` previous:${c.accepts.previous}` : ''}${c.next ? ` next:${c.next}` : ''}`)
      .join(' '),
  ]);
  const notes = plans.filter((p) => p.error).map((p) => `${p.credential}: ${p.error}`);
  return ['DRY RUN: nothing was written', table(['CREDENTIAL', 'WOULD', 'REASON', 'PENDING', 'CLUSTERS ACCEPT'], rows), ...notes].join('\n');
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export function renderResults(results: RotationResult[]): string {
  const rows = results.map((r) => [
    r.credential,
    r.outcome,
    r.reason,
    shortId(r.versionId),
    Object.entries(r.clusters)
      .map(([name, state]) => `${name}=${state}`)
      .join(' '),
    `${r.durationMs}ms`,
  ]);
  const notes = results.filter((r) => r.error).map((r) => `${r.credential}: ${r.error}`);
  return [table(['CREDENTIAL', 'OUTCOME', 'REASON', 'VERSION', 'CLUSTERS', 'TIME'], rows), ...notes].join('\n');
}
