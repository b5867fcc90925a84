/**
 * The one-shot CLI end to end: `main(argv, io)` in process, and once as a real child process,
 * against a sandbox (Milvus simulators + Secrets Manager emulator) over real HTTP, with the config
 * read from a YAML file as an operator would write it.
 *
 * Everything the CLI prints (stdout, stderr, and the JSON log lines its logger writes straight to
 * file descriptor 2) is kept in `transcript`, and every password the sandboxes saw in `secrets`;
 * the last test scans the one for the other.
 */
import type { CredentialStatus } from '../src/rotation/credential-status.ts';
import { freePort } from './helpers/redis-server.ts';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PutSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { Command } from 'commander';
import { afterAll, afterEach, describe, expect, inject, it, vi } from 'vitest';
import { stringify } from 'yaml';
import { buildProgram, main } from '../src/cli.ts';
import { loadConfig } from '../src/config/load.ts';
import { nextRun } from '../src/config/schedule.ts';
import { usernamesOf, type Config, type SingleCredentialConfig } from '../src/config/types.ts';
import { generatePassword } from '../src/password/generate.ts';
import { checkCredential, exitCodeOfCheck } from '../src/rotation/check-credential.ts';
import { createEngineRuntime } from '../src/rotation/create-engine.ts';
import type { MilvusSimulator } from '../src/sandbox/milvus-simulator.ts';
import { startSandbox, type Sandbox } from '../src/sandbox/sandbox.ts';
import { STAGE } from '../src/secrets/types.ts';
import { makeConfig } from './helpers/config.ts';
import { runCli } from './helpers/run-cli.ts';
import { findExposures } from './helpers/exposure.ts';
import { assertEndInvariants, passwordUnder } from './helpers/invariants.ts';

const REPO = fileURLToPath(new URL('..', import.meta.url));
const CLI = join(REPO, 'src', 'cli.ts');
const EXAMPLES = join(REPO, 'examples');

/** Everything printed by every CLI run of this file, and every password any sandbox saw. */
const transcript: string[] = [];
const secrets = new Set<string>();
const usernames = new Set<string>(['root']);

// ---------------------------------------------------------------------------------------------
// Running the CLI
// ---------------------------------------------------------------------------------------------

interface CliRun {
  code: number;
  out: string[];
  /** stderr lines written through io.err (usage and config errors, commander messages). */
  err: string[];
  /** JSON log lines the logger wrote to file descriptor 2. */
  logs: string[];
}

/**
 * `main(args, io)` with captured output. The CLI's pino logger writes synchronously to fd 2
 * (sonic-boom's fs.writeSync), not through `io`, so fd-2 writes are captured for the duration.
 */
async function cli(args: string[]): Promise<CliRun> {
  const out: string[] = [];
  const err: string[] = [];
  const logs: string[] = [];
  const realWriteSync = fs.writeSync.bind(fs);
  const spy = vi.spyOn(fs, 'writeSync').mockImplementation(((fd: number, data: unknown, ...rest: unknown[]) => {
    if (fd !== 2) return (realWriteSync as (...a: unknown[]) => number)(fd, data, ...rest);
    if (typeof data === 'string') {
      logs.push(data);
      return Buffer.byteLength(data);
    }
    const bytes = data as Uint8Array;
    logs.push(Buffer.from(bytes).toString('utf8'));
    return bytes.byteLength;
  }) as unknown as typeof fs.writeSync);
  let code: number;
  try {
    code = await main(args, { out: (line) => out.push(...line.split('\n')), err: (line) => err.push(...line.split('\n')) });
  } finally {
    spy.mockRestore();
  }
  transcript.push(...out, ...err, ...logs);
  return { code, out, err, logs: logs.join('').split('\n').filter((l) => l !== '') };
}

/** The real process: `node src/cli.ts ...` (process.execPath is the Node 24 vitest runs on). */
async function spawnCli(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd: REPO, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      transcript.push(stdout, stderr);
      resolve({ code, stdout, stderr });
    });
  });
}

// ---------------------------------------------------------------------------------------------
// The fixture: a sandbox, and a YAML file pointing at it
// ---------------------------------------------------------------------------------------------

/** A loaded Config back in the file shape of docs/design.md section 3 / docs/configuration.md. */
function toFileShape(config: Config): Record<string, unknown> {
  const { clusters, credentials, ...rest } = config;
  return {
    ...rest,
    clusters: Object.fromEntries(Object.values(clusters).map(({ name, ...cluster }) => [name, cluster])),
    credentials: Object.fromEntries(Object.values(credentials).map(({ id, ...credential }) => [id, credential])),
  };
}

function tempDir(): string {
  const dir = fs.mkdtempSync(join(tmpdir(), 'milvus-rotator-cli-'));
  dirs.push(dir);
  return dir;
}

function writeYaml(dir: string, name: string, content: unknown): string {
  const file = join(dir, name);
  fs.writeFileSync(file, typeof content === 'string' ? content : stringify(content));
  return file;
}

const READER = 'app-reader';
const WRITER = 'app-writer';

interface Fixture {
  sandbox: Sandbox;
  file: string;
  dir: string;
  reader: SingleCredentialConfig;
  writer: SingleCredentialConfig;
  sim: (name: 'west' | 'east') => MilvusSimulator;
  /** `main([...args, '--config', file])`. */
  run: (...args: string[]) => Promise<CliRun>;
  /** Calls made so far: Secrets Manager requests and Milvus requests (all routes, all clusters). */
  calls: () => { secretsManager: number; milvus: number };
}

let fixture: Fixture | null = null;
const dirs: string[] = [];

/**
 * Clusters west and east; app-reader (user app_reader) on both, scheduled Mondays 04:00 UTC;
 * app-writer (user app_writer) on west, schedule off.
 */
