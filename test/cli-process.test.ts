/**
 * The commands that need no Redis (rotate, recover, verify, status, config check, sandbox, demo,
 * --help, --version) as the user runs them: `node bin/milvus-rotator.js ...` as a child process
 * with a hard timeout, on success and on their main failure modes (a cluster unreachable, Secrets
 * Manager unreachable, a bad config), each exiting by itself with the documented code and at most a
 * handful of stderr lines. The queue commands are in cli-queue-commands.int.test.ts.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../src/config/types.ts';
import { startSandbox, type Sandbox } from '../src/sandbox/sandbox.ts';
import { makeConfig } from './helpers/config.ts';
import { writeConfigFile } from './helpers/config-file.ts';
import { freePort } from './helpers/redis-server.ts';
import { linesOf, runCli, type CliRun } from './helpers/run-cli.ts';

const VERSION = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
/** A command that hangs shows as timedOut; the ones here finish in a few seconds on a loaded machine. */
const HARD_TIMEOUT_MS = 30_000;
const dir = mkdtempSync(join(tmpdir(), 'rotator-cli-process-'));
let sandbox: Sandbox;
let good: string;

function expectExit(run: CliRun, code: number, maxStderrLines = 5): void {
  expect(run.timedOut, `did not exit by itself:\n${run.stderr}`).toBe(false);
  expect(run.code, `stdout:\n${run.stdout}\nstderr:\n${run.stderr}`).toBe(code);
  expect(linesOf(run.stderr).length, run.stderr).toBeLessThanOrEqual(maxStderrLines);
  expect(run.stderr).not.toMatch(/^\s+at /m);
}

const cli = (args: string[], env: Record<string, string> = sandbox.env): Promise<CliRun> => runCli(args, { env, timeoutMs: HARD_TIMEOUT_MS });

beforeAll(async () => {
  sandbox = await startSandbox(makeConfig(['west', 'east'], [{ id: 'app', username: 'app_user', clusters: ['west', 'east'] }]));
  good = writeConfigFile(sandbox.config);
});

