import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { Config, CredentialConfig } from '../config/types.ts';
import { createNotifier } from '../notifications/create-notifier.ts';
import { notificationsOfResult } from '../notifications/notification.ts';
import type { Notifier } from '../notifications/notifier.ts';
import { logRotationEvents } from '../observability/rotation-log.ts';
import { createEngineRuntime } from '../rotation/create-engine.ts';
import { EXIT, exitCodeOf, worstExitCode, type ExitCode } from '../rotation/exit-code.ts';
import { rotateUntilFinished } from '../rotation/finish-retry.ts';
import type { RotationPlan } from '../rotation/rotation-plan.ts';
import { MODE, type Mode, type RotationResult } from '../rotation/types.ts';
import { STAGE, type SecretStore } from '../secrets/types.ts';
import type { OneShotContext } from './one-shot.ts';
import { RELEASE_BOUND_MS } from './releases.ts';
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

/** A credential `rotate` refused: rotated less than `rotation.minIntervalMs` ago (exit 1, nothing changed). */
export interface RefusedRotate {
  credential: string;
  outcome: 'failed';
  reason: 'min_interval';
  versionId: null;
  clusters: Record<string, never>;
  durationMs: 0;
  error: string;
  /** ISO 8601: when the next manual or scheduled rotation is possible. */
  retryAt: string;
}

/**
 * When `credential` may be rotated again in manual or scheduled mode, or null when it may now.
 * `rotate` runs without Redis, so the last completed rotation is the creation time of the
 * AWSCURRENT version when an AWSPREVIOUS exists (a secret never rotated has none: its first
 * rotation is not held back): one ListSecretVersionIds per credential per run (a read, $0.05 per
 * 10,000).
 */
async function cooldownUntil(store: Pick<SecretStore, 'listVersions'>, credential: CredentialConfig, minIntervalMs: number, nowMs: number): Promise<number | null> {
  const versions = await store.listVersions(credential.secretId);
  if (!versions.some((v) => v.stages.includes(STAGE.previous))) return null;
  const created = versions.find((v) => v.stages.includes(STAGE.current))?.createdDate?.getTime();
  if (created === undefined) return null;
  const retryAt = created + minIntervalMs;
  return retryAt > nowMs ? retryAt : null;
}

/**
 * How long the notifications of a run (config `notifications`) may still take once its rotations
 * are done: each delivery is retried for at most this long, and what is still under way after the
 * last outcome is abandoned at this bound (logged), so that the command exits. A notification
 * never changes the exit code.
 */
export const ONE_SHOT_NOTIFY_MS = 5_000;

/**
 * The run's notifier, as the worker's (same sinks, events and payloads), released by `main`:
 * the release waits for deliveries under way up to ONE_SHOT_NOTIFY_MS, then aborts them.
 */
function oneShotNotifier(config: Config, context: OneShotContext): Notifier {
  const { releases, logger } = context;
  const notifier = createNotifier(config, { logger }, { maxElapsedMs: ONE_SHOT_NOTIFY_MS });
  return releases.add(
    'notifications',
    notifier,
    async (n) => {
      const { abandoned } = await n.close(ONE_SHOT_NOTIFY_MS);
      if (abandoned > 0) logger.warn({ abandoned, boundMs: ONE_SHOT_NOTIFY_MS }, 'notifications still under way when the command ended were abandoned');
    },
    { boundMs: ONE_SHOT_NOTIFY_MS + RELEASE_BOUND_MS },
  );
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
 * credential, and returns the most severe exit code. Each result raises the notifications the
 * worker would send for it (config `notifications`), delivered in the background and bounded at
 * exit (ONE_SHOT_NOTIFY_MS). With `dryRun`, prints each credential's plan instead (exit code:
 * what the command would end with at load; 0 when it would go on), and notifies nothing.
 */
export async function runRotate(config: Config, options: RotateOptions, io: { out: (line: string) => void; logger: Logger }, context: OneShotContext): Promise<ExitCode> {
  const credentials = selectCredentials(config, options);
  const mode = parseMode(options.mode);
  const notifier = options.dryRun ? null : oneShotNotifier(config, context);
  const runtime = createEngineRuntime(config, { onEvent: logRotationEvents(io.logger) });
  const results: RotationResult[] = [];
  const refused: RefusedRotate[] = [];
  // Leak rotations are never refused; neither is `recover` (it finishes a pending version, no new
  // one), nor a dry run (it writes nothing).
  const limited = mode !== MODE.leak && options.recover !== true && options.dryRun !== true;
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
        const retryAt = limited ? await cooldownUntil(runtime.store, credential, config.rotation.minIntervalMs, Date.now()) : null;
        if (retryAt !== null) {
          const when = new Date(retryAt).toISOString();
          const refusal: RefusedRotate = {
            credential: credential.id,
            outcome: 'failed',
            reason: 'min_interval',
            versionId: null,
            clusters: {},
            durationMs: 0,
            error: `rotated less than rotation.minIntervalMs (${config.rotation.minIntervalMs} ms) ago; next rotation possible at ${when}`,
            retryAt: when,
          };
          refused.push(refusal);
          if (options.json) io.out(JSON.stringify(refusal));
          continue;
        }
        const { result } = await rotateUntilFinished((r) => runtime.engine.rotate(r), req, { attempts: FINISH_ATTEMPTS, sleep });
        results.push(result);
        // No leak summary: a one-shot leak rotation answers no alert (the worker's answers its notices).
        for (const notification of notificationsOfResult(result, undefined, Date.now())) notifier?.notify(notification);
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
  if (!options.json) {
    if (results.length > 0 || refused.length === 0) io.out(renderResults(results));
    for (const r of refused) io.out(`${r.credential}: refused: ${r.error}`);
  }
  const codes = [...results.map((r) => exitCodeOf(r.outcome)), ...refused.map(() => EXIT.failed)];
  return codes.length === 0 ? EXIT.ok : worstExitCode(codes);
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
