/**
 * `recover` with nothing pending, and `--dry-run` on `rotate` and `recover`, as real processes
 * (`node bin/milvus-rotator.js`, hard timeout) against a sandbox. "Changes nothing" is proven with
 * the emulator's call counts (no Secrets Manager write) and the simulators' change logs (no
 * password changed).
 */
import { randomUUID } from 'node:crypto';
import { rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { PutSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { afterEach, describe, expect, it } from 'vitest';
import type { SingleCredentialConfig } from '../src/config/types.ts';
import { generatePassword } from '../src/password/generate.ts';
import type { RotationPlan } from '../src/rotation/rotation-plan.ts';
import type { RotationResult } from '../src/rotation/types.ts';
import { startSandbox, type Sandbox } from '../src/sandbox/sandbox.ts';
import { STAGE } from '../src/secrets/types.ts';
import { writeConfigFile } from './helpers/config-file.ts';
import { makeConfig, type SingleUserConfig } from './helpers/config.ts';
import { findExposures } from './helpers/exposure.ts';
import { passwordUnder } from './helpers/invariants.ts';
import { linesOf, runCli, type CliRun } from './helpers/run-cli.ts';

const WRITES = ['PutSecretValue', 'UpdateSecretVersionStage', 'CreateSecret', 'RotateSecret', 'DeleteSecret', 'UpdateSecret'];
const BOUND_MS = 20_000;

interface Fixture {
  sandbox: Sandbox<SingleUserConfig>;
  file: string;
  credential: SingleCredentialConfig;
  cli: (...args: string[]) => Promise<CliRun>;
  writes: () => number;
  changes: () => number;
}

let fixture: Fixture | null = null;
afterEach(async () => {
  if (!fixture) return;
  await fixture.sandbox.close();
  rmSync(dirname(fixture.file), { recursive: true, force: true });
  fixture = null;
});

async function start(): Promise<Fixture> {
  const sandbox = await startSandbox(makeConfig(['west', 'east'], [{ id: 'app-reader', username: 'app_reader', clusters: ['west', 'east'] }]));
  Object.assign(process.env, sandbox.env);
  const file = writeConfigFile(sandbox.config);
  fixture = {
    sandbox,
    file,
    credential: sandbox.config.credentials['app-reader'] as SingleCredentialConfig,
    cli: (...args) => runCli([...args, '--config', file], { env: sandbox.env, timeoutMs: BOUND_MS }),
    writes: () => WRITES.reduce((sum, op) => sum + sandbox.emulator.callCount(op), 0),
    changes: () => [...sandbox.clusters.values()].reduce((sum, s) => sum + s.changeLog.length, 0),
  };
  return fixture;
}

/** A foreign rotation's write-ahead (a fresh pending version), through the real SDK. */
async function seedPending(f: Fixture): Promise<{ token: string; password: string }> {
  const token = randomUUID();
  const password = generatePassword(f.credential.password);
  const client = new SecretsManagerClient({});
  try {
    await client.send(
      new PutSecretValueCommand({
        SecretId: f.credential.secretId,
        ClientRequestToken: token,
        SecretString: JSON.stringify({ username: f.credential.username, password }),
        VersionStages: [STAGE.pending],
      }),
    );
  } finally {
    client.destroy();
  }
  return { token, password };
}

function onlyJsonLine<T>(run: CliRun): T {
  const lines = linesOf(run.stdout);
  expect(lines, run.stderr).toHaveLength(1);
  return JSON.parse(lines[0] ?? '') as T;
}

function expectExitedBy(run: CliRun): void {
  expect(run.timedOut).toBe(false);
  expect(run.ms).toBeLessThan(BOUND_MS);
}

function noPasswordPrinted(f: Fixture, run: CliRun): void {
  const passwords = new Set<string>();
  for (const sim of f.sandbox.clusters.values()) for (const p of sim.passwordsSeen()) passwords.add(p);
  expect(findExposures([run.stdout, run.stderr], passwords, [f.credential.username])).toEqual([]);
}

describe('recover with nothing pending', () => {
  it('changes nothing: rotated with reason nothing_pending, exit 0, no Secrets Manager write, no password changed', async () => {
    const f = await start();
    const before = passwordUnder(f.sandbox, f.credential.secretId, STAGE.current);
    const [writes, changes] = [f.writes(), f.changes()];

    const run = await f.cli('recover', '--credential', 'app-reader', '--json');

    expectExitedBy(run);
    expect(run.code, run.stderr).toBe(0);
    const result = onlyJsonLine<RotationResult>(run);
    expect(result).toMatchObject({ credential: 'app-reader', outcome: 'rotated', reason: 'nothing_pending', clusters: { west: 'unchanged', east: 'unchanged' } });
    expect(result).not.toHaveProperty('error');
    expect(f.writes()).toBe(writes);
    expect(f.changes()).toBe(changes);
    expect(passwordUnder(f.sandbox, f.credential.secretId, STAGE.current)).toBe(before);

    // Safe to run twice: the second run says the same and changes nothing either.
    const again = await f.cli('recover', '--credential', 'app-reader');
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/app-reader\s+rotated\s+nothing_pending/);
    expect(f.writes()).toBe(writes);
    expect(f.changes()).toBe(changes);
    noPasswordPrinted(f, run);
  });

  it('a cluster that rejects AWSCURRENT (drift) with nothing pending: needs_attention, exit 3, still nothing written', async () => {
    const f = await start();
    f.sandbox.clusters.get('east')?.setPassword(f.credential.username, 'Changed-Behind-Our-Back-1!');
    const [writes, changes] = [f.writes(), f.changes()];
    const run = await f.cli('recover', '--credential', 'app-reader', '--json');
    expectExitedBy(run);
    expect(run.code).toBe(3);
    expect(onlyJsonLine<RotationResult>(run)).toMatchObject({ outcome: 'needs_attention', reason: 'unknown_password', clusters: { west: 'unchanged', east: 'unknown_password' } });
    expect(f.writes()).toBe(writes);
    expect(f.changes()).toBe(changes);
  });
});

describe('--dry-run', () => {
  it('rotate --dry-run --json: the plan (rotate, nothing pending, every cluster accepts AWSCURRENT), exit 0, nothing written, nothing changed', async () => {
    const f = await start();
    const [writes, changes] = [f.writes(), f.changes()];

    const run = await f.cli('rotate', '--credential', 'app-reader', '--dry-run', '--json');

    expectExitedBy(run);
    expect(run.code, run.stderr).toBe(0);
    const plan = onlyJsonLine<RotationPlan>(run);
    expect(plan).toMatchObject({
      credential: 'app-reader',
      dryRun: true,
      strategy: 'single',
      mode: 'manual',
      action: 'rotate',
      outcome: null,
      reason: null,
      pending: null,
      clusters: {
        west: { state: 'unchanged', accepts: { current: 'accepted', pending: null, previous: null }, next: 'change_from_current' },
        east: { state: 'unchanged', accepts: { current: 'accepted', pending: null, previous: null }, next: 'change_from_current' },
      },
    });
    expect(plan.currentVersionId).toEqual(expect.any(String));
    expect(f.writes()).toBe(writes);
    expect(f.changes()).toBe(changes);
  });

  it('with a foreign pending version held by one cluster: rotate --dry-run says refuse (exit 1), recover --dry-run says resume (exit 0) and who holds it; neither writes', async () => {
    const f = await start();
    const { token, password } = await seedPending(f);
    f.sandbox.clusters.get('west')?.setPassword(f.credential.username, password);
    const [writes, changes] = [f.writes(), f.changes()];

    const refused = await f.cli('rotate', '--credential', 'app-reader', '--dry-run', '--json');
    expectExitedBy(refused);
    expect(refused.code).toBe(1);
    expect(onlyJsonLine<RotationPlan>(refused)).toMatchObject({
      action: 'refuse',
      outcome: 'failed',
      reason: 'rotation_in_progress',
      pending: { versionId: token, hasValue: true, ageMs: expect.any(Number) },
      clusters: { west: { accepts: { current: 'rejected', pending: 'accepted' }, next: null }, east: { accepts: { current: 'accepted', pending: 'rejected' }, next: null } },
    });

    const resume = await f.cli('recover', '--credential', 'app-reader', '--dry-run', '--json');
    expectExitedBy(resume);
    expect(resume.code).toBe(0);
    expect(onlyJsonLine<RotationPlan>(resume)).toMatchObject({
      action: 'resume',
      outcome: null,
      pending: { versionId: token },
      clusters: { west: { next: 'holds_pending' }, east: { next: 'change_from_current' } },
    });

    const table = await f.cli('recover', '--credential', 'app-reader', '--dry-run');
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/^DRY RUN: nothing was written/);
    expect(table.stdout).toMatch(/app-reader\s+resume\s+-\s+\S+ \(\d+s old\)\s+west=current:rejected pending:accepted next:holds_pending east=current:accepted pending:rejected next:change_from_current/);

    expect(f.writes()).toBe(writes);
    expect(f.changes()).toBe(changes);
    expect(f.sandbox.emulator.labelsOf(f.credential.secretId)[token]).toEqual([STAGE.pending]);
    for (const run of [refused, resume, table]) noPasswordPrinted(f, run);
  });
});
