import type { Sandbox } from '../../src/sandbox/sandbox.ts';
import { STRATEGY, usernamesOf, type CredentialConfig } from '../../src/config/types.ts';
import { STAGE } from '../../src/secrets/types.ts';

/**
 * docs/design.md section 5, first invariant: at every instant, each cluster's real password is one of the
 * values stored under AWSCURRENT, AWSPENDING or AWSPREVIOUS; for an alternating credential, per
 * user (one of the values stored for that user). Checked synchronously at the instant of every
 * password change the simulators record. Returns the violations seen so far.
 */
export function watchStoredPasswordInvariant(sandbox: Sandbox, credential: CredentialConfig): { violations: string[]; stop: () => void } {
  const violations: string[] = [];
  const users = usernamesOf(credential);
  const unsubscribes = credential.clusters.map((name) => {
    const simulator = sandbox.clusters.get(name);
    if (!simulator) throw new Error(`no simulator for ${name}`);
    return simulator.onChange((change) => {
      if (!users.includes(change.user) || change.to === null) return;
      const stored = storedPasswordsOf(sandbox, credential.secretId, change.user);
      if (!stored.includes(change.to)) violations.push(`${name}: change #${change.seq} set a password of ${change.user} held under no label for that user`);
    });
  });
  return { violations, stop: () => unsubscribes.forEach((u) => u()) };
}

/** Passwords under AWSCURRENT, AWSPENDING, AWSPREVIOUS right now. */
export function storedPasswords(sandbox: Sandbox, secretId: string): string[] {
  const out: string[] = [];
  for (const stage of [STAGE.current, STAGE.pending, STAGE.previous]) {
    const value = sandbox.emulator.valueUnder(secretId, stage);
    if (value) out.push((JSON.parse(value) as { password: string }).password);
  }
  return out;
}

/** Passwords of `user` under AWSCURRENT, AWSPENDING, AWSPREVIOUS right now. */
export function storedPasswordsOf(sandbox: Sandbox, secretId: string, user: string): string[] {
  const out: string[] = [];
  for (const stage of [STAGE.current, STAGE.pending, STAGE.previous]) {
    const value = sandbox.emulator.valueUnder(secretId, stage);
    if (!value) continue;
    const parsed = JSON.parse(value) as { username: string; password: string };
    if (parsed.username === user) out.push(parsed.password);
  }
  return out;
}

export function passwordUnder(sandbox: Sandbox, secretId: string, stage: string): string | undefined {
  const value = sandbox.emulator.valueUnder(secretId, stage);
  return value ? (JSON.parse(value) as { password: string }).password : undefined;
}

/** `{username, password}` under a label, or undefined. */
export function credentialUnder(sandbox: Sandbox, secretId: string, stage: string): { username: string; password: string } | undefined {
  const value = sandbox.emulator.valueUnder(secretId, stage);
  return value ? (JSON.parse(value) as { username: string; password: string }) : undefined;
}

/**
 * The invariants after an outcome. Every cluster holds a stored password for each user (always),
 * and, for any outcome but needs_attention, every cluster accepts AWSCURRENT; for an alternating
 * credential the user under AWSPREVIOUS must still hold its password too (consumers may use it).
 */
export function assertEndInvariants(sandbox: Sandbox, credential: CredentialConfig, outcome: string): string[] {
  const problems: string[] = [];
  const current = credentialUnder(sandbox, credential.secretId, STAGE.current);
  const previous = credentialUnder(sandbox, credential.secretId, STAGE.previous);
  for (const name of credential.clusters) {
    const simulator = sandbox.clusters.get(name);
    for (const user of usernamesOf(credential)) {
      const held = simulator?.passwordOf(user);
      if (held === undefined) {
        // An alternating credential's second user may not exist yet (before onboarding).
        if (credential.strategy === STRATEGY.single || current?.username === user || previous?.username === user) problems.push(`${name}: ${user} does not exist`);
        continue;
      }
      if (!storedPasswordsOf(sandbox, credential.secretId, user).includes(held)) problems.push(`${name}: ${user} holds a password under no label for that user`);
    }
    if (outcome === 'needs_attention') continue;
    if (current && simulator?.passwordOf(current.username) !== current.password) problems.push(`${name} does not hold AWSCURRENT after ${outcome}`);
    if (credential.strategy === STRATEGY.alternating && previous && previous.username !== current?.username && simulator?.passwordOf(previous.username) !== previous.password) {
      problems.push(`${name}: the retired user ${previous.username} does not hold AWSPREVIOUS after ${outcome}`);
    }
  }
  return problems;
}
