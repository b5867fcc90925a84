/**
 * bench/config-load: what loading the configuration costs at 1,000, 10,000 and 50,000 credentials
 * (the figures and how each is measured: bench/config-load-core.ts). The files are bench/fleet's
 * fleet (makeFleetConfig: one cluster per 90 credentials, every key written out, as configToYaml
 * writes a loaded Config back), generated first and not timed.
 *
 * Prints a one-credential baseline (Node and the modules), each size with its figures per 1,000
 * credentials above that baseline, the ratio between consecutive sizes (linear growth: the ratio
 * of the sizes), then `BENCH {json}`. bench/scale reports the same figures for its own fleet.
 *
 * Run: npm run bench:config-load [-- --sizes 1000,10000,50000 --runs 3 --no-bisect]
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { makeFleetConfig } from '../test/helpers/config.ts';
import { configToYaml } from '../test/helpers/config-file.ts';
import { measureConfigLoad, type ConfigLoadResult } from './config-load-core.ts';

const { values } = parseArgs({
  options: {
    sizes: { type: 'string', default: '1000,10000,50000' },
    runs: { type: 'string', default: '3' },
    'no-bisect': { type: 'boolean', default: false },
  },
});
const SIZES = values.sizes.split(',').map(Number);

function ratio(a: number | null, b: number | null): number | null {
  return a === null || b === null ? null : Math.round((b / a) * 100) / 100;
}

/** Per 1,000 credentials above the one-credential baseline (Node, the modules, an almost empty file). */
function perThousand(value: number | null, base: number | null, credentials: number): number | null {
  return value === null || base === null ? null : Math.round(((value - base) / (credentials - 1)) * 1000 * 100) / 100;
}

const dir = mkdtempSync(join(tmpdir(), 'bench-config-load-'));
const results: (ConfigLoadResult & { per1000: Record<string, number | null> })[] = [];
let baseline: ConfigLoadResult | undefined;
try {
  for (const size of [1, ...SIZES]) {
    const file = join(dir, `fleet-${size}.yaml`);
    writeFileSync(file, configToYaml(makeFleetConfig(size)));
    const r = await measureConfigLoad(file, size, { runs: Number(values.runs), bisect: !values['no-bisect'] });
    if (baseline === undefined) {
      baseline = r;
      console.log(`baseline (1 credential): load ${r.ms} ms, cpu ${r.cpuMs} ms; peak heap ${r.peakHeapMiB} MiB; min --max-old-space-size ${r.minOldSpaceMiB} MiB; peak rss ${r.rssPeakMiB} MiB`);
      continue;
    }
    const per1000 = {
      cpuMs: perThousand(r.cpuMs, baseline.cpuMs, size),
      peakHeapMiB: perThousand(r.peakHeapMiB, baseline.peakHeapMiB, size),
      minOldSpaceMiB: perThousand(r.minOldSpaceMiB, baseline.minOldSpaceMiB, size),
      rssPeakMiB: perThousand(r.rssPeakMiB, baseline.rssPeakMiB, size),
      retainedMiB: perThousand(r.retainedBytesPerCredential * size / 1_048_576, baseline.retainedBytesPerCredential / 1_048_576, size),
    };
    results.push({ ...r, per1000 });
    console.log(
      `${size} credentials: ${r.bytes} bytes (${r.bytesPerCredential} B/credential); load ${r.ms} ms, cpu ${r.cpuMs} ms (${r.cpuUsPerCredential} us/credential); ` +
        `peak heap ${r.peakHeapMiB} MiB; min --max-old-space-size ${r.minOldSpaceMiB ?? '>4096'} MiB (${r.minOldSpaceMiBPer1000 ?? '-'} per 1,000); ` +
        `retained ${r.retainedBytesPerCredential} B/credential; peak rss ${r.rssPeakMiB} MiB; ` +
        `per 1,000 above the baseline: ${JSON.stringify(per1000)}`,
    );
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
const ratios = results.slice(1).map((r, i) => {
  const p = results[i] as ConfigLoadResult;
  return {
    from: p.credentials,
    to: r.credentials,
    sizeRatio: ratio(p.credentials, r.credentials),
    bytes: ratio(p.bytes, r.bytes),
    cpuMs: ratio(p.cpuMs, r.cpuMs),
    ms: ratio(p.ms, r.ms),
    peakHeap: ratio(p.peakHeapMiB, r.peakHeapMiB),
    minOldSpace: ratio(p.minOldSpaceMiB, r.minOldSpaceMiB),
  };
});
for (const q of ratios) console.log(`x${q.sizeRatio} credentials (${q.from} -> ${q.to}): ${JSON.stringify(q)}`);
console.log(`BENCH ${JSON.stringify({ bench: 'config-load', usersPerCluster: 90, baseline, sizes: results, ratios })}`);
