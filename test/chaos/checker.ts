/**
 * The invariant checker of the chaos soak (docs/design.md section 5, "Invariants every test and benchmark
 * may assert"), on the semantics of test/helpers/invariants.ts, extended:
 *
 * 1. At every password change a simulator records (synchronously, at that instant), the
 *    cluster's new password must be one of the values the emulator holds under AWSCURRENT,
 *    AWSPENDING or AWSPREVIOUS for that credential's secret (the helpers' watchStoredPasswordInvariant).
 * 2. The same invariant seen from the other side: at every Secrets Manager state change (the
 *    emulator's onWrite, synchronous, before the reply leaves), every cluster of the credential
 *    must still hold a password under one of the three labels. A label moved or dropped while a
 *    cluster holds its value (AWSPENDING removed before a roll back, say) breaks "at every instant"
 *    without any cluster changing, so (1) alone would not see it.
 *
 * For an alternating credential both are per user: a cluster's password for each of the two
 * users must be one of the values stored for that user (under AWSCURRENT, AWSPENDING or
 * AWSPREVIOUS). Two more checks at each change of an alternating credential's user:
 * 3. The AWSCURRENT user's password is never changed while it is AWSCURRENT (consumers are
 *    given it: changing it locks them out; `current-killed`).
 * 4. The retired user (AWSPREVIOUS) keeps its password until the next rotation of it, and that
 *    rotation kills it no sooner than `graceMs` after the promotion that retired it (the write
 *    that made the version now under AWSCURRENT current: what `graceMs` promises consumers,
 *    docs/design.md section 5.1), unless it is a leak rotation. Not from that version's creation
 *    (its write ahead), which a rotation cut before its promotion puts far earlier
 *    (docs/reliability.md finding 4). Whether a change belongs to a leak rotation is known only
 *    from the workers' logs, so early kills are recorded here (`earlyKills`) and judged
 *    afterwards (judgeEarlyKills). How long after its promotion each retired password lived is
 *    kept too (`retiredLifetimes`).
 *
 * It also keeps timelines (labels per secret at each write, password per cluster and user from
 * the simulators' change logs) so that a rotation's outcome, reported by a worker log line with
 * its time, can be checked against the state at that instant: the second invariant (after any
 * outcome but needs_attention, the clusters hold AWSCURRENT, and an alternating credential's
 * retired user still holds AWSPREVIOUS) and the truth of a needs_attention reason.
 */
import { STRATEGY, usernamesOf, type CredentialConfig } from '../../src/config/types.ts';
import type { PasswordChange } from '../../src/sandbox/milvus-simulator.ts';
import type { Sandbox } from '../../src/sandbox/sandbox.ts';
import { STAGE } from '../../src/secrets/types.ts';
import { storedPasswords, storedPasswordsOf } from '../helpers/invariants.ts';

export interface Violation {
  /**
   * `cluster-change`: a cluster took a password held under no label (for that user);
   * `secrets-write`: a write left a cluster's password under no label (for that user);
   * `current-killed`: an alternating credential's AWSCURRENT user had its password changed while
   * it was AWSCURRENT.
   */
  kind: 'cluster-change' | 'secrets-write' | 'current-killed';
  credential: string;
  cluster: string;
  /** Epoch ms (the harness clock). */
  at: number;
  /** What happened, never a password. */
  detail: string;
}

/** The passwords under the three labels at one instant (undefined: no version carries the label). */
export interface LabelledPasswords {
  current?: string;
  pending?: string;
  previous?: string;
  /** The username each label's value names (an alternating credential has two). */
  currentUser?: string;
  pendingUser?: string;
  previousUser?: string;
}

/** An alternating credential's retired password killed sooner than graceMs after the promotion that retired it. */
export interface EarlyKill {
  credential: string;
  cluster: string;
  user: string;
  at: number;
  /** Since the promotion that retired it (the version now under AWSCURRENT became current): what is judged. */
  sinceRetiredMs: number;
  /** Since that version was created (its write ahead): what the strategy counted from before finding 4 was fixed. */
  sinceCreatedMs: number;
  graceMs: number;
}

interface LabelSnapshot {
  at: number;
  labels: LabelledPasswords;
}

