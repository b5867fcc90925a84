/**
 * One configuration load in a fresh process, for bench/config-load-core.ts (which sets the heap
 * flags and reads the GC trace). Prints `RESULT {json}`: the wall and CPU time of loadConfig, the
 * heap the loaded Config keeps (heap used after a forced GC, minus the same before the load,
 * with the modules already loaded) and the process's peak RSS.
 *
 * Run: node --expose-gc bench/config-load-child.ts FILE
 */
import { readFileSync } from 'node:fs';
import { loadConfig } from '../src/config/load.ts';

const file = process.argv[2];
if (file === undefined) throw new Error('usage: config-load-child.ts FILE');
const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error('run with --expose-gc');

gc();
const heapBefore = process.memoryUsage().heapUsed;
const cpu = process.cpuUsage();
const started = performance.now();
const config = loadConfig(file, {});
const ms = performance.now() - started;
const { user, system } = process.cpuUsage(cpu);
const heapAtEnd = process.memoryUsage().heapUsed;
gc();
const retained = process.memoryUsage().heapUsed - heapBefore;
const rssPeakKb = Number(/VmHWM:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? Number.NaN);
console.log(
  `RESULT ${JSON.stringify({
    credentials: Object.keys(config.credentials).length,
    ms: Math.round(ms),
    cpuMs: Math.round((user + system) / 1000),
    heapAtEndBytes: heapAtEnd,
    retainedBytes: retained,
    rssPeakBytes: rssPeakKb * 1024,
  })}`,
);
