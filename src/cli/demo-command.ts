import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../config/load.ts';
import { STRATEGY, usernamesOf, type Config, type CredentialConfig } from '../config/types.ts';
import { checkCredential, exitCodeOfCheck } from '../rotation/check-credential.ts';
import { createEngineRuntime, type EngineRuntime } from '../rotation/create-engine.ts';
import { EXIT, exitCodeOf, worstExitCode, type ExitCode } from '../rotation/exit-code.ts';
import { parseCredentialSecret } from '../rotation/secret-value.ts';
import { MODE } from '../rotation/types.ts';
import { startSandbox } from '../sandbox/sandbox.ts';
import { STAGE } from '../secrets/types.ts';
import { renderResults } from './rotate-command.ts';
import { renderChecks } from './verify-command.ts';
import { shortId, table } from './output.ts';

const SAMPLE_CONFIG = fileURLToPath(new URL('../../examples/sandbox.yaml', import.meta.url));
const DEMO_CREDENTIAL = 'app-reader';
/** The sample's alternating credential (two users taking turns). */
const DEMO_ALTERNATING = 'app-search';

/**
 * `demo`: the sandbox in this process (a Secrets Manager emulator and two Milvus simulators on
 * free ports), then a real rotation through the real clients over HTTP: before, rotate, after,
 * verify. Passwords are never printed: the tables say which version's password a cluster accepts.
 */
export async function runDemo(io: { out: (line: string) => void }): Promise<ExitCode> {
  const sample = loadConfig(SAMPLE_CONFIG, { ...process.env, ROTATOR_TRIGGER_TOKEN: 'demo-trigger-token-0123456789', ROTATOR_WEBHOOK_SECRET: 'demo-webhook-secret' });
  const sandbox = await startSandbox(sample);
  Object.assign(process.env, sandbox.env);
  const credential = sandbox.config.credentials[DEMO_CREDENTIAL] as CredentialConfig;
  const runtime = createEngineRuntime(sandbox.config);
  try {
    io.out(`sandbox: Secrets Manager emulator at ${sandbox.emulator.url}`);
    for (const [name, simulator] of sandbox.clusters) io.out(`sandbox: cluster ${name} at ${simulator.url}`);
    io.out('');
    io.out(`== before: credential ${credential.id} (${credential.strategy}: ${usernamesOf(credential).join(', ')}, secret ${credential.secretId})`);
    io.out(await describeState(runtime, credential));

    io.out('');
    io.out(`== rotate --credential ${credential.id}`);
    const { result, check } = await rotateShowVerify(io, runtime, credential);
    const alternating = await demoAlternating(io, sandbox.config.credentials[DEMO_ALTERNATING], sandbox.config);
    const code = worstExitCode([exitCodeOf(result.outcome), exitCodeOfCheck(check.status), alternating]);
    io.out('');
    io.out(code === EXIT.ok ? 'demo: rotated and verified; the old password is dead on both clusters.' : `demo: FAILED (exit ${code})`);
    if (alternating === EXIT.ok) io.out('demo: the alternating credential switched users; the retired user still logs in on both clusters.');
    return code;
  } finally {
    runtime.close();
    await sandbox.close();
  }
}

/**
 * The alternating credential: before (which user is AWSCURRENT, both users logging in), one
 * rotation, after (the users swapped, the retired one still accepted), verify. The sandbox seeded
 * the secret a moment ago, so a rotation now would be refused by the grace (`grace_not_elapsed`):
 * this part runs its engine on a clock `graceMs` ahead, as if the seed had been promoted that long ago.
 */
async function demoAlternating(io: { out: (line: string) => void }, credential: CredentialConfig | undefined, config: Config): Promise<ExitCode> {
  if (!credential || credential.strategy !== STRATEGY.alternating) return EXIT.ok;
  const { graceMs } = credential;
  const runtime = createEngineRuntime(config, { now: () => Date.now() + graceMs });
  try {
    io.out('');
    io.out(`== before: credential ${credential.id} (alternating: ${credential.usernames.join(', ')}, secret ${credential.secretId})`);
    io.out(await describeState(runtime, credential));
    io.out('');
    io.out(`== rotate --credential ${credential.id}   (demo clock +${graceMs} ms: the grace since the seed has passed)`);
    const { result, check } = await rotateShowVerify(io, runtime, credential);
    return worstExitCode([exitCodeOf(result.outcome), exitCodeOfCheck(check.status)]);
  } finally {
    runtime.close();
  }
}

/** One manual rotation, its result table (and who is AWSCURRENT now, for two users), the state after, and verify. */
async function rotateShowVerify(io: { out: (line: string) => void }, runtime: EngineRuntime, credential: CredentialConfig) {
  const result = await runtime.engine.rotate({ credential, mode: MODE.manual, rotationId: randomUUID() });
  io.out(renderResults([result]));
  if (result.alternating) io.out(`AWSCURRENT is now ${result.alternating.currentUser}; ${result.alternating.previousUser ?? '-'} is AWSPREVIOUS and keeps working until the next rotation`);
  io.out('');
  io.out('== after');
  io.out(await describeState(runtime, credential));
  io.out('');
  io.out('== verify');
  const check = await checkCredential(runtime, credential);
  io.out(renderChecks([check]));
  return { result, check };
}

/** Versions and labels, then which labelled password each cluster accepts, masked. */
async function describeState(runtime: EngineRuntime, credential: CredentialConfig): Promise<string> {
  const versions = await runtime.store.listVersions(credential.secretId);
  const versionRows = versions.map((v) => [shortId(v.versionId), v.stages.join(','), v.createdDate?.toISOString() ?? '-']);
  const labelled: { stage: string; versionId: string; username: string; password: string }[] = [];
  for (const stage of [STAGE.current, STAGE.previous]) {
    const version = await runtime.store.getByStage(credential.secretId, stage);
    const secret = version ? parseCredentialSecret(version.value) : null;
    if (version && secret) labelled.push({ stage, versionId: version.versionId, username: secret.username, password: secret.password });
  }
  const clusterRows = await Promise.all(
    credential.clusters.map(async (name) => {
      const cells = await Promise.all(
        labelled.map(async ({ stage, versionId, username, password }) => {
          const answer = await runtime.cluster(name).probe(username, password);
          return `${stage}@${shortId(versionId)} ${username} ${mask(password)} ${answer.kind}`;
        }),
      );
      return [name, cells.join('   ')];
    }),
  );
  return [table(['VERSION', 'LABELS', 'CREATED'], versionRows), '', table(['CLUSTER', 'PASSWORDS TRIED'], clusterRows)].join('\n');
}

/** Never shows a character of a password: only its length. */
function mask(password: string): string {
  return `[${password.length} chars]`;
}
