/**
 * The engine's tables as pure functions, over every combination of their inputs, without I/O:
 * the resume rules (per cluster: what the pending, current and previous passwords got -> the next
 * move), the failure policy (mode x what changed -> roll back, roll forward or stop, outcome,
 * reason), the dry run's action (what load gave -> rotate, resume, refuse or nothing), and the
 * retries of what Secrets Manager throttled (a write through the fence; a job put back). Each
 * expectation is written from the wording of docs/design.md (sections 5 and 6; the dry run's: the
 * README, `--dry-run`), not from the code.
 */
import { describe, expect, it } from 'vitest';
import { FAILURE_ACTION, PROMOTION, decideFailure, rollBackVerdict, type FailureFacts, type Promotion } from '../src/rotation/failure-policy.ts';
import { RESUME_MOVE, isTerminal, nextResumeMove, type ClusterEvidence, type ResumeMove } from '../src/rotation/resume-rules.ts';
import { PLAN_ACTION, planActionOf } from '../src/rotation/rotation-plan.ts';
import { THROTTLE_RETRY, throttleRetryDelayMs } from '../src/rotation/throttle-retry.ts';
import { MODE, OUTCOME, REASON, type Mode, type Outcome, type Reason, type RotationResult } from '../src/rotation/types.ts';
import { WRITE_RETRY, nextWriteRetry, writeRetryDelayMs, type WriteRetryFacts } from '../src/rotation/write-retry.ts';

const PENDING: ClusterEvidence['pending'][] = [undefined, 'none', 'accepted', 'rejected', 'unknown'];
const CURRENT: ClusterEvidence['current'][] = [undefined, 'accepted', 'rejected', 'unknown'];
const PREVIOUS: ClusterEvidence['previous'][] = [undefined, 'none', 'accepted', 'rejected', 'unknown'];

/** The resume table, read as a person would: the first line that matches wins. */
function expectedMove(e: ClusterEvidence): ResumeMove {
  if (e.pending === undefined) return RESUME_MOVE.probePending; // resuming: look first, a crash may have set it
  if (e.pending === 'accepted') return RESUME_MOVE.holdsPending; // NEW: done
  if (e.pending === 'unknown') return RESUME_MOVE.noAnswer;
  if (e.current !== 'rejected' && e.current !== 'unknown') return RESUME_MOVE.changeFromCurrent; // OLD (or not tried yet)
  if (e.current === 'unknown') return RESUME_MOVE.noAnswer;
  if (e.previous !== 'rejected' && e.previous !== 'unknown' && e.previous !== 'none') return RESUME_MOVE.changeFromPrevious; // PREV
  if (e.previous === 'unknown') return RESUME_MOVE.noAnswer;
  return RESUME_MOVE.unknownPassword; // nothing we hold: a human must look
}

describe('resume rules: every combination of pending x current x previous', () => {
  const all = PENDING.flatMap((pending) => CURRENT.flatMap((current) => PREVIOUS.map((previous) => ({ pending, current, previous }))));

  it('covers 100 combinations', () => {
    expect(all).toHaveLength(100);
  });

  it.each(all.map((e) => [JSON.stringify(e), e] as const))('%s', (_label, evidence) => {
    expect(nextResumeMove(evidence)).toBe(expectedMove(evidence));
  });

  it('a cluster is never changed from a password it has shown it rejects, and never probed for pending twice', () => {
    for (const e of all) {
      const move = nextResumeMove(e);
      if (move === RESUME_MOVE.changeFromCurrent) expect(e.current === 'rejected' || e.current === 'unknown').toBe(false);
      if (move === RESUME_MOVE.changeFromPrevious) expect(['rejected', 'unknown', 'none']).not.toContain(e.previous);
      if (move === RESUME_MOVE.probePending) expect(e.pending).toBeUndefined();
    }
  });

  it('asking in the documented order always ends in a terminal move within four moves', () => {
    const answers = ['accepted', 'rejected', 'unknown'] as const;
    for (const p of answers) for (const c of answers) for (const v of [...answers, 'none'] as const) {
      const e: ClusterEvidence = { pending: undefined, current: undefined, previous: undefined };
      let moves = 0;
      let move = nextResumeMove(e);
      while (!isTerminal(move)) {
        if (move === RESUME_MOVE.probePending) e.pending = p;
        else if (move === RESUME_MOVE.changeFromCurrent) e.current = c === 'accepted' ? 'rejected' : c; // a change that succeeds is terminal in the engine; model the miss
        else if (move === RESUME_MOVE.changeFromPrevious) e.previous = v === 'accepted' ? 'rejected' : v;
        move = nextResumeMove(e);
        expect(++moves).toBeLessThanOrEqual(4);
      }
    }
  });
});

