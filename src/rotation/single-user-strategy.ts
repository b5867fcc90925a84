import { STAGE } from '../secrets/types.ts';
import { changePassword, type ChangeResult } from './change-password.ts';
import { checkAuthentication, changeOptions, probeClear, probeUntil } from './cluster-calls.ts';
import { confirmCurrentAccepted } from './confirm-current.ts';
import { progressAfterChange, progressAfterVerification, type ClusterProgress } from './cluster-progress.ts';
import { FAILURE_ACTION, PROMOTION, decideFailure, rollBackVerdict, type FailureFacts, type Promotion, type Verdict } from './failure-policy.ts';
import { leakForwardPasses } from './leak-forward.ts';
import { abandonPending, pendingVersionId, promoteFailedMessage, promotePending, readPending, writePending } from './pending-version.ts';
import { RESUME_MOVE, nextResumeMove, type Answer, type ClusterEvidence } from './resume-rules.ts';
import { rollBackClusters } from './roll-back.ts';
import { planActionOf, planOf, type ClusterPlan, type RotationPlan } from './rotation-plan.ts';
import { RotationRun, type StepResult } from './rotation-run.ts';
import { parseCredentialSecret, withPassword, type CredentialSecret } from './secret-value.ts';
import { STRATEGY, type RotationStrategy, type StrategyContext } from './strategy.ts';
import { CLUSTER_STATE, MODE, OUTCOME, REASON, STEP, type RotationRequest, type RotationResult } from './types.ts';

/**
 * The single-user strategy: one Milvus user per credential, its password changed in place on
 * every cluster, the protocol of docs/design.md section 5 (load, write ahead, set, verify, finish; the
 * failure policy of failure-policy.ts; the resume rules of resume-rules.ts).
 */
export const singleUserStrategy: RotationStrategy = {
  name: STRATEGY.single,
  rotate: (req, ctx) => new SingleUserRotation(req, ctx).rotate(),
  plan: (req, ctx) => new SingleUserRotation(req, ctx).plan(),
};

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

/** What load read, kept for the dry run (which reports it even when load stops). */
interface Seen {
  current: { versionId: string; secret: CredentialSecret } | null;
  pending: { versionId: string; ageMs: number | null; secret: CredentialSecret | null } | null;
  previous: () => Promise<CredentialSecret | null>;
}

/** Why the run cannot finish after the set step began: the failure policy decides what follows. */
interface Failure {
  promotion: Promotion;
  /** The explanation when the clusters' states do not give it (a promotion failure). */
  why?: string;
  /** Verification saw every cluster reject the old password (in leak mode: the leak is contained). */
  oldRejectedEverywhere?: boolean;
}

/** One rotation (created per call: every field is per-rotation state). */
class SingleUserRotation {
  private readonly run: RotationRun;
  private readonly ctx: StrategyContext;
  private seen: Seen | null = null;

  /** The credential's one user (the engine runs this strategy only for `strategy: single`). */
  private readonly username: string;

  constructor(req: RotationRequest, ctx: StrategyContext) {
    this.ctx = ctx;
    this.run = new RotationRun(req, ctx);
    if (req.credential.strategy !== STRATEGY.single) throw new Error(`credential ${req.credential.id} is not a single-user credential`);
    this.username = req.credential.username;
  }

