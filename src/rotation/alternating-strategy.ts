/**
 * The alternating-users strategy: two Milvus users take turns, so the password consumers hold
 * keeps working after a rotation (docs/design.md section 5, alternating users; decisions in
 * alternating-plan.ts). One turn, in protocol order:
 *
 *   load -> (write ahead) -> set -> verify -> roles -> finish
 *
 *  - load reads AWSCURRENT (the active user), AWSPREVIOUS (the retired user) and any pending
 *    version, checks that authentication is on, and asks decideAlternating what to do;
 *  - write ahead stores the retired user's new password under AWSPENDING before any cluster sees it;
 *  - set changes the retired user's password on every cluster, self-service with its password from
 *    AWSPREVIOUS (or, onboarding with admin, creates the user);
 *  - verify: the new password accepted, the retired user's old one rejected, and the active user's
 *    password still accepted everywhere (consumers use it throughout);
 *  - roles: both users must hold the same roles on every cluster (each describes itself); with
 *    admin the retired user's roles are aligned, without it the rotation stops (`roles_differ`);
 *    roles that cannot be read stop it too (`roles_unknown`);
 *  - finish promotes the new version: the retired user becomes AWSCURRENT, the active one AWSPREVIOUS.
 *
 * Invariant: at every instant each cluster's password for each user is one of the values stored
 * under AWSCURRENT, AWSPENDING or AWSPREVIOUS for that user. The active user is never touched; the
 * retired user moves from its AWSPREVIOUS value to its AWSPENDING value (and back on roll back).
 */
import type { AlternatingCredentialConfig } from '../config/types.ts';
import { describeError } from '../errors.ts';
import type { Caller, DescribeUserResult, RoleClient } from '../milvus/types.ts';
import { STAGE } from '../secrets/types.ts';
import { decideAlternating, otherUser, roleDifference, type Turn } from './alternating-plan.ts';
import { changePassword, type ChangeResult } from './change-password.ts';
import { changeOptions, checkAuthentication, probeClear, probeUntil } from './cluster-calls.ts';
import { confirmCurrentAccepted } from './confirm-current.ts';
import { detailOf, progressAfterChange, progressAfterVerification, type ClusterProgress } from './cluster-progress.ts';
import { fencePoint } from './fence-point.ts';
import { FAILURE_ACTION, PROMOTION, decideFailure } from './failure-policy.ts';
import { leakForwardPasses } from './leak-forward.ts';
import { abandonPending, pendingVersionId, promoteFailedMessage, promotePending, readPending, writePending } from './pending-version.ts';
import { rollBackClusters } from './roll-back.ts';
import { planActionOf, planOf, type ClusterPlan, type RotationPlan } from './rotation-plan.ts';
import { RotationRun, type StepResult as RunStepResult } from './rotation-run.ts';
import { STRATEGY, type RotationStrategy, type StrategyContext } from './strategy.ts';
import { parseCredentialSecret, type CredentialSecret } from './secret-value.ts';
import {
  CLUSTER_STATE,
  MODE,
  OUTCOME,
  REASON,
  STEP,
  type AlternatingSummary,
  type Outcome,
  type Reason,
  type RotationRequest,
  type RotationResult,
} from './types.ts';
import { isThrottled } from './write-retry.ts';

/**
 * The alternating strategy for the engine's registry. Besides the engine's context it needs the
 * user and role calls of each cluster (describe, create, grant, revoke), which the composition
 * root gives it: the seam's cluster port has only passwords and probes.
 */
export function createAlternatingStrategy(roles: (name: string) => RoleClient): RotationStrategy {
  return {
    name: STRATEGY.alternating,
    rotate: (req, ctx) => new AlternatingRotation(req, ctx, roles).rotate(),
    plan: (req, ctx) => new AlternatingRotation(req, ctx, roles).plan(),
  };
}

/** A step's value, or the result the run stops with. */
type StepResult<T> = RunStepResult<T, RotationResult>;

/** The secrets a turn works with, read in load. Passwords: memory only. */
interface TurnSecrets {
  current: { versionId: string; secret: CredentialSecret };
  /** The retired user's credential under AWSPREVIOUS (null when onboarding). */
  previous: CredentialSecret | null;
  /** This turn's pending credential when it already exists (resume), else null. */
  pending: CredentialSecret | null;
  admin: Caller | null;
}

/**
 * One rotation (created per call: every field is per-rotation state). Where each cluster stands
 * (for the retired user: `current` is its AWSPREVIOUS password, `pending` the new one) is the
 * engine's RotationRun; what is particular to alternating users is the summary.
 */
class AlternatingRotation {
  private readonly req: RotationRequest & { credential: AlternatingCredentialConfig };
  private readonly ctx: StrategyContext;
  private readonly roles: (name: string) => RoleClient;
  private readonly run: RotationRun;
  private summary: AlternatingSummary = { currentUser: '', previousUser: null, turns: 0 };
  /** What load read, for the dry run (reported even when load stops). */
  private seen: { current: { versionId: string; secret: CredentialSecret }; previous: CredentialSecret | null; pending: { versionId: string; ageMs: number | null; secret: CredentialSecret | null } | null } | null = null;

