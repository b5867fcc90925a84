/**
 * Reconcile within its Secrets Manager budget and within its stated bounds, on a fake clock: each
 * pass is run at `now = t0 + k * reconcileIntervalMs` (no waiting: the pass's spreading sleep is
 * injected), against the real emulator, real Milvus simulators and a real Redis.
 *
 * Bounds (docs/operations.md "Sizing"): a stale pending version of a rotation this fleet started
 * within pendingLeaseMs + reconcileIntervalMs; one written outside the fleet within
 * labelCheckIntervalMs + reconcileIntervalMs; drift within driftCheckIntervalMs + reconcileIntervalMs.
 * Alternating credentials: the users and grace gauges from the drift read alone, and the retired
 * user probed during its grace only (the one extra GetSecretValue).
 */
import { randomUUID } from 'node:crypto';
import type { Queue } from 'bullmq';
import pino from 'pino';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { processReconcile, type ReconcileReport } from '../jobs/reconcile.ts';
import { DEFAULTS } from '../src/config/schema.ts';
import type { Config } from '../src/config/types.ts';
import { createEngineRuntime } from '../src/rotation/create-engine.ts';
import { fenceLabel } from '../src/rotation/fence-point.ts';
import { startSandbox, type Sandbox } from '../src/sandbox/sandbox.ts';
import { startWorker, type RunningWorker } from '../src/worker.ts';
import { USER_A, USER_B, makeAlternatingConfig } from './helpers/alternating-fixture.ts';
import { makeConfig, type CredentialSpec } from './helpers/config.ts';
import { assertEndInvariants } from './helpers/invariants.ts';
import { waitFor } from './helpers/wait-for.ts';

const silent = pino({ level: 'silent' });
const sandboxes: Sandbox[] = [];
const workers: RunningWorker[] = [];
const TICK_MS = 300_000;

afterEach(async () => {
  for (const worker of workers.splice(0)) await worker.close();
  for (const sandbox of sandboxes.splice(0)) await sandbox.close();
});

async function setUp(clusters: string[], credentials: CredentialSpec[], pendingLeaseMs: number): Promise<{ sandbox: Sandbox; worker: RunningWorker; config: Config }> {
  const base = makeConfig(clusters, credentials);
  const config: Config = {
    ...base,
    redis: { url: inject('redisUrl'), prefix: `{reconcile-${randomUUID().slice(0, 8)}}`, connectTimeoutMs: 10_000 },
    worker: { ...base.worker, concurrency: 2, lockDurationMs: 2_000, stalledIntervalMs: 1_000, credentialLockTtlMs: 2_000, shutdownTimeoutMs: 8_000, reconcileIntervalMs: TICK_MS },
    rotation: { ...base.rotation, pendingLeaseMs },
  };
  const sandbox = await startSandbox(config);
  sandboxes.push(sandbox);
  Object.assign(process.env, sandbox.env);
  const worker = await startWorker(sandbox.config, silent, { syncSchedules: false });
  workers.push(worker);
  return { sandbox, worker, config: sandbox.config };
}

/** One pass at fake time `nowMs`. */
function pass(worker: RunningWorker, config: Config, nowMs: number): Promise<ReconcileReport> {
  return processReconcile({
    config,
    runtime: worker.runtime,
    rotations: worker.rotations,
    credentialState: worker.credentialState,
    reconcileState: worker.reconcileState,
    feed: worker.feed,
    logger: silent,
    now: () => nowMs,
    sleep: async () => {},
  });
}

/** Passes every TICK_MS from t0 until `found` says so; the fake time it took, or null past `boundMs`. */
async function passesUntil(worker: RunningWorker, config: Config, t0: number, boundMs: number, found: (r: ReconcileReport) => boolean): Promise<{ afterMs: number; report: ReconcileReport } | null> {
  for (let elapsed = 0; elapsed <= boundMs; elapsed += TICK_MS) {
    const report = await pass(worker, config, t0 + elapsed);
    if (found(report)) return { afterMs: elapsed, report };
  }
  return null;
}

