import type { ClusterClient } from '../milvus/types.ts';

/** What one cluster holds after an attempt to move it from one password to another. */
export type ChangeResult =
  /** The cluster accepts `to`: changed now, or already before. */
  | { kind: 'changed' }
  /** Neither `to` nor `from` is accepted there: it holds some other password. */
  | { kind: 'from-rejected' }
  /** The cluster refused the new password (1100): nothing changed. */
  | { kind: 'policy-rejected'; message: string }
  /** The cluster refused the request for another reason (403, 1801, ...): nothing changed. */
  | { kind: 'refused'; message: string }
  /** Still ambiguous after every attempt: it holds `from` or `to`, we cannot tell which. */
  | { kind: 'unknown'; reason: string };

export interface ChangeOptions {
  /** Attempts of update_password while the cluster provably still holds `from`. */
  maxAttempts: number;
  /** Probes spent resolving one ambiguous answer before giving up. */
  maxProbes: number;
  /** Pause between attempts (backoff base). */
  retryDelayMs: number;
  sleep: (ms: number) => Promise<void>;
  /** Called before each update_password: the fencing check (throws to stop). */
  beforeWrite: () => Promise<void>;
}

/**
 * Moves one cluster's user from `from` to `to`, self-service, and never assumes: every ambiguous
 * answer (timeout, socket error, 408, 5xx, 65535) is resolved by probing `to` then `from`
 * (spec/milvus-rest-user-api.md section 10). The cases:
 *  1. accepted: changed.
 *  2. 401 or 1400 (the header or old password is not accepted): probe `to`; accepted means an
 *     earlier attempt already changed it (a retry after a lost reply); else `from` is not live there.
 *  3. ambiguous: probe `to` (changed), then `from` (not applied: try again); neither: some other password.
 *  4. 1100: the server's policy refuses `to`; nothing changed, retrying cannot help.
 *  5. anything else: refused, nothing changed.
 */
export async function changePassword(
  client: ClusterClient,
  user: string,
  from: string,
  to: string,
  options: ChangeOptions,
): Promise<ChangeResult> {
  let lastReason = 'no attempt';
  for (let attempt = 1; attempt <= options.maxAttempts; attempt++) {
    if (attempt > 1) await options.sleep(options.retryDelayMs * 2 ** (attempt - 2));
    await options.beforeWrite();
    const answer = await client.updatePassword(user, from, to);
    switch (answer.kind) {
      case 'accepted': // case 1
        return { kind: 'changed' };
      case 'policy-rejected': // case 4
        return { kind: 'policy-rejected', message: answer.message };
      case 'other': // case 5
        return { kind: 'refused', message: `HTTP ${answer.httpStatus}, code ${answer.code ?? 'none'}: ${answer.message}` };
      case 'rejected':
      case 'old-password-wrong': {
        // case 2
        const holds = await resolveHolder(client, user, from, to, options);
        if (holds === 'to') return { kind: 'changed' };
        if (holds === 'from') {
          // The cluster took `from` after all (a propagation race): try again.
          lastReason = 'old password refused, then accepted';
          continue;
        }
        if (holds === 'neither') return { kind: 'from-rejected' };
        return { kind: 'unknown', reason: holds.unknown };
      }
      case 'ambiguous': {
        // case 3
        lastReason = answer.reason;
        const holds = await resolveHolder(client, user, from, to, options);
        if (holds === 'to') return { kind: 'changed' };
        if (holds === 'from') continue;
        if (holds === 'neither') return { kind: 'from-rejected' };
        return { kind: 'unknown', reason: `${answer.reason}; then ${holds.unknown}` };
      }
      default: {
        const unreachable: never = answer;
        throw new Error(`unhandled update answer ${JSON.stringify(unreachable)}`);
      }
    }
  }
  return { kind: 'unknown', reason: `still not changed after ${options.maxAttempts} attempts (last: ${lastReason})` };
}

type Holder = 'to' | 'from' | 'neither' | { unknown: string };

/** Probes `to`, then `from`; retries a probe that gets no clear answer up to maxProbes times. */
async function resolveHolder(client: ClusterClient, user: string, from: string, to: string, options: ChangeOptions): Promise<Holder> {
  const probeTo = await probeClearly(client, user, to, options);
  if (probeTo === 'accepted') return 'to';
  if (typeof probeTo === 'object') return probeTo;
  const probeFrom = await probeClearly(client, user, from, options);
  if (probeFrom === 'accepted') return 'from';
  if (typeof probeFrom === 'object') return probeFrom;
  return 'neither';
}

/** Probes `password`, retrying a probe that gets no clear answer up to maxProbes times (with backoff). */
export async function probeClearly(
  client: ClusterClient,
  user: string,
  password: string,
  options: Pick<ChangeOptions, 'maxProbes' | 'retryDelayMs' | 'sleep'>,
): Promise<'accepted' | 'rejected' | { unknown: string }> {
  let reason = 'no probe';
  for (let i = 0; i < options.maxProbes; i++) {
    if (i > 0) await options.sleep(options.retryDelayMs * 2 ** (i - 1));
    const answer = await client.probe(user, password);
    if (answer.kind !== 'unknown') return answer.kind;
    reason = answer.reason;
  }
  return { unknown: `probe gave no answer: ${reason}` };
}
