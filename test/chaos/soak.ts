/**
 * The chaos soak (issue 7): real worker processes on a real Redis, the sandbox injecting faults at
 * random, workers SIGKILLed and restarted, Redis restarted, leak alerts and triggers over HTTP
 * among the scheduled rotations; an invariant checker at every password change and every Secrets
 * Manager write; at the end, `verify` on every credential and an exposure audit of everything
 * the run produced. Prints one `CHAOS {json}` line with the figures and exits 0 only if the run
 * passed.
 *
 *   node test/chaos/soak.ts [--profile short|long] [--seed N] [--chaos-s S] [--credentials N]
 *                           [--period-s S] [--workers N] [--concurrency N] [--keep]
 *
 * npm scripts: `npm run test:chaos` (short, about 2 minutes), `npm run test:chaos:long` (at least
 * 2,000 rotations). Everything listens on and talks to 127.0.0.1 only; the run is bounded by the
 * profile's hard deadline and stops by itself. The run directory (Redis AOF, configs, every log)
 * is deleted after a passing run unless --keep; a failing run keeps it and prints its path.
 *
 * Phases:
 *  1. Setup: private redis-server with AOF (fsync always), the chaos sandbox (3 Milvus simulators,
 *     the Secrets Manager emulator, every credential seeded; half of them alternating, seeded as
 *     onboarded, with a graceMs shorter than their schedule period), one config file per worker (they
 *     differ only in http.port), the workers.
 *  2. Chaos (profile.chaosMs): random faults on; every few seconds a random worker is SIGKILLed
 *     and restarted; Redis restarted once; Redis failed over with write loss (profile.redisWriteLoss:
 *     SIGKILLed and back with its data of 1.5-2 s earlier); signed leak alerts (by credential, by username and
 *     cluster, by SHA-256 of the password or of user:password, and GitHub partner deliveries
 *     carrying the password itself) and trigger requests to random workers; /metrics scraped and
 *     job statuses read. Scheduled rotations run all along (6-field cron, every few seconds).
 *  3. Drain: faults off, schedules off (`schedules sync` with every schedule "off"), and wait
 *     until no rotation job is waiting, active or delayed and no pending version is left
 *     (reconcile resumes stale ones: rotation.pendingLeaseMs is short); if the drain times out,
 *     `recover` settles what is left (counted in the report).
 *  4. Judgement: `verify --json` on every credential, each answer checked against the simulators;
 *     the end state (lost passwords, lockouts); every rotation outcome a worker logged, checked
 *     against the state at its instant; then workers stopped (SIGTERM), every job in every state
 *     and every Redis key read, Redis stopped, and the exposure audit over logs, HTTP replies,
 *     metrics, jobs, the Redis dump and the append-only file.
 */
import { spawn } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { STRATEGY, usernamesOf, type AlternatingCredentialConfig, type Config, type CredentialConfig } from '../../src/config/types.ts';
import { QUEUE } from '../../src/queue/names.ts';
import { makeConfig, type CredentialSpec } from '../helpers/config.ts';
import { configToYaml } from '../helpers/config-file.ts';
import { dumpRedis } from '../helpers/redis-dump.ts';
import { freePort, startRedisServer, type RedisServer } from '../helpers/redis-server.ts';
import { spawnWorker, type WorkerProcess } from '../helpers/worker-process.ts';
import { githubSigner, sha256Hex, signedGeneric, signedGithub } from '../http-support.ts';
import { attachInvariantChecker, endState, judgeEarlyKills, judgeOutcomes, judgeReports, labelOf, labelledPasswords, labelsOfUser, pendingOnAnotherVersion, type LoggedOutcome, type LoggedReport, type RotationWindow } from './checker.ts';
import { ExposureScanner, type ExposureHit } from './exposure-scan.ts';
import { PROFILES, type Profile } from './profiles.ts';
import { seededRandom, startChaosSandbox, type ChaosSandbox } from './sandbox.ts';

const CLI = fileURLToPath(new URL('../../src/cli.ts', import.meta.url));
const CLUSTERS = ['c1', 'c2', 'c3'];
/** Credential i rotates 1, 2 or 3 clusters (in turn), starting from a different cluster each time. */
function clustersOf(i: number): string[] {
  const size = 1 + (i % 3);
  const start = Math.floor(i / 3) % CLUSTERS.length;
  return Array.from({ length: size }, (_, k) => CLUSTERS[(start + k) % CLUSTERS.length] ?? 'c1');
}
/**
 * Every other group of three credentials is alternating (chaos-03..05, chaos-09..11, ...), so
 * half the credentials of each profile are, on 1, 2 and 3 clusters alike. Seeded as already
 * onboarded: both users on every cluster (no roles, so role parity holds), the first under
 * AWSCURRENT and the second under AWSPREVIOUS (src/sandbox/sandbox.ts).
 */
function isAlternating(i: number): boolean {
  return Math.floor(i / 3) % 2 === 1;
}

// ---- arguments -----------------------------------------------------------------------------------

const { values: args } = parseArgs({
  options: {
    profile: { type: 'string', default: 'short' },
    seed: { type: 'string' },
    'chaos-s': { type: 'string' },
    credentials: { type: 'string' },
    'period-s': { type: 'string' },
    workers: { type: 'string' },
    concurrency: { type: 'string' },
    keep: { type: 'boolean', default: false },
  },
});
const base = PROFILES[args.profile ?? 'short'];
if (!base) throw new Error(`unknown profile "${args.profile}" (short or long)`);
const num = (value: string | undefined, fallback: number): number => (value === undefined ? fallback : Number(value));
const profile: Profile = {
  ...base,
  chaosMs: num(args['chaos-s'], base.chaosMs / 1000) * 1000,
  credentials: num(args.credentials, base.credentials),
  schedulePeriodS: num(args['period-s'], base.schedulePeriodS),
  workers: Math.max(2, num(args.workers, base.workers)),
  concurrency: num(args.concurrency, base.concurrency),
};
const seed = args.seed === undefined ? randomInt(2 ** 31) : Number(args.seed);
/** The harness's own choices (which worker to kill, which credential to alert): a stream apart from the faults'. */
const choose = seededRandom(seed ^ 0x5bd1e995);
const between = ([min, max]: [number, number]): number => min + choose() * (max - min);
const pick = <T>(items: readonly T[]): T => items[Math.min(items.length - 1, Math.floor(choose() * items.length))] as T;

// ---- the harness's own output (audited too) ------------------------------------------------------

const startedAt = Date.now();
const harnessLines: string[] = [];
const errors: string[] = [];
function say(message: string): void {
  const line = `chaos: ${((Date.now() - startedAt) / 1000).toFixed(1)}s ${message}`;
  harnessLines.push(line);
  process.stdout.write(`${line}\n`);
}

