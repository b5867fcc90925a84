/**
 * bench/consumer-impact: failed consumer requests per rotation, the longest time any consumer had
 * no working password, and Secrets Manager reads per consumer per rotation, for every consumer
 * policy x rotation strategy (see consumer-impact-core.ts for the model).
 *
 * Time is compressed: a rotation every --interval-ms (default 2000 ms instead of hours or days),
 * the ttl policy's re-read every --ttl-ms (250), the helper's cache --helper-cache-ms (250), the
 * alternating grace --grace-ms (1000; it must stay below the cadence minus a rotation's duration, or the next rotation is refused as within grace). What matters is their ratios, which the output states.
 *
 * Run: npm run bench:consumer-impact [-- --consumers 20 --rate 20 --rotations 100 --interval-ms 1000]
 * Targets: single + helper: 0 failures visible to the caller, at most one read beyond the one the
 * rotation needs (<= 2 per consumer per rotation); alternating + ttl < grace and + helper: 0 failed
 * requests over >= 500 rotations.
 */
import { parseArgs } from 'node:util';
import { POLICIES, runConsumerImpact, type ConsumerImpactResult, type PolicyResult } from './consumer-impact-core.ts';

const { values } = parseArgs({
  options: {
    consumers: { type: 'string', default: '20' },
    rate: { type: 'string', default: '20' },
    rotations: { type: 'string', default: '100' },
    'interval-ms': { type: 'string', default: '2000' },
    'ttl-ms': { type: 'string', default: '250' },
    'helper-cache-ms': { type: 'string', default: '250' },
    'grace-ms': { type: 'string', default: '1000' },
    clusters: { type: 'string', default: '2' },
    strategies: { type: 'string', default: 'single,alternating' },
  },
});
const strategies = values.strategies.split(',').map((s) => s.trim());
const options = {
  consumers: Number(values.consumers),
  ratePerSecond: Number(values.rate),
  rotations: Number(values.rotations),
  rotationIntervalMs: Number(values['interval-ms']),
  ttlMs: Number(values['ttl-ms']),
  helperCacheMs: Number(values['helper-cache-ms']),
  graceMs: Number(values['grace-ms']),
  clusters: Number(values.clusters),
  policies: POLICIES,
  log: (line: string) => process.stderr.write(`${line}\n`),
};

console.log(
  `consumer-impact: ${options.consumers} consumers spread over ${POLICIES.length} policies, ${options.ratePerSecond} req/s each, ${options.clusters} clusters; ` +
    `${options.rotations} rotations, one every ${options.rotationIntervalMs} ms (compressed); ttl re-read every ${options.ttlMs} ms, helper cache ${options.helperCacheMs} ms, alternating grace ${options.graceMs} ms`,
);

const results: ConsumerImpactResult[] = [];
if (strategies.includes('single')) results.push(await runConsumerImpact({ ...options, strategy: 'single' }));
if (strategies.includes('alternating')) results.push(await runConsumerImpact({ ...options, strategy: 'alternating' }));
const pending: Array<{ policy: string; strategy: string; status: string }> = [];

const header = ['strategy', 'policy', 'consumers', 'req/s/consumer', 'failed/rotation', 'failed by kind', 'hidden retries/rotation', 'max / median no-password ms', 'reads/consumer/rotation', 'max reads/consumer/rotation'];
const rows: string[][] = results.flatMap((r) =>
  r.policies.map((p: PolicyResult) => [p.strategy, p.policy, String(p.consumers), String(p.achievedRatePerConsumer), String(p.failedPerRotation), JSON.stringify(p.failedByKind), String(p.hiddenRetriesPerRotation), `${p.maxNoPasswordMs} / ${p.medianNoPasswordMs}`, String(p.readsPerConsumerPerRotation), String(p.maxReadsPerConsumerPerRotation)]),
);
for (const p of pending) rows.push([p.strategy, p.policy, '', '', 'pending', '', '', '', '', '']);
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => (row[i] ?? '').length)));
const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ');
console.log(line(header));
for (const row of rows) console.log(line(row));
for (const r of results) console.log(`${r.strategy}: rotations ${JSON.stringify(r.rotations)}, ${r.elapsedMs} ms`);
console.log(`BENCH ${JSON.stringify({ bench: 'consumer-impact', options: { ...options, log: undefined }, results, pending })}`);
