/**
 * Reproduction of a bug the chaos soak found (docs/reliability.md, "Findings"): `checkCredential`
 * (src/rotation/check-credential.ts), which `verify` and the reconcile job use, reports `drift`
 * (needs attention: the reconcile job sets the credential's needs-attention fact, which fires the
 * critical MilvusRotatorNeedsAttention alert, and `verify` exits 3) for a healthy credential while
 * a rotation of it is under way.
 *
 * Why: it reads the version labels (DescribeSecret) and AWSCURRENT (GetSecretValue) in parallel,
 * then probes every cluster with that AWSCURRENT. When a rotation writes AWSPENDING and sets the
 * clusters after the labels were read but before the probes, the probes are rejected and the
 * labels it holds show no pending version, so "rejected and no rotation in progress" = drift.
 * Nothing re-reads the labels after a rejection, and reconcile does not look at the credential lock.
 *
 * Here the window is opened deterministically with the sandbox's own fault injection: the check's
 * GetSecretValue is answered 400 ms late (as when the SDK backs off from a throttled call, which is
 * how the soak hit it), and the rotation's verification probe is held 800 ms, so that the check
 * probes between the rotation's set and finish steps. No client of ours is wrapped.
 *
 * Fixed in 0a888ee (the check reads the labels again before calling a rejection drift); kept as
 * the reproduction of the race, by hand:
 *
 *   node test/chaos/repro-check-race.ts      exit 1 while the bug is there, 0 once it is fixed
 */
import { randomUUID } from 'node:crypto';
import { checkCredential } from '../../src/rotation/check-credential.ts';
import { createEngineRuntime } from '../../src/rotation/create-engine.ts';
import { startSandbox } from '../../src/sandbox/sandbox.ts';
import { makeConfig } from '../helpers/config.ts';
import { FAST_TUNING } from '../helpers/rotation-fixture.ts';
import { endState } from './checker.ts';

const sandbox = await startSandbox(makeConfig(['west'], [{ id: 'app', username: 'app_user', clusters: ['west'] }]));
Object.assign(process.env, sandbox.env);
const runtime = createEngineRuntime(sandbox.config, { tuning: FAST_TUNING });
const credential = sandbox.config.credentials['app'];
const west = sandbox.clusters.get('west');
if (!credential || !west) throw new Error('sandbox not as expected');
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

try {
  // The check's AWSCURRENT read is slow; its DescribeSecret is not.
  sandbox.emulator.injectFault({ op: 'GetSecretValue', secretId: credential.secretId, fault: { kind: 'latency', ms: 400 } });
  const describesBefore = sandbox.emulator.callCount('DescribeSecret');
  const check = checkCredential({ store: runtime.store, cluster: runtime.cluster, staleAfterMs: 600_000 }, credential);
  while (sandbox.emulator.callCount('DescribeSecret') === describesBefore) await sleep(1);
  await sleep(20); // the check now holds the labels: no pending version

  // A healthy rotation starts; its verification probe of the new password is held 800 ms.
  west.injectFault({ route: 'probe', fault: { kind: 'latency', ms: 800 } });
  const rotation = runtime.engine.rotate({ credential, mode: 'scheduled', rotationId: randomUUID() });

  const verdict = await check;
  const result = await rotation;
  const end = endState(sandbox, [credential]);
  const line = (label: string, value: unknown): void => {
    process.stdout.write(`${label.padEnd(28)} ${JSON.stringify(value)}\n`);
  };
  line('check (verify / reconcile):', { status: verdict.status, clusters: verdict.clusters, pendingVersionId: verdict.pendingVersionId, error: verdict.error });
  line('rotation:', { outcome: result.outcome, reason: result.reason });
  line('end state:', end);
  const reproduced = verdict.status === 'drift' && result.outcome === 'rotated' && end.lost.length === 0 && end.notCurrent.length === 0;
  process.stdout.write(
    reproduced
      ? 'BUG REPRODUCED: drift (needs attention) reported for a healthy credential during its rotation\n'
      : 'not reproduced: the check did not report drift for a credential under rotation\n',
  );
  process.exitCode = reproduced ? 1 : 0;
} finally {
  runtime.close();
  await sandbox.close();
}
