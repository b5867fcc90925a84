import { randomUUID } from 'node:crypto';
import type { AlternatingCredentialConfig, Config } from '../../src/config/types.ts';
import { generatePassword } from '../../src/password/generate.ts';
import { createEngineRuntime, type EngineRuntime } from '../../src/rotation/create-engine.ts';
import type { EngineDeps } from '../../src/rotation/engine.ts';
import type { Mode, RotationEvent, RotationResult } from '../../src/rotation/types.ts';
import { startSandbox, type Sandbox } from '../../src/sandbox/sandbox.ts';
import { makeConfig } from './config.ts';
import { FAST_TUNING } from './rotation-fixture.ts';

export const USER_A = 'app_a';
export const USER_B = 'app_b';
export const ADMIN_USER = 'rotator_admin';
/** The role both users hold at the start on every cluster. */
export const APP_ROLE = 'app_rw';

export type AlternatingConfig = Config & { credentials: Readonly<Record<string, AlternatingCredentialConfig>> };

export interface AlternatingFixture {
  sandbox: Sandbox<AlternatingConfig>;
  credential: AlternatingCredentialConfig;
  events: RotationEvent[];
  results: RotationResult[];
  /** The admin's password (when admin is configured). */
  adminPassword: string | null;
  /**
   * The engines' clock is real time plus `offsetMs`. It starts at 3 h: the seeded secret then
   * looks promoted 3 h ago, past the default 2 h grace. Tests move it to test the grace. The
   * emulator's clock (its CreatedDate and LastChangedDate) is real time plus `secretsOffsetMs`
   * (0 at the start), for tests that need time to pass between two writes.
   */
  clock: { offsetMs: number; secretsOffsetMs: number };
  engine: (extra?: Pick<EngineDeps, 'fence' | 'tuning' | 'now'>) => EngineRuntime;
  rotate: (options?: { mode?: Mode; rotationId?: string; leakedUsername?: string; recover?: boolean; runtime?: EngineRuntime }) => Promise<RotationResult>;
  close: () => Promise<void>;
}

/** An alternating config: one credential `app` with users app_a and app_b on `clusters`. */
export function makeAlternatingConfig(clusters: string[], options: { graceMs?: number; admin?: boolean } = {}): AlternatingConfig {
  const base = makeConfig(clusters, [{ id: 'app', username: USER_A, clusters }]);
  const single = base.credentials['app'];
  if (!single) throw new Error('no credential');
  const { username: _username, ...rest } = single;
  const credential: AlternatingCredentialConfig = {
    ...rest,
    strategy: 'alternating',
    usernames: [USER_A, USER_B],
    graceMs: options.graceMs ?? 7_200_000,
    ...(options.admin ? { admin: { secretId: 'test/milvus/rotator-admin' } } : {}),
  };
  return { ...base, credentials: { app: credential } };
}

/**
 * A sandbox with one alternating credential, onboarded (AWSCURRENT app_a, AWSPREVIOUS app_b, both
 * holding role app_rw on every cluster), optionally an admin user (role admin) whose credential
 * is the admin secret; and engines over fresh clients that record events and results.
 */
export async function startAlternatingFixture(options: { clusters?: string[]; graceMs?: number; admin?: boolean } = {}): Promise<AlternatingFixture> {
  const clusters = options.clusters ?? ['west', 'east'];
  const clock = { offsetMs: 3 * 3_600_000, secretsOffsetMs: 0 };
  const sandbox = await startSandbox(makeAlternatingConfig(clusters, options), { secretsNow: () => Date.now() + clock.secretsOffsetMs });
  Object.assign(process.env, sandbox.env);
  const credential = sandbox.config.credentials['app'];
  if (!credential) throw new Error('no credential');
  let adminPassword: string | null = null;
  for (const simulator of sandbox.clusters.values()) {
    simulator.setRoles(USER_A, [APP_ROLE]);
    simulator.setRoles(USER_B, [APP_ROLE]);
  }
  if (credential.admin) {
    adminPassword = generatePassword(credential.password);
    for (const simulator of sandbox.clusters.values()) {
      simulator.setPassword(ADMIN_USER, adminPassword);
      simulator.setRoles(ADMIN_USER, ['admin']);
    }
    sandbox.emulator.seedSecret(credential.admin.secretId, JSON.stringify({ username: ADMIN_USER, password: adminPassword }));
  }
  const events: RotationEvent[] = [];
  const results: RotationResult[] = [];
  const runtimes: EngineRuntime[] = [];
  const engine: AlternatingFixture['engine'] = (extra = {}) => {
    const runtime = createEngineRuntime(sandbox.config, { now: () => Date.now() + clock.offsetMs, ...extra, tuning: { ...FAST_TUNING, ...extra.tuning }, onEvent: (event) => events.push(event) });
    runtimes.push(runtime);
    return runtime;
  };
  const rotate: AlternatingFixture['rotate'] = async (opts = {}) => {
    const runtime = opts.runtime ?? engine();
    const result = await runtime.engine.rotate({
      credential,
      mode: opts.mode ?? 'manual',
      rotationId: opts.rotationId ?? randomUUID(),
      ...(opts.leakedUsername ? { leakedUsername: opts.leakedUsername } : {}),
      ...(opts.recover ? { recover: true } : {}),
    });
    results.push(result);
    return result;
  };
  return {
    sandbox,
    credential,
    events,
    results,
    adminPassword,
    clock,
    engine,
    rotate,
    close: async () => {
      for (const runtime of runtimes) runtime.close();
      await sandbox.close();
    },
  };
}