  async rotate(): Promise<RotationResult> {
    const loaded = await this.run.step(STEP.load, () => this.load());
    if ('stop' in loaded) return loaded.stop;
    const { current, token } = loaded.ok;
    this.run.versionId = token;

    const written = await this.run.step(STEP.writeAhead, () => this.writeAhead(loaded.ok));
    if ('stop' in written) return written.stop;
    const pending = written.ok;

    const set = await this.run.step(STEP.set, () => this.setAll(loaded.ok, pending));
    const verified = 'ok' in set ? await this.run.step(STEP.verify, () => this.verify(current.secret, pending)) : set;
    const finished = 'ok' in verified ? await this.run.step(STEP.finish, () => this.finish(current, token)) : verified;
    if ('ok' in finished) return finished.ok;

    const why = finished.stop.why ?? this.run.summarize();
    const facts = this.failureFacts(finished.stop.promotion, finished.stop.oldRejectedEverywhere ?? false);
    const decision = decideFailure(facts);
    if (decision.action === FAILURE_ACTION.rollBack) {
      const rolledBack = await this.run.step(STEP.rollBack, () => this.rollBack(current.secret, pending));
      return this.settle(rollBackVerdict({ allBack: 'ok' in rolledBack, stranger: facts.stranger, cause: facts.cause }), why, token, false);
    }
    return this.settle(decision, why, token, facts.leakContained);
  }

  // ---------------------------------------------------------------------------------------------
  // 1. Load
  // ---------------------------------------------------------------------------------------------