  constructor(request: RotationRequest, ctx: StrategyContext, roles: (name: string) => RoleClient) {
    const { credential } = request;
    if (credential.strategy !== STRATEGY.alternating) throw new Error(`credential ${credential.id} is not an alternating credential`);
    const req = { ...request, credential };
    this.req = req;
    this.ctx = ctx;
    this.roles = roles;
    this.run = new RotationRun(req, ctx, () => ({ alternating: { ...this.summary } }));
  }

  /** Up to two turns (a leak of the active user's password); each turn loads afresh. */
  async rotate(): Promise<RotationResult> {
    for (let pass = 0; pass < 2; pass++) {
      this.run.resetClusters();
      const loaded = await this.run.step(STEP.load, () => this.load());
      if ('stop' in loaded) return loaded.stop;
      const { turn, secrets } = loaded.ok;
      const result = await this.turn(turn, secrets);
      if (result.outcome !== OUTCOME.rotated || turn.remaining === 0) return result;
    }
    throw new Error('unreachable: a leak takes at most two turns');
  }

  /**
   * The dry run: the load step only (reads and probes), then what every cluster accepts for the
   * active user (AWSCURRENT), the retired user's pending password and its AWSPREVIOUS password.
   */
  async plan(): Promise<RotationPlan> {
    const { credential } = this.req;
    this.run.resetClusters();
    const loaded = await this.load();
    const seen = this.seen;
    const clusters: Record<string, ClusterPlan> = {};
    if (seen) {
      const active = seen.current.secret;
      const retired = otherUser(credential.usernames, active.username);
      const previous = seen.previous?.username === retired ? seen.previous : null;
      const pending = seen.pending?.secret ?? null;
      await Promise.all(
        credential.clusters.map(async (name) => {
          const client = this.ctx.cluster(name);
          const [current, pendingAnswer, previousAnswer] = await Promise.all([
            probeClear(this.ctx, client, active.username, active.password),
            pending ? probeClear(this.ctx, client, pending.username, pending.password) : null,
            previous ? probeClear(this.ctx, client, previous.username, previous.password) : null,
          ]);
          clusters[name] = { state: this.run.clusters.get(name)?.state ?? CLUSTER_STATE.unchanged, accepts: { current, pending: pendingAnswer, previous: previousAnswer }, next: null };
        }),
      );
    }
    const stop = 'stop' in loaded ? loaded.stop : null;
    return planOf({
      req: this.req,
      strategy: STRATEGY.alternating,
      action: planActionOf(stop, 'ok' in loaded && loaded.ok.turn.resume),
      stop,
      currentVersionId: seen?.current.versionId ?? null,
      pending: seen?.pending ? { versionId: seen.pending.versionId, ageMs: seen.pending.ageMs, hasValue: seen.pending.secret !== null } : null,
      clusters,
    });
  }

  // ---------------------------------------------------------------------------------------------
  // 1. Load
  // ---------------------------------------------------------------------------------------------