export interface InvariantChecker {
  violations: Violation[];
  /** Changes and writes checked. */
  checked: { clusterChanges: number; secretsWrites: number };
  /** Alternating credentials: retired passwords killed within the grace (judged with judgeEarlyKills). */
  earlyKills: EarlyKill[];
  /**
   * Alternating credentials: for each retired password killed, how long it lived after the
   * promotion that retired it, and how long before that promotion the promoted version was
   * created (the promotion's lag: long when a rotation was cut and resumed late), in ms.
   */
  retiredLifetimes: { credential: string; at: number; sinceRetiredMs: number; promotionLagMs: number }[];
  /**
   * Every version id seen under AWSCURRENT after a Secrets Manager write (a promotion happened):
   * a rotation whose version is here did its work, whatever became of its job.
   */
  promotedVersionIds: Set<string>;
  /** Labels of `secretId` as of epoch ms `at` (the last write at or before it). */
  labelsAt: (secretId: string, at: number) => LabelledPasswords;
  /** The password `user` had on `cluster` as of epoch ms `at` (undefined: no user). */
  passwordAt: (cluster: string, user: string, at: number) => string | undefined;
  /** The roles `user` holds on `cluster` now (the soak never changes roles). */
  rolesOf: (cluster: string, user: string) => string[];
  stop: () => void;
}

function parseCredential(value: string | undefined): { password?: string; username?: string } {
  if (value === undefined) return {};
  try {
    const parsed = JSON.parse(value) as { password?: unknown; username?: unknown };
    return {
      ...(typeof parsed.password === 'string' ? { password: parsed.password } : {}),
      ...(typeof parsed.username === 'string' ? { username: parsed.username } : {}),
    };
  } catch {
    return {};
  }
}

/** The passwords under AWSCURRENT, AWSPENDING and AWSPREVIOUS right now. */
export function labelledPasswords(sandbox: Sandbox, secretId: string): LabelledPasswords {
  const values = sandbox.emulator.valuesUnderLabels(secretId);
  const out: LabelledPasswords = {};
  const current = parseCredential(values[STAGE.current]);
  const pending = parseCredential(values[STAGE.pending]);
  const previous = parseCredential(values[STAGE.previous]);
  if (current.password !== undefined) out.current = current.password;
  if (pending.password !== undefined) out.pending = pending.password;
  if (previous.password !== undefined) out.previous = previous.password;
  if (current.username !== undefined) out.currentUser = current.username;
  if (pending.username !== undefined) out.pendingUser = pending.username;
  if (previous.username !== undefined) out.previousUser = previous.username;
  return out;
}

/**
 * The passwords `user` may hold right now: for a single credential any labelled value (the
 * checker's historical semantics), for an alternating one only the values stored for that user.
 */
function storedFor(sandbox: Sandbox, credential: CredentialConfig, user: string): string[] {
  return credential.strategy === STRATEGY.alternating ? storedPasswordsOf(sandbox, credential.secretId, user) : storedPasswords(sandbox, credential.secretId);
}

/** `labels` restricted to the values that name `user` (single credentials: unchanged). */
export function labelsOfUser(labels: LabelledPasswords, credential: CredentialConfig, user: string): LabelledPasswords {
  if (credential.strategy !== STRATEGY.alternating) return labels;
  const out: LabelledPasswords = {};
  if (labels.currentUser === user && labels.current !== undefined) out.current = labels.current;
  if (labels.pendingUser === user && labels.pending !== undefined) out.pending = labels.pending;
  if (labels.previousUser === user && labels.previous !== undefined) out.previous = labels.previous;
  return out;
}

/** Which label holds `password` in `labels`, for reports (never the password itself). */
export function labelOf(labels: LabelledPasswords, password: string | undefined): string {
  if (password === undefined) return 'no user';
  if (password === labels.current) return 'AWSCURRENT';
  if (password === labels.pending) return 'AWSPENDING';
  if (password === labels.previous) return 'AWSPREVIOUS';
  return 'no label';
}

/** AWSPENDING on a version other than AWSCURRENT: a rotation under way or interrupted. */
export function pendingOnAnotherVersion(labels: LabelledPasswords): boolean {
  return labels.pending !== undefined && labels.pending !== labels.current;
}