async function idle(queue: Queue): Promise<boolean> {
  const counts = await queue.getJobCounts('waiting', 'prioritized', 'active', 'delayed');
  return Object.values(counts).every((n) => n === 0);
}


describe('reconcile: bounds on a fake clock', () => {
  it('resumes a stale pending version left by a run outside the fleet (a killed CLI run) within labelCheckIntervalMs + one pass', async () => {
    const { sandbox, worker, config } = await setUp(['west', 'east'], [{ id: 'stale', username: 'stale_user', clusters: ['west', 'east'] }], 1_000);
    const credential = config.credentials.stale!;
    const crashed = randomUUID();
    const crashing = createEngineRuntime(config).engineFor({
      fence: async (point) => {
        if (fenceLabel(point) === 'update-password:east') throw new Error('killed');
      },
    });
    await expect(crashing.rotate({ credential, mode: 'scheduled', rotationId: crashed })).rejects.toThrow('killed');
    await new Promise((resolve) => setTimeout(resolve, 1_100));

    const bound = (config.worker.labelCheckIntervalMs ?? DEFAULTS.worker.labelCheckIntervalMs) + TICK_MS;
    const t0 = Date.now();
    const found = await passesUntil(worker, config, t0, bound, (r) => r.resumed.length > 0);
    expect(found?.report.resumed).toEqual(['stale']);
    expect(found!.afterMs).toBeLessThanOrEqual(bound);
    await waitFor(() => idle(worker.rotations.queue), 20_000, 'the resumed rotation');
    expect(sandbox.emulator.labelsOf(credential.secretId)[crashed]).toContain('AWSCURRENT');
    expect(assertEndInvariants(sandbox, credential, 'rotated')).toEqual([]);
    // Nothing left to resume, and no drift, for a whole label interval more.
    const again = await passesUntil(worker, config, t0 + found!.afterMs + TICK_MS, bound, (r) => r.resumed.length > 0 || r.drift.length > 0);
    expect(again).toBeNull();
  });

  it('resumes a stale pending version of a rotation this fleet started once its lease has passed, not before (no label check needed)', async () => {
    const lease = 600_000;
    const { worker, config, sandbox } = await setUp(['west'], [{ id: 'ours', username: 'ours_user', clusters: ['west'] }], lease);
    const credential = config.credentials.ours!;
    const t0 = Date.now();
    // Past its first label check, so only the rotation marker can find the pending version.
    await worker.reconcileState.recordChecks('labels', new Map([['ours', t0]]));
    await worker.reconcileState.recordChecks('drift', new Map([['ours', t0]]));
    await worker.reconcileState.markRotation('ours', t0); // what the rotate job records when it starts
    const crashing = createEngineRuntime(config).engineFor({
      fence: async (point) => {
        if (fenceLabel(point).startsWith('update-password')) throw new Error('killed');
      },
    });
    await expect(crashing.rotate({ credential, mode: 'scheduled', rotationId: randomUUID() })).rejects.toThrow('killed');

    const callsBefore = sandbox.emulator.callCount();
    const early = await pass(worker, config, t0 + TICK_MS);
    expect(early.resumed).toEqual([]);
    expect(sandbox.emulator.callCount()).toBe(callsBefore); // nothing due: a pass costs no call
    const found = await passesUntil(worker, config, t0 + 2 * TICK_MS, lease + TICK_MS, (r) => r.resumed.length > 0);
    expect(found?.report.resumed).toEqual(['ours']);
    expect(2 * TICK_MS + found!.afterMs).toBeLessThanOrEqual(lease + TICK_MS);
    expect(found?.report.labelsChecked).toBe(1);
  });

  it('reports drift (AWSCURRENT rejected by a cluster) within driftCheckIntervalMs + one pass, without rotating; every credential drift-checked once per interval', async () => {
    const ids = ['d0', 'd1', 'd2', 'd3', 'd4', 'd5'];
    const { sandbox, worker, config } = await setUp(['west'], ids.map((id) => ({ id, username: `${id}_user`, clusters: ['west'] })), 600_000);
    sandbox.clusters.get('west')!.setPassword('d3_user', 'Changed-By-Hand-123!');
    const interval = config.worker.driftCheckIntervalMs ?? DEFAULTS.worker.driftCheckIntervalMs;
    const t0 = Date.now();
    const driftChecks = new Map<number, number>();
    let drifted: { afterMs: number; report: ReconcileReport } | null = null;
    for (let elapsed = 0; elapsed <= interval + TICK_MS; elapsed += TICK_MS) {
      const report = await pass(worker, config, t0 + elapsed);
      driftChecks.set(elapsed, report.driftChecked + (report.drift.includes('d3') ? 1 : 0));
      if (report.drift.includes('d3') && drifted === null) drifted = { afterMs: elapsed, report };
    }
    expect(drifted?.report.drift).toEqual(['d3']);
    expect(drifted!.afterMs).toBeLessThanOrEqual(interval + TICK_MS);
    // Spread: one interval of passes checks each credential once, never all in one pass.
    const total = [...driftChecks.values()].reduce((a, b) => a + b, 0);
    expect(total).toBeGreaterThanOrEqual(ids.length);
    expect(total).toBeLessThanOrEqual(2 * ids.length);
    expect(Math.max(...driftChecks.values())).toBeLessThan(ids.length);
    expect(await worker.rotations.queue.count()).toBe(0);
    expect(await worker.metrics.registry.metrics()).toMatch(/milvus_rotator_needs_attention\{credential="d3"\} 1/);
  });
});