  /**
   * Reads the secret and checks every cluster's authentication at once. The cases:
   *  1. No AWSCURRENT value, or not a credential JSON: refuse (secret_invalid).
   *  2. The secret names another user: refuse (confused deputy, docs/design.md section 4).
   *  3. Our rotation id already holds AWSCURRENT: an earlier run finished; check and report
   *     (confirmCurrentAccepted, as the alternating strategy). When a later rotation is already
   *     pending, report without checking: it owns the clusters now and may have moved them off
   *     AWSCURRENT (the alternating strategy checks: a later turn changes the other user only).
   *  4. AWSPENDING on a version other than AWSCURRENT:
   *     a. it is ours (VersionId == rotation id): resume;
   *     b. foreign, younger than the lease and its rotation not known to have ended (its owner may
   *        be alive), without `recover`: refuse;
   *     c. foreign and older, or its rotation has ended (the queue says so), or `recover`: adopt it and resume.
   *  5. Our rotation id exists under another label (it already ended): refuse (rotation_id_spent).
   *  6. A cluster accepts a random wrong password: authentication is off, refuse.
   *  7. A cluster gives no answer: refuse before writing anything, unless resuming or in leak mode
   *     (a leaked password must die on every cluster that can be reached).
   *  8. `recover` with nothing pending: nothing to do; report whether every cluster accepts
   *     AWSCURRENT (confirmCurrentAccepted), after the authentication check of 6 and 7.
   */
  private async load(): Promise<StepResult<Loaded, RotationResult>> {
    const { credential, rotationId, recover, mode } = this.run.req;
    const secretId = credential.secretId;
    const wrong = this.ctx.wrongPassword();
    const authChecks = checkAuthentication(this.ctx, credential.clusters, this.username, wrong);
    // Read only when a cluster turns out one step behind (the alternating strategy reads it always: its retired user's password).
    const previous = memo(async () => {
      const version = await this.ctx.store.getByStage(secretId, STAGE.previous);
      return version ? parseCredentialSecret(version.value) : null;
    });
    this.seen = { current: null, pending: null, previous };
    let description;
    let currentVersion;
    try {
      [description, currentVersion] = await Promise.all([this.ctx.store.describe(secretId), this.ctx.store.getByStage(secretId, STAGE.current)]);
    } catch (err) {
      await authChecks;
      return this.run.readFailed(err);
    }
    const checks = await authChecks;

    // Case 1.
    const current = currentVersion ? parseCredentialSecret(currentVersion.value) : null;
    if (!currentVersion || !current) {
      return this.run.stop(OUTCOME.failed, REASON.secretInvalid, `secret "${secretId}" has no AWSCURRENT value with string username and password`);
    }
    // Case 2.
    if (current.username !== this.username) {
      return this.run.stop(OUTCOME.failed, REASON.usernameMismatch, `secret "${secretId}" belongs to another user than "${this.username}"; refusing to rotate it`);
    }
    this.seen.current = { versionId: currentVersion.versionId, secret: current };
    const labels = description.versions;
    // Case 3.
    if (currentVersion.versionId === rotationId) {
      this.run.versionId = rotationId;
      // A later rotation has already written its pending version: this one is over, and the
      // clusters may be on their way to that version. Probing them for AWSCURRENT would report that
      // rotation's progress as drift. A job run again after Redis forgot its completion (a
      // failover with write loss) meets exactly this.
      if (pendingVersionId(labels, rotationId) !== undefined) return { stop: this.run.result(OUTCOME.rotated, REASON.alreadyRotated) };
      return { stop: await confirmCurrentAccepted(this.ctx, this.run, current, REASON.alreadyRotated) };
    }

    const pendingId = pendingVersionId(labels, currentVersion.versionId);
    const base = { current: { versionId: currentVersion.versionId, secret: current }, previous };

    let loaded: Loaded;
    if (pendingId) {
      let read;
      try {
        read = await readPending(this.ctx, secretId, pendingId);
      } catch (err) {
        return this.run.readFailed(err);
      }
      const { secret: pending, createdAt: created } = read;
      this.seen.pending = { versionId: pendingId, ageMs: read.ageMs, secret: pending };
      const ours = pendingId === rotationId;
      // A version without a creation date is treated as young (refuse, never guess).
      if (!ours && !recover && this.ctx.now() - (created ?? this.ctx.now()) < this.ctx.tuning.pendingLeaseMs) {
        // Case 4b, unless the rotation that wrote it is known to have ended (case 4c): then no one will finish it.
        if ((await this.ctx.pendingOwner(pendingId).catch(() => 'unknown' as const)) !== 'ended') {
          this.run.versionId = pendingId;
          return this.run.stop(OUTCOME.failed, REASON.rotationInProgress, `another rotation (version ${pendingId}) is in progress on secret "${secretId}"; retry later or run recover`);
        }
      }
      // Cases 4a and 4c. A pending placeholder without a value (RotateSecret's) is filled in writeAhead.
      if (read.found && (!pending || pending.username !== this.username)) {
        this.run.versionId = pendingId;
        return this.run.stop(OUTCOME.needsAttention, REASON.secretInvalid, `pending version ${pendingId} of secret "${secretId}" is not a credential of user "${this.username}"`);
      }
      loaded = { ...base, token: pendingId, pending, resuming: pending !== null };
    } else {
      // Case 5.
      if (labels[rotationId]) {
        return this.run.stop(OUTCOME.failed, REASON.rotationIdSpent, `rotation ${rotationId} already ended on secret "${secretId}"; start a new rotation`);
      }
      loaded = { ...base, token: rotationId, pending: null, resuming: false };
    }

    // Cases 6 and 7.
    const unauthenticated = this.run.refuseUnlessAuthenticated(checks, loaded.resuming || mode === MODE.leak, 'no answer to the authentication check');
    if (unauthenticated) return unauthenticated;
    // Case 8.
    if (recover && !pendingId) {
      this.run.versionId = currentVersion.versionId;
      return { stop: await confirmCurrentAccepted(this.ctx, this.run, current, REASON.nothingPending) };
    }
    return { ok: loaded };
  }

  // ---------------------------------------------------------------------------------------------
  // The dry run: load only, then probe what each cluster accepts
  // ---------------------------------------------------------------------------------------------

