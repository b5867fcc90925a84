/**
 * Redis as production runs it, part 1: TLS with a private CA (`redis.caFile`) and ACL users with
 * percent-encoded passwords. Real redis-server processes started by the test (a CA and server
 * certificate made with openssl), the worker and the CLI as child processes.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { removeTempDir, trackTempDir } from './helpers/redis-process.ts';
import { startShapeHarness, exposuresIn, type ShapeHarness } from './helpers/redis-shape-harness.ts';
import { startRedisServer, type RedisServer } from './helpers/redis-server.ts';
import { makeTestCertificates, type TestCertificates } from './helpers/test-ca.ts';

const harnesses: ShapeHarness[] = [];
async function harness(...args: Parameters<typeof startShapeHarness>): Promise<ShapeHarness> {
  const h = await startShapeHarness(...args);
  harnesses.push(h);
  return h;
}
afterEach(async () => {
  for (const h of harnesses.splice(0)) await h.close();
});

const CREDENTIAL = [{ id: 'app', username: 'app_user', clusters: ['west'] }];

describe('Redis over TLS with a private CA (redis.caFile)', () => {
  let certs: TestCertificates;
  let server: RedisServer;
  beforeAll(async () => {
    certs = makeTestCertificates();
    server = await startRedisServer({ tls: certs });
  });
  afterAll(async () => {
    await server?.stop();
    certs?.remove();
  });

  it('the worker rotates through it, trusting only caFile', async () => {
    const h = await harness({ url: server.url, caFile: certs.caFile }, CREDENTIAL);
    const worker = await h.startWorker();
    const run = await h.cli(['enqueue', '--credential', 'app', '--wait', '--json']);
    expect(run.timedOut).toBe(false);
    expect(run.code, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout.split('\n').find((l) => l.startsWith('{')) ?? '{}')).toMatchObject({ credential: 'app', outcome: 'rotated' });
    expect(h.endProblems()).toEqual([]);
    expect(exposuresIn(h, [...worker.lines, run.stdout, run.stderr])).toEqual([]);
  });

  it('a server certificate from another CA is refused: a clear error naming the endpoint, exit 4 within the bound; the worker says why and never starts', async () => {
    // Trusting only another CA, and trusting the system store (no caFile): both must refuse.
    for (const caFile of [certs.otherCaFile, undefined]) {
      const h = await harness({ url: server.url, connectTimeoutMs: 20_000, ...(caFile && { caFile }) }, CREDENTIAL);
      const run = await h.cli(['schedules', 'sync'], 20_000);
      expect(run.timedOut).toBe(false);
      expect(run.code, run.stderr).toBe(4);
      expect(run.stderr).toContain(`redis ${server.url}`);
      expect(run.stderr).toMatch(/TLS certificate refused/);
      // Refused at once (retrying cannot fix a certificate), long before connectTimeoutMs (20 s).
      expect(run.ms).toBeLessThan(10_000);
      await h.close();
      harnesses.splice(harnesses.indexOf(h), 1);
    }
    const h = await harness({ url: server.url, caFile: certs.otherCaFile }, CREDENTIAL);
    const worker = (await import('./helpers/worker-process.ts')).spawnWorker(h.configPath, h.sandbox.env);
    try {
      const line = await worker.waitForLine(/redis connection error/, 15_000);
      expect(line).toMatch(/TLS certificate refused/);
      expect(line).toContain(server.url);
      expect(worker.lines.some((l) => /worker started/.test(l))).toBe(false);
    } finally {
      worker.kill('SIGKILL');
      await worker.exited;
    }
  });
});

describe('Redis ACL users (redis.url user and password, percent-encoded)', () => {
  /** # ? @ % / : all in one password, as a Kubernetes Secret might hold it. */
  const PASSWORD = 'r0t#a?t@o%r/p:w';
  const PREFIX = '{acl-rotator}';
  let server: RedisServer;
  let dir: string;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rotator-acl-'));
    trackTempDir(dir);
    const aclFile = join(dir, 'users.acl');
    const sha = createHash('sha256').update(PASSWORD).digest('hex');
    // What BullMQ and the rotator need, and nothing else: their keys only, no admin commands
    // (no CONFIG, FLUSHALL, KEYS, DEBUG...), no other user's data.
    writeFileSync(
      aclFile,
      [
        'user default off',
        `user rotator on #${sha} ~${PREFIX}* resetchannels -@all +@read +@write +@scripting +@blocking +@connection +@transaction +info +time +client|setname +client|getname`,
        '',
      ].join('\n'),
    );
    server = await startRedisServer({ aclFile });
  });
  afterAll(async () => {
    await server?.stop();
    removeTempDir(dir);
  });

  it('a minimal user whose password holds # ? @ % / : (percent-encoded in the URL) runs the worker and a rotation', async () => {
    const url = `redis://rotator:${encodeURIComponent(PASSWORD)}@127.0.0.1:${server.port}`;
    const h = await harness({ url, prefix: PREFIX }, CREDENTIAL);
    const worker = await h.startWorker();
    const sync = await h.cli(['schedules', 'sync']);
    expect(sync.code, sync.stderr).toBe(0);
    const run = await h.cli(['enqueue', '--credential', 'app', '--wait', '--json']);
    expect(run.code, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout.split('\n').find((l) => l.startsWith('{')) ?? '{}')).toMatchObject({ credential: 'app', outcome: 'rotated' });
    expect(h.endProblems()).toEqual([]);
    const logs = [...worker.lines, run.stdout, run.stderr, sync.stdout, sync.stderr].join('\n');
    expect(logs).not.toContain(PASSWORD);
    expect(logs).not.toContain(encodeURIComponent(PASSWORD));
  });

  it('a wrong password is a clear error at once, exit 4, and the output holds no password', async () => {
    const wrong = 'not-the#password';
    const h = await harness({ url: `redis://rotator:${encodeURIComponent(wrong)}@127.0.0.1:${server.port}`, prefix: PREFIX, connectTimeoutMs: 20_000 }, CREDENTIAL);
    const run = await h.cli(['schedules', 'sync'], 20_000);
    expect(run.timedOut).toBe(false);
    expect(run.code, run.stderr).toBe(4);
    expect(run.stderr).toContain(`redis://rotator:***@127.0.0.1:${server.port}`);
    expect(run.stderr).toMatch(/authentication refused \(WRONGPASS/);
    expect(run.ms).toBeLessThan(10_000); // at once, long before connectTimeoutMs (20 s)
    expect(run.stdout + run.stderr).not.toContain(wrong);
    expect(run.stdout + run.stderr).not.toContain(encodeURIComponent(wrong));
  });
});
