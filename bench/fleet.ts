/**
 * bench/fleet: the rotation rate of a fleet against Secrets Manager's shared write quota.
 *
 * N credentials (default 2,000) on the sandbox, the emulator's write limit at 50/s (AWS's quota
 * for PutSecretValue + UpdateSecretVersionStage per region), 2 worker processes (the real
 * `milvus-rotator worker`). Every credential is enqueued once; the run ends when every job has
 * finished. Prints rotations per second, its ratio to the ceiling (50 / writes per rotation),
 * ThrottlingException count, failed rotations and each worker's peak RSS.
 *
 * Writes per rotation: 2. PutSecretValue writes the new password under AWSPENDING before any
 * cluster sees it (without it a crash could lose the only copy of a live password);
 * UpdateSecretVersionStage moves AWSCURRENT to it (without it consumers never see it). AWSPENDING
 * is left beside AWSCURRENT (AWS's "rotation complete" state) instead of a third write to remove
 * it, which raises the ceiling from 16.7 to 25 rotations per second.
 *
 * Run: npm run bench:fleet [-- --credentials 2000 --workers 2 --concurrency 16]
 * (builds first; the workers run dist/src/cli.js with WORKER_NODE_OPTIONS, default
 * "--max-old-space-size=96 --max-semi-space-size=4", what k8s/base sets for the Deployment).
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { RotationQueue } from '../src/queue/rotation-queue.ts';
import { WRITES_PER_ROTATION } from '../src/queue/names.ts';
import { startSandbox } from '../src/sandbox/sandbox.ts';
import { makeConfig } from '../test/helpers/config.ts';
import { writeConfigFile } from '../test/helpers/config-file.ts';
import { startBenchRedis } from './bench-redis.ts';

const { values } = parseArgs({
  options: {
    credentials: { type: 'string', default: '2000' },
    workers: { type: 'string', default: '2' },
    concurrency: { type: 'string', default: '16' },
    'write-limit': { type: 'string', default: '50' },
  },
});
const count = Number(values.credentials);
const workerCount = Number(values.workers);
const writeLimit = Number(values['write-limit']);
const USERS_PER_CLUSTER = 90;

const redis = await startBenchRedis();
const clusterNames = Array.from({ length: Math.ceil(count / USERS_PER_CLUSTER) }, (_, i) => `c${i}`);
const specs = Array.from({ length: count }, (_, i) => ({ id: `cred-${i}`, username: `user_${i}`, clusters: [clusterNames[Math.floor(i / USERS_PER_CLUSTER)] as string] }));
const base = makeConfig(clusterNames, specs);
const config = {
  ...base,
  redis: { url: redis.url, prefix: '{fleet-bench}', connectTimeoutMs: 10_000 },
  aws: { ...base.aws, writesPerSecond: writeLimit, maxAttempts: 4 },
  worker: { ...base.worker, concurrency: Number(values.concurrency) },
};
const sandbox = await startSandbox(config, { writeLimitPerSecond: writeLimit });
const path = writeConfigFile(sandbox.config);
// The workers run as in the image: the compiled CLI (`npm run build` first: the npm script does)
// with the heap sized for a 256 MiB container, as the Deployment sets NODE_OPTIONS.
const cli = new URL('../dist/src/cli.js', import.meta.url).pathname;
const WORKER_NODE_OPTIONS = process.env.WORKER_NODE_OPTIONS ?? '--max-old-space-size=96 --max-semi-space-size=4';

let stopping = false;
const workers = Array.from({ length: workerCount }, () => {
  const child = spawn(process.execPath, [cli, 'worker', '--config', path], { env: { ...process.env, ...sandbox.env, LOG_LEVEL: 'warn', NODE_OPTIONS: WORKER_NODE_OPTIONS }, stdio: ['ignore', 'ignore', 'pipe'] });
  let errors = '';
  child.stderr?.on('data', (c: Buffer) => {
    errors += c.toString();
  });
  // A worker that exits before the run ends (a crash, the heap limit) ends the run at once with its
  // last words, instead of leaving the queue to wait out the deadline.
  child.once('exit', (code, signal) => {
    if (stopping) return;
    console.error(`worker ${child.pid} exited early (code ${code}, signal ${signal}):\n${errors.slice(-4000)}`);
    process.exit(1);
  });
  return { child, errors: () => errors };
});
const peakRssMb = (pid: number | undefined): number => {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0);
    return Math.round(kb / 1024);
  } catch {
    return -1;
  }
};

const initialVersion = new Map(
  Object.values(sandbox.config.credentials).map((c) => {
    const labels = sandbox.emulator.labelsOf(c.secretId);
    return [c.secretId, Object.keys(labels).find((v) => labels[v]?.includes('AWSCURRENT'))] as const;
  }),
);
/**
 * Credentials whose AWSCURRENT moved: rotated. Read from the emulator, not from BullMQ (which trims
 * finished jobs), and counted as each stage change lands: a scan of every credential every 250 ms
 * stalls the emulator's event loop (it shares this process) by 19 ms median, 35 ms at worst at
 * 10,000 credentials, and the writes that wait it out reach the write limit together.
 */