  async plan(): Promise<RotationPlan> {
    const { credential } = this.run.req;
    const loaded = await this.load();
    const seen = this.seen;
    const clusters: Record<string, ClusterPlan> = {};
    if (seen?.current) {
      const previous = await seen.previous().catch(() => null);
      const currentPassword = seen.current.secret.password;
      const pendingPassword = seen.pending?.secret?.password ?? null;
      const previousPassword = previous && previous.password !== currentPassword && previous.password !== pendingPassword ? previous.password : null;
      await Promise.all(
        credential.clusters.map(async (name) => {
          const client = this.ctx.cluster(name);
          const [current, pending, prev] = await Promise.all([
            probeClear(this.ctx, client, this.username, currentPassword),
            pendingPassword === null ? null : probeClear(this.ctx, client, this.username, pendingPassword),
            previousPassword === null ? null : probeClear(this.ctx, client, this.username, previousPassword),
          ]);
          const evidence: ClusterEvidence = { pending: pending ?? 'none', current, previous: prev ?? 'none' };
          clusters[name] = {
            state: this.run.clusters.get(name)?.state ?? CLUSTER_STATE.unchanged,
            accepts: { current, pending, previous: prev },
            next: 'ok' in loaded ? nextResumeMove(evidence) : null,
          };
        }),
      );
    }
    const stop = 'stop' in loaded ? loaded.stop : null;
    return planOf({
      req: this.run.req,
      strategy: STRATEGY.single,
      action: planActionOf(stop, 'ok' in loaded && loaded.ok.pending !== null),
      stop,
      currentVersionId: seen?.current?.versionId ?? null,
      pending: seen?.pending ? { versionId: seen.pending.versionId, ageMs: seen.pending.ageMs, hasValue: seen.pending.secret !== null } : null,
      clusters,
    });
  }

  // ---------------------------------------------------------------------------------------------
  // 2. Write ahead
  // ---------------------------------------------------------------------------------------------

  /**
   * Makes the new password durable under AWSPENDING before any cluster sees it (writePending). An
   * existing pending password is never regenerated (a retry must not make a new value).
   */
  private async writeAhead(loaded: Loaded): Promise<StepResult<CredentialSecret, RotationResult>> {
    if (loaded.pending) return { ok: loaded.pending };
    const password = this.ctx.generatePassword(this.run.req.credential.password);
    return writePending(this.ctx, this.run, loaded.token, withPassword(loaded.current.secret, password));
  }

  // ---------------------------------------------------------------------------------------------
  // 3. Set
  // ---------------------------------------------------------------------------------------------

  /**
   * Sets the pending password on every cluster in parallel; in leak mode, retries forward the
   * clusters that gave no answer (leakForwardPasses, shared with the alternating strategy). Ok
   * when every cluster holds it.
   */
  private async setAll(loaded: Loaded, pending: CredentialSecret): Promise<StepResult<true, Failure>> {
    const names = this.run.req.credential.clusters;
    await Promise.all(names.map((name) => this.setOne(name, loaded, pending, loaded.resuming)));
    if (this.run.req.mode === MODE.leak) await leakForwardPasses(this.ctx, this.run, (stuck) => Promise.all(stuck.map((name) => this.setOne(name, loaded, pending, true))));
    return this.run.holding('current', 'unknown', 'other').length === 0 ? { ok: true } : { stop: { promotion: PROMOTION.notReached } };
  }

