/**
 * The sandbox of the chaos soak: the same services and seeding as src/sandbox/sandbox.ts
 * (one Milvus simulator per cluster, one Secrets Manager emulator, every credential seeded with a
 * fresh password on its clusters and as AWSCURRENT; an alternating credential's second user
 * with its own, under AWSPREVIOUS, already onboarded), built here so that the simulators and the
 * emulator draw their random faults from a seeded source we wrap, and every injected fault is
 * counted by kind.
 *
 * How the Milvus faults are counted: the simulator calls its `random` from three places (the
 * gateway 5xx roll, the ambiguous roll followed, when it hits, by the pick of the ambiguous kind,
 * and the latency jitter). The wrapper looks at its caller's stack frame to know which roll it
 * is answering and records the fault the simulator is about to inject, with the same comparison
 * the simulator makes. Gateway rolls happen once per request, synchronously with the request
 * count, so `gatewayRolls` must equal the requests received while faults were on: the report
 * checks that, which proves the classification is right (a renamed roll would break it, and the
 * CI soak also asserts that ambiguous faults were counted; test/chaos/checker.test.ts compares
 * the counts with what a client receives). Secrets Manager throttles are the
 * emulator's own `throttledCount()` (no write quota is set, so every throttle is an injected one).
 */
import type { Config } from '../../src/config/types.ts';
import { startSandbox, type Sandbox } from '../../src/sandbox/sandbox.ts';

/** mulberry32: a small seeded uniform [0, 1) generator, so a run's fault draws can be replayed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** The simulator's ambiguous kinds, in the order its `#rollAmbiguousFault` picks them. */
export const AMBIGUOUS_KINDS = ['applied-then-408', 'applied-then-65535', 'applied-then-drop', 'applied-then-5xx'] as const;
export type AmbiguousKind = (typeof AMBIGUOUS_KINDS)[number];

export interface MilvusFaultCounts {
  /** One per request that arrived while faults were on. */
  gatewayRolls: number;
  /** Gateway 503 before the request reached Milvus (not applied). */
  gateway5xx: number;
  /** One per request whose handler succeeded while faults were on. */
  ambiguousRolls: number;
  /** Applied, then answered ambiguously, by kind. */
  ambiguous: Record<AmbiguousKind, number>;
  /** Requests that drew a latency jitter, and the sum and maximum drawn. */
  jitteredRequests: number;
  jitterMsTotal: number;
  jitterMsMax: number;
}

export interface ChaosFaults {
  milvus: { rate5xx: number; rateAmbiguous: number; latencyJitterMs: number };
  secrets: { rateThrottle: number; latencyJitterMs: number };
}

export interface ChaosSandbox extends Sandbox<Config> {
  /** Turns the random faults on (with these rates) or off (null). */
  setFaults: (faults: ChaosFaults | null) => void;
  /** What was injected so far, by kind. */
  faultCounts: () => FaultReport;
}

export interface FaultReport {
  milvus: MilvusFaultCounts & {
    /** Requests the simulators received while faults were on; must equal gatewayRolls. */
    requestsWhileOn: number;
    requestsTotal: number;
  };
  secrets: { throttled: number; requestsTotal: number };
  /** gatewayRolls === requestsWhileOn: the stack-frame classification saw every request. */
  accountingConsistent: boolean;
}

function emptyCounts(): MilvusFaultCounts {
  return {
    gatewayRolls: 0,
    gateway5xx: 0,
    ambiguousRolls: 0,
    ambiguous: { 'applied-then-408': 0, 'applied-then-65535': 0, 'applied-then-drop': 0, 'applied-then-5xx': 0 },
    jitteredRequests: 0,
    jitterMsTotal: 0,
    jitterMsMax: 0,
  };
}

/**
 * A `random` for one simulator that records the fault each draw injects. `rates` is read at each
 * draw: it must be the simulator's current setting (ChaosSandbox.setFaults changes both at once).
 */
function countingRandom(base: () => number, counts: MilvusFaultCounts, rates: () => ChaosFaults['milvus']): () => number {
  let kindDrawNext = false;
  return () => {
    const r = base();
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 3;
    const stack = new Error().stack ?? '';
    Error.stackTraceLimit = limit;
    const current = rates();
    if (stack.includes('rollGatewayFault')) {
      counts.gatewayRolls++;
      if (r < current.rate5xx) counts.gateway5xx++;
    } else if (stack.includes('rollAmbiguousFault')) {
      // Two draws in one synchronous call: the roll, then (on a hit) the kind.
      if (kindDrawNext) {
        kindDrawNext = false;
        const kind = AMBIGUOUS_KINDS[Math.min(AMBIGUOUS_KINDS.length - 1, Math.floor(r * AMBIGUOUS_KINDS.length))] ?? 'applied-then-408';
        counts.ambiguous[kind]++;
      } else {
        counts.ambiguousRolls++;
        if (r < current.rateAmbiguous) kindDrawNext = true;
      }
    } else {
      const ms = Math.floor(r * current.latencyJitterMs);
      counts.jitteredRequests++;
      counts.jitterMsTotal += ms;
      counts.jitterMsMax = Math.max(counts.jitterMsMax, ms);
    }
    return r;
  };
}

/** startSandbox for `config`, with seeded random faults that are counted, off at first. */
export async function startChaosSandbox(config: Config, options: { seed: number; latencyMs?: number }): Promise<ChaosSandbox> {
  const base = seededRandom(options.seed);
  const latencyMs = options.latencyMs ?? 0;
  const off: ChaosFaults = { milvus: { rate5xx: 0, rateAmbiguous: 0, latencyJitterMs: 0 }, secrets: { rateThrottle: 0, latencyJitterMs: 0 } };
  let faults: ChaosFaults = off;
  const counts = emptyCounts();
  const sandbox = await startSandbox(config, {
    latencyMs,
    secretsRandom: base,
    // One counter per simulator, as each keeps its own sequence of fault draws.
    milvusRandom: () => countingRandom(base, counts, () => faults.milvus),
  });
  const { emulator, clusters: simulators } = sandbox;
  const totalRequests = (): number => [...simulators.values()].reduce((sum, s) => sum + s.requestCount('any'), 0);
  let requestsWhileOn = 0;
  let onSince: number | null = null;
  return {
    ...sandbox,
    setFaults: (next) => {
      // Synchronous: no request can arrive between the counter snapshot and the switch.
      if (onSince !== null) requestsWhileOn += totalRequests() - onSince;
      onSince = next ? totalRequests() : null;
      faults = next ?? off;
      for (const simulator of simulators.values()) simulator.setRandomFaults(faults.milvus);
      emulator.setRandomFaults(next ? { rateThrottle: next.secrets.rateThrottle, latencyJitterMs: next.secrets.latencyJitterMs } : undefined);
    },
    faultCounts: () => {
      const whileOn = requestsWhileOn + (onSince === null ? 0 : totalRequests() - onSince);
      return {
        milvus: { ...counts, ambiguous: { ...counts.ambiguous }, requestsWhileOn: whileOn, requestsTotal: totalRequests() },
        secrets: { throttled: emulator.throttledCount(), requestsTotal: emulator.callCount() },
        accountingConsistent: counts.gatewayRolls === whileOn,
      };
    },
  };
}