const rotatedSecrets = new Set<string>();
const stopCounting = sandbox.emulator.onWrite((change) => {
  if (change.op !== 'UpdateSecretVersionStage' || !initialVersion.has(change.secretName)) return;
  const labels = sandbox.emulator.labelsOf(change.secretName);
  if (Object.keys(labels).find((v) => labels[v]?.includes('AWSCURRENT')) !== initialVersion.get(change.secretName)) rotatedSecrets.add(change.secretName);
});
const rotatedCount = (): number => rotatedSecrets.size;
const connection = new Redis(redis.url, { maxRetriesPerRequest: null });
const rotations = new RotationQueue(connection, config.redis.prefix);
await new Promise((resolve) => setTimeout(resolve, 1_500)); // workers up
const startedAt = performance.now();
for (let i = 0; i < count; i++) await rotations.enqueue({ credentialId: `cred-${i}`, mode: 'scheduled', requestedBy: 'bench' });
const enqueuedAt = performance.now();
// Done when every credential rotated, or when the queue is idle (whatever did not rotate failed).
const deadline = Date.now() + Math.max(120_000, count * 200);
for (;;) {
  if (Date.now() > deadline) {
    for (const w of workers) console.error(w.errors().slice(-2000));
    throw new Error(`only ${rotatedCount()} of ${count} rotated in time`);
  }
  await new Promise((resolve) => setTimeout(resolve, 250));
  if (rotatedCount() === count) break;
  const pending = await rotations.queue.getJobCounts('waiting', 'prioritized', 'active', 'delayed');
  if (Object.values(pending).every((n) => n === 0)) break;
}
const elapsedS = (performance.now() - startedAt) / 1000;
const rss = workers.map((w) => peakRssMb(w.child.pid));

const rotated = rotatedCount();
// BullMQ keeps the last 1,000 completed jobs: their outcomes, as a sample.
const outcomes: Record<string, number> = {};
for (const job of await rotations.queue.getJobs(['completed'], 0, -1)) {
  const outcome = (job.returnvalue as { outcome?: string } | null)?.outcome ?? 'none';
  outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
}
const failedJobs = (await rotations.queue.getJobCounts('failed')).failed ?? 0;
const rate = count / elapsedS;
const ceiling = writeLimit / WRITES_PER_ROTATION;
const result = {
  bench: 'fleet',
  credentials: count,
  workers: workerCount,
  writeLimitPerSecond: writeLimit,
  writesPerRotation: WRITES_PER_ROTATION,
  seconds: Math.round(elapsedS * 10) / 10,
  enqueueSeconds: Math.round(((enqueuedAt - startedAt) / 1000) * 10) / 10,
  rotationsPerSecond: Math.round(rate * 100) / 100,
  ceiling,
  ratioToCeiling: Math.round((rate / ceiling) * 1000) / 1000,
  throttlingExceptions: sandbox.emulator.throttledCount(),
  rotated,
  outcomesOfLastKeptJobs: outcomes,
  failedRotations: count - rotated,
  failedJobs,
  peakRssMb: rss,
};
console.log(
  `${count} rotations in ${result.seconds} s: ${result.rotationsPerSecond}/s = ${Math.round(result.ratioToCeiling * 100)}% of the ceiling ` +
    `(${writeLimit} writes/s / ${WRITES_PER_ROTATION} writes per rotation = ${ceiling}/s); ThrottlingException ${result.throttlingExceptions}; ` +
    `failed rotations ${result.failedRotations}; peak RSS per worker ${rss.join(', ')} MB`,
);
console.log(`BENCH ${JSON.stringify(result)}`);

stopping = true;
stopCounting();
for (const w of workers) w.child.kill('SIGTERM');
await Promise.all(workers.map((w) => new Promise((resolve) => w.child.once('exit', resolve))));
await rotations.queue.obliterate({ force: true });
await rotations.close();
connection.disconnect();
await sandbox.close();
await redis.stop();
