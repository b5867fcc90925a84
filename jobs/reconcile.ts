import { createHash } from 'node:crypto';
import { setTimeout as sleepMs } from 'node:timers/promises';
import type { Logger } from 'pino';
import { DEFAULTS } from '../src/config/schema.ts';
import { STRATEGY, usernamesOf, type AlternatingCredentialConfig, type Config, type CredentialConfig } from '../src/config/types.ts';
import { nextRun } from '../src/config/schedule.ts';
import { RotatorError, coerceError } from '../src/errors.ts';
import { CREDENTIAL_FACT, type AlternatingState, type CredentialStateStore } from '../src/queue/credential-state.ts';
import { RECONCILE_CHECK, type ReconcileCheck, type ReconcileState } from '../src/queue/reconcile-state.ts';
import type { RotationQueue } from '../src/queue/rotation-queue.ts';
import type { SecretVersionsFeed } from '../src/queue/secret-versions.ts';
import type { EngineRuntime } from '../src/rotation/create-engine.ts';
import { graceStartsAt } from '../src/rotation/alternating-plan.ts';
import { parseCredentialSecret, type CredentialSecret } from '../src/rotation/secret-value.ts';
import { MODE } from '../src/rotation/types.ts';
import { STAGE, type SecretDescription, type SecretVersion } from '../src/secrets/types.ts';

export interface ReconcileReport {
  /** Credentials that got any check in this pass. */
  checked: number;
  /** Of which: AWSCURRENT read and probed on every cluster. */
  driftChecked: number;
  /** Of which: labels read (DescribeSecret). */
  labelsChecked: number;
  /** Cluster probes made. */
  probes: number;
  /** Of the drift checks: alternating credentials in their grace whose retired user (AWSPREVIOUS) was probed too. */
  retiredChecked: number;
  resumed: string[];
  drift: string[];
  unreachable: string[];
  errors: string[];
}

export interface ReconcileDeps {
  config: Config;
  runtime: EngineRuntime;
  rotations: RotationQueue;
  credentialState: CredentialStateStore;
  reconcileState: ReconcileState;
  feed: SecretVersionsFeed;
  logger: Logger;
  /** Wall clock, unix ms. @defaultValue Date.now */
  now?: () => number;
  /** Waits between checks, spreading them over the pass. @defaultValue node:timers/promises setTimeout */
  sleep?: (ms: number) => Promise<unknown>;
}

/** Credentials checked at once. */
const PARALLEL = 8;
/** Slack on top of two schedule periods before a credential counts as overdue. */
const MAX_AGE_SLACK_MS = 3_600_000;
/** A pass spreads its checks over this share of `reconcileIntervalMs`, so Milvus sees a steady probe rate, not a burst. */
const SPREAD_SHARE = 0.5;

/**
 * The `reconcile` job, one pass every `worker.reconcileIntervalMs`. Its checks are ordered by cost,
 * and each pass takes only what is due (docs/design.md section 6; docs/operations.md "Sizing"):
 *
 * 1. Rotations of this fleet that started at least a lease ago, or whose job ended without
 *    promoting, and were not seen to finish (Redis, free): one DescribeSecret each. A stale
 *    pending version, or one whose rotation's job has ended, is resumed by enqueueing a rotation,
 *    which adopts it. Bound: found within pendingLeaseMs + reconcileIntervalMs (at the next pass
 *    when the job ended).
 * 2. Labels, every `worker.labelCheckIntervalMs` per credential (one DescribeSecret): a pending
 *    version written outside this fleet (a CLI run that died, another writer), handled as in 1;
 *    the labels are published to the fleet's feed, so every fingerprint index learns of a
 *    change made outside the rotator. Bound: labelCheckIntervalMs + reconcileIntervalMs.
 * 3. Drift, every `worker.driftCheckIntervalMs` per credential (one GetSecretValue of AWSCURRENT
 *    and a probe of each cluster): AWSCURRENT rejected somewhere, or an invalid secret, is
 *    reported (needs-attention gauge, error log): a human decides. Bound: driftCheckIntervalMs +
 *    reconcileIntervalMs. An alternating credential's check also records which user AWSCURRENT
 *    holds and when the other's grace ends (from the same read), and, during that grace only,
 *    reads AWSPREVIOUS (one GetSecretValue more) and probes the retired user on each cluster:
 *    consumers that read the secret before the promotion use it until the grace ends.
 *
 * A credential seen for the first time gets a last-check time spread over the interval (from a
 * hash of its id), so the checks of a fleet spread evenly over the interval from the first pass.
 */
