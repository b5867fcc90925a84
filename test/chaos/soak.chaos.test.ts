/**
 * The short form of the chaos soak, in `npm test` (the `chaos` project of vitest.config.ts, run
 * after the unit and integration projects so that it has the machine to itself). It runs the same
 * program as `npm run test:chaos` (test/chaos/soak.ts --profile short: about two minutes) as a
 * child process and asserts on the figures of its `CHAOS {json}` line.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

const SOAK = fileURLToPath(new URL('./soak.ts', import.meta.url));

interface Figures {
  pass: boolean;
  failures: string[];
  invariantViolations: number;
  lostPasswords: number;
  lockouts: number;
  exposures: number;
  kills: number;
  redisRestarts: number;
  redisWriteLosses: number;
  rotations: { rotated: number; byStrategy: Record<string, number> };
  alternating: { credentials: number; currentKilled: number; graceLockouts: number; retiredKills: number; leakAlerts: { accepted: number } };
  leaks: { unanswered: number };
  needsAttention: { falseReasons: number };
  end: { verifyUntrue: unknown[] };
  faults: { milvus: { gateway5xx: number; ambiguousTotal: number }; secretsManager: { throttled: number }; accountingConsistent: boolean };
}

it('short chaos soak: workers SIGKILLed, Redis restarted, a Redis failover with write loss, faults, alerts and triggers; alternating credentials among them; no invariant violation, no lost password, no lockout (nor of a retired user within its grace), no exposure', async () => {
  const child = spawn(process.execPath, [SOAK, '--profile', 'short'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  let partial = '';
  const onData = (chunk: Buffer): void => {
    const text = partial + chunk.toString();
    const parts = text.split('\n');
    partial = parts.pop() ?? '';
    lines.push(...parts);
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  const code = await new Promise<number | null>((resolve) => child.once('close', (c) => resolve(c)));
  if (partial) lines.push(partial);
  // One block, not one console entry per line: the harness's progress, then its CHAOS line.
  console.log(lines.join('\n'));

  const report = lines.find((line) => line.startsWith('CHAOS '));
  expect(report, 'the soak printed its CHAOS line').toBeDefined();
  const figures = JSON.parse((report ?? 'CHAOS {}').slice('CHAOS '.length)) as Figures;
  expect(figures.failures).toEqual([]);
  expect(figures.invariantViolations).toBe(0);
  expect(figures.lostPasswords).toBe(0);
  expect(figures.lockouts).toBe(0);
  expect(figures.exposures).toBe(0);
  expect(figures.end.verifyUntrue).toEqual([]);
  expect(figures.needsAttention.falseReasons).toBe(0);
  expect(figures.leaks.unanswered).toBe(0);
  // The chaos happened.
  expect(figures.kills).toBeGreaterThanOrEqual(5);
  expect(figures.redisRestarts).toBe(1);
  expect(figures.redisWriteLosses).toBeGreaterThanOrEqual(1);
  expect(figures.rotations.rotated).toBeGreaterThanOrEqual(80);
  // Alternating credentials among them: rotated, leaked, their retired users killed only when allowed.
  expect(figures.alternating.credentials).toBeGreaterThan(0);
  expect(figures.rotations.byStrategy['alternating/rotated'] ?? 0).toBeGreaterThanOrEqual(20);
  expect(figures.alternating.leakAlerts.accepted).toBeGreaterThan(0);
  expect(figures.alternating.retiredKills).toBeGreaterThan(0);
  expect(figures.alternating.currentKilled).toBe(0);
  expect(figures.alternating.graceLockouts).toBe(0);
  expect(figures.faults.milvus.gateway5xx).toBeGreaterThan(0);
  expect(figures.faults.milvus.ambiguousTotal).toBeGreaterThan(0);
  expect(figures.faults.secretsManager.throttled).toBeGreaterThan(0);
  expect(figures.faults.accountingConsistent).toBe(true);
  expect(figures.pass).toBe(true);
  expect(code).toBe(0);
});
