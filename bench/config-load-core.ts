/**
 * What loading a configuration file costs, measured on child processes (bench/config-load-child.ts),
 * each a fresh Node loading the file once with loadConfig, as a worker does at startup. All runs use
 * `--max-semi-space-size=4`, as the Deployment does (k8s/base), since the young generation's size
 * changes how often the GC runs and so the peak.
 *
 * Figures:
 *   time         wall and CPU time of loadConfig (median of `runs` processes); CPU time counts the
 *                GC's helper threads too, and is the steadier figure on a shared machine;
 *   peak heap    the highest V8 heap use seen: the largest "used before" of the process's
 *                `--trace-gc` lines (the heap is fullest just before a collection) or the heap used
 *                when loadConfig returned, whichever is more; a lower bound of the true peak, off by
 *                at most the allocation since the last collection (the young generation, 3 x 4 MiB);
 *   min heap     the smallest `--max-old-space-size` (MiB) with which the load still succeeds,
 *                found by bisection: what NODE_OPTIONS must give for the config alone. Below the
 *                peak the GC collects harder, so it is less than the peak;
 *   retained     heap the loaded Config keeps after a forced GC (what the worker holds afterwards);
 *   RSS          the child's peak resident set (VmHWM), Node and the modules included (about 110 MiB for one credential).
 */
import { spawn } from 'node:child_process';
import { statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const CHILD = fileURLToPath(new URL('./config-load-child.ts', import.meta.url));
const MIB = 1_048_576;
/** The Deployment's young-generation setting (k8s/base/deployment.yaml NODE_OPTIONS). */
const SEMI_SPACE_FLAG = '--max-semi-space-size=4';
/** A bisection run that neither succeeds nor dies by then is counted as too little heap (GC thrash). */
const TRIAL_TIMEOUT_MS = 300_000;
/** The largest heap the bisection tries. */
const MAX_HEAP_MIB = 4_096;

export interface ConfigLoadResult {
  credentials: number;
  bytes: number;
  bytesPerCredential: number;
  ms: number;
  cpuMs: number;
  /** CPU microseconds per credential. */
  cpuUsPerCredential: number;
  peakHeapMiB: number;
  /** The smallest --max-old-space-size that loads the file, or null when even MAX_HEAP_MIB does not. */
  minOldSpaceMiB: number | null;
  /** minOldSpaceMiB per 1,000 credentials. */
  minOldSpaceMiBPer1000: number | null;
  retainedBytesPerCredential: number;
  rssPeakMiB: number;
}

interface ChildRun {
  ok: boolean;
  result?: { credentials: number; ms: number; cpuMs: number; heapAtEndBytes: number; retainedBytes: number; rssPeakBytes: number };
  /** The largest heap used before a GC, from --trace-gc, in MiB. */
  traceMaxMiB: number;
}

const GC_LINE = /ms: (?:Scavenge|Mark-Compact|Minor Mark-Sweep)[^\d]*([\d.]+) \([\d.]+\) -> /;

function runChild(file: string, flags: string[]): Promise<ChildRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...flags, SEMI_SPACE_FLAG, '--expose-gc', '--trace-gc', CHILD, file], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.resume();
    const timer = setTimeout(() => child.kill('SIGKILL'), TRIAL_TIMEOUT_MS);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      let traceMaxMiB = 0;
      let result: ChildRun['result'];
      for (const line of out.split('\n')) {
        const gc = GC_LINE.exec(line);
        if (gc) traceMaxMiB = Math.max(traceMaxMiB, Number(gc[1]));
        if (line.startsWith('RESULT ')) result = JSON.parse(line.slice('RESULT '.length)) as ChildRun['result'];
      }
      resolve({ ok: code === 0 && result !== undefined, ...(result !== undefined && { result }), traceMaxMiB });
    });
  });
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}

/** The smallest --max-old-space-size (MiB) that loads `file`, starting above `guessMiB`. */
async function minOldSpace(file: string, guessMiB: number): Promise<number | null> {
  let lo = 0;
  let hi = Math.ceil(guessMiB) + 16;
  while (!(await runChild(file, [`--max-old-space-size=${hi}`])).ok) {
    lo = hi;
    if (hi >= MAX_HEAP_MIB) return null;
    hi = Math.min(MAX_HEAP_MIB, hi * 2);
  }
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if ((await runChild(file, [`--max-old-space-size=${mid}`])).ok) hi = mid;
    else lo = mid;
  }
  return hi;
}

/** Measures loading `file` (which holds `credentials` credentials): `runs` timed processes, then the bisection. */
export async function measureConfigLoad(file: string, credentials: number, options: { runs?: number; bisect?: boolean } = {}): Promise<ConfigLoadResult> {
  const runs: ChildRun[] = [];
  for (let i = 0; i < (options.runs ?? 3); i += 1) {
    const run = await runChild(file, []);
    if (!run.ok || run.result === undefined) throw new Error(`loading ${file} failed with the default heap`);
    if (run.result.credentials !== credentials) throw new Error(`${file} has ${run.result.credentials} credentials, expected ${credentials}`);
    runs.push(run);
  }
  const results = runs.map((run) => run.result as NonNullable<ChildRun['result']>);
  const peakHeapMiB = Math.max(...runs.map((run) => Math.max(run.traceMaxMiB, (run.result?.heapAtEndBytes ?? 0) / MIB)));
  const minOldSpaceMiB = options.bisect === false ? null : await minOldSpace(file, peakHeapMiB);
  const bytes = statSync(file).size;
  const cpuMs = median(results.map((r) => r.cpuMs));
  return {
    credentials,
    bytes,
    bytesPerCredential: Math.round(bytes / credentials),
    ms: median(results.map((r) => r.ms)),
    cpuMs,
    cpuUsPerCredential: Math.round((cpuMs * 1000) / credentials),
    peakHeapMiB: Math.round(peakHeapMiB * 10) / 10,
    minOldSpaceMiB,
    minOldSpaceMiBPer1000: minOldSpaceMiB === null ? null : Math.round((minOldSpaceMiB / credentials) * 1000 * 100) / 100,
    retainedBytesPerCredential: Math.round(median(results.map((r) => r.retainedBytes)) / credentials),
    rssPeakMiB: Math.round(median(results.map((r) => r.rssPeakBytes)) / MIB),
  };
}