/** Attaches the checks to every credential; call before anything rotates. */
export function attachInvariantChecker(sandbox: Sandbox, credentials: readonly CredentialConfig[], now: () => number = Date.now): InvariantChecker {
  const violations: Violation[] = [];
  const checked = { clusterChanges: 0, secretsWrites: 0 };
  const earlyKills: EarlyKill[] = [];
  const retiredLifetimes: InvariantChecker['retiredLifetimes'] = [];
  const bySecret = new Map(credentials.map((c) => [c.secretId, c]));
  const attachedAt = now();
  const timelines = new Map<string, LabelSnapshot[]>(credentials.map((c) => [c.secretId, [{ at: attachedAt, labels: labelledPasswords(sandbox, c.secretId) }]]));
  // Per secret: when each stored password first appeared (its version's creation, as the harness
  // sees it) and when it became AWSCURRENT (its promotion). Values there before the checker count from now.
  const createdAt = new Map<string, Map<string, number>>();
  const promotedAt = new Map<string, Map<string, number>>();
  for (const c of credentials) {
    const labels = labelledPasswords(sandbox, c.secretId);
    createdAt.set(c.secretId, new Map([labels.current, labels.pending, labels.previous].filter((p): p is string => p !== undefined).map((p) => [p, attachedAt])));
    promotedAt.set(c.secretId, new Map(labels.current !== undefined ? [[labels.current, attachedAt]] : []));
  }
  const unsubscribes: (() => void)[] = [];
  const promotedVersionIds = new Set<string>();

  // 1, 3 and 4. At each cluster change.
  for (const [name, simulator] of sandbox.clusters) {
    const byUser = new Map<string, CredentialConfig>();
    for (const c of credentials.filter((cr) => cr.clusters.includes(name))) for (const user of usernamesOf(c)) byUser.set(user, c);
    if (byUser.size === 0) continue;
    unsubscribes.push(
      simulator.onChange((change: PasswordChange) => {
        const credential = byUser.get(change.user);
        if (!credential) return;
        checked.clusterChanges++;
        const who = credential.strategy === STRATEGY.alternating ? ` of ${change.user}` : '';
        if (change.to === null) {
          violations.push({ kind: 'cluster-change', credential: credential.id, cluster: name, at: change.at, detail: `change #${change.seq} (${change.via}) dropped the user${who}` });
          return;
        }
        const labels = labelledPasswords(sandbox, credential.secretId);
        if (!storedFor(sandbox, credential, change.user).includes(change.to)) {
          violations.push({
            kind: 'cluster-change',
            credential: credential.id,
            cluster: name,
            at: change.at,
            detail: `change #${change.seq} (${change.via}) set a password${who} held under no label${who ? ' for that user' : ''} (labels then: ${describeLabels(labels)})`,
          });
        }
        if (credential.strategy !== STRATEGY.alternating || change.from === null || change.from === change.to) return;
        if (labels.currentUser === change.user && change.from === labels.current) {
          violations.push({
            kind: 'current-killed',
            credential: credential.id,
            cluster: name,
            at: change.at,
            detail: `change #${change.seq} (${change.via}) changed the password of the AWSCURRENT user ${change.user}: consumers holding AWSCURRENT are locked out`,
          });
          return;
        }
        if (labels.previousUser === change.user && change.from === labels.previous && labels.current !== undefined) {
          // The retired user's password dies: how long after the promotion that retired it (the
          // version now under AWSCURRENT became current; every write is seen, so it is known).
          const created = createdAt.get(credential.secretId)?.get(labels.current) ?? attachedAt;
          const promoted = promotedAt.get(credential.secretId)?.get(labels.current) ?? created;
          const sinceRetiredMs = change.at - promoted;
          retiredLifetimes.push({ credential: credential.id, at: change.at, sinceRetiredMs, promotionLagMs: promoted - created });
          if (sinceRetiredMs < credential.graceMs) {
            earlyKills.push({ credential: credential.id, cluster: name, user: change.user, at: change.at, sinceRetiredMs, sinceCreatedMs: change.at - created, graceMs: credential.graceMs });
          }
        }
      }),
    );
  }

  // 2. At each Secrets Manager write.
  unsubscribes.push(
    sandbox.emulator.onWrite((event) => {
      const credential = bySecret.get(event.secretName);
      if (!credential) return;
      checked.secretsWrites++;
      const at = now();
      const labels = labelledPasswords(sandbox, credential.secretId);
      const timeline = timelines.get(credential.secretId);
      const before = timeline?.[timeline.length - 1]?.labels;
      timeline?.push({ at, labels });
      const created = createdAt.get(credential.secretId);
      for (const p of [labels.current, labels.pending, labels.previous]) if (p !== undefined && created && !created.has(p)) created.set(p, at);
      const promoted = promotedAt.get(credential.secretId);
      if (labels.current !== undefined && labels.current !== before?.current) {
        promoted?.set(labels.current, at);
        const currentVersion = Object.entries(sandbox.emulator.labelsOf(credential.secretId)).find(([, stages]) => stages.includes(STAGE.current))?.[0];
        if (currentVersion !== undefined) promotedVersionIds.add(currentVersion);
      }
      for (const name of credential.clusters) {
        for (const user of usernamesOf(credential)) {
          const held = sandbox.clusters.get(name)?.passwordOf(user);
          // An alternating credential's second user may not exist before onboarding.
          if (held === undefined && credential.strategy === STRATEGY.alternating && labels.currentUser !== user && labels.previousUser !== user) continue;
          if (held === undefined || !storedFor(sandbox, credential, user).includes(held)) {
            const who = credential.strategy === STRATEGY.alternating ? ` of ${user}` : '';
            violations.push({
              kind: 'secrets-write',
              credential: credential.id,
              cluster: name,
              at,
              detail: `${event.op} left the cluster's password${who} under no label${who ? ' for that user' : ''} (labels now: ${describeLabels(labels)})`,
            });
          }
        }
      }
    }),
  );

  const changeIndex = new Map<string, { logLength: number; changes: { at: number; to: string | null }[] }>();
  return {
    violations,
    checked,
    earlyKills,
    retiredLifetimes,
    promotedVersionIds,
    labelsAt: (secretId, at) => {
      const timeline = timelines.get(secretId) ?? [];
      let found: LabelledPasswords = {};
      for (const snapshot of timeline) {
        if (snapshot.at > at) break;
        found = snapshot.labels;
      }
      return found;
    },
    passwordAt: (cluster, user, at) => {
      const key = `${cluster}\n${user}`;
      const log = sandbox.clusters.get(cluster)?.changeLog ?? [];
      let entry = changeIndex.get(key);
      // Rebuilt only when the log grew (the soak analyses outcomes once it is over).
      if (!entry || entry.logLength !== log.length) {
        entry = { logLength: log.length, changes: log.filter((c) => c.user === user).map((c) => ({ at: c.at, to: c.to })) };
        changeIndex.set(key, entry);
      }
      let held: string | undefined;
      for (const change of entry.changes) {
        if (change.at > at) break;
        held = change.to ?? undefined;
      }
      return held;
    },
    rolesOf: (cluster, user) => sandbox.clusters.get(cluster)?.rolesOf(user) ?? [],
    stop: () => unsubscribes.forEach((u) => u()),
  };
}

