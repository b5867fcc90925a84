/**
 * The invariant checker of the chaos soak (DESIGN section 5, "Invariants every test and benchmark
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
 * It also keeps timelines (labels per secret at each write, password per cluster and user from
 * the simulators' change logs) so that a rotation's outcome, reported by a worker log line with
 * its time, can be checked against the state at that instant: the second invariant (after any
 * outcome but needs_attention, the clusters hold AWSCURRENT) and the truth of a needs_attention
 * reason.
 */
import type { SingleCredentialConfig } from '../../src/config/types.ts';
import type { PasswordChange } from '../../src/sandbox/milvus-simulator.ts';
import type { Sandbox } from '../../src/sandbox/sandbox.ts';
import { STAGE } from '../../src/secrets/types.ts';
import { storedPasswords } from '../helpers/invariants.ts';

export interface Violation {
  /** `cluster-change`: a cluster took a password held under no label; `secrets-write`: a write left a cluster's password under no label. */
  kind: 'cluster-change' | 'secrets-write';
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
}

interface LabelSnapshot {
  at: number;
  labels: LabelledPasswords;
}

export interface InvariantChecker {
  violations: Violation[];
  /** Changes and writes checked. */
  checked: { clusterChanges: number; secretsWrites: number };
  /** Labels of `secretId` as of epoch ms `at` (the last write at or before it). */
  labelsAt: (secretId: string, at: number) => LabelledPasswords;
  /** The password `user` had on `cluster` as of epoch ms `at` (undefined: no user). */
  passwordAt: (cluster: string, user: string, at: number) => string | undefined;
  stop: () => void;
}

function parsePassword(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  try {
    const parsed = JSON.parse(value) as { password?: unknown };
    return typeof parsed.password === 'string' ? parsed.password : undefined;
  } catch {
    return undefined;
  }
}

