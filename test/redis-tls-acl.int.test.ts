/**
 * Redis as production runs it, part 1: TLS with a private CA (`redis.caFile`) and an ACL user
 * with a percent-encoded password. One real redis-server started by the test, TLS only, with a CA
 * and server certificate made with openssl and an ACL file; the worker and the CLI as child
 * processes.
 */
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startShapeHarness, exposuresIn, type ShapeHarness } from './helpers/redis-shape-harness.ts';
import { startRedisServer, type RedisServer } from './helpers/redis-server.ts';
import { makeTestCertificates, type TestCertificates } from './helpers/test-ca.ts';
import { spawnWorker } from './helpers/worker-process.ts';

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
/** # ? @ % / : all in one password, as an ElastiCache token or a Kubernetes Secret might hold it. */
const PASSWORD = 'r0t#a?t@o%r/p:w';
const PREFIX = '{acl-rotator}';

let certs: TestCertificates;
let server: RedisServer;
/** `rediss://rotator:<encoded>@127.0.0.1:<port>` */
let url: string;

beforeAll(async () => {
  certs = makeTestCertificates();
  const aclFile = join(certs.dir, 'users.acl');
  // What BullMQ and the rotator need, and nothing else: their keys only, no admin commands
  // (no CONFIG, FLUSHALL, KEYS, DEBUG...), no other user's data; the default user is off.
  writeFileSync(
    aclFile,
    [
      'user default off',
      `user rotator on #${createHash('sha256').update(PASSWORD).digest('hex')} ~${PREFIX}* resetchannels -@all +@read +@write +@scripting +@blocking +@connection +@transaction +info +time +client|setname +client|getname`,
      '',
    ].join('\n'),
  );
  server = await startRedisServer({ tls: certs, aclFile });
  url = `rediss://rotator:${encodeURIComponent(PASSWORD)}@127.0.0.1:${server.port}`;
});
afterAll(async () => {
  await server?.stop();
  certs?.remove();
});

describe('Redis over TLS with a private CA, as a minimal ACL user', () => {
  it('the worker rotates through it, trusting only caFile, with # ? @ % / : in the percent-encoded password', async () => {
    const h = await harness({ url, caFile: certs.caFile, prefix: PREFIX }, CREDENTIAL);
    const worker = await h.startWorker();
    const sync = await h.cli(['schedules', 'sync']);
    expect(sync.code, sync.stderr).toBe(0);
    const run = await h.cli(['enqueue', '--credential', 'app', '--wait', '--json']);
    expect(run.timedOut).toBe(false);
    expect(run.code, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout.split('\n').find((l) => l.startsWith('{')) ?? '{}')).toMatchObject({ credential: 'app', outcome: 'rotated' });
    expect(h.endProblems()).toEqual([]);
    const texts = [...worker.lines, run.stdout, run.stderr, sync.stdout, sync.stderr];
    expect(exposuresIn(h, texts)).toEqual([]);
    expect(texts.join('\n')).not.toContain(PASSWORD);
    expect(texts.join('\n')).not.toContain(encodeURIComponent(PASSWORD));
  });

  it('a server certificate from another CA is refused: a clear error naming the endpoint, exit 4 at once; the worker says why and never starts', async () => {
    const endpoint = `redis rediss://rotator:***@127.0.0.1:${server.port}`;
    // Trusting only another CA, and trusting the system store (no caFile): both must refuse.
    for (const caFile of [certs.otherCaFile, undefined]) {
      const h = await harness({ url, prefix: PREFIX, connectTimeoutMs: 20_000, ...(caFile && { caFile }) }, CREDENTIAL);
      const run = await h.cli(['schedules', 'sync'], 20_000);
      expect(run.timedOut).toBe(false);
      expect(run.code, run.stderr).toBe(4);
      expect(run.stderr).toContain(endpoint);
      expect(run.stderr).toMatch(/TLS certificate refused/);
      // Refused at once (retrying cannot fix a certificate), long before connectTimeoutMs (20 s).
      expect(run.ms).toBeLessThan(10_000);
      expect(run.stdout + run.stderr).not.toContain(encodeURIComponent(PASSWORD));
    }
    const h = await harness({ url, prefix: PREFIX, caFile: certs.otherCaFile }, CREDENTIAL);
    const worker = spawnWorker(h.configPath, h.sandbox.env);
    try {
      const line = await worker.waitForLine(/redis connection error/, 15_000);
      expect(line).toMatch(/TLS certificate refused/);
      expect(line).toContain(`rediss://rotator:***@127.0.0.1:${server.port}`);
      expect(worker.lines.some((l) => /worker started/.test(l))).toBe(false);
    } finally {
      worker.kill('SIGKILL');
      await worker.exited;
    }
  });

  it('a wrong password is a clear error at once, exit 4, and the output holds no password', async () => {
    const wrong = 'not-the#password';
    const h = await harness({ url: `rediss://rotator:${encodeURIComponent(wrong)}@127.0.0.1:${server.port}`, caFile: certs.caFile, prefix: PREFIX, connectTimeoutMs: 20_000 }, CREDENTIAL);
    const run = await h.cli(['schedules', 'sync'], 20_000);
    expect(run.timedOut).toBe(false);
    expect(run.code, run.stderr).toBe(4);
    expect(run.stderr).toContain(`redis rediss://rotator:***@127.0.0.1:${server.port}`);
    expect(run.stderr).toMatch(/authentication refused \(WRONGPASS/);
    expect(run.ms).toBeLessThan(10_000); // at once, long before connectTimeoutMs (20 s)
    expect(run.stdout + run.stderr).not.toContain(wrong);
    expect(run.stdout + run.stderr).not.toContain(encodeURIComponent(wrong));
  });
});