export async function processReconcile(deps: ReconcileDeps): Promise<ReconcileReport> {
  // Renewed while the pass runs (a long pass, a backlog, must not let a second one start on the same checks); lapses if its holder dies.
  const intervalMs = deps.config.worker.reconcileIntervalMs;
  const lease = await deps.reconcileState.claimPass(2 * intervalMs);
  if (lease === null) {
    deps.logger.info({ step: 'reconcile' }, 'reconcile skipped: another pass is running');
    return emptyReport();
  }
  const renewal = setInterval(() => void lease.renew().catch(() => {}), intervalMs / 2);
  renewal.unref();
  try {
    return await reconcilePass(deps);
  } finally {
    clearInterval(renewal);
    await lease.release().catch(() => {});
  }
}

function emptyReport(): ReconcileReport {
  return { checked: 0, driftChecked: 0, labelsChecked: 0, probes: 0, retiredChecked: 0, resumed: [], drift: [], unreachable: [], errors: [] };
}

async function reconcilePass(deps: ReconcileDeps): Promise<ReconcileReport> {
  const now = deps.now ?? Date.now;
  const sleep = deps.sleep ?? sleepMs;
  const { config } = deps;
  const startedAt = now();
  const ids = Object.keys(config.credentials);
  const alternatingIds = ids.filter((id) => config.credentials[id]?.strategy === STRATEGY.alternating);
  await Promise.all([deps.credentialState.retain(ids, alternatingIds), deps.reconcileState.retain(ids)]);
  const report = emptyReport();

  const leaseMs = config.rotation.pendingLeaseMs;
  const rotations = await deps.reconcileState.rotations();
  const driftDue = await due(deps.reconcileState, RECONCILE_CHECK.drift, ids, config.worker.driftCheckIntervalMs ?? DEFAULTS.worker.driftCheckIntervalMs, startedAt);
  const labelsDue = new Set(await due(deps.reconcileState, RECONCILE_CHECK.labels, ids, config.worker.labelCheckIntervalMs ?? DEFAULTS.worker.labelCheckIntervalMs, startedAt));
  for (const [id, atMs] of rotations) if (startedAt - atMs >= leaseMs && Object.hasOwn(config.credentials, id)) labelsDue.add(id);
  // A rotation under way (marked less than a lease ago) moves labels and passwords: no drift probe now, the next pass has it.
  const driftWork = driftDue.filter((id) => !rotations.has(id) || startedAt - (rotations.get(id) ?? 0) >= leaseMs);
  const published = await deps.feed.labelsOf(driftWork);

  const work: Array<{ id: string; labels: boolean; drift: boolean }> = [];
  const driftSet = new Set(driftWork);
  for (const id of new Set([...labelsDue, ...driftWork])) work.push({ id, labels: labelsDue.has(id), drift: driftSet.has(id) });
  const spacingMs = work.length > 1 ? (config.worker.reconcileIntervalMs * SPREAD_SHARE) / work.length : 0;

  const inFlight = new Set<Promise<void>>();
  const spreadStart = performance.now();
  for (const [i, item] of work.entries()) {
    // Item i starts at spreadStart + i * spacing: a late timer is caught up, never accumulated.
    const waitMs = spreadStart + i * spacingMs - performance.now();
    if (waitMs >= 1) await sleep(waitMs);
    const credential = config.credentials[item.id];
    if (credential === undefined) continue;
    const task = (async () => {
      try {
        // Each check is recorded as soon as it ran, so a pass cut short (or a later one) does not redo it.
        if (item.labels) {
          await checkLabels(credential, deps, now(), report, rotations.get(credential.id));
          await deps.reconcileState.recordChecks(RECONCILE_CHECK.labels, new Map([[credential.id, now()]]));
        }
        if (item.drift) {
          await checkDrift(credential, deps, now(), report, published.get(credential.id));
          await deps.reconcileState.recordChecks(RECONCILE_CHECK.drift, new Map([[credential.id, now()]]));
        }
        report.checked++;
      } catch (err) {
        report.errors.push(credential.id);
        deps.logger.error({ credential: credential.id, step: 'reconcile', err: { message: coerceError(err).message } }, 'reconcile failed for a credential');
      }
    })();
    inFlight.add(task);
    void task.finally(() => inFlight.delete(task));
    if (inFlight.size >= PARALLEL) await Promise.race(inFlight);
  }
  await Promise.all(inFlight);
  deps.logger.info({ step: 'reconcile', ...report }, 'reconcile done');
  return report;
}