  /**
   * One cluster: the resume rules (resume-rules.ts) in a loop. Each move probes or changes, and
   * what it shows is fed back as evidence, until a terminal move. A change attempt from a
   * password is also the probe of that password: `changePassword` resolves every ambiguous answer.
   */
  private async setOne(name: string, loaded: Loaded, pending: CredentialSecret, resuming: boolean): Promise<void> {
    const client = this.ctx.cluster(name);
    const user = this.username;
    const evidence: ClusterEvidence = { pending: resuming ? undefined : 'none', current: undefined, previous: undefined };
    let detail = 'no answer to probe';
    /** A change's result: terminal progress, or what it proved about the password it started from. */
    const learn = (result: ChangeResult): Answer | ClusterProgress => {
      if (result.kind === 'from-rejected') return 'rejected';
      if (result.kind === 'unknown') {
        detail = result.reason;
        return 'unknown';
      }
      return progressAfterChange(result);
    };
    for (;;) {
      const move = nextResumeMove(evidence);
      switch (move) {
        case RESUME_MOVE.probePending:
          evidence.pending = await probeClear(this.ctx, client, user, pending.password);
          break;
        case RESUME_MOVE.holdsPending:
          return this.run.setCluster(name, { state: CLUSTER_STATE.updated });
        case RESUME_MOVE.noAnswer:
          return this.run.setCluster(name, { state: CLUSTER_STATE.unreachable, mayHoldNew: true, detail });
        case RESUME_MOVE.unknownPassword:
          return this.run.setCluster(name, { state: CLUSTER_STATE.unknownPassword, detail: 'neither AWSCURRENT, AWSPREVIOUS nor AWSPENDING is accepted' });
        case RESUME_MOVE.changeFromCurrent: {
          const learned = learn(await changePassword(client, user, loaded.current.secret.password, pending.password, changeOptions(this.ctx, name)));
          if (typeof learned === 'object') return this.run.setCluster(name, learned);
          evidence.current = learned;
          break;
        }
        case RESUME_MOVE.changeFromPrevious: {
          const previous = await loaded.previous().catch(() => null);
          if (!previous || previous.password === loaded.current.secret.password || previous.password === pending.password) {
            evidence.previous = 'none';
            break;
          }
          const learned = learn(await changePassword(client, user, previous.password, pending.password, changeOptions(this.ctx, name)));
          if (typeof learned === 'object') return this.run.setCluster(name, learned);
          evidence.previous = learned;
          break;
        }
        default: {
          const unreachable: never = move;
          throw new Error(`unhandled resume move ${String(unreachable)}`);
        }
      }
    }
  }

  // ---------------------------------------------------------------------------------------------
  // 4. Verify
  // ---------------------------------------------------------------------------------------------

  /**
   * Every cluster accepts the pending password and rejects the current one (short retries for
   * propagation, each probe retried until it gets a clear answer: probeUntil). A cluster that
   * answers neither way is unreachable, never "not accepted" (progressAfterVerification).
   */
  private async verify(current: CredentialSecret, pending: CredentialSecret): Promise<StepResult<true, Failure>> {
    const names = this.run.req.credential.clusters;
    const checks = await Promise.all(
      names.map(async (name) => {
        const [newAnswer, oldAnswer] = await Promise.all([
          probeUntil(this.ctx, name, this.username, pending.password, 'accepted'),
          probeUntil(this.ctx, name, this.username, current.password, 'rejected'),
        ]);
        const progress = progressAfterVerification(newAnswer, [{ answer: oldAnswer, want: 'rejected', what: 'the old password', missed: 'the old password is still accepted' }]);
        return { name, progress, oldRejected: oldAnswer === 'rejected' };
      }),
    );
    for (const { name, progress } of checks) if (progress) this.run.setCluster(name, progress);
    if (checks.every((c) => c.progress === null)) return { ok: true };
    return { stop: { promotion: PROMOTION.notReached, oldRejectedEverywhere: checks.every((c) => c.oldRejected) } };
  }

  // ---------------------------------------------------------------------------------------------
  // 5. Finish
  // ---------------------------------------------------------------------------------------------