  /**
   * Reads the secret (AWSCURRENT, AWSPREVIOUS, the pending version) and checks authentication on
   * every cluster at once, then asks decideAlternating. The cases of I/O:
   *  1. Secrets Manager cannot be read, or AWSCURRENT is not a credential: refuse.
   *  2. The decision refuses or says it is done (confirmCurrentAccepted: every cluster must accept
   *     AWSCURRENT, as in the single-user strategy); `recover` with nothing pending confirms the
   *     same way, after the authentication check of 3 and 4.
   *  3. A cluster accepts a random wrong password: authentication is off, refuse.
   *  4. A cluster gives no answer: refuse before writing, unless resuming or in leak mode.
   *  5. Onboarding and role alignment need the admin credential: unreadable, refuse.
   *  6. Without admin, outside leak mode, the two users hold different roles (each describes
   *     itself): stop before writing anything (roles_differ); the roles step checks again before
   *     promoting. A leak goes on: the leaked password dies first, the roles step then stops.
   */
  private async load(): Promise<StepResult<{ turn: Turn; secrets: TurnSecrets }>> {
    const { credential, rotationId, mode } = this.req;
    const secretId = credential.secretId;
    const wrong = this.ctx.wrongPassword();
    let description;
    let currentVersion;
    let previousVersion;
    try {
      [description, currentVersion, previousVersion] = await Promise.all([
        this.ctx.store.describe(secretId),
        this.ctx.store.getByStage(secretId, STAGE.current),
        this.ctx.store.getByStage(secretId, STAGE.previous),
      ]);
    } catch (err) {
      return this.run.readFailed(err);
    }
    // Case 1.
    const current = currentVersion ? parseCredentialSecret(currentVersion.value) : null;
    if (!currentVersion || !current) {
      return this.run.stop(OUTCOME.failed, REASON.secretInvalid, `secret "${secretId}" has no AWSCURRENT value with string username and password`);
    }
    const previous = previousVersion ? parseCredentialSecret(previousVersion.value) : null;
    const retired = otherUser(credential.usernames, current.username);
    this.summary = {
      ...this.summary,
      currentUser: current.username,
      previousUser: previous && previous.username !== current.username ? previous.username : null,
    };
    const labels = description.versions;
    const pendingId = pendingVersionId(labels, currentVersion.versionId);
    let read = null;
    if (pendingId) {
      try {
        read = await readPending(this.ctx, secretId, pendingId);
      } catch (err) {
        return this.run.readFailed(err);
      }
    }
    const pending = read?.secret ?? null;
    this.seen = {
      current: { versionId: currentVersion.versionId, secret: current },
      previous,
      pending: pendingId ? { versionId: pendingId, ageMs: read?.ageMs ?? null, secret: pending } : null,
    };
    // A foreign pending version whose rotation has ended (the queue knows) may be adopted at once.
    const ownerEnded = pendingId !== undefined && pendingId !== rotationId && (await this.ctx.pendingOwner(pendingId).catch(() => 'unknown' as const)) === 'ended';
    if (read?.found && !pending) {
      this.run.versionId = pendingId ?? null;
      return this.run.stop(OUTCOME.needsAttention, REASON.secretInvalid, `pending version ${pendingId} of secret "${secretId}" is not a credential`);
    }

    // `recover` with nothing pending: nothing to resume, nothing written; after the authentication
    // check (as the single-user strategy: a cluster with authentication off accepts any password,
    // so its answer would prove nothing), report whether every cluster accepts AWSCURRENT.
    if (this.req.recover && !pendingId) {
      this.run.versionId = currentVersion.versionId;
      const checks = await checkAuthentication(this.ctx, credential.clusters, current.username, wrong);
      const unauthenticated = this.run.refuseUnlessAuthenticated(checks, false, 'no answer to the authentication check');
      if (unauthenticated) return unauthenticated;
      return { stop: await confirmCurrentAccepted(this.ctx, this.run, current, REASON.nothingPending) };
    }
    const decision = decideAlternating({
      usernames: credential.usernames,
      rotationId,
      mode,
      recover: (this.req.recover ?? false) || ownerEnded,
      now: this.ctx.now(),
      graceMs: credential.graceMs,
      pendingLeaseMs: this.ctx.tuning.pendingLeaseMs,
      hasAdmin: credential.admin !== undefined,
      ...(this.req.leakedUsername !== undefined ? { leakedUsername: this.req.leakedUsername } : {}),
      current: {
        versionId: currentVersion.versionId,
        username: current.username,
        createdAt: currentVersion.createdDate?.getTime() ?? null,
        carriesPending: labels[currentVersion.versionId]?.includes(STAGE.pending) ?? false,
      },
      previous: previous ? { username: previous.username, createdAt: previousVersion?.createdDate?.getTime() ?? null } : null,
      lastChangedAt: description.lastChangedDate?.getTime() ?? null,
      pending: pendingId ? { versionId: pendingId, username: pending?.username ?? null, createdAt: read?.createdAt ?? null } : null,
      labelledVersionIds: Object.keys(labels),
    });
    // Case 2.
    if (decision.kind === 'stop') {
      if (decision.reason === REASON.rotationInProgress || decision.reason === REASON.secretInvalid) this.run.versionId = pendingId ?? null;
      if (decision.notBefore !== undefined) this.summary.notBefore = this.summary.graceEndsAt = new Date(decision.notBefore).toISOString();
      return this.run.stop(decision.outcome, decision.reason, decision.error);
    }
    if (decision.kind === 'done') {
      // A later turn pending on another version changes the other user only: AWSCURRENT's must still be accepted everywhere.
      this.run.versionId = currentVersion.versionId;
      return { stop: await confirmCurrentAccepted(this.ctx, this.run, current, REASON.alreadyRotated) };
    }
    this.run.versionId = decision.token;
    this.summary.turns = decision.turn;

    // Cases 3 and 4: one probe per cluster with a password nobody holds.
    const checks = await checkAuthentication(this.ctx, credential.clusters, current.username, wrong);
    const unauthenticated = this.run.refuseUnlessAuthenticated(checks, decision.resume || mode === MODE.leak);
    if (unauthenticated) return unauthenticated;

    // Case 5.
    let admin: Caller | null = null;
    if (credential.admin) {
      try {
        const version = await this.ctx.store.getByStage(credential.admin.secretId, STAGE.current);
        const parsed = version ? parseCredentialSecret(version.value) : null;
        if (!parsed) return this.run.stop(OUTCOME.failed, REASON.secretInvalid, `admin secret "${credential.admin.secretId}" has no AWSCURRENT value with string username and password`);
        admin = { user: parsed.username, password: parsed.password };
      } catch (err) {
        return this.run.stop(OUTCOME.failed, isThrottled(err) ? REASON.secretsThrottled : REASON.secretsManagerError, `admin secret: ${describeError(err)}`);
      }
    }
    const previousOfRetired = previous && previous.username === retired ? previous : null;
    // Case 6.
    if (!admin && !decision.resume && previousOfRetired && mode !== MODE.leak) {
      const differ = await this.rolesDiffering({ user: current.username, password: current.password }, { user: retired, password: previousOfRetired.password });
      if (differ.length > 0) return { stop: this.rolesDifferResult(current.username, retired, differ) };
    }
    return {
      ok: {
        turn: decision,
        secrets: { current: { versionId: currentVersion.versionId, secret: current }, previous: previousOfRetired, pending: decision.resume ? pending : null, admin },
      },
    };
  }

