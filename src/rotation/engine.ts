import { randomBytes } from 'node:crypto';
import { STRATEGY, type PasswordPolicy, type SingleCredentialConfig } from '../config/types.ts';
import type { ClusterClient } from '../milvus/types.ts';
import { STAGE, type SecretStore } from '../secrets/types.ts';
import { RotatorError, coerceError } from '../errors.ts';
import { changePassword, probeClearly, type ChangeOptions, type ChangeResult } from './change-password.ts';
import { parseCredentialSecret, withPassword, type CredentialSecret } from './secret-value.ts';
import {
  CLUSTER_STATE,
  MODE,
  OUTCOME,
  REASON,
  STEP,
  type ClusterState,
  type Outcome,
  type Reason,
  type RotationEvent,
  type RotationRequest,
  type RotationResult,
  type Step,
} from './types.ts';

/** Retry and timing knobs; defaults in ENGINE_DEFAULTS. */
export interface EngineTuning {
  /** update_password attempts per cluster while it provably still holds the old password. */
  changeAttempts: number;
  /** Probes spent on one ambiguous answer. */
  probeAttempts: number;
  /** Backoff base between attempts and probes. */
  retryDelayMs: number;
  /** Verification probes per cluster (propagation: spec section 8 allows 2-3 over about 1 s). */
  verifyAttempts: number;
  verifyDelayMs: number;
  /**
   * A foreign pending version younger than this is taken to have a live owner and is left alone
   * (refused); an older one is adopted. It must exceed the longest rotation.
   */
  pendingLeaseMs: number;
  /** Leak mode: extra passes over clusters that could not be moved before reporting them. */
  leakForwardPasses: number;
}

export const ENGINE_DEFAULTS = {
  changeAttempts: 3,
  probeAttempts: 3,
  retryDelayMs: 100,
  verifyAttempts: 4,
  verifyDelayMs: 150,
  pendingLeaseMs: 10 * 60_000,
  leakForwardPasses: 3,
} as const satisfies EngineTuning;

export interface EngineDeps {
  store: SecretStore;
  /** The client for a configured cluster name. */
  cluster: (name: string) => ClusterClient;
  generatePassword: (policy: PasswordPolicy) => string;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
  /** A password no cluster should accept, to detect authentication turned off. */
  wrongPassword?: () => string;
  onEvent?: (event: RotationEvent) => void;
  /**
   * Called before every side effect (and at each step boundary) with what is about to happen.
   * Throws (LeaseLostError) when this process no longer owns the credential: the engine stops at
   * once, does no clean-up, and lets the error through.
   */
  fence?: (what: string) => Promise<void>;
  tuning?: Partial<EngineTuning>;
}

/** What a cluster holds, as far as this run knows. */
type Holds = 'current' | 'pending' | 'unknown' | 'other';

interface ClusterProgress {
  state: ClusterState;
  holds: Holds;
  detail?: string;
}

/** Per-rotation state, passed from step to step (never kept on the engine). */
interface Run {
  req: RotationRequest & { credential: SingleCredentialConfig };
  startedAt: number;
  clusters: Map<string, ClusterProgress>;
  versionId: string | null;
}

interface Loaded {
  current: { versionId: string; secret: CredentialSecret };
  /** The version this run writes or resumes. */
  token: string;
  /** The pending password when a pending version with a value exists (resume), else null. */
  pending: CredentialSecret | null;
  /** True when a pending version existed (ours or adopted): clusters may already hold it. */
  resuming: boolean;
  previous: () => Promise<CredentialSecret | null>;
}

type StepResult<T> = { ok: T } | { stop: RotationResult };

/**
 * The rotation engine: one credential, all of its clusters, the protocol of DESIGN section 5.
 * It knows nothing of queues or HTTP; it takes a request and returns the outcome as data.
 * Expected failures never throw; only a lost lease (from `fence`) and programming errors do.
 */
export class RotationEngine {
  private readonly deps: Required<Omit<EngineDeps, 'onEvent' | 'fence' | 'tuning'>> &
    Pick<EngineDeps, 'onEvent'> & { fence: (what: string) => Promise<void> };
  private readonly tuning: EngineTuning;

