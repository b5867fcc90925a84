/**
 * Abuse resistance end to end: a private redis-server (its ACL is changed here, so not the shared
 * one), the sandbox (Milvus simulators, the Secrets Manager emulator with a small version quota),
 * an in-process worker and the HTTP server on a real port, spoken to with fetch and raw sockets.
 *
 * What it pins, each reproduced as the security review did:
 * - a leak alert whose enqueue failed (503) stays retriable: Redis refuses RPUSH only, the alert
 *   gets 503, RPUSH comes back, the identical delivery is queued (generic and GitHub routes);
 * - 152,000 waiting leak notices (150,000 in the old unbounded list) are answered by one rotation
 *   whose result stays bounded (no Math.min over the list), and `leak-notices clear` drops notices;
 * - a second manual rotation within rotation.minIntervalMs gets 429 + Retry-After, and `enqueue`
 *   and `rotate` exit 1 with the time; leak alerts right after a leak rotation coalesce into it
 *   unless they name the password it now holds; a trigger storm is cut by the per-token limit and
 *   the interval, and never brings a secret near the emulator's version quota;
 * - slow sockets are cut by the header and request timeouts, idle keep-alive ones by the
 *   keep-alive timeout, and connections past the cap are refused;
 * - 1,505 alerts with unique `source` values make one `other` series, not 1,505;
 * - clusters echoing the request in any encoding leave nothing of it in job results, events or logs.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { Job } from 'bullmq';
import { Redis } from 'ioredis';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RotateJobResult } from '../jobs/rotate.ts';
import type { Config, CredentialConfig } from '../src/config/types.ts';
import type { RotationStatus } from '../src/http/rotation-status.ts';
import { startHttpServer, type RunningHttpServer } from '../src/http/server.ts';
import { LeakFlags } from '../src/queue/leak-flags.ts';
import { startSandbox, type Sandbox } from '../src/sandbox/sandbox.ts';
import type { EchoEncoding } from '../src/sandbox/milvus-simulator-faults.ts';
import { startWorker, type RunningWorker } from '../src/worker.ts';
import { makeConfig } from './helpers/config.ts';
import { credentialOf, currentPassword } from './helpers/sandbox-lookup.ts';
import { writeConfigFile } from './helpers/config-file.ts';
import { findExposures } from './helpers/exposure.ts';
import { startRedisServer, type RedisServer } from './helpers/redis-server.ts';
import { runCli } from './helpers/run-cli.ts';
import { TRIGGER_TOKENS, WEBHOOK_SECRETS, githubSigner, sha256Hex, signedGeneric, signedGithub, type GithubSigner } from './http-support.ts';

/** Long enough for a CLI child process to start within it on a loaded machine. */
const MIN_INTERVAL_MS = 30_000;
const VERSION_QUOTA = 12;
const TRIGGER_PER_MINUTE = 300;
const LIMITS = { requestTimeoutMs: 1_500, headersTimeoutMs: 1_000, keepAliveTimeoutMs: 1_000, maxConnections: 40 };

let redisServer: RedisServer;
let sandbox: Sandbox;
let config: Config;
let worker: RunningWorker;
let http: RunningHttpServer;
let redis: Redis;
let github: GithubSigner;
let configFile: string;
const logs: string[] = [];

const credential = (id: string): CredentialConfig => credentialOf(config, id);
const current = (id: string): string => currentPassword(sandbox, config, id);

interface Reply {
  status: number;
  headers: Headers;
  body: unknown;
}

async function send(method: string, path: string, headers: Record<string, string>, body?: Buffer | string): Promise<Reply> {
  const res = await fetch(`${http.url}${path}`, { method, headers, ...(body === undefined ? {} : { body }) });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // metrics text
  }
  return { status: res.status, headers: res.headers, body: parsed };
}

const nowSeconds = (): number => Math.floor(Date.now() / 1000);
const bearer = (index = 0): Record<string, string> => ({ authorization: `Bearer ${TRIGGER_TOKENS[index]}`, 'content-type': 'application/json' });
const trigger = (body: unknown, token = 0): Promise<Reply> => send('POST', '/v1/rotations', bearer(token), JSON.stringify(body));