async function start(): Promise<Fixture> {
  const config = makeConfig(
    ['west', 'east'],
    [
      { id: READER, username: 'app_reader', clusters: ['west', 'east'], schedule: '0 4 * * 1' },
      { id: WRITER, username: 'app_writer', clusters: ['west'], schedule: 'off' },
    ],
  );
  // verify asks the queue about a young pending version: the tests' Redis, a prefix of this fixture's own.
  const sandbox = await startSandbox({ ...config, redis: { ...config.redis, url: inject('redisUrl'), prefix: `{cli-${randomUUID().slice(0, 8)}}` } });
  Object.assign(process.env, sandbox.env, { LOG_LEVEL: 'debug' });
  const dir = tempDir();
  const file = writeYaml(dir, 'rotator.yaml', toFileShape(sandbox.config));
  const sim = (name: 'west' | 'east'): MilvusSimulator => {
    const s = sandbox.clusters.get(name);
    if (!s) throw new Error(`no simulator ${name}`);
    return s;
  };
  fixture = {
    sandbox,
    file,
    dir,
    reader: sandbox.config.credentials[READER] as SingleCredentialConfig,
    writer: sandbox.config.credentials[WRITER] as SingleCredentialConfig,
    sim,
    run: (...args) => cli([...args, '--config', file]),
    calls: () => ({
      secretsManager: sandbox.emulator.callCount(),
      milvus: [...sandbox.clusters.values()].reduce((sum, s) => sum + s.requestCount('any'), 0),
    }),
  };
  return fixture;
}

/** Keeps every password the sandbox saw, for the final scan. */
function harvest(sandbox: Sandbox): void {
  for (const simulator of sandbox.clusters.values()) for (const password of simulator.passwordsSeen()) secrets.add(password);
  for (const value of sandbox.emulator.valuesSeen()) {
    try {
      const parsed = JSON.parse(value) as { username?: unknown; password?: unknown };
      if (typeof parsed.password === 'string') secrets.add(parsed.password);
      if (typeof parsed.username === 'string') usernames.add(parsed.username);
    } catch {
      // not a credential JSON
    }
  }
  for (const credential of Object.values(sandbox.config.credentials)) for (const name of usernamesOf(credential)) usernames.add(name);
}

afterEach(async () => {
  vi.restoreAllMocks();
  if (fixture) {
    harvest(fixture.sandbox);
    await fixture.sandbox.close();
    fixture = null;
  }
});

