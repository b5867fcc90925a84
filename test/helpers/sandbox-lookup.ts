import type { Config, CredentialConfig } from '../../src/config/types.ts';
import type { Sandbox } from '../../src/sandbox/sandbox.ts';
import { STAGE } from '../../src/secrets/types.ts';
import { passwordUnder } from './invariants.ts';

/** A configured credential, or a thrown error naming the id. */
export function credentialOf(config: Config, id: string): CredentialConfig {
  const found = Object.hasOwn(config.credentials, id) ? config.credentials[id] : undefined;
  if (!found) throw new Error(`no credential ${id}`);
  return found;
}

/** The password under the credential's AWSCURRENT in the sandbox's emulator. */
export function currentPassword(sandbox: Sandbox, config: Config, id: string): string {
  const password = passwordUnder(sandbox, credentialOf(config, id).secretId, STAGE.current);
  if (!password) throw new Error(`no AWSCURRENT for ${id}`);
  return password;
}