  /**
   * The clusters where the two users, each describing itself, hold different roles (ignoring
   * `public`). A cluster whose describe gives no clear answer is left to the roles step.
   */
  private async rolesDiffering(active: Caller, retired: Caller): Promise<NonNullable<AlternatingSummary['rolesDiffer']>> {
    const differ: NonNullable<AlternatingSummary['rolesDiffer']> = [];
    await Promise.all(
      this.req.credential.clusters.map(async (name) => {
        const roles = this.roles(name);
        const [a, r] = await Promise.all([active, retired].map((caller) => this.retryUnclear(() => roles.describeUser(caller, caller.user))));
        if (a?.kind !== 'roles' || r?.kind !== 'roles') return;
        const diff = roleDifference(a.roles, r.roles);
        if (diff.grant.length > 0 || diff.revoke.length > 0) differ.push({ cluster: name, missing: diff.grant, extra: diff.revoke });
      }),
    );
    return differ.sort((x, y) => x.cluster.localeCompare(y.cluster));
  }

  /** needs_attention roles_differ, naming per cluster what the retired user lacks and has extra. */
  private rolesDifferResult(active: string, retired: string, differ: NonNullable<AlternatingSummary['rolesDiffer']>): RotationResult {
    this.summary.rolesDiffer = differ;
    const text = differ.map((d) => `${d.cluster}: ${retired} lacks [${d.missing.join(', ')}], has extra [${d.extra.join(', ')}]`).join('; ');
    return this.run.result(OUTCOME.needsAttention, REASON.rolesDiffer, `users ${active} and ${retired} hold different roles (${text}); align them or configure admin`);
  }

  // ---------------------------------------------------------------------------------------------
  // One turn: write ahead, set, verify, roles, finish (or the failure policy)
  // ---------------------------------------------------------------------------------------------

  private async turn(turn: Turn, secrets: TurnSecrets): Promise<RotationResult> {
    const written = await this.run.step(STEP.writeAhead, () => this.writeAhead(turn, secrets));
    if ('stop' in written) return written.stop;
    const pending = written.ok;

    const set = await this.run.step(STEP.set, async () => {
      await this.setAll(turn, secrets, pending);
      return this.run.holding('current', 'unknown', 'other').length > 0 ? { stop: true } : { ok: true };
    });
    if ('stop' in set) return this.failAfterSet(turn, secrets, pending);

    const verified = await this.run.step(STEP.verify, () => this.verify(turn, secrets, pending));
    if ('stop' in verified) return this.failAfterSet(turn, secrets, pending, undefined, undefined, verified.stop.oldRejectedEverywhere);

    // Verified: the retired user's old password is rejected on every cluster.
    const roles = await this.run.step(STEP.roles, () => this.alignRoles(turn, secrets, pending));
    if ('stop' in roles) return this.failAfterSet(turn, secrets, pending, roles.stop, undefined, true);

    const finished = await this.run.step(STEP.finish, async (): Promise<RunStepResult<RotationResult, RotationResult>> => {
      const result = await this.finish(turn, secrets, pending);
      return result.outcome === OUTCOME.rotated ? { ok: result } : { stop: result };
    });
    return 'ok' in finished ? finished.ok : finished.stop;
  }

  /**
   * Stores the retired user's new password under AWSPENDING before any cluster sees it: every key
   * of AWSCURRENT's value (host, port...), with the retired user's name and the new password (and
   * `token` rewritten where present). An existing pending value is never regenerated.
   */
  private async writeAhead(turn: Turn, secrets: TurnSecrets): Promise<StepResult<CredentialSecret>> {
    if (secrets.pending) return { ok: secrets.pending };
    const password = this.ctx.generatePassword(this.req.credential.password);
    const fields: Record<string, unknown> = { ...secrets.current.secret.fields, username: turn.user, password };
    if ('token' in fields) fields.token = `${turn.user}:${password}`;
    return writePending(this.ctx, this.run, turn.token, JSON.stringify(fields));
  }

  /**
   * Every cluster in parallel; leak mode retries forward (never backwards) the clusters that gave
   * no answer (leakForwardPasses, shared with the single-user strategy).
   */
  private async setAll(turn: Turn, secrets: TurnSecrets, pending: CredentialSecret): Promise<void> {
    const names = this.req.credential.clusters;
    await Promise.all(names.map((name) => this.setOne(name, turn, secrets, pending, turn.resume)));
    if (this.req.mode === MODE.leak) await leakForwardPasses(this.ctx, this.run, (stuck) => Promise.all(stuck.map((name) => this.setOne(name, turn, secrets, pending, true))));
  }

