/**
 * The commands that talk to Redis (`enqueue`, `enqueue --wait`, `schedules sync`, `schedules list`)
 * run as real child processes (bin/milvus-rotator.js) with a hard timeout: on success against a real
 * worker process, and on each kind of Redis trouble, where they must end within
 * `redis.connectTimeoutMs` (plus process start) with exit 4 and one line naming the URL without its
 * password and the cause.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Config } from '../src/config/types.ts';
import { startSandbox, type Sandbox } from '../src/sandbox/sandbox.ts';
import { makeConfig } from './helpers/config.ts';
import { writeConfigFile } from './helpers/config-file.ts';
import { freePort, startRedisServer, type RedisServer } from './helpers/redis-server.ts';
import { linesOf, runCli, type CliRun } from './helpers/run-cli.ts';
import { spawnWorker, type WorkerProcess } from './helpers/worker-process.ts';

/** The bound the unreachable cases run with (the default is 10000; the rule is the same). */
const BOUND_MS = 1_500;
/**
 * The bound the cases that must end at once run with: ending well before it proves they did not
 * wait it out.
 */
const LONG_BOUND_MS = 30_000;
/** Process start on a loaded 2-core machine, for the runs that have no baseline. */
const SLACK_MS = 12_000;
/** What a command may take beyond the bound and the baseline (a `--version` run at the same time). */
const MARGIN_MS = 5_000;
const PASSWORD = 'cli-test-redis-password';

const servers: RedisServer[] = [];
const dirs: string[] = [];
let sandbox: Sandbox;

function configAt(redisUrl: string, extra: Partial<Config> = {}, boundMs = BOUND_MS): Config {
  const base = makeConfig(['west'], [{ id: 'app', username: 'app_user', clusters: ['west'], schedule: '15 5 * * *' }]);
  return {
    ...base,
    clusters: sandbox.config.clusters,
    redis: { url: redisUrl, prefix: `{cli-${randomUUID().slice(0, 8)}}`, connectTimeoutMs: boundMs },
    worker: { ...base.worker, lockDurationMs: 2_000, stalledIntervalMs: 1_000, credentialLockTtlMs: 2_000, shutdownTimeoutMs: 5_000 },
    ...extra,
  };
}

const REDIS_COMMANDS: Record<string, string[]> = {
  enqueue: ['enqueue', '--credential', 'app'],
  'enqueue --wait': ['enqueue', '--credential', 'app', '--wait', '--timeout-ms', '20000'],
  'schedules sync': ['schedules', 'sync'],
  'schedules list': ['schedules', 'list'],
};

/**
 * Runs the Redis commands (default: all) against `redisUrl` at once, next to a `--version` run whose
 * time is the baseline: what starting a process costs on this machine right now.
 */
async function runAll(redisUrl: string, boundMs: number, names: string[] = Object.keys(REDIS_COMMANDS)): Promise<[string, CliRun, number][]> {
  const path = writeConfigFile(configAt(redisUrl, {}, boundMs));
  const [baseline, ...runs] = await Promise.all([
    runCli(['--version'], { timeoutMs: 30_000 }),
    ...Object.entries(REDIS_COMMANDS)
      .filter(([name]) => names.includes(name))
      .map(async ([name, args]): Promise<[string, CliRun]> => [name, await runCli([...args, '--config', path], { env: sandbox.env, timeoutMs: 40_000 })]),
  ]);
  return runs.map(([name, run]) => [name, run, baseline.ms]);
}

/**
 * Exit 4, one `error:` line naming the redacted URL and `cause`, no stack, a handful of lines; within
 * the bound, or (`atOnce`) without waiting for the LONG_BOUND_MS it was given, beyond what starting
 * a process costs (`baselineMs`).
 */
function expectRedisAnswer(name: string, run: CliRun, url: string, cause: RegExp, within: 'bound' | 'atOnce', baselineMs: number): void {
  expect(run.timedOut, `${name} did not exit by itself:\n${run.stderr}`).toBe(false);
  expect(run.code, `${name}:\n${run.stderr}`).toBe(4);
  if (within === 'bound') expect(run.ms, name).toBeGreaterThanOrEqual(BOUND_MS);
  expect(run.ms, name).toBeLessThan(baselineMs + (within === 'bound' ? BOUND_MS : 0) + MARGIN_MS);
  expect(run.stdout, name).toBe('');
  const lines = linesOf(run.stderr);
  expect(lines.length, `${name}:\n${run.stderr}`).toBeLessThanOrEqual(4);
  const errors = lines.filter((l) => l.startsWith('error: '));
  expect(errors, name).toHaveLength(1);
  expect(errors[0], name).toContain(`error: redis ${url}: `);
  expect(errors[0], name).toMatch(cause);
  // Everything else is a JSON log line, never a raw stack.
  for (const line of lines.filter((l) => !l.startsWith('error: '))) expect(() => JSON.parse(line) as unknown, line).not.toThrow();
  expect(run.stderr, name).not.toMatch(/^\s+at /m);
  expect(run.stderr, name).not.toContain(PASSWORD);
}