/** Which labels exist and whether AWSPENDING is on another version: no values. */
function describeLabels(labels: LabelledPasswords): string {
  const parts = [labels.current ? 'AWSCURRENT' : null, labels.pending ? (pendingOnAnotherVersion(labels) ? 'AWSPENDING (other version)' : 'AWSPENDING (on AWSCURRENT)') : null, labels.previous ? 'AWSPREVIOUS' : null];
  return parts.filter(Boolean).join(', ') || 'none';
}

// ---- end state --------------------------------------------------------------------------------

export interface EndProblem {
  credential: string;
  cluster: string;
  /** Alternating credentials: the user concerned. */
  user?: string;
  /** The label that holds the cluster's password ("no label" for a lost one). */
  holds: string;
}

/**
 * The label each user of `credential` must hold on every cluster when no rotation is under way:
 * AWSCURRENT for the single user or the AWSCURRENT user, AWSPREVIOUS for an alternating
 * credential's retired user (consumers that read the secret before the last promotion use it).
 */
function expectedLabels(credential: CredentialConfig, labels: LabelledPasswords): { user: string; label: 'AWSCURRENT' | 'AWSPREVIOUS'; password: string | undefined }[] {
  if (credential.strategy !== STRATEGY.alternating) return [{ user: credential.username, label: 'AWSCURRENT', password: labels.current }];
  const out: { user: string; label: 'AWSCURRENT' | 'AWSPREVIOUS'; password: string | undefined }[] = [];
  if (labels.currentUser !== undefined) out.push({ user: labels.currentUser, label: 'AWSCURRENT', password: labels.current });
  if (labels.previousUser !== undefined && labels.previousUser !== labels.currentUser) out.push({ user: labels.previousUser, label: 'AWSPREVIOUS', password: labels.previous });
  return out;
}

