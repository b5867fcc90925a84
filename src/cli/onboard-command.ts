import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { STRATEGY, type AlternatingCredentialConfig, type Config } from '../config/types.ts';
import { logRotationEvents } from '../observability/rotation-log.ts';
import { otherUser } from '../rotation/alternating-plan.ts';
import { createEngineRuntime } from '../rotation/create-engine.ts';
import { EXIT, exitCodeOf, type ExitCode } from '../rotation/exit-code.ts';
import { parseCredentialSecret } from '../rotation/secret-value.ts';
import { MODE, OUTCOME, REASON, type RotationResult } from '../rotation/types.ts';
import { STAGE } from '../secrets/types.ts';
import { credentialsOrAll } from './credential-selection.ts';
import { renderResults } from './rotate-command.ts';
import { UsageError } from './usage-error.ts';

/**
 * `onboard --credential ID`: brings the second user of an alternating credential in, from a
 * single-user secret. The cases:
 *  1. AWSPREVIOUS already holds the other user's credential: onboarded; nothing to do (exit 0).
 *  2. With `admin`: the onboarding rotation (create the user with the first one's roles, promote it).
 *  3. Without `admin`: needs attention (exit 3): print what the operator must do (the runbook).
 * It is what the first rotation does too; this command only runs that first step on purpose.
 */
export async function runOnboard(config: Config, options: { credential: string; json?: boolean }, io: { out: (line: string) => void; logger: Logger }): Promise<ExitCode> {
  const [credential] = credentialsOrAll(config, [options.credential]);
  if (!credential) throw new UsageError(`unknown credential "${options.credential}"`);
  if (credential.strategy !== STRATEGY.alternating) throw new UsageError(`credential "${credential.id}" uses strategy ${credential.strategy}; onboard is for strategy: alternating`);
  const runtime = createEngineRuntime(config, { onEvent: logRotationEvents(io.logger) });
  let result: RotationResult;
  try {
    const [current, previous] = await Promise.all([
      runtime.store.getByStage(credential.secretId, STAGE.current),
      runtime.store.getByStage(credential.secretId, STAGE.previous),
    ]);
    const active = current ? parseCredentialSecret(current.value) : null;
    const retired = previous ? parseCredentialSecret(previous.value) : null;
    const second = active ? otherUser(credential.usernames, active.username) : null;
    if (active && second && retired?.username === second) {
      // Case 1.
      result = onboarded(credential, active.username, second, current?.versionId ?? null);
    } else {
      // Cases 2 and 3: the strategy decides (onboarding with admin, onboarding_required without).
      result = await runtime.engine.rotate({ credential, mode: MODE.manual, rotationId: randomUUID() });
    }
  } finally {
    runtime.close();
  }
  if (options.json) io.out(JSON.stringify(result));
  else {
    io.out(renderResults([result]));
    if (result.reason === REASON.onboardingRequired) io.out(instructions(credential, result.alternating?.currentUser ?? credential.usernames[0]));
  }
  return exitCodeOf(result.outcome);
}

function onboarded(credential: AlternatingCredentialConfig, active: string, retired: string, versionId: string | null): RotationResult {
  return {
    credential: credential.id,
    outcome: OUTCOME.rotated,
    reason: REASON.nothingPending,
    mode: MODE.manual,
    rotationId: randomUUID(),
    versionId,
    clusters: {},
    durationMs: 0,
    alternating: { currentUser: active, previousUser: retired, turns: 0 },
  };
}

/** What an operator does without admin (docs/operations.md has the full procedure). */
function instructions(credential: AlternatingCredentialConfig, active: string): string {
  const second = otherUser(credential.usernames, active);
  return [
    '',
    `To onboard ${second} without admin (docs/operations.md, "Onboarding an alternating credential"):`,
    `  1. store its credential once under AWSPREVIOUS (a password only you have seen; the first rotation replaces it):`,
    `     aws secretsmanager put-secret-value --secret-id ${credential.secretId} --version-stages AWSPREVIOUS --secret-string file://${second}.json`,
    `  2. create ${second} with that password on ${credential.clusters.join(', ')}, with the roles of ${active};`,
    `  3. run: milvus-rotator onboard --credential ${credential.id}   (or wait for the first rotation)`,
  ].join('\n');
}