  /**
   * One cluster. The cases:
   *  1. Resuming: the cluster may already hold the new password (a crash after setting it).
   *  2. Onboarding: create the retired user with the new password (admin).
   *  3. Change the retired user's password from its AWSPREVIOUS value, self-service.
   *  Neither the old nor the new password accepted: the user has a password the rotator does not
   *  hold; stop there (needs attention), no retry loop.
   */
  private async setOne(name: string, turn: Turn, secrets: TurnSecrets, pending: CredentialSecret, resuming: boolean): Promise<void> {
    const client = this.ctx.cluster(name);
    // Case 1.
    if (resuming) {
      const answer = await probeClear(this.ctx, client, turn.user, pending.password);
      if (answer === 'accepted') return this.run.setCluster(name, { state: CLUSTER_STATE.updated });
      if (answer === 'unknown') return this.run.setCluster(name, { state: CLUSTER_STATE.unreachable, mayHoldNew: true, detail: 'no answer to probe' });
    }
    // Case 2.
    if (turn.onboard) return this.run.setCluster(name, await this.createUser(name, turn.user, pending.password, secrets.admin));
    // Case 3.
    if (!secrets.previous) throw new Error('unreachable: a turn that is not onboarding has the retired user under AWSPREVIOUS');
    const result = await changePassword(client, turn.user, secrets.previous.password, pending.password, changeOptions(this.ctx, name));
    this.run.setCluster(name, progressOfChange(result));
  }

  /**
   * Creates the retired user (onboarding). users/create is not idempotent: an ambiguous answer,
   * or `exists` after one, is resolved by probing the new password (accepted: the create went
   * through), never by assuming.
   */
  private async createUser(name: string, user: string, password: string, admin: Caller | null): Promise<ClusterProgress> {
    // A resumed onboarding whose admin was removed from the config since: nothing can create the user.
    if (!admin) return { state: CLUSTER_STATE.refused, by: 'request', detail: 'the user does not hold the pending password and no admin is configured to create it' };
    const client = this.ctx.cluster(name);
    let lastReason = 'no attempt';
    for (let attempt = 1; attempt <= this.ctx.tuning.changeAttempts; attempt++) {
      if (attempt > 1) await this.ctx.sleep(this.ctx.tuning.retryDelayMs * 2 ** (attempt - 2));
      await this.ctx.fence(fencePoint.clusterWrite(name));
      const answer = await this.roles(name).createUser(admin, user, password);
      switch (answer.kind) {
        case 'created':
          return { state: CLUSTER_STATE.updated };
        case 'exists':
        case 'ambiguous': {
          const probe = await probeClear(this.ctx, client, user, password);
          if (probe === 'accepted') return { state: CLUSTER_STATE.updated };
          if (answer.kind === 'exists') {
            return probe === 'rejected'
              ? { state: CLUSTER_STATE.unknownPassword, detail: `user ${user} already exists with a password the rotator does not hold` }
              : { state: CLUSTER_STATE.unreachable, mayHoldNew: true, detail: 'user exists; probe gave no answer' };
          }
          lastReason = answer.reason;
          if (probe === 'unknown') return { state: CLUSTER_STATE.unreachable, mayHoldNew: true, detail: answer.reason };
          continue;
        }
        case 'limit':
          return { state: CLUSTER_STATE.refused, by: 'request', detail: 'the cluster has reached its user limit (100 by default)' };
        case 'policy-rejected':
          return { state: CLUSTER_STATE.refused, by: 'policy', detail: `policy: ${answer.message}` };
        case 'rejected':
          return { state: CLUSTER_STATE.refused, by: 'request', detail: 'the admin credential was not accepted' };
        case 'denied':
          return { state: CLUSTER_STATE.refused, by: 'request', detail: `the admin user may not create users: ${answer.message}` };
        case 'other':
          return { state: CLUSTER_STATE.refused, by: 'request', detail: `HTTP ${answer.httpStatus}, code ${answer.code ?? 'none'}: ${answer.message}` };
        default: {
          const unreachable: never = answer;
          throw new Error(`unhandled create answer ${JSON.stringify(unreachable)}`);
        }
      }
    }
    return { state: CLUSTER_STATE.unreachable, mayHoldNew: true, detail: `still not created after ${this.ctx.tuning.changeAttempts} attempts (last: ${lastReason})` };
  }