/**
 * The state at the end, read from the simulators and the emulator directly. `lost`: a cluster
 * holding a password under no label (for that user), or no user at all. `notCurrent`: a
 * cluster whose password is not AWSCURRENT (an alternating credential: its AWSCURRENT user not
 * on AWSCURRENT, or its retired user not on AWSPREVIOUS); a lockout unless that credential ended
 * in needs_attention.
 */
export function endState(sandbox: Sandbox, credentials: readonly CredentialConfig[]): { lost: EndProblem[]; notCurrent: EndProblem[] } {
  const lost: EndProblem[] = [];
  const notCurrent: EndProblem[] = [];
  for (const credential of credentials) {
    const labels = labelledPasswords(sandbox, credential.secretId);
    const alternating = credential.strategy === STRATEGY.alternating;
    const expected = expectedLabels(credential, labels);
    for (const name of credential.clusters) {
      for (const user of usernamesOf(credential)) {
        const held = sandbox.clusters.get(name)?.passwordOf(user);
        const holds = labelOf(labelsOfUser(labels, credential, user), held);
        const problem = { credential: credential.id, cluster: name, ...(alternating ? { user } : {}), holds };
        if (holds === 'no label' || holds === 'no user') lost.push(problem);
        const wanted = expected.find((e) => e.user === user);
        if (alternating ? wanted !== undefined && holds !== wanted.label : holds !== 'AWSCURRENT') notCurrent.push(problem);
      }
    }
  }
  return { lost, notCurrent };
}

// ---- outcomes against the state at their instant ------------------------------------------------

/** A rotation's outcome as a worker logged it (the `rotation ended` line). */
export interface LoggedOutcome {
  credential: string;
  rotationId: string;
  outcome: string;
  reason: string;
  mode: string;
  /** Epoch ms of the log line: after the engine's last step, before the credential lock is released. */
  at: number;
  /** The result's error text (no secret), when it has one. */
  error?: string;
}

export interface OutcomeJudgement {
  /**
   * Clusters that did not hold AWSCURRENT (nor a pending version's password while one exists)
   * after an outcome other than needs_attention; for an alternating credential also a retired
   * user not holding AWSPREVIOUS (nor that user's pending password).
   */
  lockouts: { credential: string; rotationId: string; outcome: string; reason: string; cluster: string; user?: string; holds: string }[];
  /** needs_attention outcomes, each with whether its reason matched the state at that instant. */
  needsAttention: { credential: string; rotationId: string; reason: string; mode: string; truth: 'true' | 'false' | 'unchecked'; why: string }[];
}

/**
 * Judges every logged outcome against the state at its instant. After an outcome other than
 * needs_attention, each cluster must hold AWSCURRENT (alternating: the AWSCURRENT user's, and the
 * retired user's AWSPREVIOUS); when a pending version of another rotation is still there (a
 * refusal, `rotation_in_progress`, or a load that failed before resuming it), its password is
 * allowed too (alternating: for the user it names): that rotation owns the clusters, and the
 * invariant is then its to keep. A needs_attention reason is checked for what it claims about
 * the clusters (alternating: about the user the pending version names, or the retired user).
 */
