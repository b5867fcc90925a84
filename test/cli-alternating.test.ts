import { rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { RotationResult } from '../src/rotation/types.ts';
import type { CredentialCheck } from '../src/rotation/check-credential.ts';
import { STAGE } from '../src/secrets/types.ts';
import { USER_A, USER_B, startAlternatingFixture, type AlternatingFixture } from './helpers/alternating-fixture.ts';
import { writeConfigFile } from './helpers/config-file.ts';
import { findExposures } from './helpers/exposure.ts';
import { credentialUnder } from './helpers/invariants.ts';
import { linesOf, runCli, type CliRun } from './helpers/run-cli.ts';

/**
 * The CLI with an alternating credential, as a user runs it: real child processes (hard timeout)
 * against the sandbox. rotate within the grace (refused, exit 1), rotate in leak mode (two turns,
 * exit 0), verify (both users accepted, exit 0), status, onboard (already onboarded; without admin
 * on a single-user secret: exit 3 and the procedure).
 */

const BOUND_MS = 30_000;
let fixture: AlternatingFixture | null = null;
let file: string | null = null;
afterEach(async () => {
  await fixture?.close();
  fixture = null;
  if (file) rmSync(dirname(file), { recursive: true, force: true });
  file = null;
});

async function start(): Promise<{ f: AlternatingFixture; cli: (...args: string[]) => Promise<CliRun> }> {
  fixture = await startAlternatingFixture({ clusters: ['west', 'east'] });
  const path = writeConfigFile(fixture.sandbox.config);
  file = path;
  const env = { ...fixture.sandbox.env, LOG_LEVEL: 'warn' };
  return { f: fixture, cli: (...args) => runCli([...args, '--config', path], { env, timeoutMs: BOUND_MS }) };
}

function json<T>(run: CliRun): T[] {
  return linesOf(run.stdout).map((line) => JSON.parse(line) as T);
}

describe('CLI with an alternating credential (real processes)', () => {
  it('rotate: refused within the grace (exit 1), leak mode rotates both users (exit 0); verify and status see both users', async () => {
    const { f, cli } = await start();
    const before = credentialUnder(f.sandbox, f.credential.secretId, STAGE.current);
    // The seeded promotion is also a completed rotation: past the test config's rotation.minIntervalMs
    // (1 s), only the grace (2 h) can refuse the next one, which is what this pins.
    await new Promise((resolve) => setTimeout(resolve, 1_100));

    const refused = await cli('rotate', '--credential', 'app', '--json');
    expect(refused.timedOut).toBe(false);
    expect(refused.code).toBe(1);
    const [refusal] = json<RotationResult>(refused);
    expect(refusal).toMatchObject({ outcome: 'failed', reason: 'grace_not_elapsed', alternating: { currentUser: USER_A, previousUser: USER_B } });
    expect(refusal?.alternating?.notBefore).toBeDefined();
    expect(credentialUnder(f.sandbox, f.credential.secretId, STAGE.current)).toEqual(before);

    const leak = await cli('rotate', '--credential', 'app', '--mode', 'leak', '--json');
    expect(leak.code).toBe(0);
    const [rotated] = json<RotationResult>(leak);
    expect(rotated).toMatchObject({ outcome: 'rotated', alternating: { currentUser: USER_A, previousUser: USER_B, turns: 2 } });

    const verify = await cli('verify', '--credential', 'app', '--json');
    expect(verify.code).toBe(0);
    const [check] = json<CredentialCheck>(verify);
    expect(check).toMatchObject({
      status: 'ok',
      clusters: { west: 'accepted', east: 'accepted' },
      users: { current: USER_A, previous: { username: USER_B, clusters: { west: 'accepted', east: 'accepted' } } },
    });

    // The retired user stops working on one cluster: verify reports drift (exit 3), naming it.
    f.sandbox.clusters.get('east')?.setPassword(USER_B, 'Somebody-Else-Set-1!');
    const drift = await cli('verify', '--credential', 'app');
    expect(drift.code).toBe(3);
    expect(drift.stdout).toContain(`AWSPREVIOUS (user ${USER_B}) is rejected by east`);

    const status = await cli('status', '--credential', 'app', '--json');
    expect(status.code).toBe(0);
    expect(json<Record<string, unknown>>(status)[0]).toMatchObject({ credential: 'app', strategy: 'alternating' });

    const passwords = new Set<string>();
    for (const simulator of f.sandbox.clusters.values()) for (const p of simulator.passwordsSeen()) passwords.add(p);
    expect(findExposures([refused, leak, verify, drift, status].flatMap((r) => [r.stdout, r.stderr]), passwords, [USER_A, USER_B])).toEqual([]);
  }, 90_000);

  it('onboard: exit 0 when already onboarded; on a single-user secret without admin, exit 3 with the procedure and nothing changed', async () => {
    const { f, cli } = await start();
    const done = await cli('onboard', '--credential', 'app');
    expect(done.code).toBe(0);
    expect(done.stdout).toContain('rotated');

    f.sandbox.emulator.seedVersion(f.credential.secretId, JSON.stringify({ username: USER_A, password: 'Older-Pass-0000-a!' }), [STAGE.previous]);
    for (const simulator of f.sandbox.clusters.values()) simulator.dropUser(USER_B);
    const writes = f.sandbox.emulator.callCount('PutSecretValue');
    const needed = await cli('onboard', '--credential', 'app');
    expect(needed.code).toBe(3);
    expect(needed.stdout).toContain('onboarding_required');
    expect(needed.stdout).toContain('--version-stages AWSPREVIOUS');
    expect(f.sandbox.emulator.callCount('PutSecretValue')).toBe(writes);

    const wrong = await runCli(['onboard', '--credential', 'nope', '--config', file ?? ''], { env: f.sandbox.env, timeoutMs: BOUND_MS });
    expect(wrong.code).toBe(2);
  }, 60_000);
});
