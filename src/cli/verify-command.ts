import type { Config } from '../config/types.ts';
import { checkCredential, exitCodeOfCheck, type CredentialCheck } from '../rotation/check-credential.ts';
import { createEngineRuntime } from '../rotation/create-engine.ts';
import { EXIT, worstExitCode, type ExitCode } from '../rotation/exit-code.ts';
import { boundedMap } from '../bounded-map.ts';
import { READ_CONCURRENCY } from './read-concurrency.ts';
import { credentialsOrAll } from './credential-selection.ts';
import type { OneShotContext } from './one-shot.ts';
import { formatAge, shortId, table } from './output.ts';
import { queuePendingOwner } from './queue-pending-owner.ts';

/**
 * `verify`: AWSCURRENT accepted on every cluster? a pending version nothing will finish? Exit 0, 1
 * or 3. Changes nothing. A young pending version is judged with the queue's knowledge of its
 * rotation (src/cli/queue-pending-owner.ts: Redis is asked then, and only then).
 */
export async function runVerify(config: Config, options: { credential?: string[]; json?: boolean }, io: { out: (line: string) => void }, context: OneShotContext): Promise<ExitCode> {
  const credentials = credentialsOrAll(config, options.credential);
  const runtime = createEngineRuntime(config);
  const pendingOwner = queuePendingOwner(config, context);
  let checks: CredentialCheck[];
  try {
    checks = await boundedMap(credentials, READ_CONCURRENCY, (credential) => checkCredential({ ...runtime, staleAfterMs: runtime.pendingLeaseMs, pendingOwner }, credential));
  } finally {
    runtime.close();
  }
  if (options.json) for (const check of checks) io.out(JSON.stringify(check));
  else io.out(renderChecks(checks));
  return checks.length === 0 ? EXIT.ok : worstExitCode(checks.map((c) => exitCodeOfCheck(c.status)));
}

export function renderChecks(checks: CredentialCheck[]): string {
  const rows = checks.map((c) => [
    c.credential,
    c.status,
    shortId(c.currentVersionId),
    c.pendingVersionId ? `${shortId(c.pendingVersionId)} (${c.pendingAgeMs === null ? 'age unknown' : formatAge(c.pendingAgeMs)})` : '-',
    Object.entries(c.clusters)
      .map(([name, answer]) => `${name}=${answer}`)
      .join(' '),
  ]);
  const notes = checks.filter((c) => c.error).map((c) => `${c.credential}: ${c.error}`);
  // Alternating credentials: which user is AWSCURRENT, and whether the retired one still logs in.
  const users = checks.flatMap((c) => {
    if (!c.users) return [];
    const previous = c.users.previous;
    const retired = previous ? `retired user ${previous.username}: ${Object.entries(previous.clusters).map(([name, answer]) => `${name}=${answer}`).join(' ')}` : 'no retired user yet (not onboarded)';
    return [`${c.credential}: AWSCURRENT user ${c.users.current}; ${retired}`];
  });
  return [table(['CREDENTIAL', 'STATUS', 'CURRENT', 'PENDING', 'CLUSTERS (AWSCURRENT)'], rows), ...users, ...notes].join('\n');
}