  /**
   * Moves AWSCURRENT to the new version and reads the labels back (promotePending; AWSPENDING is
   * left on it, decided in docs/design.md section 5). Load, verify and status count "pending" only on a
   * version other than AWSCURRENT, so nothing mistakes it for a rotation in progress. The cases:
   *  1. promoted: rotated.
   *  2. unknown: every cluster holds the pending password, which AWSPENDING records; whether
   *     AWSCURRENT moved is unknown, so rolling back could strand the clusters on AWSPREVIOUS.
   *     Running the same rotation again (it resumes) settles it.
   *  3. throttled past the retries: the failure policy carries it forward (promote_failed).
   *  4. not moved otherwise: the failure policy decides.
   */
  private async finish(current: Loaded['current'], token: string): Promise<StepResult<RotationResult, Failure>> {
    const promoted = await promotePending(this.ctx, this.run, token, current.versionId);
    switch (promoted.kind) {
      case 'promoted': // case 1
        return { ok: this.run.result(OUTCOME.rotated, REASON.ok) };
      case 'unknown': // case 2
        return { stop: { promotion: PROMOTION.unknown, why: promoted.why } };
      case 'throttled': // case 3
        return { stop: { promotion: PROMOTION.throttled, why: promoted.why } };
      case 'not-moved': // case 4
        return { stop: { promotion: PROMOTION.failed, why: promoted.why } };
      default: {
        const unreachable: never = promoted;
        throw new Error(`unhandled promotion ${JSON.stringify(unreachable)}`);
      }
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Failure policy (failure-policy.ts decides; this carries it out)
  // ---------------------------------------------------------------------------------------------

  private failureFacts(promotion: Promotion, oldRejectedEverywhere: boolean): Required<FailureFacts> {
    return {
      mode: this.run.req.mode,
      touched: this.run.holding('pending', 'unknown').length > 0,
      stranger: this.run.holding('other').length > 0,
      promotion,
      cause: this.run.failureCause(),
      leakContained: oldRejectedEverywhere,
    };
  }

  /**
   * Puts every cluster that holds (or may hold) the new password back to AWSCURRENT, and verifies.
   * Ok when all are back.
   */
  private rollBack(current: CredentialSecret, pending: CredentialSecret): Promise<StepResult<true, true>> {
    return rollBackClusters(this.ctx, this.run, this.username, { pending: pending.password, old: current.password }, rollBackFailure);
  }

  /**
   * The result of a failed run, after the policy's roll back or roll forward; the message from the
   * clusters' final states. In leak mode it says whether the leak is contained (every cluster was
   * seen to reject the leaked password), never "not contained" when it is.
   */
  private async settle(verdict: Verdict & { dropPending: boolean }, why: string, token: string, leakContained: boolean): Promise<RotationResult> {
    const abandonNote = verdict.dropPending ? await abandonPending(this.ctx, this.run, token) : '';
    switch (verdict.reason) {
      case REASON.finishUnknown:
        return this.run.result(verdict.outcome, verdict.reason, why);
      case REASON.promoteFailed:
        return this.run.result(verdict.outcome, verdict.reason, promoteFailedMessage(why));
      case REASON.rollbackFailed: {
        const stuck = this.run.inState(CLUSTER_STATE.rollbackFailed);
        return this.run.result(verdict.outcome, verdict.reason, `${why}; roll back failed, AWSPENDING kept (it holds the live password of ${stuck.join(', ')})`);
      }
      default:
        if (this.run.req.mode === MODE.leak && leakContained) {
          const kept = verdict.dropPending ? abandonNote : '; AWSPENDING kept (every cluster took the new password): reconcile resumes it, or run recover';
          return this.run.result(verdict.outcome, verdict.reason, `leak contained (every cluster rejects the leaked password), but not promoted: ${why}${kept}`);
        }
        if (this.run.req.mode === MODE.leak) return this.run.result(verdict.outcome, verdict.reason, `leak not contained on every cluster: ${why}${abandonNote}`);
        return this.run.result(verdict.outcome, verdict.reason, why + abandonNote);
    }
  }
}

function rollBackFailure(result: ChangeResult): string {
  switch (result.kind) {
    case 'changed':
      return 'AWSCURRENT not accepted after the roll back';
    case 'from-rejected':
      return 'neither AWSCURRENT, AWSPREVIOUS nor AWSPENDING is accepted';
    case 'policy-rejected':
      return `policy: ${result.message}`;
    case 'refused':
      return result.message;
    case 'unknown':
      return result.reason;
    default: {
      const unreachable: never = result;
      throw new Error(`unhandled change result ${JSON.stringify(unreachable)}`);
    }
  }
}

function memo<T>(fn: () => Promise<T>): () => Promise<T> {
  let promise: Promise<T> | null = null;
  return () => (promise ??= fn());
}