/**
 * The credentials whose `check` is due, least recently checked first. One seen for the first time
 * gets a last-check time spread over the interval by a hash of its id (recorded at once).
 */
async function due(state: ReconcileState, check: ReconcileCheck, ids: readonly string[], intervalMs: number, nowMs: number): Promise<string[]> {
  const last = await state.lastChecks(check);
  const seeded = new Map<string, number>();
  for (const id of ids) {
    if (!last.has(id)) {
      const at = nowMs - spreadFraction(id) * intervalMs;
      seeded.set(id, at);
      last.set(id, at);
    }
  }
  await state.recordChecks(check, seeded);
  return ids.filter((id) => nowMs - (last.get(id) ?? 0) >= intervalMs).sort((a, b) => (last.get(a) ?? 0) - (last.get(b) ?? 0));
}

/** A stable number in [0, 1) from a credential id. */
function spreadFraction(id: string): number {
  return createHash('sha256').update(id).digest().readUInt32BE(0) / 2 ** 32;
}

/** Labels (one DescribeSecret): publishes them to the feed; a stale pending version is resumed, a young one watched. */
async function checkLabels(credential: CredentialConfig, deps: ReconcileDeps, now: number, report: ReconcileReport, markedAtMs: number | undefined): Promise<void> {
  const store = deps.runtime.store;
  let description: SecretDescription;
  try {
    description = await store.describe(credential.secretId);
  } catch (err) {
    return readFailed(credential, deps, report, err);
  }
  report.labelsChecked++;
  await deps.feed.publish(credential.id, description.versions);
  const labels = description.versions;
  const currentId = Object.keys(labels).find((id) => labels[id]?.includes(STAGE.current));
  const pendingId = Object.keys(labels).find((id) => id !== currentId && labels[id]?.includes(STAGE.pending));
  if (pendingId === undefined) {
    await deps.credentialState.record(credential.id, { [CREDENTIAL_FACT.pendingSince]: 0 });
    // A rotation marked less than a lease ago may not have written its pending version yet: keep watching it.
    if (markedAtMs !== undefined && now - markedAtMs >= deps.config.rotation.pendingLeaseMs) await deps.reconcileState.clearRotation(credential.id);
    return;
  }
  // Nothing changed since LastChangedDate: a pending version older than the lease by that date is stale
  // without another call; otherwise its creation date decides (ListSecretVersionIds, rare).
  const leaseMs = deps.config.rotation.pendingLeaseMs;
  let createdMs: number | null = null;
  const changedMs = description.lastChangedDate?.getTime();
  if (changedMs !== undefined && now - changedMs >= leaseMs) createdMs = changedMs;
  else {
    const versions = await store.listVersions(credential.secretId).catch(() => []);
    createdMs = versions.find((v) => v.versionId === pendingId)?.createdDate?.getTime() ?? null;
  }
  await deps.credentialState.record(credential.id, { [CREDENTIAL_FACT.pendingSince]: Math.floor((createdMs ?? now) / 1000) });
  let message = 'stale pending version: rotation enqueued to resume it';
  if (createdMs !== null && now - createdMs < leaseMs) {
    // Young. A pending version whose rotation's job has ended will not be finished by it: resume it now, not after the lease.
    if ((await deps.rotations.rotationOwner(pendingId)) !== 'ended') {
      // A rotation under way: look again once it would be stale.
      await deps.reconcileState.markRotation(credential.id, createdMs);
      return;
    }
    message = 'pending version of an ended rotation: rotation enqueued to resume it';
  }
  await deps.reconcileState.markRotation(credential.id, now);
  // resume: finishes a pending version (no new one), so rotation.minIntervalMs does not apply.
  await deps.rotations.enqueue({ credentialId: credential.id, mode: MODE.manual, requestedBy: 'reconcile', resume: true });
  report.resumed.push(credential.id);
  deps.logger.warn({ credential: credential.id, step: 'reconcile', pendingVersionId: pendingId }, message);
}

/**
 * Drift (one GetSecretValue of AWSCURRENT, one probe per cluster). A version id other than the
 * feed's says the secret changed outside the rotator: its labels are read and published.
 * Alternating credentials: the users and the grace end are recorded (recordAlternating); during
 * the grace the retired user's AWSPREVIOUS password is read and probed too (one GetSecretValue and
 * one probe per cluster more), and a rejection of either user is drift.
 */