afterAll(async () => {
  await sandbox?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('cli process: --version, --help, the Node version', () => {
  it('--version prints the package version; --help prints the usage; both exit 0', async () => {
    const [version, help] = await Promise.all([cli(['--version']), cli(['--help'])]);
    expectExit(version, 0, 0);
    expect(version.stdout.trim()).toBe(VERSION);
    expectExit(help, 0, 0);
    expect(help.stdout).toContain('Usage: milvus-rotator');
    expect(help.stdout).toContain('-V, --version');
  });

  const oldNode = '/usr/bin/node';
  const oldMajor = existsSync(oldNode) ? Number(execFileSync(oldNode, ['-p', 'process.versions.node.split(".")[0]'], { encoding: 'utf8' }).trim()) : 99;
  it.skipIf(oldMajor >= 24)(`a Node older than 24 (${oldNode}, ${oldMajor}) gets one clear line and exit 2, not a loader error`, async () => {
    const run = await runCli(['--version'], { node: oldNode, timeoutMs: HARD_TIMEOUT_MS });
    expectExit(run, 2, 1);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(/^milvus-rotator needs Node\.js 24 or later; this is Node\.js 2\d\.\d+\.\d+ /);
    expect(run.stderr).not.toContain('ERR_UNKNOWN_FILE_EXTENSION');
  });
});

describe('cli process: config check', () => {
  // The production interval: the test configs' short one is itself a warning.
  const checked = (): Config => ({ ...sandbox.config, rotation: { ...sandbox.config.rotation, minIntervalMs: 600_000 } });

  it('a good file: exit 0, the summary on stdout, what is off as warnings on stderr', async () => {
    const base = checked();
    const quiet = writeConfigFile(base);
    const noFeatures = writeConfigFile({ ...base, http: { ...base.http, triggerTokens: [] }, leakAlerts: { ...base.leakAlerts, webhookSecrets: [] } });
    const [ok, warned] = await Promise.all([cli(['config', 'check', '--config', quiet]), cli(['config', 'check', '--config', noFeatures])]);
    expectExit(ok, 0, 0);
    expect(ok.stdout.trim()).toBe(`${quiet}: OK: 1 credential (1 scheduled), 2 clusters`);
    expectExit(warned, 0, 2);
    expect(linesOf(warned.stderr)).toEqual([
      'warning: http.triggerTokens: none configured: POST /v1/rotations refuses every request',
      'warning: leakAlerts.webhookSecret: none configured: POST /v1/leak-alerts refuses every alert',
    ]);
  });

  it('a bad file, an unreadable caFile, a caFile on http://: exit 2 with one line per problem', async () => {
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, readFileSync(good, 'utf8').replace('rotation:', 'rotaton:'));
    const clusters = Object.fromEntries(Object.entries(sandbox.config.clusters).map(([name, c]) => [name, { ...c, caFile: join(dir, 'absent-ca.pem') }]));
    const caFile = writeConfigFile({ ...checked(), clusters });
    const [badRun, caRun] = await Promise.all([cli(['config', 'check', '--config', bad]), cli(['config', 'check', '--config', caFile])]);
    expectExit(badRun, 2, 1);
    expect(badRun.stderr).toMatch(/^rotaton: unknown key/m);
    expectExit(caRun, 2, 2);
    expect(linesOf(caRun.stderr)).toEqual([
      expect.stringMatching(/^clusters\.west\.caFile: is set but the endpoint is not https:\/\//),
      expect.stringMatching(/^clusters\.east\.caFile: is set but the endpoint is not https:\/\//),
    ]);
  });
});

describe('cli process: rotate, recover, verify, status', () => {
  it('rotate, verify --all, status and recover succeed (exit 0) against the sandbox', async () => {
    const rotate = await cli(['rotate', '--config', good, '--credential', 'app', '--json']);
    expectExit(rotate, 0, 40); // stderr: the rotation's JSON log lines
    expect(JSON.parse(linesOf(rotate.stdout)[0] ?? '{}')).toMatchObject({ credential: 'app', outcome: 'rotated' });
    const [verify, status] = await Promise.all([cli(['verify', '--config', good, '--all', '--json']), cli(['status', '--config', good, '--json'])]);
    expectExit(verify, 0, 0);
    expect(JSON.parse(linesOf(verify.stdout)[0] ?? '{}')).toMatchObject({ credential: 'app', status: 'ok' });
    expectExit(status, 0, 0);
    expect(JSON.parse(linesOf(status.stdout)[0] ?? '{}')).toMatchObject({ credential: 'app' });
    const recover = await cli(['recover', '--config', good, '--credential', 'app', '--json']);
    expectExit(recover, 0, 40);
    expect(JSON.parse(linesOf(recover.stdout)[0] ?? '{}')).toMatchObject({ credential: 'app' });
  });

  it('a cluster unreachable: rotate fails and changes nothing (exit 1), verify exits 1; Secrets Manager unreachable: status exits 1', async () => {
    const deadPort = await freePort();
    const config: Config = { ...sandbox.config, clusters: { ...sandbox.config.clusters, east: { name: 'east', endpoint: `http://127.0.0.1:${deadPort}`, timeoutMs: 1_000 } } };
    const path = writeConfigFile(config);
    const deadAws = { ...sandbox.env, AWS_ENDPOINT_URL_SECRETS_MANAGER: `http://127.0.0.1:${deadPort}` };
    const secretId = sandbox.config.credentials.app!.secretId;
    const before = sandbox.emulator.labelsOf(secretId);
    const [rotate, verify, status, statusTable] = await Promise.all([
      cli(['rotate', '--config', path, '--credential', 'app', '--json']),
      cli(['verify', '--config', path, '--all', '--json']),
      cli(['status', '--config', good, '--json'], deadAws),
      cli(['status', '--config', good], deadAws),
    ]);
    expectExit(rotate, 1, 40);
    expect(JSON.parse(linesOf(rotate.stdout)[0] ?? '{}')).toMatchObject({ credential: 'app', outcome: 'failed' });
    expect(sandbox.emulator.labelsOf(secretId)).toEqual(before);
    expectExit(verify, 1, 0);
    expect(JSON.parse(linesOf(verify.stdout)[0] ?? '{}')).toMatchObject({ clusters: { west: 'accepted', east: 'unknown' } });
    expectExit(status, 1, 5);
    expect(JSON.parse(linesOf(status.stdout)[0] ?? '{}')).toMatchObject({ credential: 'app', currentVersionId: null, pendingVersionId: null, error: expect.stringContaining('ListSecretVersionIds') });
    // The table does not claim "no" pending for a secret it could not read.
    expectExit(statusTable, 1, 0);
    expect(linesOf(statusTable.stdout)[1]).toMatch(/^app\s+-\s+-\s+-\s+-\s+/);
    expect(linesOf(statusTable.stdout)[2]).toMatch(/^app: Secrets Manager ListSecretVersionIds on secret .* failed/);
  });

  it('bad usage and a bad config exit 2 before any call, each with its line', async () => {
    const missing = join(dir, 'missing.yaml');
    const runs = await Promise.all([
      cli(['rotate', '--config', missing, '--credential', 'app']),
      cli(['recover', '--config', good]),
      cli(['verify', '--config', good, '--all', '--credential', 'app']),
      cli(['status', '--config', missing]),
    ]);
    // A usage error is followed by the command's usage (commander's showHelpAfterError).
    for (const run of runs) expectExit(run, 2, run === runs[1] ? 15 : 3);
    expect(runs[0]!.stderr).toContain(`${missing}: invalid configuration:`);
    expect(runs[1]!.stderr).toContain("required option '--credential <id>' not specified");
    expect(runs[2]!.stderr).toContain('error: give --credential or --all, not both');
    expect(runs[3]!.stderr).toContain('cannot read the file (ENOENT)');
  });

  it('an unreadable caFile (found when the clients are built, after the file loaded) is reported under the file name, like any config error', async () => {
    const clusters = { ...sandbox.config.clusters, east: { ...sandbox.config.clusters.east!, endpoint: 'https://127.0.0.1:1', caFile: join(dir, 'absent-ca.pem') } };
    const path = writeConfigFile({ ...sandbox.config, clusters });
    const runs = await Promise.all([cli(['rotate', '--config', path, '--credential', 'app']), cli(['verify', '--config', path])]);
    for (const run of runs) {
      expectExit(run, 2, 2);
      expect(linesOf(run.stderr)).toEqual([`${path}: invalid configuration:`, '  clusters.east.caFile: cannot read the CA file (ENOENT)']);
      expect(run.stdout).toBe('');
    }
  });
});

describe('cli process: demo and sandbox', () => {
  it('demo exits 0 by itself; sandbox with a non-loopback config exits 2', async () => {
    const [demo, sandboxRun] = await Promise.all([cli(['demo']), cli(['sandbox', '--config', 'examples/rotator.yaml'])]);
    expectExit(demo, 0, 60);
    expect(demo.stdout).toContain('demo: rotated and verified');
    expectExit(sandboxRun, 2, 3);
    expect(sandboxRun.stderr).toContain('clusters.prod-west.endpoint: the sandbox serves only http://127.0.0.1:<port> endpoints');
  });
});