/** The passwords under AWSCURRENT, AWSPENDING and AWSPREVIOUS right now. */
export function labelledPasswords(sandbox: Sandbox, secretId: string): LabelledPasswords {
  const values = sandbox.emulator.valuesUnderLabels(secretId);
  const out: LabelledPasswords = {};
  const current = parsePassword(values[STAGE.current]);
  const pending = parsePassword(values[STAGE.pending]);
  const previous = parsePassword(values[STAGE.previous]);
  if (current !== undefined) out.current = current;
  if (pending !== undefined) out.pending = pending;
  if (previous !== undefined) out.previous = previous;
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

/** Attaches both checks to every credential; call before anything rotates. */
export function attachInvariantChecker(sandbox: Sandbox, credentials: readonly SingleCredentialConfig[], now: () => number = Date.now): InvariantChecker {
  const violations: Violation[] = [];
  const checked = { clusterChanges: 0, secretsWrites: 0 };
  const bySecret = new Map(credentials.map((c) => [c.secretId, c]));
  const timelines = new Map<string, LabelSnapshot[]>(credentials.map((c) => [c.secretId, [{ at: now(), labels: labelledPasswords(sandbox, c.secretId) }]]));
  const unsubscribes: (() => void)[] = [];

  // 1. At each cluster change.
  for (const [name, simulator] of sandbox.clusters) {
    const byUser = new Map(credentials.filter((c) => c.clusters.includes(name)).map((c) => [c.username, c]));
    if (byUser.size === 0) continue;
    unsubscribes.push(
      simulator.onChange((change: PasswordChange) => {
        const credential = byUser.get(change.user);
        if (!credential) return;
        checked.clusterChanges++;
        if (change.to === null) {
          violations.push({ kind: 'cluster-change', credential: credential.id, cluster: name, at: change.at, detail: `change #${change.seq} (${change.via}) dropped the user` });
          return;
        }
        if (!storedPasswords(sandbox, credential.secretId).includes(change.to)) {
          const labels = labelledPasswords(sandbox, credential.secretId);
          violations.push({
            kind: 'cluster-change',
            credential: credential.id,
            cluster: name,
            at: change.at,
            detail: `change #${change.seq} (${change.via}) set a password held under no label (labels then: ${describeLabels(labels)})`,
          });
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
      timelines.get(credential.secretId)?.push({ at, labels });
      const stored = storedPasswords(sandbox, credential.secretId);
      for (const name of credential.clusters) {
        const held = sandbox.clusters.get(name)?.passwordOf(credential.username);
        if (held === undefined || !stored.includes(held)) {
          violations.push({
            kind: 'secrets-write',
            credential: credential.id,
            cluster: name,
            at,
            detail: `${event.op} left the cluster's password under no label (labels now: ${describeLabels(labels)})`,
          });
        }
      }
    }),
  );

  const changeIndex = new Map<string, { logLength: number; changes: { at: number; to: string | null }[] }>();
  return {
    violations,
    checked,
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
  /** The label that holds the cluster's password ("no label" for a lost one). */
  holds: string;
}

/**
 * The state at the end, read from the simulators and the emulator directly. `lost`: a cluster
 * holding a password under no label (or no user at all). `notCurrent`: a cluster whose password
 * is not AWSCURRENT; a lockout unless that credential ended in needs_attention.
 */
export function endState(sandbox: Sandbox, credentials: readonly SingleCredentialConfig[]): { lost: EndProblem[]; notCurrent: EndProblem[] } {
  const lost: EndProblem[] = [];
  const notCurrent: EndProblem[] = [];
  for (const credential of credentials) {
    const labels = labelledPasswords(sandbox, credential.secretId);
    for (const name of credential.clusters) {
      const held = sandbox.clusters.get(name)?.passwordOf(credential.username);
      const holds = labelOf(labels, held);
      if (holds === 'no label' || holds === 'no user') lost.push({ credential: credential.id, cluster: name, holds });
      if (holds !== 'AWSCURRENT') notCurrent.push({ credential: credential.id, cluster: name, holds });
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
}

export interface OutcomeJudgement {
  /** Clusters that did not hold AWSCURRENT (nor a pending version's password while one exists) after an outcome other than needs_attention. */
  lockouts: { credential: string; rotationId: string; outcome: string; reason: string; cluster: string; holds: string }[];
  /** needs_attention outcomes, each with whether its reason matched the state at that instant. */
  needsAttention: { credential: string; rotationId: string; reason: string; mode: string; truth: 'true' | 'false' | 'unchecked'; why: string }[];
}

/**
 * Judges every logged outcome against the state at its instant. After an outcome other than
 * needs_attention, each cluster must hold AWSCURRENT; when a pending version of another rotation
 * is still there (a refusal, `rotation_in_progress`, or a load that failed before resuming it),
 * its password is allowed too: that rotation owns the clusters, and the invariant is then its to
 * keep. A needs_attention reason is checked for what it claims about the clusters.
 */
export function judgeOutcomes(outcomes: readonly LoggedOutcome[], credentials: Readonly<Record<string, SingleCredentialConfig>>, checker: InvariantChecker): OutcomeJudgement {
  const judgement: OutcomeJudgement = { lockouts: [], needsAttention: [] };
  for (const o of outcomes) {
    const credential = credentials[o.credential];
    if (!credential) continue;
    const labels = checker.labelsAt(credential.secretId, o.at);
    const held = new Map(credential.clusters.map((name) => [name, checker.passwordAt(name, credential.username, o.at)]));
    if (o.outcome !== 'needs_attention') {
      const allowed = [labels.current, ...(pendingOnAnotherVersion(labels) ? [labels.pending] : [])];
      for (const [name, password] of held) {
        if (password === undefined || !allowed.includes(password)) {
          judgement.lockouts.push({ credential: o.credential, rotationId: o.rotationId, outcome: o.outcome, reason: o.reason, cluster: name, holds: labelOf(labels, password) });
        }
      }
      continue;
    }
    const holds = [...held.entries()].map(([name, password]) => [name, labelOf(labels, password)] as const);
    const summary = holds.map(([name, label]) => `${name}=${label}`).join(' ');
    let truth: 'true' | 'false' | 'unchecked';
    switch (o.reason) {
      case 'unknown_password':
        // A cluster holds a password under none of the three labels.
        truth = holds.some(([, label]) => label === 'no label') ? 'true' : 'false';
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
        // Leak mode: every cluster holds the new password, still under AWSPENDING (or AWSCURRENT once a retry promoted it).
        truth = new Set(held.values()).size === 1 && holds.every(([, label]) => label === 'AWSPENDING' || label === 'AWSCURRENT') ? 'true' : 'false';
        break;
      case 'leak_not_contained':
        // A cluster still accepts the leaked password, which is still AWSCURRENT (never restored, never promoted away).
        truth = holds.some(([, label]) => label === 'AWSCURRENT') ? 'true' : 'false';
        break;
      default:
        truth = 'unchecked';
    }
    judgement.needsAttention.push({ credential: o.credential, rotationId: o.rotationId, reason: o.reason, mode: o.mode, truth, why: summary });
  }
  return judgement;
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
 * AWSCURRENT and that no rotation is under way (no pending version on another version). True
 * only if, at the time of the line, each cluster said `rejected` holds another password than
 * AWSCURRENT and no pending version exists.
 */
export function judgeReports(reports: readonly LoggedReport[], credentials: Readonly<Record<string, SingleCredentialConfig>>, checker: InvariantChecker): { credential: string; status: string; truth: 'true' | 'false' | 'unchecked'; why: string }[] {
  return reports.map((r) => {
    const credential = credentials[r.credential];
    if (!credential || r.status !== 'drift') return { credential: r.credential, status: r.status, truth: 'unchecked' as const, why: '' };
    const labels = checker.labelsAt(credential.secretId, r.at);
    const rejected = Object.entries(r.clusters).filter(([, answer]) => answer === 'rejected').map(([name]) => name);
    const holds = credential.clusters.map((name) => `${name}=${labelOf(labels, checker.passwordAt(name, credential.username, r.at))}`).join(' ');
    const trulyRejected = rejected.every((name) => checker.passwordAt(name, credential.username, r.at) !== labels.current);
    const inProgress = pendingOnAnotherVersion(labels);
    const truth = rejected.length > 0 && trulyRejected && !inProgress ? ('true' as const) : ('false' as const);
    return { credential: r.credential, status: r.status, truth, why: `${holds}${inProgress ? '; a rotation was under way (AWSPENDING on another version)' : ''}` };
  });
}