afterAll(() => {
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------------------------

interface ResultLine {
  credential: string;
  outcome: string;
  reason: string;
  mode: string;
  versionId: string | null;
  clusters: Record<string, string>;
  durationMs: number;
  error?: string;
}

/** Every stdout line parsed as JSON; fails if one is not. */
function jsonLines<T>(run: CliRun): T[] {
  return run.out.filter((line) => line.trim() !== '').map((line) => JSON.parse(line) as T);
}

/** The docs/design.md section 7 shape: {credential, outcome, versionId, clusters: {name: state}, durationMs, error?}. */
function expectResultShape(result: ResultLine): void {
  expect(typeof result.credential).toBe('string');
  expect(['rotated', 'rolled_back', 'failed', 'needs_attention']).toContain(result.outcome);
  expect(result.versionId === null || typeof result.versionId === 'string').toBe(true);
  expect(typeof result.clusters).toBe('object');
  for (const state of Object.values(result.clusters)) expect(typeof state).toBe('string');
  expect(Number.isInteger(result.durationMs) && result.durationMs >= 0).toBe(true);
  if (result.outcome === 'rotated') expect(result).not.toHaveProperty('error');
  else expect(typeof result.error).toBe('string');
}

function currentVersionId(sandbox: Sandbox, secretId: string): string {
  const labels = sandbox.emulator.labelsOf(secretId);
  const id = Object.keys(labels).find((v) => labels[v]?.includes(STAGE.current));
  if (!id) throw new Error(`no AWSCURRENT on ${secretId}`);
  return id;
}

/** A foreign rotation's write-ahead: a pending version with a new password, through the real SDK. */
async function seedPending(f: Fixture, credential: SingleCredentialConfig): Promise<{ token: string; password: string }> {
  const token = randomUUID();
  const password = generatePassword(credential.password);
  const client = new SecretsManagerClient({});
  try {
    await client.send(
      new PutSecretValueCommand({
        SecretId: credential.secretId,
        ClientRequestToken: token,
        SecretString: JSON.stringify({ username: credential.username, password }),
        VersionStages: [STAGE.pending],
      }),
    );
  } finally {
    client.destroy();
  }
  expect(f.sandbox.emulator.labelsOf(credential.secretId)[token]).toEqual([STAGE.pending]);
  return { token, password };
}


// ---------------------------------------------------------------------------------------------
// The tests
// ---------------------------------------------------------------------------------------------

describe('cli: the YAML the tests write is the config the sandbox runs', () => {
  it('loads back to exactly the sandbox config', async () => {
    const f = await start();
    expect(loadConfig(f.file, {})).toEqual(f.sandbox.config);
  });
});

describe('cli rotate', () => {
  it('--credential X --json prints exactly one DESIGN-shaped JSON line, rotates every cluster of X only, and exits 0', async () => {
    const f = await start();
    const before = passwordUnder(f.sandbox, f.reader.secretId, STAGE.current);
    const writerBefore = f.sandbox.emulator.labelsOf(f.writer.secretId);

    const run = await f.run('rotate', '--credential', READER, '--json');

    expect(run.code).toBe(0);
    expect(run.err).toEqual([]);
    expect(run.out).toHaveLength(1);
    const [result] = jsonLines<ResultLine>(run);
    if (!result) throw new Error('no result line');
    expectResultShape(result);
    expect(result).toMatchObject({ credential: READER, outcome: 'rotated', reason: 'ok', mode: 'manual', clusters: { west: 'updated', east: 'updated' } });
    expect(result.versionId).toBe(currentVersionId(f.sandbox, f.reader.secretId));
    const after = passwordUnder(f.sandbox, f.reader.secretId, STAGE.current);
    expect(after).not.toBe(before);
    expect(passwordUnder(f.sandbox, f.reader.secretId, STAGE.previous)).toBe(before);
    expect(f.sim('west').passwordOf('app_reader')).toBe(after);
    expect(f.sim('east').passwordOf('app_reader')).toBe(after);
    expect(assertEndInvariants(f.sandbox, f.reader, result.outcome)).toEqual([]);
    // The other credential was not touched.
    expect(f.sandbox.emulator.labelsOf(f.writer.secretId)).toEqual(writerBefore);
    // The logs are JSON lines carrying credential and rotationId.
    expect(run.logs.length).toBeGreaterThan(0);
    for (const line of run.logs) expect(JSON.parse(line)).toMatchObject({ credential: READER });
  });

  it('--credential X --credential Y --json prints one line per credential', async () => {
    const f = await start();
    const run = await f.run('rotate', '--credential', READER, '--credential', WRITER, '--json');
    expect(run.code).toBe(0);
    const results = jsonLines<ResultLine>(run);
    expect(results.map((r) => r.credential).sort()).toEqual([READER, WRITER]);
    for (const r of results) {
      expectResultShape(r);
      expect(r.outcome).toBe('rotated');
    }
    expect(results.find((r) => r.credential === WRITER)?.clusters).toEqual({ west: 'updated' });
  });

  it('--all prints a human table, one row per configured credential, and exits 0', async () => {
    const f = await start();
    const run = await f.run('rotate', '--all');
    expect(run.code).toBe(0);
    expect(run.out[0]).toMatch(/^CREDENTIAL\s+OUTCOME\s+REASON\s+VERSION\s+CLUSTERS\s+TIME$/);
    expect(run.out).toHaveLength(3);
    const readerRow = run.out.find((l) => l.startsWith(READER));
    const writerRow = run.out.find((l) => l.startsWith(WRITER));
    expect(readerRow).toMatch(new RegExp(`^${READER}\\s+rotated\\s+ok\\s+${currentVersionId(f.sandbox, f.reader.secretId).slice(0, 8)}\\s+west=updated east=updated\\s+\\d+ms$`));
    expect(writerRow).toMatch(new RegExp(`^${WRITER}\\s+rotated\\s+ok\\s+${currentVersionId(f.sandbox, f.writer.secretId).slice(0, 8)}\\s+west=updated\\s+\\d+ms$`));
    expect(() => JSON.parse(run.out[0] ?? '')).toThrow();
    for (const credential of [f.reader, f.writer]) expect(assertEndInvariants(f.sandbox, credential, 'rotated')).toEqual([]);
  });

  it('--mode leak rotates in leak mode', async () => {
    const f = await start();
    const run = await f.run('rotate', '--credential', READER, '--mode', 'leak', '--json');
    expect(run.code).toBe(0);
    const [result] = jsonLines<ResultLine>(run);
    expect(result).toMatchObject({ outcome: 'rotated', mode: 'leak' });
  });

  it('--mode leak never restores the leaked password: a cluster refusing the new one -> needs_attention, exit 3, the other keeps the new one', async () => {
    const f = await start();
    const leaked = passwordUnder(f.sandbox, f.reader.secretId, STAGE.current);
    f.sim('east').injectFault({ route: 'update_password', fault: { kind: 'reply', status: 200, body: '{"code":1100,"message":"x"}' } });

    const run = await f.run('rotate', '--credential', READER, '--mode', 'leak', '--json');

    expect(run.code).toBe(3);
    const [result] = jsonLines<ResultLine>(run);
    if (!result) throw new Error('no result line');
    expectResultShape(result);
    expect(result).toMatchObject({ outcome: 'needs_attention', reason: 'leak_not_contained', mode: 'leak', clusters: { west: 'updated', east: 'refused' } });
    const pending = passwordUnder(f.sandbox, f.reader.secretId, STAGE.pending);
    expect(pending).toBeDefined();
    expect(pending).not.toBe(leaked);
    expect(f.sim('west').passwordOf('app_reader')).toBe(pending);
    expect(f.sim('east').passwordOf('app_reader')).toBe(leaked);
  });

  it('the same refusal in manual mode rolls back: exit 1, every cluster back on AWSCURRENT, no AWSPENDING', async () => {
    const f = await start();
    const before = passwordUnder(f.sandbox, f.reader.secretId, STAGE.current);
    f.sim('east').injectFault({ route: 'update_password', fault: { kind: 'reply', status: 200, body: '{"code":1100,"message":"x"}' } });

    const run = await f.run('rotate', '--credential', READER, '--json');

    expect(run.code).toBe(1);
    const [result] = jsonLines<ResultLine>(run);
    expect(result).toMatchObject({ outcome: 'rolled_back', reason: 'policy_rejected', mode: 'manual', clusters: { west: 'rolled_back', east: 'refused' } });
    expect(passwordUnder(f.sandbox, f.reader.secretId, STAGE.current)).toBe(before);
    expect(passwordUnder(f.sandbox, f.reader.secretId, STAGE.pending)).toBeUndefined();
    expect(assertEndInvariants(f.sandbox, f.reader, 'rolled_back')).toEqual([]);
  });

  it('a 1100 policy rejection on every cluster -> failed, exit 1, nothing changed anywhere', async () => {
    const f = await start();
    const before = passwordUnder(f.sandbox, f.reader.secretId, STAGE.current);
    const versionBefore = currentVersionId(f.sandbox, f.reader.secretId);
    for (const name of ['west', 'east'] as const) {
      f.sim(name).injectFault({ route: 'update_password', fault: { kind: 'reply', status: 200, body: '{"code":1100,"message":"x"}' } });
    }

    const run = await f.run('rotate', '--credential', READER, '--json');

    expect(run.code).toBe(1);
    const [result] = jsonLines<ResultLine>(run);
    if (!result) throw new Error('no result line');
    expectResultShape(result);
    expect(result).toMatchObject({ outcome: 'failed', reason: 'policy_rejected', clusters: { west: 'refused', east: 'refused' } });
    expect(currentVersionId(f.sandbox, f.reader.secretId)).toBe(versionBefore);
    expect(passwordUnder(f.sandbox, f.reader.secretId, STAGE.pending)).toBeUndefined();
    expect(f.sim('west').passwordOf('app_reader')).toBe(before);
    expect(f.sim('east').passwordOf('app_reader')).toBe(before);
  });

  it('a cluster holding a password we do not have -> needs_attention, exit 3, no retry loop', async () => {
    const f = await start();
    const stranger = generatePassword(f.reader.password);
    f.sim('east').setPassword('app_reader', stranger);
    f.sim('east').resetCounts();

    const run = await f.run('rotate', '--credential', READER, '--json');

    expect(run.code).toBe(3);
    const [result] = jsonLines<ResultLine>(run);
    if (!result) throw new Error('no result line');
    expectResultShape(result);
    expect(result).toMatchObject({ outcome: 'needs_attention', reason: 'unknown_password', clusters: { west: 'rolled_back', east: 'unknown_password' } });
    expect(f.sim('east').requestCount('update_password')).toBe(1);
    expect(f.sim('east').passwordOf('app_reader')).toBe(stranger);
    expect(f.sim('west').passwordOf('app_reader')).toBe(passwordUnder(f.sandbox, f.reader.secretId, STAGE.current));
  });
});

describe('cli rotate: usage and config errors exit 2 before any call', () => {
  it.each([
    { name: 'neither --credential nor --all', args: ['rotate'], message: 'give --credential ID (repeatable) or --all' },
    { name: 'both --credential and --all', args: ['rotate', '--credential', READER, '--all'], message: 'either --credential or --all, not both' },
    { name: 'an unknown credential id', args: ['rotate', '--credential', 'nobody'], message: 'unknown credential "nobody"' },
    { name: '--mode bogus', args: ['rotate', '--all', '--mode', 'bogus'], message: "argument 'bogus' is invalid" },
    { name: 'recover without --credential', args: ['recover'], message: "required option '--credential <id>' not specified" },
    { name: 'verify with an unknown credential id', args: ['verify', '--credential', 'nobody'], message: 'unknown credential "nobody"' },
    { name: 'status with an unknown credential id', args: ['status', '--credential', 'nobody'], message: 'unknown credential "nobody"' },
    { name: 'an unknown option', args: ['rotate', '--all', '--force'], message: "unknown option '--force'" },
  ])('$name -> exit 2, says why, calls nothing', async ({ args, message }) => {
    const f = await start();
    const before = f.calls();
    const run = await f.run(...args);
    expect(run.code).toBe(2);
    expect(run.err.join('\n')).toContain(message);
    expect(run.out.filter((l) => l.startsWith('{'))).toEqual([]);
    expect(f.calls()).toEqual(before);
  });

  it('a config naming an unknown cluster -> exit 2 naming the key path once, calls nothing', async () => {
    const f = await start();
    const broken = toFileShape(f.sandbox.config) as { credentials: Record<string, { clusters: string[] }> };
    (broken.credentials[READER] as { clusters: string[] }).clusters = ['west', 'nowhere'];
    const file = writeYaml(f.dir, 'broken.yaml', broken);
    const before = f.calls();

    const run = await cli(['rotate', '--config', file, '--credential', READER, '--json']);

    expect(run.code).toBe(2);
    expect(run.out).toEqual([]);
    expect(run.err[0]).toBe(`${file}: invalid configuration:`);
    expect(run.err.filter((l) => l.includes('credentials.app-reader.clusters[1]'))).toEqual(['  credentials.app-reader.clusters[1]: unknown cluster "nowhere"']);
    expect(f.calls()).toEqual(before);
  });

  it('an unreadable clusters.X.caFile -> exit 2 naming the key path, calls nothing', async () => {
    const f = await start();
    const shape = toFileShape(f.sandbox.config) as { clusters: Record<string, Record<string, unknown>> };
    (shape.clusters.east as Record<string, unknown>).caFile = join(f.dir, 'absent-ca.pem');
    const file = writeYaml(f.dir, 'ca.yaml', shape);
    const before = f.calls();

    const run = await cli(['rotate', '--config', file, '--all', '--json']);

    expect(run.code).toBe(2);
    expect(run.out).toEqual([]);
    expect(run.err).toContain('  clusters.east.caFile: cannot read the CA file (ENOENT)');
    expect(f.calls()).toEqual(before);
  });

  it('a missing config file -> exit 2', async () => {
    const run = await cli(['rotate', '--config', join(tempDir(), 'absent.yaml'), '--all']);
    expect(run.code).toBe(2);
    expect(run.err.join('\n')).toContain('cannot read the file (ENOENT)');
  });
});

describe('cli verify', () => {
  it('exits 0 after a rotation: every cluster accepts AWSCURRENT', async () => {
    const f = await start();
    const rotated = jsonLines<ResultLine>(await f.run('rotate', '--credential', READER, '--json'))[0];

    const run = await f.run('verify', '--credential', READER, '--json');

    expect(run.code).toBe(0);
    expect(jsonLines(run)).toEqual([
      { credential: READER, status: 'ok', currentVersionId: rotated?.versionId, pendingVersionId: null, pendingAgeMs: null, clusters: { west: 'accepted', east: 'accepted' } },
    ]);
    const table = await f.run('verify');
    expect(table.code).toBe(0);
    expect(table.out[0]).toMatch(/^CREDENTIAL\s+STATUS\s+CURRENT\s+PENDING\s+CLUSTERS \(AWSCURRENT\)$/);
    expect(table.out.find((l) => l.startsWith(READER))).toMatch(/\s+ok\s+.*west=accepted east=accepted$/);
    expect(table.out.find((l) => l.startsWith(WRITER))).toMatch(/\s+ok\s+.*west=accepted$/);
  });

  it('exits 3 (drift) when a cluster password was changed behind our back, and changes nothing', async () => {
    const f = await start();
    await f.run('rotate', '--credential', READER, '--json');
    f.sim('east').setPassword('app_reader', generatePassword(f.reader.password));
    const updatesBefore = f.sim('east').requestCount('update_password') + f.sim('west').requestCount('update_password');
    const writesBefore = f.sandbox.emulator.callCount('PutSecretValue') + f.sandbox.emulator.callCount('UpdateSecretVersionStage');

    const run = await f.run('verify', '--json');

    expect(run.code).toBe(3);
    const checks = jsonLines<{ credential: string; status: string; clusters: Record<string, string>; error?: string }>(run);
    expect(checks.find((c) => c.credential === READER)).toMatchObject({ status: 'drift', clusters: { west: 'accepted', east: 'rejected' }, error: 'AWSCURRENT is rejected by east' });
    expect(checks.find((c) => c.credential === WRITER)).toMatchObject({ status: 'ok' });
    const table = await f.run('verify', '--credential', READER);
    expect(table.code).toBe(3);
    expect(table.out).toContain(`${READER}: AWSCURRENT is rejected by east`);
    expect(f.sim('east').requestCount('update_password') + f.sim('west').requestCount('update_password')).toBe(updatesBefore);
    expect(f.sandbox.emulator.callCount('PutSecretValue') + f.sandbox.emulator.callCount('UpdateSecretVersionStage')).toBe(writesBefore);
  });

  it('a recent pending version is a rotation in progress (exit 0); older than rotation.pendingLeaseMs it is stale (exit 1) and the next rotate adopts it', async () => {
    const f = await start();
    const { token, password } = await seedPending(f, f.reader);

    const fresh = await f.run('verify', '--credential', READER, '--json');
    expect(fresh.code).toBe(0);
    const [check] = jsonLines<{ status: string; pendingVersionId: string; pendingAgeMs: number }>(fresh);
    // Written outside the queue (as by a `rotate` run): the queue knows no rotation of that id, so the age decides.
    expect(check).toMatchObject({ status: 'in_progress', pendingVersionId: token, pendingOwner: 'unknown' });
    expect(check?.pendingAgeMs).toBeGreaterThanOrEqual(0);
    expect(check?.pendingAgeMs).toBeLessThan(60_000);

    // The same pending version under a config whose lease (rotation.pendingLeaseMs) it has outlived.
    const shortLease = writeYaml(f.dir, 'short-lease.yaml', { ...toFileShape(f.sandbox.config), rotation: { pendingLeaseMs: 1000 } });
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const stale = await cli(['verify', '--config', shortLease, '--credential', READER, '--json']);
    expect(stale.code).toBe(1);
    expect(jsonLines(stale)[0]).toMatchObject({ status: 'stale_pending', pendingVersionId: token, error: `pending version ${token} is stale: resume it with recover` });
    // Under the default lease it is still an ongoing rotation.
    expect((await f.run('verify', '--credential', READER)).code).toBe(0);

    // A stale pending version has no live owner: the next rotate adopts it, no recover needed.
    const adopted = await cli(['rotate', '--config', shortLease, '--credential', READER, '--json']);
    expect(adopted.code).toBe(0);
    expect(jsonLines(adopted)[0]).toMatchObject({ outcome: 'rotated', versionId: token });
    expect(f.sim('west').passwordOf('app_reader')).toBe(password);
  });

  it('exits 1 when a cluster gives no answer (unreachable) or Secrets Manager cannot be read', async () => {
    const f = await start();
    f.sim('east').injectFault({ route: 'probe', times: 10, fault: { kind: 'status', status: 503 } });
    const silent = await f.run('verify', '--credential', READER, '--json');
    expect(silent.code).toBe(1);
    expect(jsonLines(silent)[0]).toMatchObject({ status: 'unreachable', clusters: { west: 'accepted', east: 'unknown' } });

    f.sim('east').clearFaults();
    f.sandbox.emulator.injectFault({ op: 'GetSecretValue', times: 10, fault: { kind: 'status', status: 500 } });
    const blind = await f.run('verify', '--credential', READER, '--json');
    expect(blind.code).toBe(1);
    expect(jsonLines(blind)[0]).toMatchObject({ status: 'secrets_manager_error' });
  });

  it('checkCredential: staleAfterMs decides when a pending version is stale', async () => {
    const f = await start();
    const { token } = await seedPending(f, f.reader);
    const runtime = createEngineRuntime(f.sandbox.config);
    try {
      const byDefault = await checkCredential(runtime, f.reader);
      expect(byDefault).toMatchObject({ status: 'in_progress', pendingVersionId: token });
      expect(exitCodeOfCheck(byDefault.status)).toBe(0);
      const stale = await checkCredential({ ...runtime, staleAfterMs: 0 }, f.reader);
      expect(stale).toMatchObject({ status: 'stale_pending', pendingVersionId: token });
      expect(exitCodeOfCheck(stale.status)).toBe(1);
    } finally {
      runtime.close();
    }
  });
});

describe('cli status', () => {
  it('--json: version ids, age, pending, next run from the schedule; reads metadata only', async () => {
    const f = await start();
    const seededVersion = currentVersionId(f.sandbox, f.reader.secretId);
    const milvusBefore = f.calls().milvus;
    const getValueBefore = f.sandbox.emulator.callCount('GetSecretValue');

    const t0 = Date.now();
    const first = await f.run('status', '--json');
    const t1 = Date.now();

    expect(first.code).toBe(0);
    const statuses = jsonLines<CredentialStatus>(first);
    expect(statuses.map((s) => s.credential).sort()).toEqual([READER, WRITER]);
    const reader = statuses.find((s) => s.credential === READER);
    expect(reader).toMatchObject({
      secretId: f.reader.secretId,
      currentVersionId: seededVersion,
      previousVersionId: null,
      pendingVersionId: null,
      pendingAgeMs: null,
      schedule: '0 4 * * 1',
    });
    expect(reader?.ageMs).toBeGreaterThanOrEqual(0);
    expect(reader?.ageMs).toBeLessThan(60_000);
    expect(Date.parse(reader?.lastRotatedAt ?? '')).toBeLessThanOrEqual(t1);
    // Next Monday 04:00 UTC after now.
    const expected = [nextRun('0 4 * * 1', 'UTC', new Date(t0)), nextRun('0 4 * * 1', 'UTC', new Date(t1))].map((d) => d?.toISOString());
    expect(expected).toContain(reader?.nextRunAt);
    const next = new Date(reader?.nextRunAt ?? '');
    expect([next.getUTCDay(), next.getUTCHours(), next.getUTCMinutes()]).toEqual([1, 4, 0]);
    expect(next.getTime()).toBeGreaterThan(t0);
    expect(next.getTime() - t0).toBeLessThanOrEqual(7 * 24 * 3600_000);
    expect(statuses.find((s) => s.credential === WRITER)).toMatchObject({ schedule: 'off', nextRunAt: null });
    // Metadata only: no cluster was asked and no secret value was read.
    expect(f.calls().milvus).toBe(milvusBefore);
    expect(f.sandbox.emulator.callCount('GetSecretValue')).toBe(getValueBefore);

    // After a rotation of the reader, and with a pending version on the writer.
    const rotated = jsonLines<ResultLine>(await f.run('rotate', '--credential', READER, '--json'))[0];
    const { token } = await seedPending(f, f.writer);
    const second = jsonLines<CredentialStatus>(await f.run('status', '--json'));
    expect(second.find((s) => s.credential === READER)).toMatchObject({
      currentVersionId: rotated?.versionId,
      previousVersionId: seededVersion,
      // AWSPENDING left beside AWSCURRENT after a finished rotation is no rotation in progress.
      pendingVersionId: null,
    });
    const writer = second.find((s) => s.credential === WRITER);
    expect(writer).toMatchObject({ pendingVersionId: token });
    expect(writer?.pendingAgeMs).toBeGreaterThanOrEqual(0);

    const table = await f.run('status');
    expect(table.code).toBe(0);
    expect(table.out[0]).toMatch(/^CREDENTIAL\s+CURRENT\s+AGE\s+PREVIOUS\s+PENDING\s+NEXT RUN$/);
    const readerRow = table.out.find((l) => l.startsWith(READER));
    const writerRow = table.out.find((l) => l.startsWith(WRITER));
    expect(readerRow).toMatch(new RegExp(`^${READER}\\s+${rotated?.versionId?.slice(0, 8)}\\s+\\d+s\\s+${seededVersion.slice(0, 8)}\\s+no\\s+\\d{4}-\\d\\d-\\d\\dT04:00:00\\.000Z$`));
    expect(writerRow).toMatch(new RegExp(`^${WRITER}\\s+\\S{8}\\s+\\d+s\\s+-\\s+${token.slice(0, 8)} \\(\\d+s\\)\\s+off$`));
  });
});

describe('cli --config default', () => {
  it('without --config, $ROTATOR_CONFIG names the file', async () => {
    const f = await start();
    process.env.ROTATOR_CONFIG = f.file;
    try {
      const run = await cli(['status', '--json']);
      expect(run.code).toBe(0);
      expect(jsonLines<{ credential: string }>(run).map((s) => s.credential).sort()).toEqual([READER, WRITER]);
    } finally {
      delete process.env.ROTATOR_CONFIG;
    }
  });
});

describe('cli status: failures', () => {
  it('exits 1 and names the credential when Secrets Manager cannot be read', async () => {
    const f = await start();
    f.sandbox.emulator.injectFault({ op: 'ListSecretVersionIds', times: 10, fault: { kind: 'status', status: 500 } });
    const run = await f.run('status', '--credential', READER);
    expect(run.code).toBe(1);
    expect(run.out.some((l) => l.startsWith(`${READER}: `))).toBe(true);
  });
});

describe('cli recover', () => {
  it('adopts a recent foreign pending version that rotate refuses (exit 1, rotation_in_progress), and ends rotated on it', async () => {
    const f = await start();
    const before = passwordUnder(f.sandbox, f.reader.secretId, STAGE.current);
    const { token, password } = await seedPending(f, f.reader);

    const refused = await f.run('rotate', '--credential', READER, '--json');
    expect(refused.code).toBe(1);
    const [refusal] = jsonLines<ResultLine>(refused);
    if (!refusal) throw new Error('no result line');
    expectResultShape(refusal);
    expect(refusal).toMatchObject({ outcome: 'failed', reason: 'rotation_in_progress', versionId: token, clusters: { west: 'unchanged', east: 'unchanged' } });
    expect(f.sim('west').passwordOf('app_reader')).toBe(before);
    expect(f.sim('east').passwordOf('app_reader')).toBe(before);
    expect(f.sandbox.emulator.labelsOf(f.reader.secretId)[token]).toEqual([STAGE.pending]);

    const recovered = await f.run('recover', '--credential', READER, '--json');
    expect(recovered.code).toBe(0);
    const [result] = jsonLines<ResultLine>(recovered);
    if (!result) throw new Error('no result line');
    expectResultShape(result);
    expect(result).toMatchObject({ credential: READER, outcome: 'rotated', versionId: token, clusters: { west: 'updated', east: 'updated' } });
    // The adopted password, never a new one, is now live and current.
    expect(passwordUnder(f.sandbox, f.reader.secretId, STAGE.current)).toBe(password);
    expect(passwordUnder(f.sandbox, f.reader.secretId, STAGE.previous)).toBe(before);
    expect(f.sim('west').passwordOf('app_reader')).toBe(password);
    expect(f.sim('east').passwordOf('app_reader')).toBe(password);
    expect((await f.run('verify', '--credential', READER)).code).toBe(0);
  });
});

describe('cli config check', () => {
  it.each([
    // Without its variables, the production example leaves the trigger API and the generic feed off: warnings, still ok.
    ['rotator.yaml', /rotator\.yaml: OK: 2 credentials \(2 scheduled\), 2 clusters$/, [/^warning: http\.triggerTokens: empty after \$\{VAR\} expansion \(unset: ROTATOR_TRIGGER_TOKEN/, /^warning: leakAlerts\.webhookSecret: empty after \$\{VAR\} expansion \(unset: ROTATOR_WEBHOOK_SECRET/]],
    // The sandbox rotates every five minutes: below the default interval, a warning.
    ['sandbox.yaml', /sandbox\.yaml: OK: 3 credentials \(1 scheduled\), 2 clusters$/, [/^warning: rotation\.minIntervalMs: 60000 ms is below the default 600000/]],
  ])('examples/%s -> exit 0 with a summary', async (name, summary, warnings) => {
    const run = await cli(['config', 'check', '--config', join(EXAMPLES, name)]);
    expect(run.code).toBe(0);
    expect(run.err).toEqual(warnings.map((w) => expect.stringMatching(w)));
    expect(run.out).toHaveLength(1);
    expect(run.out[0]).toMatch(summary);
  });

  it('as a process: warns about allowInsecureHttp and a short interval (exit 0), refuses cleartext off loopback and a schedule faster than the interval (exit 2)', async () => {
    const dir = tempDir();
    const base = fs.readFileSync(join(EXAMPLES, 'sandbox.yaml'), 'utf8');
    const insecure = writeYaml(dir, 'insecure.yaml', base.replace('endpoint: http://127.0.0.1:19532', 'endpoint: http://milvus.dev.internal:19532\n    allowInsecureHttp: true'));
    const cleartext = writeYaml(dir, 'cleartext.yaml', base.replace('endpoint: http://127.0.0.1:19532', 'endpoint: http://milvus-prod.internal:19532'));
    const tooOften = writeYaml(dir, 'too-often.yaml', base.replace('minIntervalMs: 60000', 'minIntervalMs: 600000'));
    const [warned, refused, fast] = await Promise.all([
      runCli(['config', 'check', '--config', insecure], { timeoutMs: 20_000 }),
      runCli(['config', 'check', '--config', cleartext], { timeoutMs: 20_000 }),
      runCli(['config', 'check', '--config', tooOften], { timeoutMs: 20_000 }),
    ]);
    expect(warned.code, warned.stderr).toBe(0);
    expect(warned.stderr).toMatch(/warning: clusters\.sandbox-b\.allowInsecureHttp: passwords travel in clear to milvus\.dev\.internal:19532/);
    expect(warned.stderr).toMatch(/warning: rotation\.minIntervalMs/);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/clusters\.sandbox-b\.endpoint: must be an https:\/\/ URL/);
    expect(fast.code).toBe(2);
    expect(fast.stderr).toMatch(/credentials\.app-reader\.schedule: fires every 300 s at times, more often than rotation\.minIntervalMs \(600000 ms\)/);
  });

  it('a broken file -> exit 2 with one line per problem, each with its key path', async () => {
    const dir = tempDir();
    const text = fs
      .readFileSync(join(EXAMPLES, 'sandbox.yaml'), 'utf8')
      .replace('clusters: [sandbox-a, sandbox-b]', 'clusters: [sandbox-a, prod-dr]')
      .replace('timeoutMs: 2000', 'timeoutMS: 2000');
    const file = writeYaml(dir, 'broken.yaml', text);

    const run = await cli(['config', 'check', '--config', file]);

    expect(run.code).toBe(2);
    expect(run.out).toEqual([]);
    expect(run.err).toEqual(
      expect.arrayContaining(['clusters.sandbox-a.timeoutMS: unknown key (did you mean "timeoutMs"?)']),
    );
    const second = writeYaml(dir, 'broken-ref.yaml', fs.readFileSync(join(EXAMPLES, 'sandbox.yaml'), 'utf8').replace('clusters: [sandbox-a, sandbox-b]', 'clusters: [sandbox-a, prod-dr]'));
    const ref = await cli(['config', 'check', '--config', second]);
    expect(ref.code).toBe(2);
    expect(ref.err).toEqual(['credentials.app-reader.clusters[1]: unknown cluster "prod-dr"']);
  });

  it('an unreadable file -> exit 2', async () => {
    const run = await cli(['config', 'check', '--config', join(tempDir(), 'absent.yaml')]);
    expect(run.code).toBe(2);
    expect(run.err.join('\n')).toContain('cannot read the file (ENOENT)');
  });
});

describe('cli help', () => {
  it('--help of the program and of every command exits 0 and prints its usage', async () => {
    const { program } = buildProgram({ out: () => {}, err: () => {} });
    const paths: string[][] = [];
    const walk = (command: Command, prefix: string[]): void => {
      for (const sub of command.commands) {
        const path = [...prefix, sub.name()];
        paths.push(path);
        walk(sub, path);
      }
    };
    walk(program, []);
    expect(paths.map((p) => p.join(' '))).toEqual(expect.arrayContaining(['rotate', 'recover', 'verify', 'status', 'config', 'config check', 'sandbox', 'demo']));
    for (const path of [[], ...paths]) {
      const run = await cli([...path, '--help']);
      expect(run.code, `${path.join(' ')} --help`).toBe(0);
      expect(run.out[0]).toMatch(new RegExp(`^Usage: milvus-rotator${path.map((p) => ` ${p}`).join('')} \\[options\\]( \\[command\\])?$`));
    }
  });
});

describe('cli demo and sandbox', () => {
  it('demo rotates on two clusters, verifies, and exits 0', async () => {
    const run = await cli(['demo']);
    expect(run.code).toBe(0);
    expect(run.out).toContain('demo: rotated and verified; the old password is dead on both clusters.');
    expect(run.out).toContain('demo: the alternating credential switched users; the retired user still logs in on both clusters.');
    expect(run.out).toContain('AWSCURRENT is now search_b; search_a is AWSPREVIOUS and keeps working until the next rotation');
    expect(run.out).toContain('app-search: AWSCURRENT user search_b; retired user search_a: sandbox-a=accepted sandbox-b=accepted');
  });

  it('sandbox refuses a config whose endpoints are not loopback http: exit 2 naming the key, nothing started', async () => {
    const run = await cli(['sandbox', '--config', join(EXAMPLES, 'rotator.yaml')]);
    expect(run.code).toBe(2);
    expect(run.out).toEqual([]);
    expect(run.err.join('\n')).toContain('clusters.prod-west.endpoint: the sandbox serves only http://127.0.0.1:<port> endpoints');
  });

  it('sandbox serves the config, prints the environment that reaches it, and exits 0 on SIGTERM', async () => {
    const base = makeConfig(
      ['sandbox-a', 'sandbox-b'],
      [
        { id: READER, username: 'app_reader', clusters: ['sandbox-a', 'sandbox-b'] },
        { id: WRITER, username: 'app_writer', clusters: ['sandbox-a'] },
      ],
    );
    // A free port can be taken by another test's server before the sandbox binds it: start again on new ports then.
    const start = async (): Promise<{ portA: number; portB: number; file: string; child: ReturnType<typeof spawn>; stdout: string; stderr: () => string; exited: Promise<number | null> }> => {
      const [portA, portB] = [await freePort(), await freePort()];
      const config: Config = {
        ...base,
        clusters: {
          'sandbox-a': { name: 'sandbox-a', endpoint: `http://127.0.0.1:${portA}`, timeoutMs: 2000 },
          'sandbox-b': { name: 'sandbox-b', endpoint: `http://127.0.0.1:${portB}`, timeoutMs: 2000 },
        },
      };
      const file = writeYaml(tempDir(), 'sandbox.yaml', toFileShape(config));
      const child = spawn(process.execPath, [CLI, 'sandbox', '--config', file], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`sandbox did not start:\n${stdout}\n${stderr}`)), 10_000);
        child.stdout?.on('data', (chunk: Buffer) => {
          stdout += chunk.toString();
          if (stdout.includes('# Ctrl-C stops it.')) {
            clearTimeout(timer);
            resolve();
          }
        });
        child.on('close', () => {
          clearTimeout(timer);
          reject(new Error(`sandbox exited early:\n${stdout}\n${stderr}`));
        });
      });
      return { portA, portB, file, child, stdout, stderr: () => stderr, exited };
    };
    let started: Awaited<ReturnType<typeof start>> | undefined;
    for (let attempt = 1; started === undefined; attempt++) {
      try {
        started = await start();
      } catch (error) {
        if (attempt === 3 || !String(error).includes('EADDRINUSE')) throw error;
      }
    }
    const { portA, portB, file, child, stdout, exited } = started;
    try {
      const env = Object.fromEntries([...stdout.matchAll(/^export (\w+)=(.*)$/gm)].map((m) => [m[1], m[2]]));
      expect(Object.keys(env).sort()).toEqual(['AWS_ACCESS_KEY_ID', 'AWS_ENDPOINT_URL_SECRETS_MANAGER', 'AWS_REGION', 'AWS_SECRET_ACCESS_KEY']);
      expect(stdout).toContain(`# cluster sandbox-a: http://127.0.0.1:${portA}`);
      expect(stdout).toContain(`# cluster sandbox-b: http://127.0.0.1:${portB}`);
      // The printed environment and the unchanged config reach a seeded, consistent sandbox.
      Object.assign(process.env, env);
      const verify = await cli(['verify', '--config', file, '--json']);
      expect(verify.code).toBe(0);
      expect(jsonLines<{ status: string }>(verify).map((c) => c.status)).toEqual(['ok', 'ok']);
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
    transcript.push(stdout, started.stderr());
  });
});