async function checkDrift(credential: CredentialConfig, deps: ReconcileDeps, now: number, report: ReconcileReport, published: Record<string, string[]> | undefined): Promise<void> {
  const store = deps.runtime.store;
  let current;
  try {
    current = await store.getByStage(credential.secretId, STAGE.current);
  } catch (err) {
    return readFailed(credential, deps, report, err);
  }
  const secret = current ? parseCredentialSecret(current.value) : null;
  if (!current || !secret) return needsAttention(credential, deps, report, 'secret_invalid', 'no AWSCURRENT value with string username and password');
  const users = usernamesOf(credential);
  if (!users.includes(secret.username)) return needsAttention(credential, deps, report, 'secret_invalid', `the secret belongs to another user than ${users.map((u) => `"${u}"`).join(' or ')}`);
  report.driftChecked++;
  const maxAgeMs = maxAge(credential, now);
  await deps.credentialState.record(credential.id, {
    ...(current.createdDate ? { [CREDENTIAL_FACT.currentSince]: Math.floor(current.createdDate.getTime() / 1000) } : {}),
    ...(maxAgeMs !== null ? { [CREDENTIAL_FACT.maxAgeSeconds]: maxAgeMs / 1000 } : {}),
  });
  const publishedCurrent = published === undefined ? undefined : Object.keys(published).find((id) => published[id]?.includes(STAGE.current));
  let description: SecretDescription | null = null;
  if (publishedCurrent !== current.versionId) {
    description = await store.describe(credential.secretId);
    await deps.feed.publish(credential.id, description.versions);
  }
  let retired: CredentialSecret | null = null;
  if (credential.strategy === STRATEGY.alternating) {
    const alternating = await recordAlternating(credential, deps, current, secret.username, description);
    // The retired user during its grace: consumers that read the secret before the last promotion still use it.
    if (alternating.graceEndsAt !== null && now < alternating.graceEndsAt * 1000) retired = await readRetired(credential, deps, alternating.retiredUser);
  }

  const probe = (user: string, password: string) => Promise.all(credential.clusters.map(async (name) => [name, (await deps.runtime.cluster(name).probe(user, password)).kind] as const));
  const [answers, retiredAnswers] = await Promise.all([probe(secret.username, secret.password), retired ? probe(retired.username, retired.password) : null]);
  report.probes += answers.length + (retiredAnswers?.length ?? 0);
  if (retiredAnswers) report.retiredChecked++;
  const rejecting = answers.filter(([, kind]) => kind === 'rejected').map(([name]) => name);
  const retiredRejecting = (retiredAnswers ?? []).filter(([, kind]) => kind === 'rejected').map(([name]) => name);
  if (rejecting.length > 0 || retiredRejecting.length > 0) {
    // The values were read before the probes: a rotation that wrote AWSPENDING and set the clusters in
    // between makes a healthy credential look drifted. Read the labels again; if they moved (or a
    // pending version explains it), a rotation is under way and the labels check settles it.
    const labels = (await store.describe(credential.secretId)).versions;
    const moved = Object.entries(labels).some(([id, stages]) => id !== current.versionId && (stages.includes(STAGE.current) || stages.includes(STAGE.pending)));
    if (moved) {
      await deps.feed.publish(credential.id, labels);
      return;
    }
    const what = [
      ...(rejecting.length > 0 ? [`AWSCURRENT is rejected by ${rejecting.join(', ')}`] : []),
      ...(retiredRejecting.length > 0 ? [`AWSPREVIOUS (user ${retired?.username}, in its grace) is rejected by ${retiredRejecting.join(', ')}`] : []),
    ];
    return needsAttention(credential, deps, report, 'drift', what.join('; '), Object.fromEntries(answers), retiredAnswers ? Object.fromEntries(retiredAnswers) : undefined);
  }
  if ([...answers, ...(retiredAnswers ?? [])].some(([, kind]) => kind === 'unknown')) {
    report.unreachable.push(credential.id);
    deps.logger.warn(
      { credential: credential.id, step: 'reconcile', status: 'unreachable', clusters: Object.fromEntries(answers), ...(retiredAnswers ? { retiredClusters: Object.fromEntries(retiredAnswers) } : {}) },
      'credential could not be checked',
    );
    return;
  }
  await deps.credentialState.record(credential.id, { [CREDENTIAL_FACT.needsAttention]: 0 });
}

