/**
 * Leak response end to end: a real redis-server, the sandbox (three Milvus simulators and the
 * Secrets Manager emulator, reached by the real clients), an in-process worker from startWorker,
 * and the HTTP server from startHttpServer on a real port, spoken to with fetch.
 *
 * What it proves (issue 5):
 * - a signed generic alert, by each of the three ways of naming a leak, rotates the right
 *   credential in leak mode, and the leaked password is then rejected on every cluster (asked of
 *   each cluster through the real client, and read from the simulators);
 * - an unmatched alert, a replayed one, and GitHub deliveries with a wrong key id or a tampered
 *   body queue nothing; a GitHub delivery with one of our passwords rotates its credential;
 * - twenty alerts for one credential within a second produce one rotation, and one more when
 *   alerts arrive after that rotation began (counted in the simulators' change logs and in the
 *   emulator's writes);
 * - afterwards, no HTTP reply, log line or Redis key or value (every type) holds any password the
 *   sandbox ever saw.
 *
 * The tests run in order and share the environment: each one's effects (rotations) are part of
 * what the final scan covers.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { Job } from 'bullmq';
import { Redis } from 'ioredis';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Config, SingleCredentialConfig } from '../src/config/types.ts';
import { startHttpServer, type RunningHttpServer } from '../src/http/server.ts';
import type { RotationStatus } from '../src/http/rotation-status.ts';
import type { RotateJobResult } from '../jobs/rotate.ts';
import { startSandbox, type Sandbox } from '../src/sandbox/sandbox.ts';
import { startWorker, type RunningWorker } from '../src/worker.ts';
import { makeConfig } from './helpers/config.ts';
import { credentialOf, currentPassword } from './helpers/sandbox-lookup.ts';
import { findExposures } from './helpers/exposure.ts';
import { dumpRedis } from './helpers/redis-dump.ts';
import { GITHUB_OTHER_KEY_ID, TRIGGER_TOKENS, WEBHOOK_SECRETS, githubSigner, sha256Hex, signedGeneric, signedGithub, type GithubSigner } from './http-support.ts';
import type { SingleUserConfig } from './helpers/config.ts';

const CLUSTERS = ['west', 'east', 'dr'];

let sandbox: Sandbox<SingleUserConfig>;
let config: SingleUserConfig;
let worker: RunningWorker;
let http: RunningHttpServer;
let redis: Redis;
let github: GithubSigner;
const logs: string[] = [];
/** Every HTTP reply: status line, headers and body. */
const replies: string[] = [];

const credential = (id: string): SingleCredentialConfig => credentialOf(config, id) as SingleCredentialConfig;
const current = (id: string): string => currentPassword(sandbox, config, id);

interface Reply {
  status: number;
  body: unknown;
}

async function request(method: string, path: string, headers: Record<string, string>, body?: Buffer | string): Promise<Reply> {
  const res = await fetch(`${http.url}${path}`, { method, headers, ...(body === undefined ? {} : { body }) });
  const text = await res.text();
  replies.push(`${res.status} ${JSON.stringify(Object.fromEntries(res.headers))} ${text}`);
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // metrics text
  }
  return { status: res.status, body: parsed };
}

const nowSeconds = (): number => Math.floor(Date.now() / 1000);

async function postAlert(body: unknown, secret: string = WEBHOOK_SECRETS[0]): Promise<Reply> {
  const signed = signedGeneric(body, { secret, timestampSeconds: nowSeconds() });
  return request('POST', '/v1/leak-alerts', signed.headers, signed.payload);
}

async function postGithub(matches: unknown, signer: Pick<GithubSigner, 'keyId' | 'privateKey'> = github): Promise<Reply> {
  const signed = signedGithub(matches, signer);
  return request('POST', '/v1/leak-alerts/github', signed.headers, signed.payload);
}

const auth = { authorization: `Bearer ${TRIGGER_TOKENS[0]}` };

async function status(jobId: string): Promise<RotationStatus> {
  const reply = await request('GET', `/v1/rotations/${jobId}`, auth);
  expect(reply.status).toBe(200);
  return reply.body as RotationStatus;
}