describe('reconcile: alternating credentials', () => {
  const GRACE_MS = 7_200_000;
  const gauge = (text: string, series: string): number | undefined => {
    const line = text.split('\n').find((l) => l.startsWith(`${series} `));
    return line === undefined ? undefined : Number(line.slice(series.length + 1));
  };
  const activeUser = (user: string) => `milvus_rotator_alternating_active_user{credential="app",username="${user}"}`;
  const graceEnd = 'milvus_rotator_alternating_grace_end_timestamp_seconds{credential="app"}';

  /** A worker with alternating credential `app` (AWSCURRENT app_a, AWSPREVIOUS app_b, just seeded) and single credential `solo`; only app's drift check is due at `t0`. */
  async function setUpAlternating(): Promise<{ sandbox: Sandbox; worker: RunningWorker; config: Config; t0: number; seeded: { from: number; to: number } }> {
    const base = makeAlternatingConfig(['west', 'east'], { graceMs: GRACE_MS });
    const solo = makeConfig(['west'], [{ id: 'solo', username: 'solo_user', clusters: ['west'] }]).credentials['solo'];
    if (!solo) throw new Error('no solo credential');
    const config: Config = {
      ...base,
      credentials: { ...base.credentials, solo },
      redis: { url: inject('redisUrl'), prefix: `{reconcile-${randomUUID().slice(0, 8)}}`, connectTimeoutMs: 10_000 },
      worker: { ...base.worker, reconcileIntervalMs: TICK_MS },
    };
    const from = Date.now();
    const sandbox = await startSandbox(config);
    const to = Date.now();
    sandboxes.push(sandbox);
    Object.assign(process.env, sandbox.env);
    const worker = await startWorker(sandbox.config, silent, { syncSchedules: false });
    workers.push(worker);
    const t0 = Date.now();
    const interval = config.worker.driftCheckIntervalMs ?? DEFAULTS.worker.driftCheckIntervalMs;
    await worker.reconcileState.recordChecks('labels', new Map([['app', t0], ['solo', t0]]));
    await worker.reconcileState.recordChecks('drift', new Map([['app', t0 - interval], ['solo', t0]]));
    return { sandbox, worker, config: sandbox.config, t0, seeded: { from, to } };
  }

  function currentVersionId(sandbox: Sandbox): string {
    const labels = sandbox.emulator.labelsOf('test/milvus/app');
    const id = Object.keys(labels).find((v) => labels[v]?.includes('AWSCURRENT'));
    if (!id) throw new Error('no AWSCURRENT');
    return id;
  }

  it('the drift read alone gives the gauges (which user is AWSCURRENT, when the grace ends); during the grace the retired user is probed too (one GetSecretValue more), after it not', async () => {
    const { sandbox, worker, config, t0, seeded } = await setUpAlternating();
    // A stale entry for a credential that is not alternating: reconcile drops it.
    await worker.credentialState.recordAlternating('solo', { activeUser: 'x', retiredUser: 'y', graceEndsAt: 1, versionId: null });

    const reads = sandbox.emulator.callCount('GetSecretValue');
    const inGrace = await pass(worker, config, t0);
    expect(inGrace).toMatchObject({ driftChecked: 1, retiredChecked: 1, probes: 4, drift: [], unreachable: [] });
    expect(sandbox.emulator.callCount('GetSecretValue') - reads).toBe(2); // AWSCURRENT, and AWSPREVIOUS in the grace
    const text = await worker.metrics.registry.metrics();
    expect(gauge(text, activeUser(USER_A))).toBe(1);
    expect(gauge(text, activeUser(USER_B))).toBe(0);
    // The strategy's rule (graceStartsAt): the sandbox stored AWSPREVIOUS after AWSCURRENT, as an operator onboarding does, so its grace counts from AWSCURRENT's creation.
    expect(gauge(text, graceEnd)).toBeGreaterThanOrEqual(Math.floor((seeded.from + GRACE_MS) / 1000) - 1);
    expect(gauge(text, graceEnd)).toBeLessThanOrEqual(Math.ceil((seeded.to + GRACE_MS) / 1000));
    expect(text).not.toMatch(/milvus_rotator_alternating_\w+\{credential="solo"/);
    expect((await worker.credentialState.readAll()).alternating.has('solo')).toBe(false);

    // Past the grace: AWSCURRENT only (solo kept out of that pass).
    await worker.reconcileState.recordChecks('drift', new Map([['solo', t0 + GRACE_MS + TICK_MS]]));
    const after = sandbox.emulator.callCount('GetSecretValue');
    const pastGrace = await pass(worker, config, t0 + GRACE_MS + TICK_MS);
    expect(pastGrace).toMatchObject({ driftChecked: 1, retiredChecked: 0, probes: 2, drift: [] });
    expect(sandbox.emulator.callCount('GetSecretValue') - after).toBe(1);
  });

  it('a retired user that no longer logs in during its grace is drift (needs attention); nothing is rotated', async () => {
    const { sandbox, worker, config, t0 } = await setUpAlternating();
    sandbox.clusters.get('east')!.setPassword(USER_B, 'Changed-By-Hand-123!');
    const report = await pass(worker, config, t0);
    expect(report).toMatchObject({ drift: ['app'], retiredChecked: 1 });
    expect(await worker.metrics.registry.metrics()).toMatch(/milvus_rotator_needs_attention\{credential="app"\} 1/);
    expect(await worker.rotations.queue.count()).toBe(0);
  });

  it('keeps what the rotation that promoted the AWSCURRENT version recorded; takes it again from the read for any other version', async () => {
    const { sandbox, worker, config, t0 } = await setUpAlternating();
    const promotedAt = Math.floor(t0 / 1000) + 5; // as a rotation records it: its promotion + graceMs, a little after the creation
    await worker.credentialState.recordAlternating('app', { activeUser: USER_A, retiredUser: USER_B, graceEndsAt: promotedAt + GRACE_MS / 1000, versionId: currentVersionId(sandbox) });
    await pass(worker, config, t0);
    expect(gauge(await worker.metrics.registry.metrics(), graceEnd)).toBe(promotedAt + GRACE_MS / 1000);

    // Recorded for another version (a rotation outside the fleet promoted since): the read decides.
    await worker.credentialState.recordAlternating('app', { activeUser: USER_B, retiredUser: USER_A, graceEndsAt: 1, versionId: 'another-version' });
    await worker.reconcileState.recordChecks('drift', new Map([['app', t0 - 3_600_000]]));
    await pass(worker, config, t0);
    const text = await worker.metrics.registry.metrics();
    expect(gauge(text, activeUser(USER_A))).toBe(1);
    expect(gauge(text, graceEnd)).toBeGreaterThan(Math.floor(t0 / 1000));
    expect(await worker.credentialState.readAlternating('app')).toMatchObject({ activeUser: USER_A, versionId: currentVersionId(sandbox) });
  });
});