const MODES: Mode[] = [MODE.scheduled, MODE.manual, MODE.leak];
const PROMOTIONS: Promotion[] = [PROMOTION.notReached, PROMOTION.failed, PROMOTION.throttled, PROMOTION.unknown];
const CAUSES: Reason[] = [REASON.clusterRefused, REASON.policyRejected, REASON.clusterUnreachable, REASON.verifyFailed, REASON.unknownPassword, REASON.secretsManagerError];

/** The failure policy of docs/design.md section 5, written out. */
function expectedDecision(f: FailureFacts): ReturnType<typeof decideFailure> {
  if (f.promotion === PROMOTION.unknown) {
    return { action: FAILURE_ACTION.rollForward, dropPending: false, outcome: OUTCOME.needsAttention, reason: REASON.finishUnknown };
  }
  // A throttled move is only the quota saying "not now": carried forward in every mode, as leak mode carries a failed one.
  if (f.promotion === PROMOTION.throttled) {
    return { action: FAILURE_ACTION.rollForward, dropPending: false, outcome: OUTCOME.needsAttention, reason: f.stranger ? REASON.unknownPassword : REASON.promoteFailed };
  }
  if (f.mode === MODE.leak) {
    if (f.promotion === PROMOTION.failed) {
      return { action: FAILURE_ACTION.rollForward, dropPending: false, outcome: OUTCOME.needsAttention, reason: f.stranger ? REASON.unknownPassword : REASON.promoteFailed };
    }
    return {
      action: f.touched ? FAILURE_ACTION.rollForward : FAILURE_ACTION.stop,
      dropPending: !f.touched,
      outcome: OUTCOME.needsAttention,
      // A leak seen dead on every cluster is not reported as uncontained: the clusters' cause says what is left.
      reason: f.stranger ? REASON.unknownPassword : f.leakContained ? f.cause : REASON.leakNotContained,
    };
  }
  if (!f.touched) return { action: FAILURE_ACTION.stop, dropPending: true, outcome: f.stranger ? OUTCOME.needsAttention : OUTCOME.failed, reason: f.cause };
  return { action: FAILURE_ACTION.rollBack };
}