/** Polls GET /v1/rotations/:jobId until the job is completed (or failed). */
async function waitForJob(jobId: string, timeoutMs = 30_000): Promise<RotationStatus> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const view = await status(jobId);
    if (view.state === 'completed' || view.state === 'failed') return view;
    if (Date.now() > deadline) throw new Error(`job ${jobId} still ${view.state} after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

async function jobResult(jobId: string): Promise<RotateJobResult> {
  const job = await Job.fromId(worker.rotations.queue, jobId);
  if (!job) throw new Error(`no job ${jobId}`);
  return job.returnvalue as RotateJobResult;
}

/** Every job the rotations queue has ever held here, by state. */
/**
 * The rotation queue's counts once nothing waits or runs (an earlier test's rotation may still be
 * finishing): compared before and after a request, any job it queued shows as one more finished.
 */
async function queueCounts(): Promise<Record<string, number>> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const counts = await worker.rotations.queue.getJobCounts('waiting', 'prioritized', 'active', 'delayed', 'completed', 'failed');
    if (['waiting', 'prioritized', 'active', 'delayed'].every((state) => (counts[state] ?? 0) === 0)) return counts;
    if (Date.now() > deadline) throw new Error(`the rotation queue did not settle: ${JSON.stringify(counts)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** How many changes each simulator has logged so far: a mark to count changes after. */
function changeMark(): Map<string, number> {
  return new Map(CLUSTERS.map((name) => [name, sandbox.clusters.get(name)?.changeLog.length ?? 0]));
}

/** update_password changes of `user` on every cluster (since `mark`, when given), cluster by cluster. */
function passwordChanges(user: string, mark?: Map<string, number>): { cluster: string; from: string | null; to: string | null }[] {
  return CLUSTERS.flatMap((name) =>
    (sandbox.clusters.get(name)?.changeLog ?? [])
      .slice(mark?.get(name) ?? 0)
      .filter((c) => c.user === user && c.via === 'update_password')
      .map((c) => ({ cluster: name, from: c.from, to: c.to })),
  );
}

/** The first rotation job of `credentialId` created after job `afterJobId` (BullMQ ids increase). */
async function nextRotationJob(credentialId: string, afterJobId: string, timeoutMs = 30_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const jobs = await worker.rotations.queue.getJobs(['waiting', 'prioritized', 'active', 'delayed', 'completed', 'failed']);
    const after = jobs.find((job) => job.id === afterJobId)?.timestamp ?? 0;
    const later = jobs.filter((job) => job.data.credentialId === credentialId && job.id !== afterJobId && job.timestamp >= after).sort((a, b) => a.timestamp - b.timestamp);
    if (later[0]?.id !== undefined) return later[0].id;
    if (Date.now() > deadline) throw new Error(`no rotation of ${credentialId} after job ${afterJobId}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** The leaked password is rejected by every cluster of the credential, asked through the worker's real clients. */
async function expectRejectedEverywhere(id: string, leaked: string): Promise<void> {
  const { username, clusters } = credential(id);
  for (const name of clusters) {
    expect(sandbox.clusters.get(name)?.passwordOf(username)).not.toBe(leaked);
    expect(await worker.runtime.cluster(name).probe(username, leaked)).toEqual({ kind: 'rejected' });
    expect(await worker.runtime.cluster(name).probe(username, current(id))).toEqual({ kind: 'accepted' });
  }
}

/** Waits until the rotation and the fingerprint index have read the new version (the index learns its labels from the feed: one GetSecretValue). */
async function indexReloaded(getsBefore: number): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (sandbox.emulator.callCount('GetSecretValue') < getsBefore + 3) {
    if (Date.now() > deadline) throw new Error('the fingerprint index did not reload the rotated credential');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

beforeAll(async () => {
  const base = makeConfig(CLUSTERS, [
    { id: 'app-reader', username: 'app_reader', clusters: CLUSTERS },
    { id: 'billing', username: 'billing_svc', clusters: ['west', 'east', 'dr'] },
    { id: 'search', username: 'search_svc', clusters: ['east', 'dr'] },
  ]);
  github = githubSigner();
  const dir = mkdtempSync(join(tmpdir(), 'http-leak-'));
  const keysFile = join(dir, 'secret_scanning.json');
  writeFileSync(keysFile, github.keysDocument);
  sandbox = await startSandbox(
    {
      ...base,
      redis: { url: inject('redisUrl'), prefix: `{http-leak-${randomUUID().slice(0, 8)}}`, connectTimeoutMs: 10_000 },
      http: { ...base.http, triggerTokens: [...TRIGGER_TOKENS] },
      leakAlerts: { webhookSecrets: [...WEBHOOK_SECRETS], toleranceSeconds: 300, githubKeysFile: keysFile },
    },
    { latencyMs: 0 },
  );
  Object.assign(process.env, sandbox.env);
  config = sandbox.config;
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      logs.push(chunk.toString());
      callback();
    },
  });
  const logger = pino({ level: 'debug' }, sink);
  worker = await startWorker(config, logger, { syncSchedules: false });
  http = await startHttpServer({ config, logger, worker, listen: { host: '127.0.0.1', port: 0 } });
  await http.fingerprintsReady;
  redis = new Redis(inject('redisUrl'), { maxRetriesPerRequest: 1 });
});

afterAll(async () => {
  await http?.close();
  await worker?.close();
  await redis?.quit();
  await sandbox?.close();
});

describe('leak alerts end to end (real Redis, sandbox, in-process worker, HTTP on a real port)', () => {
  it('serves health and readiness', async () => {
    expect(await request('GET', '/healthz', {})).toEqual({ status: 200, body: { status: 'ok' } });
    expect(await request('GET', '/readyz', {})).toEqual({ status: 200, body: { status: 'ready', checks: { redis: true, config: true }, reasons: [] } });
  });

  it('an alert that names nothing of ours answers 202 with no rotation and queues nothing', async () => {
    const before = await queueCounts();
    for (const body of [{ credential: 'not-configured' }, { username: 'app_reader', cluster: 'elsewhere' }, { tokenSha256: sha256Hex('a password of somebody else') }]) {
      const reply = await postAlert(body);
      expect(reply).toEqual({ status: 202, body: { rotations: [], matched: 0 } });
    }
    expect(await queueCounts()).toEqual(before);
    expect(passwordChanges('app_reader')).toEqual([]);
  });

  it('by credential id: rotates that credential in leak mode; the leaked password is rejected on every cluster', async () => {
    const leaked = current('app-reader');
    const reply = await postAlert({ credential: 'app-reader', id: 'leak-by-id', source: 'gitguardian' });
    expect(reply.status).toBe(202);
    const { rotations, matched } = reply.body as { rotations: { credential: string; jobId: string }[]; matched: number };
    expect(matched).toBe(1);
    expect(rotations.map((r) => r.credential)).toEqual(['app-reader']);
    const view = await waitForJob(rotations[0]?.jobId as string);
    expect(view).toMatchObject({ credential: 'app-reader', state: 'completed', outcome: 'rotated', reason: 'ok', clusters: { west: 'updated', east: 'updated', dr: 'updated' } });
    expect(view.leak?.alertIds).toEqual(['leak-by-id']);
    expect(view.leak?.sources).toEqual(['gitguardian']);
    expect(view.leak?.receiptToRevokedMs).toBeGreaterThanOrEqual(0);
    expect((await jobResult(view.jobId)).mode).toBe('leak');
    await expectRejectedEverywhere('app-reader', leaked);
    // Each cluster was moved once, away from the leaked password; nobody else was touched.
    expect(passwordChanges('app_reader').map((c) => [c.cluster, c.from === leaked])).toEqual(CLUSTERS.map((name) => [name, true]));
    expect(passwordChanges('billing_svc')).toEqual([]);
    expect(passwordChanges('search_svc')).toEqual([]);
  });

  it('by username and cluster: rotates every credential of that user on that cluster, and only those', async () => {
    const leaked = current('search');
    const reply = await postAlert({ username: 'search_svc', cluster: 'dr' });
    expect(reply.status).toBe(202);
    const { rotations } = reply.body as { rotations: { credential: string; jobId: string }[] };
    expect(rotations.map((r) => r.credential)).toEqual(['search']);
    const view = await waitForJob(rotations[0]?.jobId as string);
    expect(view).toMatchObject({ outcome: 'rotated', clusters: { east: 'updated', dr: 'updated' } });
    expect(view.leak?.sources).toEqual(['generic']);
    expect((await jobResult(view.jobId)).mode).toBe('leak');
    await expectRejectedEverywhere('search', leaked);
    expect(passwordChanges('billing_svc')).toEqual([]);
  });

  it('by tokenSha256 of the bare password: finds the credential through the fingerprint index', async () => {
    const leaked = current('billing');
    const gets = sandbox.emulator.callCount('GetSecretValue');
    const reply = await postAlert({ tokenSha256: sha256Hex(leaked), id: 'leak-by-hash' });
    expect(reply.status).toBe(202);
    const { rotations } = reply.body as { rotations: { credential: string; jobId: string }[] };
    expect(rotations.map((r) => r.credential)).toEqual(['billing']);
    const view = await waitForJob(rotations[0]?.jobId as string);
    expect(view.outcome).toBe('rotated');
    expect((await jobResult(view.jobId)).mode).toBe('leak');
    await expectRejectedEverywhere('billing', leaked);
    await indexReloaded(gets);
  });

  it('by tokenSha256 of user:password, for a password rotated moments ago (the index learns the new labels from the feed the rotating job publishes to)', async () => {
    // app-reader's current password was written by the first leak rotation, after the index's
    // startup refresh; and the unmatched alerts above spent the index's refresh-on-miss allowance.
    const leaked = current('app-reader');
    const reply = await postAlert({ tokenSha256: sha256Hex(`app_reader:${leaked}`) });
    expect(reply.status).toBe(202);
    const { rotations, matched } = reply.body as { rotations: { credential: string; jobId: string }[]; matched: number };
    expect(matched).toBe(1);
    const view = await waitForJob(rotations[0]?.jobId as string);
    expect(view.outcome).toBe('rotated');
    await expectRejectedEverywhere('app-reader', leaked);
  });

  it('refuses a replayed alert with 401 and queues nothing (the replay guard is in Redis)', async () => {
    const signed = signedGeneric({ credential: 'not-configured', id: 'replay-me' }, { secret: WEBHOOK_SECRETS[1], timestampSeconds: nowSeconds() });
    const first = await request('POST', '/v1/leak-alerts', signed.headers, signed.payload);
    expect(first.status).toBe(202);
    const before = await queueCounts();
    const again = await request('POST', '/v1/leak-alerts', signed.headers, signed.payload);
    expect(again).toEqual({ status: 401, body: { error: 'unauthorized' } });
    expect(await queueCounts()).toEqual(before);
    const keys = await redis.keys(`${config.redis.prefix}:alert-replay:*`);
    expect(keys.length).toBeGreaterThan(0);
  });

  describe('GitHub secret scanning partner format, signed with a test key pair', () => {
    const match = (token: string) => ({ token, type: 'milvus_password', url: 'https://github.com/acme/app/blob/main/.env', source: 'content' });

    it('matched: rotates the credential and answers 200 with the hash of the matched token', async () => {
      const leaked = current('search');
      const reply = await postGithub([match('ghp_nothing_of_ours_000000000000'), match(`search_svc:${leaked}`)]);
      expect(reply).toEqual({ status: 200, body: [{ token_hash: sha256Hex(`search_svc:${leaked}`), token_type: 'milvus_password', label: 'true_positive' }] });
      // The job id is not part of GitHub's format: find the leak job through the credential's waiting or finished job.
      const deadline = Date.now() + 30_000;
      while (current('search') === leaked) {
        if (Date.now() > deadline) throw new Error('search was not rotated');
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
      await expect.poll(() => passwordChanges('search_svc').filter((c) => c.from === leaked).length, { timeout: 10_000 }).toBe(2);
      await expectRejectedEverywhere('search', leaked);
    });

    it('unmatched: answers 200 [] and queues nothing', async () => {
      const before = await queueCounts();
      const reply = await postGithub([match('ghp_nothing_of_ours_111111111111'), match('https://user:Not-Ours-Passw0rd!@example.com')]);
      expect(reply).toEqual({ status: 200, body: [] });
      expect(await queueCounts()).toEqual(before);
    });

    it('a wrong key identifier or a tampered body: 401, nothing queued', async () => {
      const before = await queueCounts();
      const leaked = current('billing');
      const wrongId = await postGithub([match(leaked)], { keyId: GITHUB_OTHER_KEY_ID, privateKey: github.privateKey });
      expect(wrongId).toEqual({ status: 401, body: { error: 'unauthorized' } });
      const signed = signedGithub([match('ghp_innocent_0000000000000000')], github);
      const tampered = await request('POST', '/v1/leak-alerts/github', signed.headers, Buffer.from(JSON.stringify([match(leaked)])));
      expect(tampered).toEqual({ status: 401, body: { error: 'unauthorized' } });
      expect(await queueCounts()).toEqual(before);
      expect(current('billing')).toBe(leaked);
    });
  });

  describe('twenty alerts for one credential within a second', () => {
    it('produce one rotation when they all arrive before it begins', async () => {
      const leaked = current('billing');
      // billing was rotated for a leak moments ago: alerts name the password it now holds, or they
      // would coalesce into that rotation. The index must have it first.
      await expect.poll(async () => (await http.fingerprints.match({ tokenSha256: sha256Hex(leaked) })).length, { timeout: 10_000, interval: 20 }).toBe(1);
      const mark = changeMark();
      const putsBefore = sandbox.emulator.callCount('PutSecretValue');
      await worker.rotations.queue.pause(); // hold the workers so that "before it begins" is certain
      const began = Date.now();
      const jobIds = new Set<string>();
      for (let i = 0; i < 20; i++) {
        const reply = await postAlert({ tokenSha256: sha256Hex(leaked), id: `burst-a-${i}` });
        expect(reply.status).toBe(202);
        for (const r of (reply.body as { rotations: { jobId: string }[] }).rotations) jobIds.add(r.jobId);
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
      // However long the burst took (a loaded machine), the paused queue kept it before the rotation began.
      expect(jobIds.size, `20 alerts in ${Date.now() - began} ms`).toBe(1);
      await worker.rotations.queue.resume();
      const view = await waitForJob([...jobIds][0] as string);
      expect(view.outcome).toBe('rotated');
      expect(view.leak?.alertIds).toEqual(Array.from({ length: 20 }, (_, i) => `burst-a-${i}`));
      // One rotation: each cluster changed once, away from the leaked password; one version written.
      expect(passwordChanges('billing_svc', mark).map((c) => [c.cluster, c.from === leaked])).toEqual(CLUSTERS.map((name) => [name, true]));
      expect(sandbox.emulator.callCount('PutSecretValue') - putsBefore).toBe(1);
      // ... and no second one follows.
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect(passwordChanges('billing_svc', mark)).toHaveLength(3);
      expect(sandbox.emulator.callCount('PutSecretValue') - putsBefore).toBe(1);
      await expectRejectedEverywhere('billing', leaked);
    });

    it('produce one more rotation when alerts arrive after the first one began', async () => {
      const first = current('app-reader');
      await expect.poll(async () => (await http.fingerprints.match({ tokenSha256: sha256Hex(first) })).length, { timeout: 10_000, interval: 20 }).toBe(1);
      const mark = changeMark();
      const putsBefore = sandbox.emulator.callCount('PutSecretValue');
      // Slow clusters keep the first rotation running (seconds) while the rest of the burst arrives, however loaded the machine.
      for (const simulator of sandbox.clusters.values()) simulator.setLatency(1_000);
      try {
        // Names the password app-reader holds (it was rotated for a leak less than a minute ago).
        const opening = await postAlert({ tokenSha256: sha256Hex(first), id: 'burst-b-0' });
        const firstJob = (opening.body as { rotations: { jobId: string }[] }).rotations[0]?.jobId as string;
        // The job reports a step once it has read the leak notices waiting for it.
        await expect.poll(async () => (await status(firstJob)).step, { timeout: 10_000, interval: 10 }).not.toBeNull();
        const began = Date.now();
        let lastJobId = '';
        for (let i = 1; i < 20; i++) {
          const reply = await postAlert({ credential: 'app-reader', id: `burst-b-${i}` });
          expect(reply.status).toBe(202);
          lastJobId = (reply.body as { rotations: { jobId: string }[] }).rotations[0]?.jobId as string;
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
        // Absorbed while the first job was active: the reply names the job that will answer it.
        expect(lastJobId).not.toBe(firstJob);
        expect((await status(firstJob)).state, `all 19 arrived while the first rotation ran (in ${Date.now() - began} ms)`).toBe('active');
        for (const simulator of sandbox.clusters.values()) simulator.setLatency(0);
        const firstView = await waitForJob(firstJob);
        // The next job is created by BullMQ when the active one finishes (keepLastIfActive).
        const secondJob = await nextRotationJob('app-reader', firstJob);
        expect(secondJob).toBe(lastJobId);
        const secondView = await waitForJob(secondJob);
        expect([firstView.outcome, secondView.outcome]).toEqual(['rotated', 'rotated']);
        expect(firstView.leak?.alertIds).toEqual(['burst-b-0']);
        expect(secondView.leak?.alertIds).toEqual(Array.from({ length: 19 }, (_, i) => `burst-b-${i + 1}`));
        expect((await jobResult(secondJob)).mode).toBe('leak');
      } finally {
        for (const simulator of sandbox.clusters.values()) simulator.setLatency(0);
      }
      // Two rotations: each cluster changed twice, the first time away from the leaked password; two versions written.
      const changes = passwordChanges('app_reader', mark);
      expect(changes.map((c) => c.cluster)).toEqual(['west', 'west', 'east', 'east', 'dr', 'dr']);
      expect(changes.filter((c) => c.from === first).map((c) => c.cluster)).toEqual(CLUSTERS);
      expect(sandbox.emulator.callCount('PutSecretValue') - putsBefore).toBe(2);
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect(passwordChanges('app_reader', mark)).toHaveLength(6);
      expect(sandbox.emulator.callCount('PutSecretValue') - putsBefore).toBe(2);
      await expectRejectedEverywhere('app-reader', first);
    });
  });

  it('the trigger queues a manual rotation and reports it through GET /v1/rotations/:jobId', async () => {
    const reply = await request('POST', '/v1/rotations', { ...auth, 'content-type': 'application/json' }, JSON.stringify({ credential: 'search' }));
    expect(reply.status).toBe(202);
    const jobId = (reply.body as { rotations: { jobId: string }[] }).rotations[0]?.jobId as string;
    const view = await waitForJob(jobId);
    expect(view).toMatchObject({ jobId, credential: 'search', state: 'completed', outcome: 'rotated', clusters: { east: 'updated', dr: 'updated' } });
    expect(view.leak).toBeUndefined();
    expect((await jobResult(jobId)).mode).toBe('manual');
    expect(await request('GET', '/v1/rotations/99999999-9999-4999-8999-999999999999', auth)).toEqual({ status: 404, body: { error: 'not_found' } });
  });

  it('counts alerts by source and result, and receipt-to-revocation, in /metrics', async () => {
    const reply = await request('GET', '/metrics', {});
    expect(reply.status).toBe(200);
    const text = String(reply.body);
    expect(text).toMatch(/milvus_rotator_leak_alerts_total\{source="gitguardian",result="accepted"\} 1/);
    expect(text).toMatch(/milvus_rotator_leak_alerts_total\{source="generic",result="unmatched"\} \d+/);
    expect(text).toMatch(/milvus_rotator_leak_alerts_total\{source="generic",result="replayed"\} 1/);
    expect(text).toMatch(/milvus_rotator_leak_alerts_total\{source="github",result="unauthorized"\} 2/);
    expect(text).toMatch(/milvus_rotator_leak_revocation_seconds_count\{source="generic"\} \d+/);
  });

  it('after everything: no reply, log line or Redis key or value holds any password the sandbox saw', async () => {
    const passwords = new Set<string>();
    for (const simulator of sandbox.clusters.values()) for (const password of simulator.passwordsSeen()) passwords.add(password);
    for (const value of sandbox.emulator.valuesSeen()) {
      const parsed = JSON.parse(value) as { password?: string };
      if (parsed.password) passwords.add(parsed.password);
    }
    expect(passwords.size).toBeGreaterThan(15);
    const usernames = [...Object.values(config.credentials).map((c) => c.username), 'root'];

    const dump = await dumpRedis(redis);
    expect(dump.length).toBeGreaterThan(50);
    expect(replies.length).toBeGreaterThan(60);
    expect(logs.length).toBeGreaterThan(50);

    expect(findExposures(replies, passwords, usernames)).toEqual([]);
    expect(findExposures(logs, passwords, usernames)).toEqual([]);
    expect(findExposures(dump, passwords, usernames)).toEqual([]);
  });
});