// ---- stopping: every wait of the chaos phase ends early when it stops -----------------------------

let stopping = false;
const stopWakers = new Set<() => void>();
function pause(ms: number): Promise<void> {
  if (stopping) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      stopWakers.delete(done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    stopWakers.add(done);
  });
}
function stopChaos(): void {
  stopping = true;
  for (const wake of [...stopWakers]) wake();
}
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function waitUntil(condition: () => Promise<boolean> | boolean, timeoutMs: number, what: string, everyMs = 250): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if (await condition()) return;
    } catch {
      // not yet
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

// ---- processes -------------------------------------------------------------------------------------

/** Every process the run started (workers and CLI commands), with every line it wrote. */
interface Proc {
  label: string;
  lines: string[];
  closed: Promise<void>;
}
const procs: Proc[] = [];
/** Labels of the worker processes that were SIGKILLed. */
const killedLabels = new Set<string>();
const children = new Set<{ kill: (signal: NodeJS.Signals) => void; alive: () => boolean }>();

async function runCli(label: string, cliArgs: string[], env: Record<string, string>, timeoutMs = 120_000): Promise<{ code: number | null; stdout: string[] }> {
  const child = spawn(process.execPath, [CLI, ...cliArgs], { env: { ...process.env, ...env, LOG_LEVEL: 'debug' }, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  const stdout: string[] = [];
  const split = (sink: string[][]) => (chunk: Buffer): void => {
    for (const line of chunk.toString().split('\n')) if (line) for (const s of sink) s.push(line);
  };
  child.stdout.on('data', split([lines, stdout]));
  child.stderr.on('data', split([lines]));
  const handle = { kill: (signal: NodeJS.Signals) => child.kill(signal), alive: () => child.exitCode === null && child.signalCode === null };
  children.add(handle);
  const closed = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  procs.push({ label, lines, closed: closed.then(() => undefined) });
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const code = await closed;
  clearTimeout(timer);
  children.delete(handle);
  return { code, stdout };
}

class WorkerSlot {
  proc: WorkerProcess | null = null;
  closed: Promise<void> = Promise.resolve();
  ready = false;
  starts = 0;

  readonly index: number;
  readonly port: number;
  readonly configPath: string;
  private readonly env: Record<string, string>;

  constructor(index: number, port: number, configPath: string, env: Record<string, string>) {
    this.index = index;
    this.port = port;
    this.configPath = configPath;
    this.env = env;
  }

  alive(): boolean {
    const child = this.proc?.child;
    return !!child && child.exitCode === null && child.signalCode === null;
  }

  async start(): Promise<void> {
    const proc = spawnWorker(this.configPath, this.env);
    this.starts++;
    this.proc = proc;
    this.closed = new Promise<void>((resolve) => proc.child.once('close', () => resolve()));
    procs.push({ label: `worker${this.index}.${this.starts}`, lines: proc.lines, closed: this.closed });
    children.add({ kill: (signal) => proc.kill(signal), alive: () => proc.child.exitCode === null && proc.child.signalCode === null });
    await proc.waitForLine(/"msg":"worker started"/, 90_000);
    await waitUntil(async () => (await call(this.port, 'GET', '/healthz')).status === 200, 60_000, `worker ${this.index} HTTP`);
    this.ready = true;
  }

  async kill(): Promise<void> {
    this.ready = false;
    killedLabels.add(`worker${this.index}.${this.starts}`);
    this.proc?.kill('SIGKILL');
    await this.closed;
  }

  async terminate(): Promise<void> {
    this.ready = false;
    if (!this.alive()) return;
    this.proc?.kill('SIGTERM');
    const timer = setTimeout(() => this.proc?.kill('SIGKILL'), 30_000);
    await this.closed;
    clearTimeout(timer);
  }
}

// ---- HTTP, to the workers ------------------------------------------------------------------------

/** Every HTTP reply the run received: method, path, status, headers, body. */
const replies: string[] = [];
let metricsScrapes = 0;
let statusReads = 0;

async function call(port: number, method: string, path: string, headers: Record<string, string> = {}, body?: Buffer | string): Promise<{ status: number; text: string }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, { method, headers, ...(body === undefined ? {} : { body }), signal: AbortSignal.timeout(15_000) });
  const text = await res.text();
  replies.push(`${method} ${path} -> ${res.status} ${JSON.stringify(Object.fromEntries(res.headers))} ${text}`);
  return { status: res.status, text };
}

/**
 * Sends to a random ready worker, as a client behind a load balancer would: a refused connection
 * (the worker was just killed) or a 503 (Redis restarting) is retried on another worker, up to
 * `attempts` times; `build` makes the request anew for each attempt (a fresh signature).
 */
async function callAnyWorker(
  slots: WorkerSlot[],
  method: string,
  path: string,
  build: (attempt: number) => { headers: Record<string, string>; body?: Buffer | string },
  attempts = 8,
): Promise<{ status: number; text: string; attempts: number } | null> {
  for (let attempt = 1; attempt <= attempts; attempt++) {
    const ready = slots.filter((s) => s.ready);
    if (ready.length > 0) {
      const slot = pick(ready);
      const { headers, body } = build(attempt);
      try {
        const reply = await call(slot.port, method, path, headers, body);
        if (reply.status !== 503 || attempt === attempts) return { ...reply, attempts: attempt };
      } catch {
        // killed under us: another worker
      }
    }
    await sleep(300 + choose() * 700);
  }
  return null;
}

// ---- main ------------------------------------------------------------------------------------------

async function run(): Promise<number> {
  say(`profile ${profile.name}, seed ${seed}, latency ${profile.latencyMs} ms + jitter, ${profile.credentials} credentials every ${profile.schedulePeriodS} s, ${profile.workers} workers x ${profile.concurrency}, chaos ${profile.chaosMs / 1000} s, run dir ${runDir}`);

  // 1. Setup.
  const persistDir = join(runDir, 'redis');
  mkdirSync(persistDir);
  redis = await startRedisServer({ persistDir });
  const specs: CredentialSpec[] = Array.from({ length: profile.credentials }, (_, i) => {
    const offset = i % profile.schedulePeriodS;
    return {
      id: `chaos-${String(i).padStart(2, '0')}`,
      username: `chaos_user_${i}`,
      clusters: clustersOf(i),
      schedule: `${offset}/${profile.schedulePeriodS} * * * * *`,
    };
  });
  const github = githubSigner();
  const keysFile = join(runDir, 'github-keys.json');
  writeFileSync(keysFile, github.keysDocument);
  const made = makeConfig(CLUSTERS, specs);
  const config: Config = {
    ...made,
    credentials: Object.fromEntries(
      Object.values(made.credentials).map((c, i): [string, CredentialConfig] => {
        if (!isAlternating(i)) return [c.id, c];
        const { username, ...rest } = c;
        const alternating: AlternatingCredentialConfig = { ...rest, strategy: STRATEGY.alternating, usernames: [`${username}_a`, `${username}_b`], graceMs: profile.graceMs };
        return [c.id, alternating];
      }),
    ),
    redis: { url: redis.url, prefix: '{chaos}', connectTimeoutMs: 10_000 },
    worker: { concurrency: profile.concurrency, ...profile.worker },
    rotation: { ...made.rotation, pendingLeaseMs: profile.pendingLeaseMs },
    leakAlerts: { ...made.leakAlerts, githubKeysFile: keysFile },
  };
  sandbox = await startChaosSandbox(config, { seed, latencyMs: profile.latencyMs });
  const sb = sandbox;
  const credentials = Object.values(sb.config.credentials);
  const checker = attachInvariantChecker(sb, credentials);
  const triggerToken = sb.config.http.triggerTokens[0] ?? '';
  const webhookSecret = sb.config.leakAlerts.webhookSecrets[0] ?? '';

  const writeConfig = (name: string, c: Config): string => {
    const path = join(runDir, name);
    writeFileSync(path, configToYaml(c));
    return path;
  };
  const slots: WorkerSlot[] = [];
  for (let i = 0; i < profile.workers; i++) {
    const port = await freePort();
    slots.push(new WorkerSlot(i, port, writeConfig(`worker${i}.yaml`, { ...sb.config, http: { ...sb.config.http, port } }), sb.env));
  }
  const drainConfigPath = writeConfig('drain.yaml', {
    ...sb.config,
    credentials: Object.fromEntries(credentials.map((c) => [c.id, { ...c, schedule: 'off' }])),
  });
  await Promise.all(slots.map((s) => s.start()));
  say(`workers up on ports ${slots.map((s) => s.port).join(', ')}`);

  // 2. Chaos.
  const counters = { kills: 0, redisRestarts: 0, redisDowntimeMs: 0, redisWriteLosses: 0, redisWriteLossWindowsMs: [] as number[], redisWriteLossDowntimeMs: [] as number[] };
  const alerts: { kind: string; credential: string; strategy: string; retired: boolean; status: number | null; matched: number; leaked: string | undefined; leakedUser: string; attempts: number }[] = [];
  const triggers: { status: number | null; jobIds: string[]; attempts: number }[] = [];
  const knownJobIds: string[] = [];
  const outcomes = new OutcomeCollector();

  sb.setFaults(profile.faults);
  const chaosStartedAt = Date.now();
  const chaosEndsAt = chaosStartedAt + profile.chaosMs;
  const untilEnd = (): number => chaosEndsAt - Date.now();

  const killer = (async () => {
    while (!stopping) {
      await pause(between(profile.killEveryMs));
      if (stopping) break;
      if (!slots.every((s) => s.ready)) continue;
      const victim = pick(slots);
      if (choose() < profile.aimedKillShare) {
        // Aimed: when the victim begins a given step of a rotation (a step picked at random), a few ms in.
        const step = pick(['load', 'write_ahead', 'set', 'set', 'verify', 'finish']);
        const lines = victim.proc?.lines ?? [];
        let seen = lines.length;
        const deadline = Date.now() + 3_000;
        const begun = (l: string): boolean => l.includes('"msg":"step begun"') && l.includes(`"step":"${step}"`);
        while (!stopping && Date.now() < deadline) {
          const upTo = lines.length;
          if (lines.slice(seen, upTo).some(begun)) break;
          seen = upTo;
          await sleep(2);
        }
        await sleep(choose() * 60);
      }
      if (stopping) break;
      await victim.kill();
      counters.kills++;
      await pause(between(profile.downMs));
      try {
        await victim.start();
      } catch (error) {
        errors.push(`worker ${victim.index} did not restart: ${(error as Error).message}`);
        return;
      }
    }
  })();

  const redisRestarter = (async () => {
    await pause(profile.chaosMs * profile.redisRestartAt);
    if (stopping || !redis) return;
    const began = Date.now();
    say(`stopping Redis for ${profile.redisDownMs} ms`);
    await redis.stop();
    await sleep(profile.redisDownMs);
    await redis.restart();
    counters.redisRestarts++;
    counters.redisDowntimeMs = Date.now() - began;
    say(`Redis back after ${counters.redisDowntimeMs} ms`);
  })();

  const redisForgetter = (async () => {
    for (const at of profile.redisWriteLoss.at) {
      await pause(chaosStartedAt + profile.chaosMs * at - Date.now());
      if (stopping || !redis) return;
      const server = redis;
      await server.snapshot();
      const rememberedAt = Date.now();
      await pause(profile.redisWriteLoss.windowMs);
      if (stopping) return;
      say(`Redis failover with write loss: forgetting the last ${Date.now() - rememberedAt} ms of acknowledged writes`);
      counters.redisWriteLossWindowsMs.push(Date.now() - rememberedAt);
      counters.redisWriteLossDowntimeMs.push(await server.crashToSnapshot());
      counters.redisWriteLosses++;
      say(`Redis back with its data as of ${counters.redisWriteLossWindowsMs.at(-1)} ms ago`);
    }
  })();

  const alertKinds = ['credential', 'username-cluster', 'token', 'token-userpass', 'github'] as const;
  let alertSeq = 0;
  const alerter = (async () => {
    while (!stopping) {
      await pause(between(profile.alertEveryMs));
      if (stopping) break;
      const credential = pick(credentials);
      const kind = pick(alertKinds);
      // The leaked password: AWSCURRENT's; for an alternating credential, half the time the
      // retired user's (AWSPREVIOUS), which consumers that read the secret earlier still hold.
      const labels = labelledPasswords(sb, credential.secretId);
      const retiredLeaks = credential.strategy === STRATEGY.alternating && labels.previousUser !== labels.currentUser && choose() < 0.5;
      const leaked = retiredLeaks ? labels.previous : labels.current;
      const leakedUser = (retiredLeaks ? labels.previousUser : labels.currentUser) ?? usernamesOf(credential)[0] ?? '';
      const n = ++alertSeq;
      let reply;
      if (kind === 'github') {
        const token = choose() < 0.5 ? (leaked ?? '') : `${leakedUser}:${leaked ?? ''}`;
        reply = await callAnyWorker(slots, 'POST', '/v1/leak-alerts/github', () => {
          const signed = signedGithub([{ token, type: 'milvus_password', url: `https://github.com/acme/chaos/blob/main/.env#L${n}`, source: 'content' }], github);
          return { headers: signed.headers, body: signed.payload };
        });
      } else {
        const named =
          kind === 'credential'
            ? { credential: credential.id }
            : kind === 'username-cluster'
              ? { username: leakedUser, cluster: pick(credential.clusters) }
              : { tokenSha256: sha256Hex(kind === 'token' ? (leaked ?? '') : `${leakedUser}:${leaked ?? ''}`) };
        reply = await callAnyWorker(slots, 'POST', '/v1/leak-alerts', (attempt) => {
          const signed = signedGeneric({ ...named, id: `chaos-alert-${n}-try-${attempt}`, source: 'chaos' }, { secret: webhookSecret, timestampSeconds: Math.floor(Date.now() / 1000) });
          return { headers: signed.headers, body: signed.payload };
        });
      }
      let matched = 0;
      try {
        const body = JSON.parse(reply?.text ?? 'null') as unknown;
        if (Array.isArray(body)) matched = body.length;
        else if (body && typeof body === 'object' && 'matched' in body) matched = Number((body as { matched: number }).matched);
        if (body && typeof body === 'object' && 'rotations' in body) for (const r of (body as { rotations: { jobId: string }[] }).rotations) knownJobIds.push(r.jobId);
      } catch {
        // not JSON
      }
      alerts.push({ kind, credential: credential.id, strategy: credential.strategy, retired: retiredLeaks, status: reply?.status ?? null, matched, leaked, leakedUser, attempts: reply?.attempts ?? 0 });
    }
  })();

  const triggerer = (async () => {
    while (!stopping) {
      await pause(between(profile.triggerEveryMs));
      if (stopping) break;
      const body = choose() < 0.85 ? { credential: pick(credentials).id } : { credentials: [pick(credentials).id, pick(credentials).id] };
      const reply = await callAnyWorker(slots, 'POST', '/v1/rotations', () => ({
        headers: { authorization: `Bearer ${triggerToken}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      }));
      const jobIds: string[] = [];
      try {
        for (const r of (JSON.parse(reply?.text ?? '{}') as { rotations?: { jobId: string }[] }).rotations ?? []) jobIds.push(r.jobId);
      } catch {
        // not JSON
      }
      knownJobIds.push(...jobIds);
      triggers.push({ status: reply?.status ?? null, jobIds, attempts: reply?.attempts ?? 0 });
    }
  })();

  const scraper = (async () => {
    while (!stopping) {
      await pause(profile.scrapeEveryMs);
      if (stopping) break;
      for (const slot of slots.filter((s) => s.ready)) {
        try {
          await call(slot.port, 'GET', '/metrics');
          metricsScrapes++;
          await call(slot.port, 'GET', '/readyz');
          const jobId = knownJobIds.length > 0 ? pick(knownJobIds) : null;
          if (jobId) {
            await call(slot.port, 'GET', `/v1/rotations/${jobId}`, { authorization: `Bearer ${triggerToken}` });
            statusReads++;
          }
        } catch {
          // killed under us
        }
      }
    }
  })();

  const progress = (async () => {
    while (!stopping) {
      await pause(10_000);
      outcomes.collect();
      say(`${Math.round((Date.now() - chaosStartedAt) / 1000)} s: ${outcomes.list.length} rotation outcomes (${outcomes.count('rotated')} rotated), ${counters.kills} kills, ${alerts.length} alerts, ${triggers.length} triggers, ${checker.violations.length} violations`);
    }
  })();

  await pause(Math.max(0, untilEnd()));
  stopChaos();
  await Promise.all([killer, redisRestarter, redisForgetter, alerter, triggerer, scraper, progress]);
  const chaosMs = Date.now() - chaosStartedAt;
  say(`chaos over after ${Math.round(chaosMs / 1000)} s: ${counters.kills} kills, ${counters.redisRestarts} Redis restart(s), ${counters.redisWriteLosses} failover(s) with write loss`);

  // 3. Drain.
  const drainStartedAt = Date.now();
  for (const slot of slots) if (!slot.alive() || !slot.ready) await slot.start();
  sb.setFaults(null);
  const faults = sb.faultCounts();
  await waitUntil(async () => (await runCli('schedules-sync-off', ['schedules', 'sync', '--config', drainConfigPath], sb.env)).code === 0, 90_000, 'schedules sync (all off)', 1_000);
  const inspect = new Redis(redis.url, { maxRetriesPerRequest: null });
  inspect.on('error', () => {});
  const rotationsQueue = new Queue(QUEUE.rotations, { connection: inspect, prefix: sb.config.redis.prefix });
  const controlQueue = new Queue(QUEUE.control, { connection: inspect, prefix: sb.config.redis.prefix });
  const pendingCredentials = (): CredentialConfig[] => credentials.filter((c) => pendingOnAnotherVersion(labelledPasswords(sb, c.secretId)));
  const settled = async (): Promise<boolean> => {
    const counts = await rotationsQueue.getJobCounts('waiting', 'prioritized', 'active', 'delayed', 'waiting-children');
    return Object.values(counts).every((n) => n === 0) && pendingCredentials().length === 0;
  };
  let drainTimedOut = false;
  try {
    // Settled twice, two seconds apart: nothing was still on its way.
    await waitUntil(async () => (await settled()) && (await sleep(2_000), await settled()), profile.drainTimeoutMs, 'the workers to drain', 500);
  } catch {
    drainTimedOut = true;
  }
  const recoveredByHand: { credential: string; outcome: string; reason: string }[] = [];
  if (drainTimedOut) {
    const left = pendingCredentials();
    say(`drain timed out; pending versions left on ${left.map((c) => c.id).join(', ') || 'none'}; running recover`);
    for (const credential of left) {
      const out = await runCli(`recover-${credential.id}`, ['recover', '--credential', credential.id, '--json', '--config', slots[0]?.configPath ?? ''], sb.env);
      for (const line of out.stdout) {
        try {
          const r = JSON.parse(line) as { outcome: string; reason: string };
          recoveredByHand.push({ credential: credential.id, outcome: r.outcome, reason: r.reason });
        } catch {
          // not a result line
        }
      }
    }
  }
  const drainMs = Date.now() - drainStartedAt;
  say(`drained in ${Math.round(drainMs / 1000)} s${drainTimedOut ? ' (timed out)' : ''}`);

  // 4. Judgement: verify, end state, outcomes.
  const verifyRun = await runCli('verify', ['verify', '--json', '--config', slots[0]?.configPath ?? ''], sb.env);
  const verify = judgeVerify(verifyRun.stdout, sb, credentials);
  const end = endState(sb, credentials);
  const needsAttentionAtEnd = new Set(verify.filter((v) => v.needsAttention).map((v) => v.credential));
  const endLockouts = end.notCurrent.filter((p) => !needsAttentionAtEnd.has(p.credential));

  for (const slot of slots.filter((s) => s.ready)) {
    for (let i = 0; i < 2; i++) {
      if (await call(slot.port, 'GET', '/metrics').then(() => true, () => false)) metricsScrapes++;
    }
  }
  await Promise.all(slots.map((s) => s.terminate()));
  await Promise.all(procs.map((p) => p.closed));
  outcomes.collect();
  const judged = judgeOutcomes(outcomes.list, sb.config.credentials, checker);
  const reports = judgeReports(outcomes.reports, sb.config.credentials, checker);
  const windows = rotationWindows();
  const earlyKills = judgeEarlyKills(checker.earlyKills, windows);

  // Every job in every state, every Redis key and value, then Redis stopped and its AOF read.
  const jobTexts: string[] = [];
  const jobStates: Record<string, number> = {};
  for (const queue of [rotationsQueue, controlQueue]) {
    const states = ['completed', 'failed', 'delayed', 'active', 'waiting', 'prioritized', 'waiting-children'] as const;
    for (const state of states) {
      const jobs = await queue.getJobs([state], 0, -1);
      jobStates[`${queue.name}:${state}`] = jobs.length;
      for (const job of jobs) {
        jobTexts.push(JSON.stringify({ queue: queue.name, state, id: job.id, name: job.name, data: job.data, returnvalue: job.returnvalue, failedReason: job.failedReason, stacktrace: job.stacktrace, progress: job.progress, opts: job.opts }));
      }
    }
  }
  const redisDump = await dumpRedis(inspect);
  await rotationsQueue.close();
  await controlQueue.close();
  inspect.disconnect();
  await redis.stop();
  // The live AOF and those set aside by each failover with write loss (what Redis held then).
  const aofDirs = readdirSync(persistDir).filter((d) => d.startsWith('appendonlydir')).map((d) => join(persistDir, d));
  const aofFiles = aofDirs.flatMap((dir) => (existsSync(dir) ? readdirSync(dir).map((f) => join(dir, f)) : []));

  // The exposure audit.
  const passwords = new Set<string>();
  for (const simulator of sb.clusters.values()) for (const p of simulator.passwordsSeen()) passwords.add(p);
  for (const value of sb.emulator.valuesSeen()) {
    try {
      const parsed = JSON.parse(value) as { password?: unknown };
      if (typeof parsed.password === 'string') passwords.add(parsed.password);
    } catch {
      // not a credential
    }
  }
  const usernames = [...credentials.flatMap((c) => usernamesOf(c)), 'root'];
  const scanner = new ExposureScanner(passwords, usernames);
  const haystacks: { source: string; text: string }[] = [
    ...procs.map((p) => ({ source: `log of ${p.label}`, text: p.lines.join('\n') })),
    { source: 'harness output', text: harnessLines.join('\n') },
    ...replies.map((text, i) => ({ source: `HTTP reply #${i}`, text })),
    ...jobTexts.map((text, i) => ({ source: `job #${i}`, text })),
    ...redisDump.map((text, i) => ({ source: `Redis dump entry #${i}`, text })),
  ];
  const auditStartedAt = Date.now();
  const exposures: ExposureHit[] = scanner.scan(haystacks);
  for (const file of aofFiles) exposures.push(...scanner.scanFile(file, `Redis AOF ${file.split('/').pop() ?? file}`));
  const auditMs = Date.now() - auditStartedAt;

  // The figures.
  const byOutcome = tally(outcomes.list.map((o) => o.outcome));
  const byReason = tally(outcomes.list.map((o) => `${o.outcome}/${o.reason}`));
  const byMode = tally(outcomes.list.map((o) => o.mode));
  const clusterChanges = [...sb.clusters.values()].reduce(
    (sum, s) => sum + s.changeLog.filter((c) => c.via === 'update_password' && credentials.some((cr) => usernamesOf(cr).includes(c.user))).length,
    0,
  );
  const acceptedAlerts = alerts.filter((a) => a.status !== null && a.status >= 200 && a.status < 300 && a.matched > 0);
  const leaksUnanswered = acceptedAlerts.filter((a) => {
    const credential = sb.config.credentials[a.credential];
    if (!credential || a.leaked === undefined) return false;
    // Alive: handed out (AWSCURRENT, or an alternating credential's AWSPREVIOUS, which consumers
    // may still use) or accepted by a cluster for the user it belongs to.
    const labels = labelledPasswords(sb, credential.secretId);
    const stillStored = labels.current === a.leaked || (credential.strategy === STRATEGY.alternating && labels.previous === a.leaked);
    const stillHeld = credential.clusters.some((name) => sb.clusters.get(name)?.passwordOf(a.leakedUser) === a.leaked);
    return stillStored || stillHeld;
  });
  const m = faults.milvus;
  const ambiguousTotal = Object.values(m.ambiguous).reduce((a, b) => a + b, 0);
  const listenerErrors = [...sb.clusters.values()].reduce((n, s) => n + s.listenerErrors.length, 0) + sb.emulator.listenerErrors().length;
  const emulatorInternalErrors = sb.emulator.internalErrors().length;
  const needsAttentionFalse = judged.needsAttention.filter((n) => n.truth === 'false');
  const verifyBad = verify.filter((v) => !v.ok && !v.needsAttention);
  const rotated = byOutcome['rotated'] ?? 0;
  const cut = interruptions(outcomes.list, checker.promotedVersionIds);
  const strategyOf = (id: string): string => sb.config.credentials[id]?.strategy ?? 'unknown';
  const lifetimes = checker.retiredLifetimes.map((l) => l.sinceRetiredMs).sort((a, b) => a - b);
  // Outside leak rotations: the grace as consumers see it, from the promotion (what the checker judges).
  const inLeak = (l: { credential: string; at: number }): boolean => windows.some((w) => w.credential === l.credential && w.mode === 'leak' && l.at >= w.from - 50 && l.at <= w.to + 50);
  const outsideLeak = checker.retiredLifetimes.filter((l) => !inLeak(l));
  const scheduledLifetimes = outsideLeak.map((l) => l.sinceRetiredMs).sort((a, b) => a - b);
  // How long before its promotion the retiring version was written ahead: long when a rotation was cut and resumed late (docs/reliability.md finding 4).
  const promotionLags = outsideLeak.map((l) => l.promotionLagMs).sort((a, b) => a - b);
  const spread = (xs: number[]): { min: number; median: number; max: number } | null => (xs.length > 0 ? { min: xs[0] ?? 0, median: xs[Math.floor(xs.length / 2)] ?? 0, max: xs[xs.length - 1] ?? 0 } : null);
  const alternatingAlerts = acceptedAlerts.filter((a) => a.strategy === STRATEGY.alternating);

  const figures = {
    profile: profile.name,
    seed,
    durationMs: { total: Date.now() - startedAt, chaos: chaosMs, drain: drainMs, audit: auditMs },
    setup: {
      workers: profile.workers,
      concurrency: profile.concurrency,
      credentials: credentials.length,
      clusters: CLUSTERS.length,
      credentialsByClusterCount: tally(credentials.map((c) => String(c.clusters.length))),
      schedule: `every ${profile.schedulePeriodS} s (6-field cron, offsets spread)`,
      latencyMs: profile.latencyMs,
      aimedKillShare: profile.aimedKillShare,
      pendingLeaseMs: profile.pendingLeaseMs,
      worker: profile.worker,
      faults: profile.faults,
    },
    rotations: {
      engineRuns: outcomes.list.length,
      byOutcome,
      byReason,
      byMode,
      rotated,
      distinctRotationIds: new Set(outcomes.list.map((o) => o.rotationId)).size,
      clusterPasswordChanges: clusterChanges,
      perSecond: Number((rotated / (chaosMs / 1000)).toFixed(2)),
      byStrategy: tally(outcomes.list.map((o) => `${strategyOf(o.credential)}/${o.outcome}`)),
      byStrategyReason: tally(outcomes.list.map((o) => `${strategyOf(o.credential)}/${o.outcome}/${o.reason}`)),
    },
    alternating: {
      credentials: credentials.filter((c) => c.strategy === STRATEGY.alternating).length,
      graceMs: profile.graceMs,
      // The AWSCURRENT user's password changed while AWSCURRENT (counted among invariantViolations too).
      currentKilled: checker.violations.filter((v) => v.kind === 'current-killed').length,
      // Retired passwords killed sooner than graceMs after the promotion that retired them: only leak rotations may.
      earlyKills: checker.earlyKills.length,
      earlyKillsInLeakRotations: earlyKills.excused,
      graceLockouts: earlyKills.unexcused.length,
      graceLockoutItems: earlyKills.unexcused.slice(0, 10),
      // How long each retired password lived after it left AWSCURRENT (every kill of one, leak rotations included).
      retiredKills: lifetimes.length,
      retiredLifetimeMs: spread(lifetimes),
      retiredKillsOutsideLeak: scheduledLifetimes.length,
      retiredLifetimeOutsideLeakMs: spread(scheduledLifetimes),
      // Of the graceLockouts, those more than graceMs after the retiring version's creation: what a check from the creation would have missed.
      graceLockoutsPastGraceFromCreation: earlyKills.unexcused.filter((k) => k.sinceCreatedMs >= k.graceMs).length,
      // Kills outside leak rotations whose retiring version had been promoted late (more than a second after its write ahead), and the lags.
      retiredKillsAfterLatePromotion: promotionLags.filter((ms) => ms > 1_000).length,
      promotionLagOutsideLeakMs: spread(promotionLags),
      leakAlerts: { accepted: alternatingAlerts.length, ofRetiredUser: alternatingAlerts.filter((a) => a.retired).length, byKind: tally(alternatingAlerts.map((a) => a.kind)) },
    },
    kills: counters.kills,
    rotationsCutByKills: cut,
    workerStarts: slots.reduce((n, s) => n + s.starts, 0),
    redisRestarts: counters.redisRestarts,
    redisDowntimeMs: counters.redisDowntimeMs,
    redisWriteLosses: counters.redisWriteLosses,
    redisWriteLossWindowsMs: counters.redisWriteLossWindowsMs,
    redisWriteLossDowntimeMs: counters.redisWriteLossDowntimeMs,
    faults: {
      milvus: {
        requests: m.requestsTotal,
        requestsWhileFaultsOn: m.requestsWhileOn,
        gateway5xx: m.gateway5xx,
        gateway5xxRate: rate(m.gateway5xx, m.gatewayRolls),
        successfulReplies: m.ambiguousRolls,
        ambiguous: m.ambiguous,
        ambiguousTotal,
        ambiguousRate: rate(ambiguousTotal, m.ambiguousRolls),
        jitteredRequests: m.jitteredRequests,
        jitterMsMean: m.jitteredRequests > 0 ? Number((m.jitterMsTotal / m.jitteredRequests).toFixed(1)) : 0,
        jitterMsMax: m.jitterMsMax,
      },
      secretsManager: { requests: faults.secrets.requestsTotal, throttled: faults.secrets.throttled, throttledRate: rate(faults.secrets.throttled, faults.secrets.requestsTotal), latencyJitterMs: profile.faults.secrets.latencyJitterMs },
      accountingConsistent: faults.accountingConsistent,
    },
    traffic: {
      leakAlerts: {
        sent: alerts.length,
        byKind: tally(alerts.map((a) => a.kind)),
        byStatus: tally(alerts.map((a) => String(a.status))),
        matched: acceptedAlerts.length,
        unmatched: alerts.filter((a) => a.status !== null && a.status >= 200 && a.status < 300 && a.matched === 0).length,
        unmatchedByKind: tally(alerts.filter((a) => a.status !== null && a.status >= 200 && a.status < 300 && a.matched === 0).map((a) => a.kind)),
        retried: alerts.filter((a) => a.attempts > 1).length,
      },
      triggers: { sent: triggers.length, byStatus: tally(triggers.map((t) => String(t.status))), retried: triggers.filter((t) => t.attempts > 1).length },
      metricsScrapes,
      statusReads,
      httpReplies: replies.length,
    },
    checked: checker.checked,
    invariantViolations: checker.violations.length,
    violations: checker.violations.slice(0, 10),
    lostPasswords: end.lost.length,
    lost: end.lost,
    lockouts: judged.lockouts.length + endLockouts.length,
    lockoutsAfterOutcome: judged.lockouts.slice(0, 10),
    lockoutsAtEnd: endLockouts,
    exposures: exposures.length,
    exposureHits: exposures.slice(0, 20),
    audit: {
      passwordsSearched: passwords.size,
      forms: scanner.formCount,
      haystacks: haystacks.length + aofFiles.length,
      logLines: procs.reduce((n, p) => n + p.lines.length, 0) + harnessLines.length,
      processes: procs.length,
      httpReplies: replies.length,
      jobs: jobTexts.length,
      jobStates,
      redisDumpEntries: redisDump.length,
      aofFiles: aofFiles.length,
      bytes: haystacks.reduce((n, h) => n + h.text.length, 0),
    },
    needsAttention: {
      count: judged.needsAttention.length,
      byReason: tally(judged.needsAttention.map((n) => `${n.mode}/${n.reason}`)),
      falseReasons: needsAttentionFalse.length,
      unchecked: judged.needsAttention.filter((n) => n.truth === 'unchecked').length,
      items: judged.needsAttention.slice(0, 20).map((n) => ({ credential: n.credential, reason: n.reason, mode: n.mode, truth: n.truth, clusters: n.why, error: outcomes.list.find((o) => o.rotationId === n.rotationId && o.outcome === 'needs_attention')?.error?.slice(0, 300) ?? null })),
      // Reconcile's own "credential needs attention" reports (drift), judged at their instant: a
      // false one is a false alarm (docs/reliability.md, finding 1).
      reconcileReports: reports.length,
      reconcileFalseAlarms: reports.filter((r) => r.truth === 'false').length,
      reconcileItems: reports.slice(0, 20),
    },
    leaks: { accepted: acceptedAlerts.length, unanswered: leaksUnanswered.length, unansweredCredentials: leaksUnanswered.map((a) => a.credential) },
    end: {
      drainTimedOut,
      recoveredByHand,
      verify: tally(verify.map((v) => v.status)),
      verifyExit: verifyRun.code,
      verifyUntrue: verifyBad.map((v) => ({ credential: v.credential, status: v.status, why: v.why })),
      needsAttentionAtEnd: [...needsAttentionAtEnd],
    },
    internal: { listenerErrors, emulatorInternalErrors },
    errors,
  };

  const failures: string[] = [];
  const expect = (ok: boolean, what: string): void => {
    if (!ok) failures.push(what);
  };
  expect(figures.invariantViolations === 0, 'invariant violations');
  expect(earlyKills.unexcused.length === 0, 'a retired user killed sooner than graceMs after its promotion outside leak mode (consumers locked out within the grace)');
  expect(figures.lostPasswords === 0, 'lost passwords');
  expect(figures.lockouts === 0, 'lockouts');
  expect(figures.exposures === 0, 'exposures');
  expect(verify.length === credentials.length && verifyBad.length === 0, 'verify: a credential neither accepted everywhere nor truly needing attention');
  expect(needsAttentionFalse.length === 0, 'needs_attention with a false reason');
  expect(reports.every((r) => r.truth !== 'false'), 'reconcile reported a false needs-attention (drift)');
  expect(leaksUnanswered.length === 0, 'accepted leak alerts whose password is still live');
  expect(faults.accountingConsistent, 'fault accounting inconsistent');
  expect(cut.interrupted === cut.resumedElsewhere, 'a rotation cut short by a kill never ended');
  expect(listenerErrors === 0 && emulatorInternalErrors === 0, 'checker or emulator errors');
  expect(errors.length === 0, 'harness errors');
  expect(counters.redisRestarts === 1, 'Redis was not restarted');
  expect(counters.redisWriteLosses === profile.redisWriteLoss.at.length, `fewer than ${profile.redisWriteLoss.at.length} Redis failover(s) with write loss`);
  expect(rotated >= profile.minimum.rotated, `fewer than ${profile.minimum.rotated} rotations`);
  expect(counters.kills >= profile.minimum.kills, `fewer than ${profile.minimum.kills} kills`);
  expect(acceptedAlerts.length >= profile.minimum.alertsAccepted, `fewer than ${profile.minimum.alertsAccepted} accepted leak alerts`);
  expect(triggers.filter((t) => t.status === 202).length >= profile.minimum.triggersAccepted, `fewer than ${profile.minimum.triggersAccepted} accepted triggers`);

  // The report itself must not carry a password either.
  let report = JSON.stringify({ ...figures, pass: failures.length === 0, failures });
  const selfHits = scanner.scanText(report);
  if (selfHits.size > 0) {
    failures.push('the report itself holds a password');
    report = JSON.stringify({ profile: profile.name, seed, pass: false, failures });
  }
  writeArtifacts(report);
  process.stdout.write(`CHAOS ${report}\n`);
  if (failures.length > 0 || args.keep) say(`run directory kept: ${runDir}`);
  else rmSync(runDir, { recursive: true, force: true });
  checker.stop();
  return failures.length === 0 ? 0 : 1;
}

// ---- helpers -------------------------------------------------------------------------------------

function rate(part: number, whole: number): number {
  return whole > 0 ? Number((part / whole).toFixed(4)) : 0;
}

function tally(values: Iterable<string>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const v of values) out[v] = (out[v] ?? 0) + 1;
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => a.localeCompare(b)));
}

/** Outcome lines (`rotation ended`) of every process, read incrementally. */
class OutcomeCollector {
  readonly list: LoggedOutcome[] = [];
  /** Reconcile's `credential needs attention` reports. */
  readonly reports: LoggedReport[] = [];
  private readonly cursors = new Map<Proc, number>();

  collect(): void {
    for (const proc of procs) {
      const from = this.cursors.get(proc) ?? 0;
      for (let i = from; i < proc.lines.length; i++) {
        const line = proc.lines[i] ?? '';
        if (line.includes('"msg":"credential needs attention"')) {
          try {
            const r = JSON.parse(line) as { credential: string; status: string; clusters?: Record<string, string>; time: string };
            this.reports.push({ credential: r.credential, status: r.status, clusters: r.clusters ?? {}, at: Date.parse(r.time) });
          } catch {
            // a line cut by a kill
          }
          continue;
        }
        if (!line.includes('"msg":"rotation ended"')) continue;
        try {
          const o = JSON.parse(line) as { credential: string; rotationId: string; outcome: string; reason: string; mode: string; time: string; error?: string };
          this.list.push({ credential: o.credential, rotationId: o.rotationId, outcome: o.outcome, reason: o.reason, mode: o.mode, at: Date.parse(o.time), ...(o.error ? { error: o.error } : {}) });
        } catch {
          // a line cut by a kill
        }
      }
      this.cursors.set(proc, proc.lines.length);
    }
  }

  count(outcome: string): number {
    return this.list.filter((o) => o.outcome === outcome).length;
  }
}

/**
 * Every rotation id's window, from its first log line in any process to its last outcome line,
 * with its mode (leak if any outcome line of it says so; unknown while none was logged).
 */
function rotationWindows(): RotationWindow[] {
  const windows = new Map<string, RotationWindow>();
  for (const proc of procs) {
    for (const line of proc.lines) {
      if (!line.includes('"rotationId"')) continue;
      try {
        const o = JSON.parse(line) as { rotationId?: string; credential?: string; mode?: string; msg?: string; time?: string };
        if (!o.rotationId || !o.credential || !o.time) continue;
        const at = Date.parse(o.time);
        const w = windows.get(o.rotationId) ?? { credential: o.credential, rotationId: o.rotationId, mode: 'unknown', from: at, to: at };
        w.from = Math.min(w.from, at);
        w.to = Math.max(w.to, at);
        if (o.msg === 'rotation ended' && o.mode && w.mode !== 'leak') w.mode = o.mode;
        windows.set(o.rotationId, w);
      } catch {
        // a line cut by a kill
      }
    }
  }
  return [...windows.values()];
}

/**
 * Rotations a SIGKILL cut short: a rotation id with log lines in a killed worker but no outcome
 * there; by the last step that worker logged for it, and how many ended later in another process:
 * under the same rotation id (its job retried), or as the version another rotation adopted and
 * finished (its job forgotten by a Redis failover with write loss, or already ended).
 */
function interruptions(outcomes: readonly LoggedOutcome[], promotedVersionIds: ReadonlySet<string>): { interrupted: number; resumedElsewhere: number; byLastStep: Record<string, number> } {
  const endedIn = new Map<string, Set<string>>();
  const lastStep = new Map<string, string>();
  /** Versions (= the rotation ids that created them) some rotation finished, adopted or not. */
  const finishedVersions = new Set<string>();
  for (const proc of procs) {
    for (const line of proc.lines) {
      if (!line.includes('"rotationId"')) continue;
      try {
        const o = JSON.parse(line) as { rotationId?: string; step?: string; msg?: string; outcome?: string; versionId?: string };
        if (!o.rotationId) continue;
        if (o.msg === 'rotation ended') {
          if (o.outcome === 'rotated' && o.versionId) finishedVersions.add(o.versionId);
          const set = endedIn.get(o.rotationId) ?? new Set<string>();
          set.add(proc.label);
          endedIn.set(o.rotationId, set);
        } else if (killedLabels.has(proc.label) && o.step) {
          lastStep.set(`${proc.label}\n${o.rotationId}`, o.step);
        }
      } catch {
        // a line cut by a kill
      }
    }
  }
  const endedSomewhere = new Set(outcomes.map((o) => o.rotationId));
  const steps: string[] = [];
  let resumedElsewhere = 0;
  for (const [key, step] of lastStep) {
    const [label, rotationId] = key.split('\n') as [string, string];
    if (endedIn.get(rotationId)?.has(label)) continue;
    // A job that Redis forgot (a failover with write loss) while its rotation was still in the
    // read-only load step: BullMQ says "Missing key for job <id>" and nothing runs it again, and
    // nothing needs to, since load writes nothing. It is not a rotation cut short.
    if (step === 'load' && procs.some((p) => p.label === label && p.lines.some((l) => l.includes(`Missing key for job ${rotationId}`)))) continue;
    steps.push(step);
    // Ended: its job ran again to an outcome, another rotation finished its version, or its version
    // was promoted (killed in finish after the promotion, and the job then forgotten by a failover
    // with write loss, so nothing ran it again: seen once in a long run; nothing was left to do).
    if (endedSomewhere.has(rotationId) || finishedVersions.has(rotationId) || promotedVersionIds.has(rotationId)) resumedElsewhere++;
  }
  return { interrupted: steps.length, resumedElsewhere, byLastStep: tally(steps) };
}

interface VerifyJudgement {
  credential: string;
  status: string;
  /** Accepted everywhere, and truly so. */
  ok: boolean;
  /** Reported as needing a human (exit 3: drift, secret_invalid), and truly so. */
  needsAttention: boolean;
  why: string;
}

/**
 * Each `verify --json` line against the simulators: is what it says true? For an alternating
 * credential, both users: the AWSCURRENT user's answers (`clusters`, and `users.current` must
 * name it) and the retired user's (`users.previous.clusters`, against AWSPREVIOUS).
 */
function judgeVerify(lines: string[], sb: ChaosSandbox, credentials: CredentialConfig[]): VerifyJudgement[] {
  const out: VerifyJudgement[] = [];
  for (const line of lines) {
    let check: { credential: string; status: string; clusters: Record<string, string>; users?: { current: string; previous: { username: string; clusters: Record<string, string> } | null } };
    try {
      check = JSON.parse(line) as typeof check;
    } catch {
      continue;
    }
    const credential = credentials.find((c) => c.id === check.credential);
    if (!credential) continue;
    const labels = labelledPasswords(sb, credential.secretId);
    const alternating = credential.strategy === STRATEGY.alternating;
    const subjects: { user: string; password: string | undefined; answers: Record<string, string> }[] = alternating
      ? [
          { user: labels.currentUser ?? '', password: labels.current, answers: check.users?.current === labels.currentUser ? check.clusters : {} },
          ...(labels.previousUser !== undefined && labels.previousUser !== labels.currentUser
            ? [{ user: labels.previousUser, password: labels.previous, answers: check.users?.previous?.username === labels.previousUser ? check.users.previous.clusters : {} }]
            : []),
        ]
      : [{ user: credential.username, password: labels.current, answers: check.clusters }];
    const truth = subjects.flatMap((subject) =>
      credential.clusters.map((name) => {
        const held = sb.clusters.get(name)?.passwordOf(subject.user);
        const label = labelOf(labelsOfUser(labels, credential, subject.user), held);
        return { name: alternating ? `${name}/${subject.user}` : name, answer: subject.answers[name], holds: label, accepts: held !== undefined && held === subject.password };
      }),
    );
    const answersTrue = truth.every((t) => (t.answer === 'accepted') === t.accepts && t.answer !== 'unknown');
    const why = truth.map((t) => `${t.name}: said ${t.answer}, holds ${t.holds}`).join('; ');
    const ok = check.status === 'ok' && answersTrue && truth.every((t) => t.accepts);
    const needsAttention =
      check.status === 'drift' && answersTrue && truth.some((t) => !t.accepts) && !pendingOnAnotherVersion(labels);
    out.push({ credential: check.credential, status: check.status, ok, needsAttention, why });
  }
  return out;
}

function writeArtifacts(report: string): void {
  const dir = join(runDir, 'logs');
  mkdirSync(dir, { recursive: true });
  for (const proc of procs) writeFileSync(join(dir, `${proc.label}.log`), `${proc.lines.join('\n')}\n`);
  writeFileSync(join(runDir, 'http-replies.txt'), `${replies.join('\n')}\n`);
  writeFileSync(join(runDir, 'harness.log'), `${harnessLines.join('\n')}\n`);
  writeFileSync(join(runDir, 'chaos.json'), `${report}\n`);
}

// ---- entry point ---------------------------------------------------------------------------------

const runDir = mkdtempSync(join(tmpdir(), `rotator-chaos-${profile.name}-`));
let redis = null as RedisServer | null;
let sandbox = null as ChaosSandbox | null;
let exitCode = 1;
const hardDeadline = setTimeout(() => {
  errors.push(`hard deadline of ${profile.hardDeadlineMs} ms reached`);
  process.stdout.write(`CHAOS ${JSON.stringify({ profile: profile.name, seed, pass: false, failures: errors })}\n`);
  for (const child of children) if (child.alive()) child.kill('SIGKILL');
  process.exit(1);
}, profile.hardDeadlineMs);

try {
  exitCode = await run();
} catch (error) {
  process.stdout.write(`chaos: harness error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.stdout.write(`chaos: run directory kept: ${runDir}\n`);
  exitCode = 1;
} finally {
  clearTimeout(hardDeadline);
  for (const child of children) if (child.alive()) child.kill('SIGKILL');
  await redis?.stop().catch(() => {});
  await sandbox?.close().catch(() => {});
}
process.exit(exitCode);