export function judgeOutcomes(outcomes: readonly LoggedOutcome[], credentials: Readonly<Record<string, CredentialConfig>>, checker: InvariantChecker): OutcomeJudgement {
  const judgement: OutcomeJudgement = { lockouts: [], needsAttention: [] };
  for (const o of outcomes) {
    const credential = credentials[o.credential];
    if (!credential) continue;
    const alternating = credential.strategy === STRATEGY.alternating;
    const labels = checker.labelsAt(credential.secretId, o.at);
    if (o.outcome !== 'needs_attention') {
      for (const wanted of expectedLabels(credential, labels)) {
        const mine = labelsOfUser(labels, credential, wanted.user);
        const allowed = [wanted.password, ...(pendingOnAnotherVersion(labels) && mine.pending !== undefined ? [mine.pending] : [])];
        for (const name of credential.clusters) {
          const password = checker.passwordAt(name, wanted.user, o.at);
          if (password === undefined || !allowed.includes(password)) {
            judgement.lockouts.push({ credential: o.credential, rotationId: o.rotationId, outcome: o.outcome, reason: o.reason, cluster: name, ...(alternating ? { user: wanted.user } : {}), holds: labelOf(mine, password) });
          }
        }
      }
      continue;
    }
    // The user the reason speaks of: the single user, or the one the pending version (else AWSPREVIOUS) names.
    const subject = credential.strategy === STRATEGY.alternating ? (labels.pendingUser ?? labels.previousUser ?? labels.currentUser ?? '') : credential.username;
    const mine = labelsOfUser(labels, credential, subject);
    const held = new Map(credential.clusters.map((name) => [name, checker.passwordAt(name, subject, o.at)]));
    const holds = [...held.entries()].map(([name, password]) => [name, labelOf(mine, password)] as const);
    const summary = holds.map(([name, label]) => `${name}=${label}`).join(' ');
    // Leak mode: no cluster holds the leaked password (single: AWSCURRENT; alternating: the old
    // password of the user being changed, its AWSPREVIOUS).
    const leakDead = holds.every(([, label]) => label !== (alternating ? 'AWSPREVIOUS' : 'AWSCURRENT'));
    let truth: 'true' | 'false' | 'unchecked';
    switch (o.reason) {
      case 'unknown_password':
        // A cluster holds a password under none of the three labels (alternating: for either user).
        truth = usernamesOf(credential).some((user) => credential.clusters.some((name) => labelOf(labelsOfUser(labels, credential, user), checker.passwordAt(name, user, o.at)) === 'no label')) ? 'true' : 'false';
        break;
      case 'rollback_failed':
        // A cluster kept the new password, which AWSPENDING (on another version) still records.
        truth = pendingOnAnotherVersion(labels) && holds.some(([, label]) => label === 'AWSPENDING') ? 'true' : 'false';
        break;
      case 'finish_unknown':
        // Every cluster holds the new password; it is under AWSPENDING or already AWSCURRENT.
        truth = new Set(held.values()).size === 1 && holds.every(([, label]) => label === 'AWSPENDING' || label === 'AWSCURRENT') ? 'true' : 'false';
        break;
      case 'promote_failed':
        // Leak mode, or a throttled promotion in any mode: every cluster holds the new password, still under AWSPENDING (or AWSCURRENT once a retry promoted it).
        truth = new Set(held.values()).size === 1 && holds.every(([, label]) => label === 'AWSPENDING' || label === 'AWSCURRENT') ? 'true' : 'false';
        break;
      case 'leak_not_contained':
        // A cluster still accepts the leaked password, which is still AWSCURRENT. Alternating: which user leaked is not in the line.
        truth = alternating ? 'unchecked' : holds.some(([, label]) => label === 'AWSCURRENT') ? 'true' : 'false';
        break;
      case 'cluster_unreachable':
      case 'verify_failed':
        // needs_attention with these only in leak mode, once every cluster was seen to reject the
        // leaked password ("leak contained ..."; finding 6): no cluster still holds it.
        truth = o.mode === 'leak' ? (leakDead ? 'true' : 'false') : 'unchecked';
        break;
      case 'roles_differ': {
        // Alternating: the two users hold different roles (ignoring public) on a cluster.
        const [one, other] = usernamesOf(credential);
        const differ = credential.clusters.some((name) => {
          const a = checker.rolesOf(name, one ?? '').filter((r) => r !== 'public').sort().join(',');
          const b = checker.rolesOf(name, other ?? '').filter((r) => r !== 'public').sort().join(',');
          return a !== b;
        });
        truth = differ ? 'true' : 'false';
        break;
      }
      case 'roles_unknown':
        // Alternating: the roles step could not read the roles (finding 5). It runs after
        // verification, so every cluster holds the new password of the user the pending version
        // names, kept under AWSPENDING.
        truth = pendingOnAnotherVersion(labels) && holds.every(([, label]) => label === 'AWSPENDING') ? 'true' : 'false';
        break;
      default:
        truth = 'unchecked';
    }
    // Whatever the reason, a leak-mode message that says the leak is contained claims the same.
    if (o.mode === 'leak' && o.error?.startsWith('leak contained') && !leakDead) truth = 'false';
    judgement.needsAttention.push({ credential: o.credential, rotationId: o.rotationId, reason: o.reason, mode: o.mode, truth, why: summary });
  }
  return judgement;
}

