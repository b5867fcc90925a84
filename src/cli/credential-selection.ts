import type { Config, CredentialConfig } from '../config/types.ts';
import { UsageError } from './usage-error.ts';

/** `--credential ID...` against the config (all when none given); an unknown id is a usage error. */
export function credentialsOrAll(config: Config, ids: string[] | undefined): CredentialConfig[] {
  if (!ids || ids.length === 0) return Object.values(config.credentials);
  const unknown = ids.filter((id) => !Object.hasOwn(config.credentials, id));
  if (unknown.length > 0) {
    throw new UsageError(`unknown credential ${unknown.map((u) => `"${u}"`).join(', ')}; configured: ${Object.keys(config.credentials).join(', ')}`);
  }
  return [...new Set(ids)].map((id) => config.credentials[id] as CredentialConfig);
}