describe('failure policy: every combination of mode x touched x stranger x promotion x cause x leak contained', () => {
  const all = MODES.flatMap((mode) =>
    [true, false].flatMap((touched) =>
      [true, false].flatMap((stranger) =>
        PROMOTIONS.flatMap((promotion) => CAUSES.flatMap((cause) => [true, false].map((leakContained): FailureFacts => ({ mode, touched, stranger, promotion, cause, leakContained })))),
      ),
    ),
  );

  it('covers 576 combinations', () => {
    expect(all).toHaveLength(576);
  });

  it.each(all.map((f) => [JSON.stringify(f), f] as const))('%s', (_label, facts) => {
    expect(decideFailure(facts)).toEqual(expectedDecision(facts));
  });

  it('leak mode never rolls back; a promotion that may have happened, or that was throttled, is never rolled back', () => {
    for (const f of all) {
      if (f.mode === MODE.leak || f.promotion === PROMOTION.unknown || f.promotion === PROMOTION.throttled) expect(decideFailure(f).action).not.toBe(FAILURE_ACTION.rollBack);
    }
  });

  it('a throttled promotion keeps AWSPENDING and is retried forward (promote_failed, or unknown_password with a stranger) in every mode', () => {
    for (const f of all.filter((x) => x.promotion === PROMOTION.throttled)) {
      expect(decideFailure(f)).toMatchObject({ action: FAILURE_ACTION.rollForward, dropPending: false });
      const d = decideFailure(f);
      if (d.action !== FAILURE_ACTION.rollBack) expect(d.reason).toBe(f.stranger ? REASON.unknownPassword : REASON.promoteFailed);
    }
  });

  it('AWSPENDING is dropped only when no cluster holds (or may hold) the new password', () => {
    for (const f of all) {
      const d = decideFailure(f);
      if (d.action !== FAILURE_ACTION.rollBack && d.dropPending) expect(f.touched).toBe(false);
    }
  });

  it('leak_not_contained only when some cluster was not seen to reject the leaked password', () => {
    for (const f of all) {
      const d = decideFailure(f);
      if (d.action !== FAILURE_ACTION.rollBack && d.reason === REASON.leakNotContained) expect(f.leakContained).toBe(false);
    }
  });

  it('a stranger password makes every outcome needs_attention', () => {
    for (const f of all.filter((x) => x.stranger)) {
      const d = decideFailure(f);
      if (d.action !== FAILURE_ACTION.rollBack) expect(d.outcome).toBe(OUTCOME.needsAttention);
    }
  });
});

describe('failure policy after a roll back: every combination', () => {
  it.each([true, false].flatMap((allBack) => [true, false].flatMap((stranger) => CAUSES.map((cause) => ({ allBack, stranger, cause })))))('%o', (facts) => {
    const verdict = rollBackVerdict(facts);
    if (!facts.allBack) {
      // A cluster may still hold the new password: AWSPENDING records it.
      expect(verdict).toEqual({ dropPending: false, outcome: OUTCOME.needsAttention, reason: REASON.rollbackFailed });
    } else {
      expect(verdict).toEqual({ dropPending: true, outcome: facts.stranger ? OUTCOME.needsAttention : OUTCOME.rolledBack, reason: facts.cause });
    }
  });
});

describe('a throttled write: retried through the fence, every combination of attempt x time spent x budget', () => {
  const ATTEMPTS = [1, 2, 3, 4, 5, 6, 12, 40];
  const TIMES = [0, 50, 99, 100, 101, 300, 700, 999, 1_000, 1_001, 9_000, 10_000, 60_000];
  const BUDGETS = [0, 100, 250, 1_000, 10_000];
  const all: WriteRetryFacts[] = [true, false].flatMap((throttled) =>
    ATTEMPTS.flatMap((attempt) => TIMES.flatMap((elapsedMs) => TIMES.flatMap((pausedMs) => BUDGETS.map((budgetMs) => ({ throttled, attempt, elapsedMs, pausedMs, budgetMs }))))),
  );

  /** The rule of docs/design.md section 2, written out. */
  function expected(f: WriteRetryFacts): ReturnType<typeof nextWriteRetry> {
    if (!f.throttled) return { retry: false }; // a refusal, a conflict, a 5xx the store retried: the step decides
    const pause = Math.min(1_000, 100 * 2 ** (f.attempt - 1)); // 100 ms, doubling, at most 1 s
    const spent = Math.max(f.elapsedMs, f.pausedMs);
    return spent + pause <= f.budgetMs ? { retry: true, delayMs: pause } : { retry: false };
  }

  it('covers 13,520 combinations', () => {
    expect(all).toHaveLength(13_520);
  });

  it('decides each as written', () => {
    for (const f of all) expect(nextWriteRetry(f), JSON.stringify(f)).toEqual(expected(f));
  });

  it('pauses 100 ms, 200 ms, 400 ms, 800 ms, then 1 s', () => {
    expect([1, 2, 3, 4, 5, 6, 50].map(writeRetryDelayMs)).toEqual([100, 200, 400, 800, 1_000, 1_000, 1_000]);
    expect(WRITE_RETRY).toEqual({ baseDelayMs: 100, maxDelayMs: 1_000 });
  });

  it('ends within the budget whatever the clock does: at most budget / 100 ms + 1 attempts, pauses summing to at most the budget', () => {
    for (const budgetMs of [0, 99, 100, 250, 1_000, 10_000, 123_456]) {
      for (const clock of ['frozen', 'real'] as const) {
        let attempts = 1;
        let pausedMs = 0;
        for (;;) {
          const next = nextWriteRetry({ throttled: true, attempt: attempts, elapsedMs: clock === 'frozen' ? 0 : pausedMs + attempts * 7, pausedMs, budgetMs });
          if (!next.retry) break;
          pausedMs += next.delayMs;
          attempts++;
          expect(attempts).toBeLessThanOrEqual(Math.floor(budgetMs / WRITE_RETRY.baseDelayMs) + 1);
        }
        expect(pausedMs).toBeLessThanOrEqual(budgetMs);
      }
    }
  });
});

