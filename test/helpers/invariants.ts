import type { Sandbox } from '../../src/sandbox/sandbox.ts';
import type { SingleCredentialConfig } from '../../src/config/types.ts';
import { STAGE } from '../../src/secrets/types.ts';

/**
 * DESIGN section 5, first invariant: at every instant, each cluster's real password is one of the
 * values stored under AWSCURRENT, AWSPENDING or AWSPREVIOUS. Checked synchronously at the instant
 * of every password change the simulators record. Returns the violations seen so far.
 */
export function watchStoredPasswordInvariant(sandbox: Sandbox, credential: SingleCredentialConfig): { violations: string[]; stop: () => void } {
  const violations: string[] = [];
  const unsubscribes = credential.clusters.map((name) => {
    const simulator = sandbox.clusters.get(name);
    if (!simulator) throw new Error(`no simulator for ${name}`);
    return simulator.onChange((change) => {
      if (change.user !== credential.username || change.to === null) return;
      const stored = storedPasswords(sandbox, credential.secretId);
      if (!stored.includes(change.to)) violations.push(`${name}: change #${change.seq} set a password held under no label`);
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

export function passwordUnder(sandbox: Sandbox, secretId: string, stage: string): string | undefined {
  const value = sandbox.emulator.valueUnder(secretId, stage);
  return value ? (JSON.parse(value) as { password: string }).password : undefined;
}

/**
 * The invariants after an outcome. Every cluster holds a stored password (always), and, for any
 * outcome but needs_attention, every cluster holds the password under AWSCURRENT.
 */
export function assertEndInvariants(sandbox: Sandbox, credential: SingleCredentialConfig, outcome: string): string[] {
  const problems: string[] = [];
  const stored = storedPasswords(sandbox, credential.secretId);
  const current = passwordUnder(sandbox, credential.secretId, STAGE.current);
  for (const name of credential.clusters) {
    const held = sandbox.clusters.get(name)?.passwordOf(credential.username);
    if (held === undefined || !stored.includes(held)) problems.push(`${name} holds a password under no label`);
    if (outcome !== 'needs_attention' && held !== current) problems.push(`${name} does not hold AWSCURRENT after ${outcome}`);
  }
  return problems;
}
