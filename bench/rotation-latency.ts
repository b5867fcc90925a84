/**
 * bench/rotation-latency: how close a rotation gets to its network floor.
 *
 * The sandbox adds a fixed latency L to every request of both services. Each rotation is timed
 * end to end, and every request the engine makes is recorded as an interval; the number of
 * sequential round trips is the longest chain of non-overlapping requests (the critical path the
 * code really took). The ratio time / (round trips x L) says how much overhead sits on top of the
 * unavoidable waiting. Targets (issue 3): ratio <= 1.2, a fresh single-cluster rotation in at most
 * 8 sequential round trips, 3 clusters costing about what 1 costs.
 *
 * Run: npm run bench:rotation-latency [-- --latency-ms 10 --runs 30]
 */
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import { MilvusRestClient } from '../src/milvus/client.ts';
import type { ClusterClient } from '../src/milvus/types.ts';
import { generatePassword } from '../src/password/generate.ts';
import { RotationEngine } from '../src/rotation/engine.ts';
import { startSandbox } from '../src/sandbox/sandbox.ts';
import { createSecretStore } from '../src/secrets/store.ts';
import type { SecretStore } from '../src/secrets/types.ts';
import { makeConfig } from '../test/helpers/config.ts';

const { values } = parseArgs({ options: { 'latency-ms': { type: 'string', default: '10' }, runs: { type: 'string', default: '30' } } });
const latencyMs = Number(values['latency-ms']);
const runs = Number(values.runs);

type Interval = [number, number];

/** Wraps every method of an object so each call is recorded as a [start, end] interval. */
function recorded<T extends object>(target: T, intervals: Interval[]): T {
  return new Proxy(target, {
    get(obj, key, receiver) {
      const value = Reflect.get(obj, key, receiver) as unknown;
      if (typeof value !== 'function' || key === 'close' || key === 'constructor') return value;
      return async (...args: unknown[]) => {
        const start = performance.now();
        try {
          return await (value as (...a: unknown[]) => Promise<unknown>).apply(obj, args);
        } finally {
          intervals.push([start, performance.now()]);
        }
      };
    },
  });
}

/** The longest chain of requests each starting after the previous ended: the sequential round trips. */
function sequentialRoundTrips(intervals: Interval[]): number {
  const sorted = [...intervals].sort((a, b) => a[1] - b[1]);
  let count = 0;
  let lastEnd = -Infinity;
  for (const [start, end] of sorted) {
    if (start >= lastEnd - 0.05) {
      count++;
      lastEnd = end;
    }
  }
  return count;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

async function measure(clusterCount: number): Promise<{ clusters: number; medianMs: number; roundTrips: number; ratio: number; outcomes: Record<string, number> }> {
  const names = ['west', 'east', 'dr'].slice(0, clusterCount);
  const sandbox = await startSandbox(makeConfig(names, [{ id: 'bench', username: 'bench_user', clusters: names }]), { latencyMs });
  Object.assign(process.env, sandbox.env);
  const credential = sandbox.config.credentials.bench;
  if (!credential) throw new Error('no credential');
  const clients = new Map<string, MilvusRestClient>();
  for (const c of Object.values(sandbox.config.clusters)) clients.set(c.name, new MilvusRestClient({ name: c.name, endpoint: c.endpoint, timeoutMs: 5_000 }));
  const store = createSecretStore({ region: 'us-east-1', maxAttempts: 3 });
  const times: number[] = [];
  const trips: number[] = [];
  const outcomes: Record<string, number> = {};
  for (let i = 0; i < runs + 3; i++) {
    const intervals: Interval[] = [];
    const engine = new RotationEngine({
      store: recorded<SecretStore>(store, intervals),
      cluster: (name) => recorded<ClusterClient>(clients.get(name) as ClusterClient, intervals),
      generatePassword,
    });
    const began = performance.now();
    const result = await engine.rotate({ credential, mode: 'scheduled', rotationId: randomUUID() });
    const elapsed = performance.now() - began;
    if (i < 3) continue; // warm-up: connections, JIT
    outcomes[result.outcome] = (outcomes[result.outcome] ?? 0) + 1;
    times.push(elapsed);
    trips.push(sequentialRoundTrips(intervals));
  }
  for (const client of clients.values()) client.close();
  await sandbox.close();
  const medianMs = median(times);
  const roundTrips = median(trips);
  return { clusters: clusterCount, medianMs: Math.round(medianMs * 10) / 10, roundTrips, ratio: Math.round((medianMs / (roundTrips * latencyMs)) * 100) / 100, outcomes };
}

const one = await measure(1);
const three = await measure(3);
for (const r of [one, three]) {
  console.log(
    `${r.clusters} cluster(s): median ${r.medianMs} ms over ${runs} rotations, ${r.roundTrips} sequential round trips, ` +
      `ratio time/(round trips x ${latencyMs} ms) = ${r.ratio}, outcomes ${JSON.stringify(r.outcomes)}`,
  );
}
console.log(`3 clusters cost ${Math.round((three.medianMs / one.medianMs) * 100) / 100}x what 1 costs`);
console.log(`BENCH ${JSON.stringify({ bench: 'rotation-latency', latencyMs, runs, one, three, threeOverOne: Math.round((three.medianMs / one.medianMs) * 100) / 100 })}`);