beforeAll(async () => {
  sandbox = await startSandbox(makeConfig(['west'], [{ id: 'app', username: 'app_user', clusters: ['west'] }]));
});

afterAll(async () => {
  await sandbox?.close();
  await Promise.all(servers.map((s) => s.stop()));
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe('cli queue commands: Redis trouble is an answer within redis.connectTimeoutMs (exit 4), not a hang', () => {
  it('Redis down: every command gives up after the bound, naming the URL and "connection refused"', async () => {
    const url = `redis://127.0.0.1:${await freePort()}`;
    for (const [name, run, baseline] of await runAll(url, BOUND_MS)) expectRedisAnswer(name, run, url, /connection refused.*gave up after 1500 ms/, 'bound', baseline);
  });

  it('wrong password (WRONGPASS) and no password (NOAUTH): at once, the URL shown with *** for the password', async () => {
    const server = await startRedisServer({ password: PASSWORD });
    servers.push(server);
    const wrong = `redis://:not-the-password@127.0.0.1:${server.port}`;
    for (const [name, run, baseline] of await runAll(wrong, LONG_BOUND_MS, ['enqueue', 'schedules sync'])) expectRedisAnswer(name, run, `redis://:***@127.0.0.1:${server.port}`, /authentication refused \(WRONGPASS/, 'atOnce', baseline);
    const none = `redis://127.0.0.1:${server.port}`;
    for (const [name, run, baseline] of await runAll(none, LONG_BOUND_MS, ['enqueue --wait'])) expectRedisAnswer(name, run, none, /authentication required \(NOAUTH/, 'atOnce', baseline);
    // The right password works: the bound is about trouble only.
    const ok = await runCli(['schedules', 'list', '--config', writeConfigFile(configAt(server.url))], { env: sandbox.env });
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stderr).not.toContain(PASSWORD);
  });

  it('TLS mismatch (a rediss:// URL at a plain server): no handshake, an answer after the bound naming TLS', async () => {
    const plain = new URL(inject('redisUrl'));
    const url = `rediss://${plain.host}`;
    // Two commands stand for all four here: the answer comes from the one connection factory.
    for (const [name, run, baseline] of await runAll(url, BOUND_MS, ['enqueue --wait', 'schedules sync'])) expectRedisAnswer(name, run, url, /TLS/, 'bound', baseline);
  });

  it('a Redis Cluster node given to the standalone client (MOVED): at once, saying so', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rotator-cluster-node-'));
    dirs.push(dir);
    const node = await startRedisServer({ args: ['--cluster-enabled', 'yes', '--cluster-config-file', join(dir, 'nodes.conf')] });
    servers.push(node);
    for (const [name, run, baseline] of await runAll(node.url, LONG_BOUND_MS, ['enqueue', 'schedules list'])) expectRedisAnswer(name, run, node.url, /Redis Cluster node \(MOVED\)/, 'atOnce', baseline);
  });

  it('Redis lost while enqueue --wait waits: exit 4 once it has been gone for the bound, not at --timeout-ms', async () => {
    const server = await startRedisServer();
    servers.push(server);
    const config = configAt(server.url);
    const path = writeConfigFile(config);
    const running = runCli(['enqueue', '--credential', 'app', '--wait', '--timeout-ms', '60000', '--config', path], { env: sandbox.env, timeoutMs: 40_000 });
    const probe = new Redis(server.url, { maxRetriesPerRequest: 1 });
    try {
      const deadline = Date.now() + 20_000;
      while ((await probe.keys(`${config.redis.prefix}:rotations:*`)).length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      expect(await probe.keys(`${config.redis.prefix}:rotations:*`)).not.toEqual([]);
    } finally {
      probe.disconnect();
    }
    const stoppedAt = performance.now();
    await server.stop();
    const run = await running;
    const afterStop = performance.now() - stoppedAt;
    expect(run.timedOut).toBe(false);
    expect(run.code, run.stderr).toBe(4);
    expect(afterStop).toBeLessThan(BOUND_MS + SLACK_MS);
    const errors = linesOf(run.stderr).filter((l) => l.startsWith('error: '));
    expect(errors).toEqual([expect.stringMatching(new RegExp(`^error: redis ${server.url}: .*connection lost and not back within 1500 ms$`))]);
    expect(linesOf(run.stderr).length).toBeLessThanOrEqual(5);
    // It closed what it opened (the listener's own copy of the connection, the wait's timer): the
    // exit watchdog had nothing to force.
    expect(run.stderr).not.toContain('did not exit');
  });

  it('a bad config exits 2 before any connection', async () => {
    const path = writeConfigFile(configAt(inject('redisUrl'), { redis: { url: 'http://nope', prefix: '{x}', connectTimeoutMs: BOUND_MS } }));
    const runs = await Promise.all([REDIS_COMMANDS.enqueue!, REDIS_COMMANDS['schedules sync']!].map((args) => runCli([...args, '--config', path], { env: sandbox.env })));
    for (const run of runs) {
      expect(run.code, run.stderr).toBe(2);
      expect(linesOf(run.stderr)).toEqual([`${path}: invalid configuration:`, '  redis.url: must be a redis:// or rediss:// URL']);
    }
  });
});

describe('cli queue commands against a real worker process', () => {
  let worker: WorkerProcess | null = null;
  afterAll(async () => {
    if (worker && worker.child.exitCode === null) {
      worker.kill('SIGTERM');
      await worker.exited;
    }
  });

  it('schedules sync then list; enqueue (job id printed, the rotation happens); enqueue --wait exits with the rotation code; --timeout-ms with no worker exits 2', async () => {
    const config = configAt(inject('redisUrl'));
    const path = writeConfigFile(config);
    const env = sandbox.env;
    const secretId = config.credentials.app!.secretId;

    const sync = await runCli(['schedules', 'sync', '--config', path], { env });
    expect(sync.code, sync.stderr).toBe(0);
    expect(sync.stdout).toContain('synced 2 scheduler(s)');
    const list = await runCli(['schedules', 'list', '--config', path, '--json'], { env });
    expect(list.code, list.stderr).toBe(0);
    expect(linesOf(list.stdout).map((l) => (JSON.parse(l) as { id: string }).id).sort()).toEqual(['reconcile', 'schedule:app']);

    worker = spawnWorker(path, env);
    await worker.waitForLine(/worker started/);
    const before = sandbox.emulator.labelsOf(secretId);
    const enqueued = await runCli(['enqueue', '--config', path, '--credential', 'app'], { env });
    expect(enqueued.code, enqueued.stderr).toBe(0);
    expect(enqueued.timedOut).toBe(false);
    const jobId = /^app: job ([0-9a-f-]{36})$/.exec(enqueued.stdout.trim())?.[1];
    expect(jobId, enqueued.stdout).toBeDefined();
    const deadline = Date.now() + 20_000;
    while (JSON.stringify(sandbox.emulator.labelsOf(secretId)) === JSON.stringify(before) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(sandbox.emulator.labelsOf(secretId)).not.toEqual(before);

    // Each rotation below is a completed one: wait out the test config's rotation.minIntervalMs
    // (1 s) before the next, or it is refused (exit 1) on a machine fast enough to get there first.
    const pastMinInterval = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 1_100));
    await pastMinInterval();
    const waited = await runCli(['enqueue', '--config', path, '--credential', 'app', '--wait', '--json'], { env });
    expect(waited.code, waited.stderr).toBe(0);
    expect(waited.timedOut).toBe(false);
    expect(JSON.parse(linesOf(waited.stdout)[0] ?? '{}')).toMatchObject({ credential: 'app', outcome: 'rotated' });

    // Someone changed the password behind our back: the rotation needs attention, and so does the exit code.
    sandbox.clusters.get('west')!.setPassword('app_user', 'Someone-Else-Set-This-1!');
    await pastMinInterval();
    const attention = await runCli(['enqueue', '--config', path, '--credential', 'app', '--wait', '--json'], { env });
    expect(attention.code, attention.stderr).toBe(3);
    expect(JSON.parse(linesOf(attention.stdout)[0] ?? '{}')).toMatchObject({ outcome: 'needs_attention' });

    worker.kill('SIGTERM');
    expect(await worker.exited).toBe(0);
    const timedOut = await runCli(['enqueue', '--config', path, '--credential', 'app', '--wait', '--timeout-ms', '1500'], { env, timeoutMs: 20_000 });
    expect(timedOut.timedOut).toBe(false);
    expect(timedOut.code, timedOut.stderr).toBe(2);
    expect(timedOut.ms).toBeLessThan(1_500 + SLACK_MS);
    expect(linesOf(timedOut.stderr)).toEqual([expect.stringMatching(/^app: job [0-9a-f-]{36} did not complete: no outcome within 1500 ms \(--timeout-ms\); the job stays queued$/)]);

    // The job stays queued; another request joins it. --json without --wait: one line per credential.
    const waitingId = /^app: job ([0-9a-f-]{36})/.exec(timedOut.stderr)?.[1];
    const joined = await runCli(['enqueue', '--config', path, '--credential', 'app', '--json'], { env });
    expect(joined.code, joined.stderr).toBe(0);
    expect(linesOf(joined.stdout).map((l) => JSON.parse(l) as unknown)).toEqual([{ credential: 'app', jobId: waitingId, deduplicated: true, mode: 'manual' }]);
  });
});
