import { randomUUID } from 'node:crypto';
import { usernamesOf, type Config, type RedisConfig } from '../../src/config/types.ts';
import { startSandbox, type Sandbox } from '../../src/sandbox/sandbox.ts';
import { FAST_WORKER, makeConfig, type CredentialSpec } from './config.ts';
import { writeConfigFile } from './config-file.ts';
import { findExposures } from './exposure.ts';
import { assertEndInvariants } from './invariants.ts';
import { runCli, type CliRun } from './run-cli.ts';
import { spawnWorker, type WorkerProcess } from './worker-process.ts';

/**
 * One Redis shape under test (TLS, ACL, cluster, sentinel): a sandbox (Milvus simulators, Secrets
 * Manager emulator) whose config points at that Redis, written to a file for the real CLI, and
 * the worker processes started on it. `close()` stops all of it.
 */
export interface ShapeHarness {
  sandbox: Sandbox;
  config: Config;
  configPath: string;
  startWorker: () => Promise<WorkerProcess>;
  /** Runs the real CLI (`node bin/milvus-rotator.js`) against this config, with a hard timeout. */
  cli: (args: string[], timeoutMs?: number) => Promise<CliRun>;
  /** Every password the sandbox saw (for exposure scans). */
  passwords: () => string[];
  /** Problems with the end state of every credential (docs/design.md section 5 invariants); empty when consistent. */
  endProblems: () => string[];
  close: () => Promise<void>;
}

export async function startShapeHarness(redis: Omit<RedisConfig, 'prefix' | 'connectTimeoutMs'> & { prefix?: string; connectTimeoutMs?: number }, credentials: CredentialSpec[], clusters = ['west'], worker: Partial<Config['worker']> = {}, rotation: Partial<Config['rotation']> = {}): Promise<ShapeHarness> {
  const base = makeConfig(clusters, credentials);
  const config: Config = {
    ...base,
    redis: { prefix: `{shape-${randomUUID().slice(0, 8)}}`, connectTimeoutMs: 5_000, ...redis },
    worker: { ...base.worker, ...FAST_WORKER, ...worker },
    rotation: { ...base.rotation, ...rotation },
  };
  const sandbox = await startSandbox(config);
  const configPath = writeConfigFile(sandbox.config);
  const workers: WorkerProcess[] = [];
  return {
    sandbox,
    config: sandbox.config,
    configPath,
    startWorker: async () => {
      const worker = spawnWorker(configPath, sandbox.env);
      workers.push(worker);
      await worker.waitForLine(/worker started/, 30_000);
      return worker;
    },
    cli: (args, timeoutMs = 30_000) => runCli([...args, '--config', configPath], { env: sandbox.env, timeoutMs }),
    passwords: () => {
      const seen = new Set<string>();
      for (const sim of sandbox.clusters.values()) for (const p of sim.passwordsSeen()) seen.add(p);
      for (const value of sandbox.emulator.valuesSeen()) {
        try {
          seen.add((JSON.parse(value) as { password: string }).password);
        } catch {
          // not a credential
        }
      }
      return [...seen];
    },
    endProblems: () => Object.values(sandbox.config.credentials).flatMap((credential) => assertEndInvariants(sandbox, credential, 'rotated').map((p) => `${credential.id}: ${p}`)),
    close: async () => {
      for (const worker of workers) {
        if (worker.child.exitCode === null && worker.child.signalCode === null) {
          worker.kill('SIGKILL');
          await worker.exited;
        }
      }
      await sandbox.close();
    },
  };
}

/** Where any sandbox password (in any exposure form) appears in `texts` (log lines, CLI output, Redis dumps). */
export function exposuresIn(harness: ShapeHarness, texts: string[]): string[] {
  return findExposures(texts, harness.passwords(), Object.values(harness.config.credentials).flatMap((c) => usernamesOf(c)));
}

/**
 * Two rotations of one credential at once, as Secrets Manager sees them: a PutSecretValue while
 * another version of the same secret is still pending (AWSPENDING on a version other than
 * AWSCURRENT). Resuming or adopting a pending version writes no new one, so this is empty unless
 * two rotations really overlapped. Returns the overlaps seen so far.
 */
export function watchOverlappingRotations(harness: ShapeHarness): { overlaps: string[]; puts: () => number; lastPromotedAt: (secretId: string) => number } {
  const overlaps: string[] = [];
  let puts = 0;
  /** When AWSCURRENT last moved to another version, per secret (a rotation finished, its own version or an adopted one). */
  const promotedAt = new Map<string, number>();
  const labels = new Map<string, Record<string, string[]>>();
  for (const credential of Object.values(harness.config.credentials)) labels.set(credential.secretId, harness.sandbox.emulator.labelsOf(credential.secretId));
  harness.sandbox.emulator.onWrite((event) => {
    const before = labels.get(event.secretName);
    if (!before) return;
    if (event.op === 'PutSecretValue') {
      puts++;
      const current = Object.keys(before).find((v) => before[v]?.includes('AWSCURRENT'));
      const pending = Object.keys(before).find((v) => before[v]?.includes('AWSPENDING') && v !== current);
      if (pending) overlaps.push(`${event.secretName}: a version was put while ${pending} was still pending`);
    }
    const after = harness.sandbox.emulator.labelsOf(event.secretName);
    const currentOf = (labels: Record<string, string[]>): string | undefined => Object.keys(labels).find((v) => labels[v]?.includes('AWSCURRENT'));
    if (currentOf(after) !== currentOf(before)) promotedAt.set(event.secretName, Date.now());
    labels.set(event.secretName, after);
  });
  return { overlaps, puts: () => puts, lastPromotedAt: (secretId) => promotedAt.get(secretId) ?? 0 };
}

/** Each cluster's password history per user is one line (every change starts where the last ended): no two rotations interleaved. */
export function nonLinearHistories(harness: ShapeHarness): string[] {
  const problems: string[] = [];
  for (const credential of Object.values(harness.config.credentials)) {
    for (const name of credential.clusters) {
      for (const user of usernamesOf(credential)) {
        const changes = harness.sandbox.clusters.get(name)?.changeLog.filter((c) => c.user === user) ?? [];
        for (let i = 1; i < changes.length; i++) if (changes[i]?.from !== changes[i - 1]?.to) problems.push(`${credential.id} (${user}) on ${name}: change #${i} did not start from the previous one's password`);
      }
    }
  }
  return problems;
}