  /**
   * Every cluster: the new password accepted, the retired user's old one rejected (not when it was
   * just created: it had none), and the active user still accepted (short retries for propagation,
   * each probe retried until it gets a clear answer: probeUntil). Three checks where the
   * single-user strategy has two: consumers keep using the active user throughout, so a turn that
   * broke it must not promote. A cluster that answers neither way is unreachable, never "not
   * accepted" (progressAfterVerification). The stop says whether every cluster was seen to reject
   * the retired user's old password (in leak mode, whether that password is dead).
   */
  private async verify(turn: Turn, secrets: TurnSecrets, pending: CredentialSecret): Promise<RunStepResult<true, { oldRejectedEverywhere: boolean }>> {
    const names = this.req.credential.clusters;
    const active = secrets.current.secret;
    const checks = await Promise.all(
      names.map(async (name) => {
        const [newAnswer, oldAnswer, activeAnswer] = await Promise.all([
          probeUntil(this.ctx, name, turn.user, pending.password, 'accepted'),
          secrets.previous ? probeUntil(this.ctx, name, turn.user, secrets.previous.password, 'rejected') : Promise.resolve('rejected' as const),
          probeUntil(this.ctx, name, active.username, active.password, 'accepted'),
        ]);
        const progress = progressAfterVerification(newAnswer, [
          { answer: oldAnswer, want: 'rejected', what: "the retired user's old password", missed: "the retired user's old password is still accepted" },
          { answer: activeAnswer, want: 'accepted', what: `the active user ${active.username}`, missed: `the active user ${active.username} is not accepted` },
        ]);
        return { name, progress, oldRejected: oldAnswer === 'rejected' };
      }),
    );
    for (const { name, progress } of checks) if (progress) this.run.setCluster(name, progress);
    if (checks.every((c) => c.progress === null)) return { ok: true };
    return { stop: { oldRejectedEverywhere: checks.every((c) => c.oldRejected) } };
  }

  /**
   * Role parity before promoting: each user describes itself on every cluster (allowed without
   * privileges), an unclear answer asked again up to `describeAttempts` times (a read; the new
   * password is already on every cluster). The cases per cluster:
   *  1. same roles (ignoring `public`): nothing to do;
   *  2. different, admin configured: grant what the retired user lacks, revoke what it has extra
   *     (both idempotent), then describe again to confirm: the same roles now (whatever the grant
   *     and revoke answers said), go on; still different, roles_differ; no answer, case 4;
   *  3. different, no admin: stop with roles_differ, naming the roles;
   *  4. a describe gives no list of roles (no clear answer after every attempt, or refused): the
   *     roles are not known, so neither the same nor different: stop with roles_unknown
   *     (docs/reliability.md, finding 5: this was reported as roles_differ).
   * A difference found on one cluster outweighs roles unread on another: roles_differ.
   */
  private async alignRoles(turn: Turn, secrets: TurnSecrets, pending: CredentialSecret): Promise<StepResult<null>> {
    const names = this.req.credential.clusters;
    const active = secrets.current.secret;
    const differ: NonNullable<AlternatingSummary['rolesDiffer']> = [];
    const granted = new Set<string>();
    const revoked = new Set<string>();
    const unaligned: string[] = [];
    const unread: string[] = [];
    const attempts = this.ctx.tuning.describeAttempts;
    await Promise.all(
      names.map(async (name) => {
        const roles = this.roles(name);
        const describe = (caller: Caller): Promise<DescribeUserResult> => this.retryUnclear(() => roles.describeUser(caller, caller.user), attempts);
        const unreadOn = (user: string, answer: DescribeUserResult): void => {
          unread.push(`${name}: users/describe of ${user} gave no list of roles (${describeRoleAnswer(answer)}${answer.kind === 'unknown' ? `, ${attempts} attempts` : ''})`);
        };
        const [activeRoles, retiredRoles] = await Promise.all([
          describe({ user: active.username, password: active.password }),
          describe({ user: turn.user, password: pending.password }),
        ]);
        if (activeRoles.kind !== 'roles' || retiredRoles.kind !== 'roles') {
          if (activeRoles.kind !== 'roles') unreadOn(active.username, activeRoles); // case 4
          if (retiredRoles.kind !== 'roles') unreadOn(turn.user, retiredRoles);
          return;
        }
        const diff = roleDifference(activeRoles.roles, retiredRoles.roles);
        if (diff.grant.length === 0 && diff.revoke.length === 0) return; // case 1
        if (!secrets.admin) {
          differ.push({ cluster: name, missing: diff.grant, extra: diff.revoke }); // case 3
          return;
        }
        // Case 2: the grants, then the revokes, one call at a time.
        const admin = secrets.admin;
        const failures: string[] = [];
        const changes = [
          { verb: 'grant', missing: diff.grant, call: (role: string) => roles.grantRole(admin, turn.user, role), done: granted },
          { verb: 'revoke', missing: diff.revoke, call: (role: string) => roles.revokeRole(admin, turn.user, role), done: revoked },
        ];
        for (const { verb, missing, call, done } of changes) {
          for (const role of missing) {
            const answer = await this.retryUnclear(async () => {
              await this.ctx.fence(fencePoint.clusterWrite(name));
              return call(role);
            });
            if (answer.kind !== 'done') failures.push(`${verb} ${role} failed (${describeRoleAnswer(answer)})`);
            else done.add(role);
          }
        }
        const again = await describe({ user: turn.user, password: pending.password });
        if (again.kind !== 'roles') return unreadOn(turn.user, again);
        const left = roleDifference(activeRoles.roles, again.roles);
        if (left.grant.length > 0 || left.revoke.length > 0) unaligned.push(`${name}: roles still differ after aligning${failures.length > 0 ? ` (${failures.join('; ')})` : ''}`);
      }),
    );
    if (granted.size > 0 || revoked.size > 0) this.summary.rolesAligned = { user: turn.user, granted: [...granted].sort(), revoked: [...revoked].sort() };
    if (differ.length > 0) return { stop: this.rolesDifferResult(active.username, turn.user, differ.sort((a, b) => a.cluster.localeCompare(b.cluster))) };
    if (unaligned.length > 0) return this.run.stop(OUTCOME.needsAttention, REASON.rolesDiffer, `role parity not established: ${[...unaligned, ...unread].join('; ')}`);
    if (unread.length > 0) {
      return this.run.stop(OUTCOME.needsAttention, REASON.rolesUnknown, `the users' roles could not be read, so they are not known to match: ${unread.join('; ')}`);
    }
    return { ok: null };
  }

