/**
 * Leak alerts named by token on an alternating credential, end to end: a real redis-server, the
 * sandbox, an in-process worker and the HTTP server on a real port.
 *
 * - tokenSha256 of the retired user's password (AWSPREVIOUS): the fingerprint index knows the
 *   user of the matched version, the notice names it, and the rotation is one turn that changes
 *   that user only (the AWSCURRENT user, which consumers are given, is untouched);
 * - a GitHub delivery carrying both users' passwords, the retired one first: both may have
 *   leaked, so the rotation takes two turns and neither leaked password survives anywhere (the
 *   first token's user must not be taken for the only leaked one).
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { Job } from 'bullmq';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { RotateJobResult } from '../jobs/rotate.ts';
import { startHttpServer, type RunningHttpServer } from '../src/http/server.ts';
import { startSandbox, type Sandbox } from '../src/sandbox/sandbox.ts';
import { STAGE } from '../src/secrets/types.ts';
import { startWorker, type RunningWorker } from '../src/worker.ts';
import { USER_A, USER_B, makeAlternatingConfig, type AlternatingConfig } from './helpers/alternating-fixture.ts';
import { findExposures } from './helpers/exposure.ts';
import { credentialUnder, watchStoredPasswordInvariant } from './helpers/invariants.ts';
import { WEBHOOK_SECRETS, githubSigner, sha256Hex, signedGeneric, signedGithub, type GithubSigner } from './http-support.ts';

const CLUSTERS = ['west', 'east'];

let sandbox: Sandbox<AlternatingConfig>;
let worker: RunningWorker;
let http: RunningHttpServer;
let github: GithubSigner;
const logs: string[] = [];
const replies: string[] = [];

beforeAll(async () => {
  const base = makeAlternatingConfig(CLUSTERS);
  github = githubSigner();
  const dir = mkdtempSync(join(tmpdir(), 'http-leak-alt-'));
  const keysFile = join(dir, 'secret_scanning.json');
  writeFileSync(keysFile, github.keysDocument);
  sandbox = await startSandbox({
    ...base,
    redis: { url: inject('redisUrl'), prefix: `{http-leak-alt-${randomUUID().slice(0, 8)}}`, connectTimeoutMs: 10_000 },
    leakAlerts: { webhookSecrets: [...WEBHOOK_SECRETS], toleranceSeconds: 300, githubKeysFile: keysFile },
  });
  Object.assign(process.env, sandbox.env);
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      logs.push(chunk.toString());
      callback();
    },
  });
  const logger = pino({ level: 'debug' }, sink);
  worker = await startWorker(sandbox.config, logger, { syncSchedules: false });
  http = await startHttpServer({ config: sandbox.config, logger, worker, listen: { host: '127.0.0.1', port: 0 } });
  await http.fingerprintsReady;
});

afterAll(async () => {
  await http?.close();
  await worker?.close();
  await sandbox?.close();
});

async function post(path: string, signed: { headers: Record<string, string>; payload: Buffer }): Promise<{ status: number; body: unknown }> {
  const res = await fetch(`${http.url}${path}`, { method: 'POST', headers: signed.headers, body: signed.payload });
  const text = await res.text();
  replies.push(`${res.status} ${JSON.stringify(Object.fromEntries(res.headers))} ${text}`);
  return { status: res.status, body: JSON.parse(text) as unknown };
}

async function finished(jobId: string): Promise<RotateJobResult> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const job = await Job.fromId(worker.rotations.queue, jobId);
    const state = await job?.getState();
    if (job && state === 'completed') return job.returnvalue as RotateJobResult;
    if (Date.now() > deadline) throw new Error(`job ${jobId} is ${state ?? 'missing'} after 30 s`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

const labelled = (stage: string): { username: string; password: string } => {
  const value = credentialUnder(sandbox, sandbox.config.credentials['app']?.secretId ?? '', stage);
  if (!value) throw new Error(`no ${stage}`);
  return value;
};

describe('leak alerts by token on an alternating credential', () => {
  it('tokenSha256 of the retired user\'s password: one turn, that user only; a GitHub delivery with both users\' passwords: two turns, neither survives', async () => {
    const credential = sandbox.config.credentials['app'];
    if (!credential) throw new Error('no credential');
    const watch = watchStoredPasswordInvariant(sandbox, credential);
    const active = labelled(STAGE.current);
    const retired = labelled(STAGE.previous);
    expect([active.username, retired.username]).toEqual([USER_A, USER_B]);

    const reply = await post('/v1/leak-alerts', signedGeneric({ tokenSha256: sha256Hex(retired.password), id: 'retired-leak' }, { secret: WEBHOOK_SECRETS[0], timestampSeconds: Math.floor(Date.now() / 1000) }));
    expect(reply.status).toBe(202);
    const { rotations } = reply.body as { rotations: { credential: string; jobId: string }[] };
    expect(rotations.map((r) => r.credential)).toEqual(['app']);
    const result = await finished(rotations[0]?.jobId ?? '');
    expect(result).toMatchObject({ outcome: 'rotated', mode: 'leak', alternating: { currentUser: USER_B, previousUser: USER_A, turns: 1 } });
    for (const simulator of sandbox.clusters.values()) {
      // The AWSCURRENT user consumers were given is untouched (now retired, still valid); the leaked password is dead.
      expect(simulator.passwordOf(USER_A)).toBe(active.password);
      expect(simulator.passwordOf(USER_B)).not.toBe(retired.password);
    }

    // Both users' passwords in one delivery, the retired user's (app_a now) first.
    const nowActive = labelled(STAGE.current);
    const nowRetired = labelled(STAGE.previous);
    expect([nowActive.username, nowRetired.username]).toEqual([USER_B, USER_A]);
    // The index learns the rotated version from the labels feed within its poll (1 s): wait for it, as a sender would not have to.
    const indexDeadline = Date.now() + 10_000;
    while ((await http.fingerprints.match({ tokenSha256: sha256Hex(nowActive.password) })).length === 0) {
      if (Date.now() > indexDeadline) throw new Error('the fingerprint index did not learn the rotated version');
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    const match = (token: string) => ({ token, type: 'milvus_password', url: 'https://github.com/acme/app/blob/main/.env', source: 'content' });
    const leakedBoth = await post('/v1/leak-alerts/github', signedGithub([match(nowRetired.password), match(`${USER_B}:${nowActive.password}`)], github));
    expect(leakedBoth.status).toBe(200);
    expect(leakedBoth.body).toHaveLength(2);
    const deadline = Date.now() + 30_000;
    const alive = (): boolean =>
      [...sandbox.clusters.values()].some((s) => s.passwordOf(USER_A) === nowRetired.password || s.passwordOf(USER_B) === nowActive.password) ||
      [labelled(STAGE.current).password, labelled(STAGE.previous).password].some((p) => p === nowRetired.password || p === nowActive.password);
    while (alive()) {
      if (Date.now() > deadline) throw new Error('a leaked password is still alive 30 s after the delivery');
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    // Both passwords are dead once the second turn promotes; the job completes just after that.
    const lastTurns = async (): Promise<number | undefined> => {
      const jobs = await worker.rotations.queue.getJobs(['completed']);
      const last = jobs.sort((a, b) => b.timestamp - a.timestamp)[0];
      return (last?.returnvalue as RotateJobResult | undefined)?.alternating?.turns;
    };
    await expect.poll(lastTurns, { timeout: 10_000, interval: 50 }).toBe(2);
    expect(watch.violations).toEqual([]);
    watch.stop();

    const passwords = new Set<string>();
    for (const simulator of sandbox.clusters.values()) for (const p of simulator.passwordsSeen()) passwords.add(p);
    expect(findExposures([...logs, ...replies], passwords, [USER_A, USER_B])).toEqual([]);
  }, 60_000);
});