describe('cli as a real process', () => {
  it('node src/cli.ts rotate --config FILE --credential X --json: exit 0, one JSON line on stdout, JSON logs on stderr', async () => {
    const f = await start();
    const child = await spawnCli(['rotate', '--config', f.file, '--credential', READER, '--json'], { ...process.env });

    expect(child.code).toBe(0);
    const lines = child.stdout.split('\n').filter((l) => l !== '');
    expect(lines).toHaveLength(1);
    const result = JSON.parse(lines[0] ?? '') as ResultLine;
    expectResultShape(result);
    expect(result).toMatchObject({ credential: READER, outcome: 'rotated', clusters: { west: 'updated', east: 'updated' } });
    expect(result.versionId).toBe(currentVersionId(f.sandbox, f.reader.secretId));
    expect(assertEndInvariants(f.sandbox, f.reader, 'rotated')).toEqual([]);
    const logs = child.stderr.split('\n').filter((l) => l !== '');
    expect(logs.length).toBeGreaterThan(0);
    for (const line of logs) expect(JSON.parse(line)).toMatchObject({ credential: READER, rotationId: expect.any(String) });
  });

  it('a usage error in the real process exits 2', async () => {
    const f = await start();
    const child = await spawnCli(['rotate', '--config', f.file], { ...process.env });
    expect(child.code).toBe(2);
    expect(child.stdout).toBe('');
    expect(child.stderr).toContain('give --credential ID (repeatable) or --all');
  });
});

// Runs last (tests of a file run in order): everything above printed nothing secret.
describe('cli output holds no password', () => {
  it('no password any sandbox saw appears in anything printed or logged by the runs above', () => {
    expect(secrets.size).toBeGreaterThan(20);
    expect(transcript.join('\n').length).toBeGreaterThan(10_000);
    expect(findExposures(transcript, secrets, usernames)).toEqual([]);
    // The scan is live: one planted password is found.
    const planted = [...secrets].find((p) => p.length >= 8) ?? '';
    expect(findExposures([...transcript, `oops ${planted}`], secrets, usernames).length).toBeGreaterThan(0);
  });
});