async function waitForJob(jobId: string, timeoutMs = 30_000): Promise<RotationStatus> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const reply = await send('GET', `/v1/rotations/${jobId}`, bearer(1));
    const view = reply.body as RotationStatus;
    if (reply.status === 200 && (view.state === 'completed' || view.state === 'failed')) return view;
    if (Date.now() > deadline) throw new Error(`job ${jobId} not finished after ${timeoutMs} ms: ${JSON.stringify(reply.body)}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

async function jobResult(jobId: string): Promise<RotateJobResult> {
  const job = await Job.fromId(worker.rotations.queue, jobId);
  if (!job) throw new Error(`no job ${jobId}`);
  return job.returnvalue as RotateJobResult;
}

/** update_password changes of `user` on every simulator so far. */
function changesOf(user: string): number {
  return [...sandbox.clusters.values()].reduce((sum, sim) => sum + sim.changeLog.filter((c) => c.user === user && c.via === 'update_password').length, 0);
}

async function until(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

beforeAll(async () => {
  redisServer = await startRedisServer();
  const base = makeConfig(['west', 'east'], [
    { id: 'acl', username: 'acl_user', clusters: ['west'] },
    { id: 'flood', username: 'flood_user', clusters: ['west'] },
    { id: 'cool', username: 'cool_user', clusters: ['west', 'east'] },
    { id: 'storm', username: 'storm_user', clusters: ['west', 'east'] },
    { id: 'coal', username: 'coal_user', clusters: ['west'] },
    { id: 'echo', username: 'echo_user', clusters: ['west'] },
  ]);
  github = githubSigner();
  const dir = mkdtempSync(join(tmpdir(), 'http-abuse-'));
  const keysFile = join(dir, 'secret_scanning.json');
  writeFileSync(keysFile, github.keysDocument);
  sandbox = await startSandbox(
    {
      ...base,
      redis: { ...base.redis, url: redisServer.url, prefix: `{http-abuse-${randomUUID().slice(0, 8)}}` },
      http: { ...base.http, ...LIMITS, triggerTokens: [...TRIGGER_TOKENS], rateLimit: { triggerPerMinute: TRIGGER_PER_MINUTE, alertsPerMinute: 5_000 } },
      rotation: { ...base.rotation, minIntervalMs: MIN_INTERVAL_MS },
      leakAlerts: { webhookSecrets: [...WEBHOOK_SECRETS], toleranceSeconds: 300, githubKeysFile: keysFile },
    },
    { latencyMs: 0, versionQuota: VERSION_QUOTA },
  );
  Object.assign(process.env, sandbox.env);
  config = sandbox.config;
  configFile = writeConfigFile(config);
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
  redis = new Redis(redisServer.url, { maxRetriesPerRequest: 1 });
});

afterAll(async () => {
  await redis?.call('ACL', 'SETUSER', 'default', '+@all').catch(() => {});
  await http?.close();
  await worker?.close();
  await redis?.quit();
  await sandbox?.close();
  await redisServer?.stop();
});

describe('abuse resistance (real Redis, sandbox, worker, HTTP on a real port)', () => {
  it('a leak alert whose rotation could not be queued (503) is processed when resent: generic and GitHub routes', async () => {
    const generic = signedGeneric({ credential: 'acl', id: 'acl-lost-1', source: 'gitguardian' }, { secret: WEBHOOK_SECRETS[0], timestampSeconds: nowSeconds() });
    const delivery = signedGithub([{ token: current('acl'), type: 'milvus_password', url: 'https://github.com/o/r/blob/x/a.env', source: 'content' }], github);
    // Only the enqueue fails: the replay guard's SET, GET and scripts still work.
    await redis.call('ACL', 'SETUSER', 'default', '-rpush');
    try {
      expect((await send('POST', '/v1/leak-alerts', generic.headers, generic.payload)).status).toBe(503);
      expect((await send('POST', '/v1/leak-alerts/github', delivery.headers, delivery.payload)).status).toBe(503);
    } finally {
      await redis.call('ACL', 'SETUSER', 'default', '+@all');
    }
    const retriedGeneric = await send('POST', '/v1/leak-alerts', generic.headers, generic.payload);
    expect(retriedGeneric.status).toBe(202);
    const { rotations } = retriedGeneric.body as { rotations: { credential: string; jobId: string }[] };
    expect(rotations.map((r) => r.credential)).toEqual(['acl']);
    const retriedGithub = await send('POST', '/v1/leak-alerts/github', delivery.headers, delivery.payload);
    expect(retriedGithub.status).toBe(200);
    expect(retriedGithub.body).toEqual([{ token_hash: sha256Hex(current('acl')), token_type: 'milvus_password', label: 'true_positive' }]);
    const view = await waitForJob(rotations[0]?.jobId as string);
    expect(view).toMatchObject({ outcome: 'rotated' });
    // Once processed, a replay is a replay again.
    expect((await send('POST', '/v1/leak-alerts', generic.headers, generic.payload)).status).toBe(401);
    expect((await send('POST', '/v1/leak-alerts/github', delivery.headers, delivery.payload)).body).toEqual([]);
  });

  it('152,000 waiting notices (150,000 in the old unbounded list) are answered by one rotation with a bounded result', async () => {
    const prefix = config.redis.prefix;
    const earliest = Date.now() - 3_600_000;
    const legacyKey = `${prefix}:leak:flood`;
    for (let batch = 0; batch < 15; batch += 1) {
      const pipeline = redis.pipeline();
      const items = Array.from({ length: 10_000 }, (_, i) => JSON.stringify({ alertId: `old-${batch}-${i}`, source: 'generic', receivedAt: earliest + batch * 10_000 + i }));
      pipeline.rpush(legacyKey, ...items);
      await pipeline.exec();
    }
    const flags = new LeakFlags(redis, prefix);
    for (let batch = 0; batch < 20; batch += 1) {
      await Promise.all(Array.from({ length: 100 }, (_, i) => flags.push('flood', { alertId: `new-${batch}-${i}`, source: 'trufflehog', receivedAt: Date.now() })));
    }
    expect((await flags.read('flood')).count).toBe(152_000);

    const reply = await send(
      'POST',
      '/v1/leak-alerts',
      ...((): [Record<string, string>, Buffer] => {
        const signed = signedGeneric({ credential: 'flood', id: 'flood-last' }, { secret: WEBHOOK_SECRETS[0], timestampSeconds: nowSeconds() });
        return [signed.headers, signed.payload];
      })(),
    );
    expect(reply.status).toBe(202);
    const jobId = (reply.body as { rotations: { jobId: string }[] }).rotations[0]?.jobId as string;
    const view = await waitForJob(jobId);
    expect(view.outcome).toBe('rotated');
    const result = await jobResult(jobId);
    expect(result.leak?.alertCount).toBe(152_001);
    expect(result.leak?.alertIds.length).toBeLessThanOrEqual(100);
    expect(result.leak?.alertIds.at(-1)).toBe('flood-last');
    expect(result.leak?.firstReceivedAt).toBe(earliest);
    expect(view.leak?.alertCount).toBe(152_001);
    expect(await flags.has('flood')).toBe(false);
    expect(await redis.exists(legacyKey)).toBe(0);
  });

  it('the bounded notices still say which user leaked: one name while every notice names it, none once they differ or one names nobody', async () => {
    const flags = new LeakFlags(redis, config.redis.prefix);
    const at = Date.now();
    await flags.push('echo', { alertId: 'u-1', source: 'generic', receivedAt: at, username: 'app_b' });
    await flags.push('echo', { alertId: 'u-2', source: 'generic', receivedAt: at, username: 'app_b' });
    expect(LeakFlags.leakedUsername(await flags.read('echo'))).toBe('app_b');
    await flags.push('echo', { alertId: 'u-3', source: 'generic', receivedAt: at, username: 'app_a' });
    expect(LeakFlags.leakedUsername(await flags.read('echo'))).toBeUndefined();
    expect(await flags.clear('echo')).toBe(3);
    await flags.push('echo', { alertId: 'u-4', source: 'generic', receivedAt: at, username: 'app_a' });
    await flags.push('echo', { alertId: 'u-5', source: 'generic', receivedAt: at });
    expect(LeakFlags.leakedUsername(await flags.read('echo'))).toBeUndefined();
    expect(await flags.clear('echo')).toBe(2);
  });

  it('leak-notices list and clear, as a child process: an operator drops notices that cannot be answered', async () => {
    const flags = new LeakFlags(redis, config.redis.prefix);
    for (const i of [1, 2, 3]) await flags.push('flood', { alertId: `stuck-${i}`, source: 'generic', receivedAt: Date.now() });
    const env = { ...sandbox.env, LOG_LEVEL: 'error' };
    const [listed, usage] = await Promise.all([
      runCli(['leak-notices', 'list', '--config', configFile, '--credential', 'flood', '--json'], { env, timeoutMs: 20_000 }),
      runCli(['leak-notices', 'clear', '--config', configFile], { env, timeoutMs: 20_000 }),
    ]);
    expect(usage.code).toBe(2);
    expect(listed.code, listed.stderr).toBe(0);
    expect(JSON.parse(listed.stdout.trim())).toMatchObject({ credential: 'flood', count: 3, lastAlertId: 'stuck-3' });
    const cleared = await runCli(['leak-notices', 'clear', '--config', configFile, '--credential', 'flood'], { env, timeoutMs: 20_000 });
    expect(cleared.code, cleared.stderr).toBe(0);
    expect(cleared.stdout).toContain('flood: cleared 3 leak notice(s)');
    expect(await flags.has('flood')).toBe(false);
  });

  it('a manual rotation within rotation.minIntervalMs is refused: HTTP 429 with Retry-After, enqueue and rotate exit 1 with the time', async () => {
    const first = await trigger({ credential: 'cool' });
    expect(first.status).toBe(202);
    const jobId = (first.body as { rotations: { jobId: string }[] }).rotations[0]?.jobId as string;
    expect((await waitForJob(jobId)).outcome).toBe('rotated');
    const changes = changesOf('cool_user');

    const refused = await trigger({ credential: 'cool' });
    expect(refused.status).toBe(429);
    const retryAfter = Number(refused.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(MIN_INTERVAL_MS / 1000);
    expect(refused.body).toMatchObject({ error: 'too_many_requests', detail: expect.stringMatching(/"cool" .*next rotation possible at \d{4}-\d\d-\d\dT/) });

    const env = { ...sandbox.env, LOG_LEVEL: 'error' };
    const [enqueued, rotated] = await Promise.all([
      runCli(['enqueue', '--config', configFile, '--credential', 'cool'], { env, timeoutMs: 20_000 }),
      runCli(['rotate', '--config', configFile, '--credential', 'cool', '--json'], { env, timeoutMs: 20_000 }),
    ]);
    expect(enqueued.code, enqueued.stderr).toBe(1);
    expect(enqueued.stderr).toMatch(/cool: refused: .*possible at \d{4}-/);
    expect(rotated.code, rotated.stderr).toBe(1);
    expect(JSON.parse(rotated.stdout.trim())).toMatchObject({ credential: 'cool', outcome: 'failed', reason: 'min_interval', retryAt: expect.any(String) });
    expect(changesOf('cool_user')).toBe(changes);

    // A leak is never refused.
    const leak = signedGeneric({ credential: 'cool', id: 'cool-leak' }, { secret: WEBHOOK_SECRETS[0], timestampSeconds: nowSeconds() });
    const leakReply = await send('POST', '/v1/leak-alerts', leak.headers, leak.payload);
    expect(leakReply.status).toBe(202);
    expect((await waitForJob((leakReply.body as { rotations: { jobId: string }[] }).rotations[0]?.jobId as string)).outcome).toBe('rotated');
  });

  it('alerts right after a leak rotation coalesce into it, unless they name the password the credential now holds', async () => {
    const leaked = current('coal');
    const post = async (body: unknown): Promise<Reply> => {
      const signed = signedGeneric(body, { secret: WEBHOOK_SECRETS[0], timestampSeconds: nowSeconds() });
      return send('POST', '/v1/leak-alerts', signed.headers, signed.payload);
    };
    const first = await post({ credential: 'coal', id: 'coal-1' });
    const firstJob = (first.body as { rotations: { jobId: string }[] }).rotations[0]?.jobId as string;
    expect((await waitForJob(firstJob)).outcome).toBe('rotated');
    const changes = changesOf('coal_user');
    const fresh = current('coal');
    // The index has the new password once the completed rotation was reloaded.
    await until('the index to hold the new password', async () => (await http.fingerprints.match({ tokenSha256: sha256Hex(fresh) })).length > 0);

    for (const body of [{ credential: 'coal', id: 'coal-2' }, { username: 'coal_user', cluster: 'west', id: 'coal-3' }, { tokenSha256: sha256Hex(leaked), id: 'coal-4' }]) {
      const reply = await post(body);
      expect(reply.status).toBe(202);
      expect((reply.body as { rotations: { jobId: string }[] }).rotations).toEqual([{ credential: 'coal', jobId: firstJob }]);
    }
    expect(changesOf('coal_user')).toBe(changes);
    expect(await new LeakFlags(redis, config.redis.prefix).has('coal')).toBe(false);

    const named = await post({ tokenSha256: sha256Hex(fresh), id: 'coal-5' });
    const namedJob = (named.body as { rotations: { jobId: string }[] }).rotations[0]?.jobId as string;
    expect(namedJob).not.toBe(firstJob);
    expect((await waitForJob(namedJob)).outcome).toBe('rotated');
    expect(current('coal')).not.toBe(fresh);
  });

  it('a trigger storm is cut by the per-token limit and the minimum interval, and no secret nears the version quota', async () => {
    const putsBefore = sandbox.emulator.callCount('PutSecretValue');
    const changesBefore = changesOf('storm_user');
    const statuses = new Map<number, number>();
    const details = new Set<string>();
    const stopAt = Date.now() + 5_000;
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (Date.now() < stopAt) {
          const reply = await trigger({ credentials: ['storm', 'cool'] });
          statuses.set(reply.status, (statuses.get(reply.status) ?? 0) + 1);
          if (reply.status === 429) details.add(String((reply.body as { detail?: string }).detail).replace(/\d.*$/, ''));
        }
      }),
    );
    // The other token is not limited by this one's storm.
    expect((await send('GET', '/v1/rotations/00000000-0000-4000-8000-000000000000', bearer(1))).status).toBe(404);
    await until('the storm rotations to finish', async () => (await worker.rotations.queue.getJobCounts('waiting', 'prioritized', 'active', 'delayed')).active === 0, 20_000);

    const accepted = statuses.get(202) ?? 0;
    const limited = statuses.get(429) ?? 0;
    expect(accepted + limited).toBeGreaterThan(TRIGGER_PER_MINUTE);
    expect(accepted).toBeLessThanOrEqual(TRIGGER_PER_MINUTE);
    expect([...details].some((d) => d.startsWith('more than '))).toBe(true);
    // At most one rotation per interval (plus the first) per credential, over ~5 s of storm and its tail.
    const stormRotations = (changesOf('storm_user') - changesBefore) / 2;
    expect(stormRotations).toBeGreaterThanOrEqual(1);
    expect(stormRotations).toBeLessThanOrEqual(5);
    expect(sandbox.emulator.callCount('PutSecretValue') - putsBefore).toBeLessThanOrEqual(10);
    for (const id of Object.keys(config.credentials)) expect(sandbox.emulator.versionCount(credential(id).secretId)).toBeLessThan(VERSION_QUOTA);
    expect(logs.join('')).not.toContain('LimitExceededException');
  });

  it('cuts slow sockets (headers, body), idle keep-alive connections, and connections past the cap', async () => {
    const address = new URL(http.url);
    const open = (): Promise<Socket> =>
      new Promise((resolve, reject) => {
        const socket = connect(Number(address.port), address.hostname, () => resolve(socket));
        // Flowing, so that the server's end is seen ('end', then 'close').
        socket.resume();
        socket.on('error', () => {});
        socket.once('error', reject);
      });
    const closedWithin = (socket: Socket, ms: number): Promise<boolean> =>
      new Promise((resolve) => {
        if (socket.destroyed || socket.readableEnded) return resolve(true);
        const timer = setTimeout(() => resolve(false), ms);
        socket.once('close', () => {
          clearTimeout(timer);
          resolve(true);
        });
      });
    // Half the headers, then nothing.
    const slowHeaders = await Promise.all(Array.from({ length: 5 }, open));
    for (const s of slowHeaders) s.write('POST /v1/leak-alerts/github HTTP/1.1\r\nHost: x\r\n');
    // Whole headers announcing 1 MiB, then a trickle that never ends.
    const slowBodies = await Promise.all(Array.from({ length: 5 }, open));
    for (const s of slowBodies) s.write('POST /v1/leak-alerts/github HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1048576\r\n\r\n[{"token":"');
    const trickle = setInterval(() => {
      for (const s of slowBodies) if (!s.destroyed) s.write('a');
    }, 200);
    // A kept-alive connection after one complete request.
    const idle = await open();
    idle.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
    const bound = LIMITS.requestTimeoutMs + 1_000 + 2_000; // the timeout, Node's check interval, a loaded machine
    try {
      const started = Date.now();
      expect(await Promise.all(slowHeaders.map((s) => closedWithin(s, bound)))).toEqual(slowHeaders.map(() => true));
      expect(await Promise.all(slowBodies.map((s) => closedWithin(s, bound)))).toEqual(slowBodies.map(() => true));
      expect(await closedWithin(idle, bound)).toBe(true);
      expect(Date.now() - started).toBeLessThan(bound + 500);
    } finally {
      clearInterval(trickle);
      for (const s of [...slowHeaders, ...slowBodies, idle]) s.destroy();
    }

    // Past the cap: the extra connections are closed at once; the server still serves afterwards.
    const many = await Promise.all(Array.from({ length: LIMITS.maxConnections + 10 }, open));
    try {
      const closed = await Promise.all(many.map((s) => closedWithin(s, 500)));
      expect(closed.filter(Boolean).length).toBeGreaterThanOrEqual(10);
    } finally {
      for (const s of many) s.destroy();
    }
    await until('connections to drain', async () => (await send('GET', '/healthz', {}).catch(() => ({ status: 0 }))).status === 200);
  });

  it('1,505 alerts with unique sources make one `other` series, not 1,505', async () => {
    let next = 0;
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        for (let i = next++; i < 1_505; i = next++) {
          const signed = signedGeneric({ credential: 'not-configured', id: `card-${i}`, source: `made-up-source-${i}` }, { secret: WEBHOOK_SECRETS[0], timestampSeconds: nowSeconds() });
          // The server's own app, without a socket per request (fast); the metrics are the server's.
          const reply = await http.app.inject({ method: 'POST', url: '/v1/leak-alerts', headers: signed.headers, payload: signed.payload });
          expect(reply.statusCode).toBe(202);
        }
      }),
    );
    const metrics = String((await send('GET', '/metrics', {})).body);
    const series = metrics.split('\n').filter((line) => line.startsWith('milvus_rotator_leak_alerts_total{'));
    expect(series.some((line) => line.includes('made-up-source'))).toBe(false);
    expect(series.find((line) => line.includes('source="other"') && line.includes('result="unmatched"'))).toMatch(/ 1505$/);
    expect(series.length).toBeLessThan(20);
  });

  it('a cluster echoing the request in any encoding leaves no password in job results, the events stream or logs', async () => {
    const encodings: EchoEncoding[] = ['plain', 'hex', 'base64', 'percent-lower', 'rfc3986', 'upper'];
    const jobIds: string[] = [];
    const west = sandbox.clusters.get('west');
    if (!west) throw new Error('no west simulator');
    for (const encoding of encodings) {
      west.injectFault({ route: 'update_password', user: 'echo_user', fault: { kind: 'echo', status: 400, encoding } });
      const reply = await trigger({ credential: 'echo' }, 1);
      expect(reply.status).toBe(202);
      const jobId = (reply.body as { rotations: { jobId: string }[] }).rotations[0]?.jobId as string;
      const view = await waitForJob(jobId);
      expect(view.outcome).not.toBe('rotated');
      jobIds.push(jobId);
    }
    const results = await Promise.all(jobIds.map(async (id) => JSON.stringify(await jobResult(id))));
    const events = JSON.stringify(await redis.xrange(`${config.redis.prefix}:${worker.rotations.queue.name}:events`, '-', '+'));
    const passwords = [...sandbox.emulator.valuesSeen().flatMap((v) => {
      try {
        const parsed = JSON.parse(v) as { password?: string };
        return parsed.password ? [parsed.password] : [];
      } catch {
        return [];
      }
    })];
    expect(passwords.length).toBeGreaterThan(6);
    expect(findExposures([...results, events, ...logs], passwords, ['echo_user'])).toEqual([]);
    // The results say what happened in our words: status and code.
    for (const result of results) expect(result).toMatch(/HTTP 400/);
  });
});
