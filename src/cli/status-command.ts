import type { Config } from '../config/types.ts';
import { createEngineRuntime } from '../rotation/create-engine.ts';
import { EXIT, type ExitCode } from '../rotation/exit-code.ts';
import { statusOf, type CredentialStatus } from '../rotation/credential-status.ts';
import { boundedMap } from '../bounded-map.ts';
import { READ_CONCURRENCY } from './read-concurrency.ts';
import { credentialsOrAll } from './credential-selection.ts';
import { formatAge, shortId, table } from './output.ts';

/**
 * `status`: per credential, from version metadata only (ListSecretVersionIds reads no value, so
 * no password is even fetched): last rotation and its age, version ids, pending, next run.
 */
export async function runStatus(config: Config, options: { credential?: string[]; json?: boolean }, io: { out: (line: string) => void }): Promise<ExitCode> {
  const credentials = credentialsOrAll(config, options.credential);
  const runtime = createEngineRuntime(config);
  let statuses: CredentialStatus[];
  try {
    statuses = await boundedMap(credentials, READ_CONCURRENCY, (credential) => statusOf(runtime.store, credential, Date.now()));
  } finally {
    runtime.close();
  }
  if (options.json) for (const s of statuses) io.out(JSON.stringify(s));
  else io.out(renderStatuses(statuses));
  return statuses.some((s) => s.error) ? EXIT.failed : EXIT.ok;
}

export function renderStatuses(statuses: CredentialStatus[]): string {
  const rows = statuses.map((s) => [
    s.credential,
    shortId(s.currentVersionId),
    s.ageMs === null ? '-' : formatAge(s.ageMs),
    shortId(s.previousVersionId),
    // Unread versions say nothing about a pending one: `-`, not `no`.
    s.pendingVersionId ? `${shortId(s.pendingVersionId)} (${s.pendingAgeMs === null ? '?' : formatAge(s.pendingAgeMs)})` : s.error ? '-' : 'no',
    s.nextRunAt ?? 'off',
  ]);
  const notes = statuses.filter((s) => s.error).map((s) => `${s.credential}: ${s.error}`);
  return [table(['CREDENTIAL', 'CURRENT', 'AGE', 'PREVIOUS', 'PENDING', 'NEXT RUN'], rows), ...notes].join('\n');
}