  /**
   * Moves AWSCURRENT to the new version (AWSPREVIOUS follows: the active user retires) and reads
   * the labels back (promotePending). The cases:
   *  1. promoted: rotated; the retired user is now AWSCURRENT.
   *  2. unknown: needs attention (finish_unknown); every cluster holds the new password, which
   *     AWSPENDING records, and running the same rotation again settles it.
   *  3. not moved, in leak mode: every cluster holds the new password (verified: the leaked one is
   *     dead), only AWSCURRENT could not be moved. Keep AWSPENDING and finish forward: needs
   *     attention, promote_failed, which the worker and `rotate` run again with the same rotation
   *     id until it is promoted (finish-retry.ts), the single-user strategy's rule (failure-policy.ts
   *     case 3a), not leak_not_contained: nothing leaked is left alive.
   *  4. throttled past the retries through the write gate, in any mode: the same (failure-policy.ts
   *     case 2): the shared quota said "not now"; a roll back would undo what the next attempt finishes.
   *  5. not moved otherwise: the failure policy of failAfterSet (roll back).
   */
  private async finish(turn: Turn, secrets: TurnSecrets, pending: CredentialSecret): Promise<RotationResult> {
    const promoted = await promotePending(this.ctx, this.run, turn.token, secrets.current.versionId);
    switch (promoted.kind) {
      case 'promoted': // case 1
        this.summary.currentUser = turn.user;
        this.summary.previousUser = turn.active;
        // The user just retired keeps working at least graceMs from now (the promotion, read back just before).
        this.summary.graceEndsAt = new Date(this.ctx.now() + this.req.credential.graceMs).toISOString();
        if (turn.onboard) this.summary.onboarded = true;
        return this.run.result(OUTCOME.rotated, REASON.ok);
      case 'unknown': // case 2
        return this.run.result(OUTCOME.needsAttention, REASON.finishUnknown, promoted.why);
      case 'throttled':
      case 'not-moved': {
        const promotion = promoted.kind === 'throttled' ? PROMOTION.throttled : PROMOTION.failed;
        const decision = decideFailure({ mode: this.req.mode, touched: true, stranger: false, promotion, cause: this.run.failureCause() });
        if (decision.action === FAILURE_ACTION.rollForward) return this.run.result(decision.outcome, decision.reason, promoteFailedMessage(promoted.why)); // cases 3 and 4
        return this.failAfterSet(turn, secrets, pending, undefined, promoted.why); // case 5
      }
      default: {
        const unreachable: never = promoted;
        throw new Error(`unhandled promotion ${JSON.stringify(unreachable)}`);
      }
    }
  }