  constructor(deps: EngineDeps) {
    this.deps = {
      store: deps.store,
      cluster: deps.cluster,
      generatePassword: deps.generatePassword,
      now: deps.now ?? Date.now,
      sleep: deps.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms))),
      wrongPassword: deps.wrongPassword ?? (() => `Wrong-${randomBytes(18).toString('base64url')}`),
      onEvent: deps.onEvent,
      fence: deps.fence ?? (async () => {}),
    };
    this.tuning = { ...ENGINE_DEFAULTS, ...deps.tuning };
  }

  async rotate(request: RotationRequest): Promise<RotationResult> {
    const { credential } = request;
    if (credential.strategy !== STRATEGY.single) throw new RotatorError('ROTATOR_STRATEGY_UNAVAILABLE', `credential ${credential.id}: this engine runs the single strategy only`);
    const req = { ...request, credential };
    const run: Run = {
      req,
      startedAt: this.deps.now(),
      clusters: new Map(req.credential.clusters.map((name) => [name, { state: CLUSTER_STATE.unchanged, holds: 'current' }])),
      versionId: null,
    };
    const loaded = await this.step(run, STEP.load, () => this.load(run));
    if ('stop' in loaded) return this.emitOutcome(loaded.stop);
    const { current, token } = loaded.ok;
    run.versionId = token;

    const written = await this.step(run, STEP.writeAhead, () => this.writeAhead(run, loaded.ok));
    if ('stop' in written) return this.emitOutcome(written.stop);
    const pending = written.ok;

    await this.step(run, STEP.set, () => this.setAll(run, loaded.ok, pending));
    const afterSet = [...run.clusters.values()];
    if (afterSet.some((c) => c.holds !== 'pending')) {
      return this.emitOutcome(await this.failAfterSet(run, current.secret, pending, token));
    }

    const verified = await this.step(run, STEP.verify, () => this.verify(run, current.secret, pending));
    if (!verified) return this.emitOutcome(await this.failAfterSet(run, current.secret, pending, token));

    return this.emitOutcome(await this.step(run, STEP.finish, () => this.finish(run, current, pending, token)));
  }

  // ---------------------------------------------------------------------------------------------
  // 1. Load
  // ---------------------------------------------------------------------------------------------

  /**
   * Reads the secret and checks every cluster's authentication at once. The cases:
   *  1. No AWSCURRENT value, or not a credential JSON: refuse (secret_invalid).
   *  2. The secret names another user: refuse (confused deputy, DESIGN section 4).
   *  3. Our rotation id already holds AWSCURRENT: an earlier run finished; check and report.
   *  4. AWSPENDING on a version other than AWSCURRENT:
   *     a. it is ours (VersionId == rotation id): resume;
   *     b. foreign and younger than the lease (its owner may be alive), without `recover`: refuse;
   *     c. foreign and older, or `recover`: adopt it and resume.
   *  5. Our rotation id exists under another label (it already ended): refuse (rotation_id_spent).
   *  6. A cluster accepts a random wrong password: authentication is off, refuse.
   *  7. A cluster gives no answer: refuse before writing anything, unless resuming or in leak mode
   *     (a leaked password must die on every cluster that can be reached).
   */
  private async load(run: Run): Promise<StepResult<Loaded>> {
    const { credential, rotationId, recover, mode } = run.req;
    const secretId = credential.secretId;
    const wrong = this.deps.wrongPassword();
    // Retried like every probe: one gateway error must not cost a scheduled rotation its turn.
    const authChecks = Promise.all(
      credential.clusters.map(async (name) => {
        const answer = await probeClearly(this.deps.cluster(name), credential.username, wrong, this.probeOptions());
        return [name, typeof answer === 'object' ? { kind: 'unknown' as const, reason: answer.unknown } : { kind: answer }] as const;
      }),
    );
    let description;
    let currentVersion;
    try {
      [description, currentVersion] = await Promise.all([this.deps.store.describe(secretId), this.deps.store.getByStage(secretId, STAGE.current)]);
    } catch (err) {
      await authChecks;
      const notFound = err instanceof RotatorError && err.code === 'SECRET_NOT_FOUND';
      return this.stop(run, OUTCOME.failed, notFound ? REASON.secretNotFound : REASON.secretsManagerError, describeError(err));
    }
    const checks = await authChecks;

    // Case 1.
    const current = currentVersion ? parseCredentialSecret(currentVersion.value) : null;
    if (!currentVersion || !current) {
      return this.stop(run, OUTCOME.failed, REASON.secretInvalid, `secret "${secretId}" has no AWSCURRENT value with string username and password`);
    }
    // Case 2.
    if (current.username !== credential.username) {
      return this.stop(run, OUTCOME.failed, REASON.usernameMismatch, `secret "${secretId}" belongs to another user than "${credential.username}"; refusing to rotate it`);
    }
    const labels = description.versions;
    // Case 3.
    if (currentVersion.versionId === rotationId) {
      run.versionId = rotationId;
      return { stop: await this.confirmAlreadyRotated(run, current) };
    }

    const pendingId = Object.keys(labels).find((id) => labels[id]?.includes(STAGE.pending) && id !== currentVersion.versionId);
    const previous = memo(async () => {
      const version = await this.deps.store.getByStage(secretId, STAGE.previous);
      return version ? parseCredentialSecret(version.value) : null;
    });
    const base = { current: { versionId: currentVersion.versionId, secret: current }, previous };

    let loaded: Loaded;
    if (pendingId) {
      let pendingVersion;
      try {
        pendingVersion = await this.deps.store.getByVersion(secretId, pendingId);
      } catch (err) {
        return this.stop(run, OUTCOME.failed, REASON.secretsManagerError, describeError(err));
      }
      const ours = pendingId === rotationId;
      if (!ours && !recover) {
        // Case 4b: a version without a creation date is treated as young (refuse, never guess).
        const created = pendingVersion?.createdDate?.getTime() ?? this.deps.now();
        if (this.deps.now() - created < this.tuning.pendingLeaseMs) {
          run.versionId = pendingId;
          return this.stop(run, OUTCOME.failed, REASON.rotationInProgress, `another rotation (version ${pendingId}) is in progress on secret "${secretId}"; retry later or run recover`);
        }
      }
      // Cases 4a and 4c. A pending placeholder without a value (RotateSecret's) is filled in writeAhead.
      const pending = pendingVersion ? parseCredentialSecret(pendingVersion.value) : null;
      if (pendingVersion && (!pending || pending.username !== credential.username)) {
        run.versionId = pendingId;
        return this.stop(run, OUTCOME.needsAttention, REASON.secretInvalid, `pending version ${pendingId} of secret "${secretId}" is not a credential of user "${credential.username}"`);
      }
      loaded = { ...base, token: pendingId, pending, resuming: pending !== null };
    } else {
      // Case 5.
      if (labels[rotationId]) {
        return this.stop(run, OUTCOME.failed, REASON.rotationIdSpent, `rotation ${rotationId} already ended on secret "${secretId}"; start a new rotation`);
      }
      loaded = { ...base, token: rotationId, pending: null, resuming: false };
    }

    // Cases 6 and 7.
    const authOff = checks.filter(([, answer]) => answer.kind === 'accepted').map(([name]) => name);
    if (authOff.length > 0) {
      for (const name of authOff) this.setCluster(run, name, { state: CLUSTER_STATE.authDisabled, holds: 'unknown' });
      return this.stop(run, OUTCOME.failed, REASON.authDisabled, `authentication is off on ${authOff.join(', ')}: a wrong password was accepted`);
    }
    const silent = checks.filter(([, answer]) => answer.kind === 'unknown');
    if (silent.length > 0 && !loaded.resuming && mode !== MODE.leak) {
      for (const [name, answer] of silent) {
        this.setCluster(run, name, { state: CLUSTER_STATE.unreachable, holds: 'current', detail: answer.kind === 'unknown' ? answer.reason : '' });
      }
      return this.stop(run, OUTCOME.failed, REASON.clusterUnreachable, `no answer from ${silent.map(([n]) => n).join(', ')}; nothing was changed`);
    }
    return { ok: loaded };
  }

  /** Case 3 of load: the rotation finished earlier (a crash after promoting); confirm every cluster. */
  private async confirmAlreadyRotated(run: Run, current: CredentialSecret): Promise<RotationResult> {
    const { credential } = run.req;
    const answers = await Promise.all(credential.clusters.map(async (name) => [name, await this.probeUntil(run, name, current.password, 'accepted')] as const));
    for (const [name, accepted] of answers) {
      this.setCluster(run, name, accepted ? { state: CLUSTER_STATE.updated, holds: 'pending' } : { state: CLUSTER_STATE.unknownPassword, holds: 'other' });
    }
    if (answers.every(([, accepted]) => accepted)) return this.result(run, OUTCOME.rotated, REASON.alreadyRotated);
    return this.result(run, OUTCOME.needsAttention, REASON.unknownPassword, 'this rotation was already promoted, but a cluster does not accept AWSCURRENT');
  }

  // ---------------------------------------------------------------------------------------------
  // 2. Write ahead
  // ---------------------------------------------------------------------------------------------

  /**
   * Makes the new password durable under AWSPENDING before any cluster sees it. An existing
   * pending password is never regenerated (a retry must not make a new value: PutSecretValue is
   * idempotent only for the same token and value, spec/secrets-manager.md 2.2).
   */
  private async writeAhead(run: Run, loaded: Loaded): Promise<StepResult<CredentialSecret>> {
    if (loaded.pending) return { ok: loaded.pending };
    const { credential } = run.req;
    const password = this.deps.generatePassword(credential.password);
    const value = withPassword(loaded.current.secret, password);
    await this.deps.fence('put-pending');
    try {
      await this.deps.store.putPending(credential.secretId, loaded.token, value);
    } catch (err) {
      if (err instanceof RotatorError && err.code === 'SECRET_VERSION_CONFLICT') {
        return this.stop(run, OUTCOME.failed, REASON.rotationIdSpent, `rotation ${loaded.token} already wrote another value to secret "${credential.secretId}"; start a new rotation`);
      }
      return this.stop(run, OUTCOME.failed, REASON.secretsManagerError, describeError(err));
    }
    const pending = parseCredentialSecret(value);
    if (!pending) throw new Error('a generated secret value did not parse back');
    return { ok: pending };
  }

  // ---------------------------------------------------------------------------------------------
  // 3. Set
  // ---------------------------------------------------------------------------------------------

  /** Sets the pending password on every cluster in parallel; in leak mode, retries forward. */
  private async setAll(run: Run, loaded: Loaded, pending: CredentialSecret): Promise<void> {
    const names = run.req.credential.clusters;
    await Promise.all(names.map((name) => this.setOne(run, name, loaded, pending, loaded.resuming)));
    if (run.req.mode !== MODE.leak) return;
    for (let pass = 1; pass <= this.tuning.leakForwardPasses; pass++) {
      const stuck = names.filter((name) => {
        const progress = run.clusters.get(name);
        return progress?.state === CLUSTER_STATE.unreachable;
      });
      if (stuck.length === 0) return;
      await this.deps.sleep(this.tuning.retryDelayMs * 2 ** pass);
      await Promise.all(stuck.map((name) => this.setOne(run, name, loaded, pending, true)));
    }
  }

  /**
   * One cluster. The cases:
   *  1. Resuming: the cluster may already hold the pending password (a crash after setting it).
   *  2. Change current -> pending.
   *  3. The current password is not live there: the cluster may be one version behind; change
   *     previous -> pending.
   *  4. Neither works: it holds a password we do not have. Stop, no retry loop (needs_attention).
   */
  private async setOne(run: Run, name: string, loaded: Loaded, pending: CredentialSecret, resuming: boolean): Promise<void> {
    const client = this.deps.cluster(name);
    const user = run.req.credential.username;
    // Case 1.
    if (resuming) {
      const answer = await this.probeClear(client, user, pending.password);
      if (answer === 'accepted') return this.setCluster(run, name, { state: CLUSTER_STATE.updated, holds: 'pending' });
      if (answer === 'unknown') return this.setCluster(run, name, { state: CLUSTER_STATE.unreachable, holds: 'unknown', detail: 'no answer to probe' });
    }
    // Case 2.
    let result = await changePassword(client, user, loaded.current.secret.password, pending.password, this.changeOptions(name));
    // Case 3.
    if (result.kind === 'from-rejected') {
      const previous = await loaded.previous().catch(() => null);
      if (previous && previous.password !== loaded.current.secret.password && previous.password !== pending.password) {
        result = await changePassword(client, user, previous.password, pending.password, this.changeOptions(name));
      }
    }
    this.setCluster(run, name, progressAfterChange(result, 'pending'));
  }

  // ---------------------------------------------------------------------------------------------
  // 4. Verify
  // ---------------------------------------------------------------------------------------------

  /** Every cluster accepts the pending password and rejects the current one (short retries for propagation). */
  private async verify(run: Run, current: CredentialSecret, pending: CredentialSecret): Promise<boolean> {
    const names = run.req.credential.clusters;
    const checks = await Promise.all(
      names.map(async (name) => {
        const [newAccepted, oldRejected] = await Promise.all([
          this.probeUntil(run, name, pending.password, 'accepted'),
          this.probeUntil(run, name, current.password, 'rejected'),
        ]);
        return { name, newAccepted, oldRejected };
      }),
    );
    let ok = true;
    for (const { name, newAccepted, oldRejected } of checks) {
      if (newAccepted && oldRejected) continue;
      ok = false;
      this.setCluster(run, name, {
        state: CLUSTER_STATE.verifyFailed,
        holds: newAccepted ? 'pending' : 'unknown',
        detail: newAccepted ? 'the old password is still accepted' : 'the new password is not accepted',
      });
    }
    return ok;
  }

  // ---------------------------------------------------------------------------------------------
  // 5. Finish
  // ---------------------------------------------------------------------------------------------

  /**
   * Moves AWSCURRENT to the new version (AWSPREVIOUS follows), then reads the labels back.
   * AWSPENDING is left on the new version: with AWSCURRENT beside it that is AWS's documented
   * "rotation complete" state (spec/secrets-manager.md 1.1), and leaving it saves one write of
   * the shared 50/s quota and one round trip. Load treats it as no rotation in progress.
   */
  private async finish(run: Run, current: Loaded['current'], pending: CredentialSecret, token: string): Promise<RotationResult> {
    const { credential } = run.req;
    await this.deps.fence('promote');
    let promoteError: unknown = null;
    try {
      await this.deps.store.promote(credential.secretId, token, { currentVersionId: current.versionId, keepPendingLabel: true });
    } catch (err) {
      promoteError = err;
    }
    let labels: Record<string, string[]>;
    try {
      labels = (await this.deps.store.describe(credential.secretId)).versions;
    } catch (err) {
      // Every cluster holds the pending password, which AWSPENDING records; whether AWSCURRENT
      // moved is unknown, so rolling back could strand the clusters on AWSPREVIOUS. A human (or
      // the next run, which resumes) must settle it.
      return this.result(run, OUTCOME.needsAttention, REASON.finishUnknown, `could not confirm AWSCURRENT moved: ${describeError(promoteError ?? err)}`);
    }
    if (labels[token]?.includes(STAGE.current)) return this.result(run, OUTCOME.rotated, REASON.ok);
    return this.failAfterSet(run, current.secret, pending, token, `AWSCURRENT did not move: ${describeError(promoteError ?? new Error('end state differs'))}`);
  }

  // ---------------------------------------------------------------------------------------------
  // Failure policy
  // ---------------------------------------------------------------------------------------------

  /**
   * After the set step has begun. The cases:
   *  1. Leak mode: never restore the leaked password. Keep AWSPENDING (clusters hold it) and report
   *     the clusters that could not be moved; if no cluster took it, drop AWSPENDING.
   *  2. No cluster holds (or may hold) the new password: drop AWSPENDING, outcome failed.
   *  3. Some do: put them back to the current password, verify, then drop AWSPENDING: rolled_back.
   *     A cluster that cannot be put back keeps the new password, so AWSPENDING stays: needs_attention.
   *  A cluster holding a password we do not have makes any outcome needs_attention.
   */
  private async failAfterSet(run: Run, current: CredentialSecret, pending: CredentialSecret, token: string, why?: string): Promise<RotationResult> {
    const { credential, mode } = run.req;
    const clusters = [...run.clusters.entries()];
    const strangers = clusters.filter(([, c]) => c.holds === 'other').map(([n]) => n);
    const touched = clusters.filter(([, c]) => c.holds === 'pending' || c.holds === 'unknown').map(([n]) => n);
    const reason = why ?? summarize(run);
    const baseReason = failureReason(run);

    // Case 1.
    if (mode === MODE.leak) {
      if (touched.length === 0) await this.abandonQuietly(run, token);
      const outcomeReason = strangers.length > 0 ? REASON.unknownPassword : REASON.leakNotContained;
      return this.result(run, OUTCOME.needsAttention, outcomeReason, `leak not contained on every cluster: ${reason}`);
    }
    // Case 2.
    if (touched.length === 0) {
      const abandonNote = await this.abandonQuietly(run, token);
      const outcome: Outcome = strangers.length > 0 ? OUTCOME.needsAttention : OUTCOME.failed;
      return this.result(run, outcome, baseReason, reason + abandonNote);
    }
    // Case 3.
    const rolledBack = await this.step(run, STEP.rollBack, async () =>
      Promise.all(
        touched.map(async (name) => {
          const client = this.deps.cluster(name);
          // A cluster whose state was unknown may never have changed: look before writing.
          if (run.clusters.get(name)?.holds === 'unknown' && (await this.probeClear(client, credential.username, current.password)) === 'accepted') {
            this.setCluster(run, name, { state: CLUSTER_STATE.unchanged, holds: 'current' });
            return true;
          }
          const result = await changePassword(client, credential.username, pending.password, current.password, this.changeOptions(name));
          const back = result.kind === 'changed' && (await this.probeUntil(run, name, current.password, 'accepted'));
          this.setCluster(
            run,
            name,
            back ? { state: CLUSTER_STATE.rolledBack, holds: 'current' } : { ...progressAfterChange(result, 'current'), state: CLUSTER_STATE.rollbackFailed },
          );
          return back;
        }),
      ),
    );
    if (rolledBack.every(Boolean)) {
      const abandonNote = await this.abandonQuietly(run, token);
      const outcome: Outcome = strangers.length > 0 ? OUTCOME.needsAttention : OUTCOME.rolledBack;
      return this.result(run, outcome, baseReason, reason + abandonNote);
    }
    return this.result(run, OUTCOME.needsAttention, REASON.rollbackFailed, `${reason}; roll back failed, AWSPENDING kept (it holds the live password of ${clusters.filter(([, c]) => c.state === CLUSTER_STATE.rollbackFailed).map(([n]) => n).join(', ')})`);
  }

  /** Drops AWSPENDING from the abandoned version; a failure leaves a stale pending version that the next run or reconcile adopts. */
  private async abandonQuietly(run: Run, token: string): Promise<string> {
    try {
      await this.deps.fence('abandon');
      await this.deps.store.abandon(run.req.credential.secretId, token);
      return '';
    } catch (err) {
      if (isFenceError(err)) throw err;
      return `; AWSPENDING could not be removed (${describeError(err)})`;
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Helpers
  // ---------------------------------------------------------------------------------------------

  private changeOptions(cluster: string): ChangeOptions {
    return {
      maxAttempts: this.tuning.changeAttempts,
      maxProbes: this.tuning.probeAttempts,
      retryDelayMs: this.tuning.retryDelayMs,
      sleep: this.deps.sleep,
      beforeWrite: () => this.deps.fence(`update-password:${cluster}`),
    };
  }

  private probeOptions(): Pick<ChangeOptions, 'maxProbes' | 'retryDelayMs' | 'sleep'> {
    return { maxProbes: this.tuning.probeAttempts, retryDelayMs: this.tuning.retryDelayMs, sleep: this.deps.sleep };
  }

  /** A probe retried until it gets a clear answer (or the attempts run out: unknown). */
  private async probeClear(client: ClusterClient, user: string, password: string): Promise<'accepted' | 'rejected' | 'unknown'> {
    const answer = await probeClearly(client, user, password, this.probeOptions());
    return typeof answer === 'object' ? 'unknown' : answer;
  }

  /** Probes until the answer is `want` (verification retries for propagation); false otherwise. */
  private async probeUntil(run: Run, name: string, password: string, want: 'accepted' | 'rejected'): Promise<boolean> {
    const client = this.deps.cluster(name);
    for (let i = 0; i < this.tuning.verifyAttempts; i++) {
      if (i > 0) await this.deps.sleep(this.tuning.verifyDelayMs);
      const answer = await client.probe(run.req.credential.username, password);
      if (answer.kind === want) return true;
    }
    return false;
  }

  private setCluster(run: Run, name: string, progress: ClusterProgress): void {
    run.clusters.set(name, progress);
    const { credential, rotationId } = run.req;
    this.emit({ type: 'cluster', credential: credential.id, rotationId, cluster: name, state: progress.state, ...(progress.detail ? { detail: progress.detail } : {}) });
  }

  private async step<T>(run: Run, step: Step, body: () => Promise<T>): Promise<T> {
    const { credential, rotationId } = run.req;
    await this.deps.fence(`step:${step}`);
    const began = this.deps.now();
    this.emit({ type: 'step-begin', credential: credential.id, rotationId, step });
    let ok = false;
    try {
      const value = await body();
      // A step fails by returning a stop (load, write ahead) or false (verify).
      ok = value !== false && !(typeof value === 'object' && value !== null && 'stop' in value);
      return value;
    } finally {
      this.emit({ type: 'step-end', credential: credential.id, rotationId, step, durationMs: this.deps.now() - began, ok });
    }
  }

  private stop(run: Run, outcome: Outcome, reason: Reason, error: string): { stop: RotationResult } {
    return { stop: this.result(run, outcome, reason, error) };
  }

  private result(run: Run, outcome: Outcome, reason: Reason, error?: string): RotationResult {
    const { credential, mode, rotationId } = run.req;
    return {
      credential: credential.id,
      outcome,
      reason,
      mode,
      rotationId,
      versionId: run.versionId,
      clusters: Object.fromEntries([...run.clusters.entries()].map(([name, c]) => [name, c.state])),
      durationMs: this.deps.now() - run.startedAt,
      ...(error !== undefined && outcome !== OUTCOME.rotated ? { error } : {}),
    };
  }

  private emitOutcome(result: RotationResult): RotationResult {
    this.emit({ type: 'outcome', result });
    return result;
  }

  private emit(event: RotationEvent): void {
    try {
      this.deps.onEvent?.(event);
    } catch {
      // A faulty listener must not break a rotation.
    }
  }
}

function progressAfterChange(result: ChangeResult, target: 'pending' | 'current'): ClusterProgress {
  switch (result.kind) {
    case 'changed':
      return { state: CLUSTER_STATE.updated, holds: target };
    case 'from-rejected':
      return { state: CLUSTER_STATE.unknownPassword, holds: 'other', detail: 'neither AWSCURRENT, AWSPREVIOUS nor AWSPENDING is accepted' };
    case 'policy-rejected':
      return { state: CLUSTER_STATE.refused, holds: target === 'pending' ? 'current' : 'pending', detail: `policy: ${result.message}` };
    case 'refused':
      return { state: CLUSTER_STATE.refused, holds: target === 'pending' ? 'current' : 'pending', detail: result.message };
    case 'unknown':
      return { state: CLUSTER_STATE.unreachable, holds: 'unknown', detail: result.reason };
    default: {
      const unreachable: never = result;
      throw new Error(`unhandled change result ${JSON.stringify(unreachable)}`);
    }
  }
}

function failureReason(run: Run): Reason {
  const states = [...run.clusters.values()].map((c) => c.state);
  if (states.includes(CLUSTER_STATE.unknownPassword)) return REASON.unknownPassword;
  const refused = [...run.clusters.values()].filter((c) => c.state === CLUSTER_STATE.refused);
  if (refused.some((c) => c.detail?.startsWith('policy:'))) return REASON.policyRejected;
  if (refused.length > 0) return REASON.clusterRefused;
  if (states.includes(CLUSTER_STATE.unreachable)) return REASON.clusterUnreachable;
  if (states.includes(CLUSTER_STATE.verifyFailed)) return REASON.verifyFailed;
  return REASON.secretsManagerError;
}

function summarize(run: Run): string {
  const parts = [...run.clusters.entries()]
    .filter(([, c]) => c.state !== CLUSTER_STATE.updated && c.state !== CLUSTER_STATE.unchanged)
    .map(([name, c]) => `${name}: ${c.state}${c.detail ? ` (${c.detail})` : ''}`);
  return parts.length > 0 ? parts.join('; ') : 'a step failed';
}

function describeError(err: unknown): string {
  const e = coerceError(err);
  return e instanceof RotatorError ? `${e.code}: ${e.message}` : e.message;
}

function isFenceError(err: unknown): boolean {
  return err instanceof RotatorError && err.code === 'ROTATOR_LEASE_LOST';
}

function memo<T>(fn: () => Promise<T>): () => Promise<T> {
  let promise: Promise<T> | null = null;
  return () => (promise ??= fn());
}