// ---- early kills of a retired user, judged against the rotations' modes ------------------------------

/** One rotation as the workers' logs show it: from its first line to its last outcome line. */
export interface RotationWindow {
  credential: string;
  rotationId: string;
  /** The mode of its outcome lines (leak if any says so). */
  mode: string;
  from: number;
  to: number;
}

/**
 * Early kills (a retired password changed sooner than graceMs after the promotion that retired it)
 * are allowed only in leak mode: those that no leak rotation of the same credential was running
 * for (its window, widened by `slackMs` for log timestamps) are lockouts of consumers within the
 * grace, and fail the soak.
 */
export function judgeEarlyKills(kills: readonly EarlyKill[], windows: readonly RotationWindow[], slackMs = 50): { excused: number; unexcused: EarlyKill[] } {
  const unexcused = kills.filter((k) => !windows.some((w) => w.credential === k.credential && w.mode === 'leak' && k.at >= w.from - slackMs && k.at <= w.to + slackMs));
  return { excused: kills.length - unexcused.length, unexcused };
}

// ---- needs-attention reports of reconcile --------------------------------------------------------

/** A reconcile report that a credential needs a human (the `credential needs attention` line). */
export interface LoggedReport {
  credential: string;
  status: string;
  /** Per cluster, what the check's probe of AWSCURRENT answered. */
  clusters: Record<string, string>;
  at: number;
}

/**
 * Is a reconcile `drift` report true at its instant? It claims that the named clusters reject
 * AWSCURRENT (alternating: or the retired user's AWSPREVIOUS) and that no rotation is under way
 * (no pending version on another version). True only if, at the time of the line, each cluster
 * said `rejected` holds another password than AWSCURRENT (or, alternating, a cluster's retired
 * user holds another password than AWSPREVIOUS) and no pending version exists.
 */
export function judgeReports(reports: readonly LoggedReport[], credentials: Readonly<Record<string, CredentialConfig>>, checker: InvariantChecker): { credential: string; status: string; truth: 'true' | 'false' | 'unchecked'; why: string }[] {
  return reports.map((r) => {
    const credential = credentials[r.credential];
    if (!credential || r.status !== 'drift') return { credential: r.credential, status: r.status, truth: 'unchecked' as const, why: '' };
    const labels = checker.labelsAt(credential.secretId, r.at);
    const expected = expectedLabels(credential, labels);
    const currentUser = expected[0]?.user ?? '';
    const retired = expected[1];
    const rejected = Object.entries(r.clusters).filter(([, answer]) => answer === 'rejected').map(([name]) => name);
    const holds = expected.flatMap((e) => credential.clusters.map((name) => `${name}${retired ? `/${e.user}` : ''}=${labelOf(labelsOfUser(labels, credential, e.user), checker.passwordAt(name, e.user, r.at))}`)).join(' ');
    const trulyRejected = rejected.length > 0 && rejected.every((name) => checker.passwordAt(name, currentUser, r.at) !== labels.current);
    const retiredDrifted = retired !== undefined && credential.clusters.some((name) => checker.passwordAt(name, retired.user, r.at) !== retired.password);
    const inProgress = pendingOnAnotherVersion(labels);
    const truth = (trulyRejected || retiredDrifted) && !inProgress ? ('true' as const) : ('false' as const);
    return { credential: r.credential, status: r.status, truth, why: `${holds}${inProgress ? '; a rotation was under way (AWSPENDING on another version)' : ''}` };
  });
}