/**
 * Alternating credentials, from the drift check's reads (no Secrets Manager call of its own):
 * which configured user AWSCURRENT holds, and when the other's grace ends. What Redis holds for
 * this AWSCURRENT version is kept (the rotation that promoted it recorded the instant it did);
 * for any other version (promoted outside the fleet, or the facts lost) the grace end is taken
 * from the reads by the strategy's rule (graceStartsAt, as the strategy and `status` count it:
 * from the promotion when the check described the secret, which it does when the version is new
 * to the fleet's label feed; from AWSCURRENT's creation otherwise), and recorded.
 */
async function recordAlternating(credential: AlternatingCredentialConfig, deps: ReconcileDeps, current: SecretVersion, activeUser: string, description: SecretDescription | null): Promise<AlternatingState> {
  const recorded = await deps.credentialState.readAlternating(credential.id);
  if (recorded && recorded.versionId === current.versionId && recorded.activeUser === activeUser) return recorded;
  // The strategy's own rule. AWSPREVIOUS's creation is not read here; LastChangedDate only when this check described the secret.
  const graceStart = graceStartsAt({
    current: { createdAt: current.createdDate?.getTime() ?? null, carriesPending: current.stages.includes(STAGE.pending) },
    previous: null,
    lastChangedAt: description?.lastChangedDate?.getTime() ?? null,
    graceMs: credential.graceMs,
  });
  const graceEndsAtMs = graceStart === null ? null : graceStart + credential.graceMs;
  const [first, second] = credential.usernames;
  const state: AlternatingState = {
    activeUser,
    retiredUser: activeUser === first ? second : first,
    graceEndsAt: graceEndsAtMs === null ? null : Math.floor(graceEndsAtMs / 1000),
    versionId: current.versionId,
  };
  await deps.credentialState.recordAlternating(credential.id, state);
  return state;
}

/**
 * The retired user's credential under AWSPREVIOUS (one GetSecretValue), or null: none, not a
 * credential, or another user's (not onboarded yet). A failed read skips the check (the next one has it).
 */
async function readRetired(credential: AlternatingCredentialConfig, deps: ReconcileDeps, retiredUser: string): Promise<CredentialSecret | null> {
  try {
    const previous = await deps.runtime.store.getByStage(credential.secretId, STAGE.previous);
    const secret = previous ? parseCredentialSecret(previous.value) : null;
    return secret?.username === retiredUser ? secret : null;
  } catch (err) {
    deps.logger.warn({ credential: credential.id, step: 'reconcile', error: coerceError(err).message }, 'AWSPREVIOUS could not be read; the retired user is checked next time');
    return null;
  }
}

/** A read of the secret failed: a missing secret needs a human; anything else is retried by the next check. */
async function readFailed(credential: CredentialConfig, deps: ReconcileDeps, report: ReconcileReport, err: unknown): Promise<void> {
  const e = coerceError(err);
  if (e instanceof RotatorError && e.code === 'SECRET_NOT_FOUND') return needsAttention(credential, deps, report, 'secret_invalid', e.message);
  report.unreachable.push(credential.id);
  deps.logger.warn({ credential: credential.id, step: 'reconcile', status: 'secrets_manager_error', error: e.message }, 'credential could not be checked');
}

async function needsAttention(
  credential: CredentialConfig,
  deps: ReconcileDeps,
  report: ReconcileReport,
  status: 'drift' | 'secret_invalid',
  error: string,
  clusters?: Record<string, string>,
  retiredClusters?: Record<string, string>,
): Promise<void> {
  await deps.credentialState.record(credential.id, { [CREDENTIAL_FACT.needsAttention]: 1 });
  report.drift.push(credential.id);
  deps.logger.error({ credential: credential.id, step: 'reconcile', status, clusters, ...(retiredClusters ? { retiredClusters } : {}), error }, 'credential needs attention');
}

/** Two schedule periods plus slack: longer than that since the last rotation means the schedule is not working. */
function maxAge(credential: CredentialConfig, now: number): number | null {
  const first = nextRun(credential.schedule, credential.timezone, new Date(now));
  if (!first) return null;
  const second = nextRun(credential.schedule, credential.timezone, first);
  if (!second) return null;
  return 2 * (second.getTime() - first.getTime()) + MAX_AGE_SLACK_MS;
}