describe('a rotation throttled before anything changed: put back, a bounded number of times', () => {
  it('pauses 1 s, 2 s, 4 s, 8 s, 16 s, then 30 s, ten times; then the result stands', () => {
    const delays = Array.from({ length: 12 }, (_, putBacks) => throttleRetryDelayMs(putBacks));
    expect(delays).toEqual([1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000, 30_000, 30_000, 30_000, null, null]);
    expect(THROTTLE_RETRY.putBacks).toBe(10);
    // About three minutes of pauses in all.
    expect(delays.reduce<number>((sum, d) => sum + (d ?? 0), 0)).toBe(181_000);
  });
});

describe("the dry run's action: every load result x whether a pending version would be resumed", () => {
  const stopOf = (outcome: Outcome, reason: Reason): RotationResult => ({ credential: 'c', outcome, reason, mode: MODE.manual, rotationId: 'r', versionId: null, clusters: {}, durationMs: 0 });
  // Every outcome load can stop with, with a reason it gives it (the two rotated ones are the only reasons of `rotated` at load).
  const stops: RotationResult[] = [
    stopOf(OUTCOME.rotated, REASON.alreadyRotated),
    stopOf(OUTCOME.rotated, REASON.nothingPending),
    stopOf(OUTCOME.failed, REASON.rotationInProgress),
    stopOf(OUTCOME.failed, REASON.graceNotElapsed),
    stopOf(OUTCOME.failed, REASON.authDisabled),
    stopOf(OUTCOME.needsAttention, REASON.unknownPassword),
    stopOf(OUTCOME.needsAttention, REASON.rolesDiffer),
    stopOf(OUTCOME.rolledBack, REASON.verifyFailed),
  ];

  it.each(stops.flatMap((stop) => [true, false].map((resumes) => [`${stop.outcome}/${stop.reason}, resumes ${resumes}`, stop, resumes] as const)))('%s', (_label, stop, resumes) => {
    // A stop that is a success (nothing to do) is `nothing`; any other stop is a refusal; whether a pending version exists does not matter then.
    expect(planActionOf(stop, resumes)).toBe(stop.outcome === OUTCOME.rotated ? PLAN_ACTION.nothing : PLAN_ACTION.refuse);
  });

  it('a load that goes on resumes when a pending version with a value is there, else rotates', () => {
    expect(planActionOf(null, true)).toBe(PLAN_ACTION.resume);
    expect(planActionOf(null, false)).toBe(PLAN_ACTION.rotate);
  });
});