  /**
   * After the set step has begun. Not the single-user strategy's failure policy (failure-policy.ts):
   * a turn has cases that one has not (onboarding has no older password to go back to; roles_differ
   * after a leak keeps its reason), and its roll back restores AWSPREVIOUS, not AWSCURRENT. The cases:
   *  1. Leak mode: never restore a leaked password. Keep AWSPENDING while a cluster holds (or may
   *     hold) the new password; when none does, move it back onto AWSCURRENT rather than drop it:
   *     leak mode ignores the grace, so a scheduled turn must not read "AWSPENDING on no version"
   *     (a later rotation was admitted, the grace is over: graceStartsAt, case 3) from it. Needs
   *     attention. The leak is contained when every cluster was seen to reject this turn's user's
   *     old password (`oldRejectedEverywhere`) and no turn is left (the other user's password is not
   *     the leaked one, or was changed by the first turn): then the reason is the clusters' own (or
   *     the stop's), never leak_not_contained, and the message says it is contained.
   *  2. No cluster holds (or may hold) the new password: drop AWSPENDING, outcome failed.
   *  3. Onboarding: the created user has no older password to go back to; AWSPENDING keeps its
   *     password (the invariant), needs attention: resume with `recover`.
   *  4. Otherwise put the retired user back to its AWSPREVIOUS password, verify, drop AWSPENDING:
   *     rolled_back. A cluster that cannot be put back keeps AWSPENDING: needs_attention.
   *  `stopped` keeps its reason: roles_differ stays needs_attention (the roles must be aligned);
   *  roles_unknown (the roles could not be read) is settled by a roll back like no answer is
   *  (rolled_back). A stranger password makes any outcome needs_attention.
   */
  private async failAfterSet(turn: Turn, secrets: TurnSecrets, pending: CredentialSecret, stopped?: RotationResult, why?: string, oldRejectedEverywhere = false): Promise<RotationResult> {
    const strangers = this.run.holding('other');
    const touched = this.run.holding('pending', 'unknown');
    const reason = why ?? stopped?.error ?? this.run.summarize();
    const needsHuman = stopped !== undefined && stopped.reason !== REASON.rolesUnknown;
    const settle = (outcome: Outcome, fallback: Reason): [Outcome, Reason] => {
      if (stopped && needsHuman) return [OUTCOME.needsAttention, stopped.reason];
      if (strangers.length > 0) return [OUTCOME.needsAttention, REASON.unknownPassword];
      return [outcome, stopped?.reason ?? fallback];
    };

    // Case 1.
    if (this.req.mode === MODE.leak) {
      if (touched.length === 0) await abandonPending(this.ctx, this.run, turn.token, secrets.current.versionId);
      const contained = oldRejectedEverywhere && turn.remaining === 0 && strangers.length === 0;
      if (contained) {
        const kept = touched.length > 0 ? '; AWSPENDING kept (every cluster took the new password): reconcile resumes it, or run recover' : '';
        return this.run.result(OUTCOME.needsAttention, stopped?.reason ?? this.run.failureCause(), `leak contained (the old password of ${turn.user} is rejected on every cluster), but not promoted: ${reason}${kept}`);
      }
      const outcomeReason = stopped?.reason ?? (strangers.length > 0 ? REASON.unknownPassword : REASON.leakNotContained);
      const notYet = oldRejectedEverywhere && turn.remaining > 0 ? `the turn of ${turn.active}, whose password may have leaked, did not run (its password still works): ` : '';
      return this.run.result(OUTCOME.needsAttention, outcomeReason, `leak not contained: ${notYet}${reason}`);
    }
    // Case 2.
    if (touched.length === 0) {
      const note = await abandonPending(this.ctx, this.run, turn.token);
      const [outcome, r] = settle(OUTCOME.failed, this.run.failureCause());
      return this.run.result(outcome, r, reason + note);
    }
    // Case 3.
    if (turn.onboard || !secrets.previous) {
      return this.run.result(OUTCOME.needsAttention, stopped?.reason ?? this.run.failureCause(), `${reason}; onboarding incomplete, AWSPENDING kept (it holds the new user's password): run recover --credential ${this.req.credential.id}`);
    }
    // Case 4.
    const old = secrets.previous;
    const rolledBack = await this.run.step(STEP.rollBack, () =>
      rollBackClusters(this.ctx, this.run, turn.user, { pending: pending.password, old: old.password }, (result) => detailOf(progressOfChange(result)) ?? "the retired user's old password is not accepted after the roll back"),
    );
    if ('ok' in rolledBack) {
      const note = await abandonPending(this.ctx, this.run, turn.token);
      const [outcome, r] = settle(OUTCOME.rolledBack, this.run.failureCause());
      return this.run.result(outcome, r, reason + note);
    }
    const failed = this.run.inState(CLUSTER_STATE.rollbackFailed);
    return this.run.result(OUTCOME.needsAttention, REASON.rollbackFailed, `${reason}; roll back failed, AWSPENDING kept (it holds the live password of ${turn.user} on ${failed.join(', ')})`);
  }

  // ---------------------------------------------------------------------------------------------
  // Helpers
  // ---------------------------------------------------------------------------------------------

  /**
   * Repeats a call whose answer was unclear (timeout, gateway error, 65535): safe for describe
   * (a read) and for grant and revoke (idempotent on the server, spec section 14).
   */
  private async retryUnclear<T extends { kind: string }>(call: () => Promise<T>, attempts = this.ctx.tuning.changeAttempts): Promise<T> {
    let answer = await call();
    for (let attempt = 1; attempt < attempts && (answer.kind === 'ambiguous' || answer.kind === 'unknown'); attempt++) {
      await this.ctx.sleep(this.ctx.tuning.retryDelayMs * 2 ** (attempt - 1));
      answer = await call();
    }
    return answer;
  }
}

/**
 * Where the retired user stands on a cluster after a change. Unlike the single-user strategy,
 * which feeds from-rejected and unknown back into the resume rules as evidence, a turn has one
 * password to start from (AWSPREVIOUS), so both end the cluster's set step here.
 */
function progressOfChange(result: ChangeResult): ClusterProgress {
  switch (result.kind) {
    case 'from-rejected':
      return { state: CLUSTER_STATE.unknownPassword, detail: 'neither AWSPREVIOUS nor AWSPENDING of the retired user is accepted' };
    case 'unknown':
      return { state: CLUSTER_STATE.unreachable, mayHoldNew: true, detail: result.reason };
    default:
      return progressAfterChange(result);
  }
}

function describeRoleAnswer(answer: { kind: string; message?: string; reason?: string }): string {
  return answer.message ?? answer.reason ?? answer.kind;
}
