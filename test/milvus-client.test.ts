import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { MilvusRestClient, type MilvusRestClientOptions } from '../src/milvus/client.ts';
import { ERROR_CODE } from '../src/error-codes.ts';
import { MilvusClientOptionsError } from '../src/milvus/errors.ts';
import type { ProbeResult, UpdateResult } from '../src/milvus/types.ts';
import { MilvusSimulator, type Fault, type MilvusSimulatorOptions } from '../src/sandbox/milvus-simulator.ts';

/**
 * The client against the simulator over real HTTP(S): every row of the classification in
 * src/milvus/types.ts, every injected fault with the server state it leaves behind, timeouts,
 * TLS with a private CA, and the promise that no password ever comes back in a result.
 */

const simulators: MilvusSimulator[] = [];
const clients: MilvusRestClient[] = [];
const rawServers: Server[] = [];

async function startSimulator(options: MilvusSimulatorOptions = {}): Promise<MilvusSimulator> {
  const simulator = await MilvusSimulator.start(options);
  simulators.push(simulator);
  return simulator;
}

function clientFor(endpoint: string, options: Partial<MilvusRestClientOptions> = {}): MilvusRestClient {
  const client = new MilvusRestClient({ name: 'test-cluster', endpoint, timeoutMs: 2_000, ...options });
  clients.push(client);
  return client;
}

afterEach(async () => {
  for (const client of clients.splice(0)) client.close();
  await Promise.all(simulators.splice(0).map((s) => s.close()));
  await Promise.all(
    rawServers.splice(0).map(
      (server) =>
        new Promise<void>((resolve) => {
          server.closeAllConnections();
          server.close(() => resolve());
        }),
    ),
  );
});

interface Captured {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  /** The Authorization header's bytes as they were on the wire. */
  authorizationBytes: Buffer;
  body: string;
}

/** A plain HTTP server that records requests and answers with a fixed reply, to pin the wire format. */
async function startCaptureServer(reply: { status: number; body: string }): Promise<{ url: string; requests: Captured[]; connections: () => number }> {
  const requests: Captured[] = [];
  let connections = 0;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      requests.push({
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        authorizationBytes: Buffer.from(req.headers.authorization ?? '', 'latin1'),
        body: Buffer.concat(chunks).toString('utf8'),
      });
      res.writeHead(reply.status, { 'Content-Type': 'application/json' });
      res.end(reply.body);
    });
  });
  server.on('connection', (_socket: Socket) => {
    connections += 1;
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  rawServers.push(server);
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests, connections: () => connections };
}

/** A port nothing listens on: a server bound then closed. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function reply(status: number, body: unknown, contentType?: string): Fault {
  return { kind: 'reply', status, body: typeof body === 'string' ? body : JSON.stringify(body), ...(contentType ? { contentType } : {}) };
}

describe('MilvusRestClient', () => {
  describe('wire format (spec sections 3, 6)', () => {
    it('POSTs the exact headers and body of update_password under the endpoint\'s path prefix', async () => {
      const capture = await startCaptureServer({ status: 200, body: '{"code":0,"data":{}}' });
      const client = clientFor(`${capture.url}/gateway/milvus/`, { timeoutMs: 1_500 });
      const result = await client.updatePassword('alice', 'old:pass', 'new-pass');
      expect(result).toEqual({ kind: 'accepted' });
      const [request] = capture.requests;
      expect(request).toBeDefined();
      expect(request?.method).toBe('POST');
      expect(request?.url).toBe('/gateway/milvus/v2/vectordb/users/update_password');
      expect(request?.headers.authorization).toBe('Bearer alice:old:pass');
      expect(request?.headers['content-type']).toBe('application/json');
      // 1500 ms rounds up to whole seconds, so the server never gives up before the client.
      expect(request?.headers['request-timeout']).toBe('2');
      expect(JSON.parse(request?.body ?? '')).toEqual({ userName: 'alice', password: 'old:pass', newPassword: 'new-pass' });
    });

    it('probes with POST collections/list and an empty JSON object', async () => {
      const capture = await startCaptureServer({ status: 200, body: '{"code":0,"data":[]}' });
      const client = clientFor(capture.url, { timeoutMs: 300 });
      expect(await client.probe('alice', 'pw-123456')).toEqual({ kind: 'accepted' });
      expect(capture.requests[0]?.url).toBe('/v2/vectordb/collections/list');
      expect(capture.requests[0]?.body).toBe('{}');
      expect(capture.requests[0]?.headers['request-timeout']).toBe('1');
    });

    it('sends a non-ASCII password as UTF-8 bytes, which the simulator (like Go) accepts', async () => {
      const capture = await startCaptureServer({ status: 200, body: '{"code":0,"data":[]}' });
      await clientFor(capture.url).probe('alice', 'pässwörd-ü');
      expect(capture.requests[0]?.authorizationBytes.equals(Buffer.from('Bearer alice:pässwörd-ü', 'utf8'))).toBe(true);

      const sim = await startSimulator({ users: { alice: 'old-secret' } });
      const client = clientFor(sim.url);
      expect(await client.updatePassword('alice', 'old-secret', 'nëw-sécret-ü')).toEqual({ kind: 'accepted' });
      expect(sim.passwordOf('alice')).toBe('nëw-sécret-ü');
      expect(await client.probe('alice', 'nëw-sécret-ü')).toEqual({ kind: 'accepted' });
    });

    it('reuses one keep-alive connection for consecutive calls', async () => {
      const capture = await startCaptureServer({ status: 200, body: '{"code":0,"data":[]}' });
      const client = clientFor(capture.url);
      await client.probe('alice', 'pw-1');
      await client.probe('alice', 'pw-2');
      await client.updatePassword('alice', 'pw-2', 'pw-3');
      expect(capture.requests).toHaveLength(3);
      expect(capture.connections()).toBe(1);
    });

    it('sends nothing and answers other/unknown when a password holds control characters', async () => {
      const sim = await startSimulator({ users: { alice: 'old-secret' } });
      const client = clientFor(sim.url);
      const update = await client.updatePassword('alice', 'bad\nsecret', 'new-secret');
      expect(update).toMatchObject({ kind: 'other', httpStatus: 0, code: null });
      expect(await client.probe('alice', 'bad\u0000secret')).toMatchObject({ kind: 'unknown' });
      expect(sim.requestCount('any')).toBe(0);
    });
  });

  describe('updatePassword classification (spec sections 5, 10)', () => {
    it('HTTP 200 code 0 -> accepted, and the server holds the new password', async () => {
      const sim = await startSimulator({ users: { alice: 'old-secret' } });
      expect(await clientFor(sim.url).updatePassword('alice', 'old-secret', 'new-secret')).toEqual({ kind: 'accepted' });
      expect(sim.passwordOf('alice')).toBe('new-secret');
    });

    it('HTTP 401 -> rejected, and nothing changed', async () => {
      const sim = await startSimulator({ users: { alice: 'old-secret' } });
      expect(await clientFor(sim.url).updatePassword('alice', 'not-the-old', 'new-secret')).toEqual({ kind: 'rejected' });
      expect(sim.passwordOf('alice')).toBe('old-secret');
    });

    it('HTTP 200 code 1400 -> old-password-wrong (auth off, so the body check decides)', async () => {
      const sim = await startSimulator({ users: { alice: 'old-secret' }, authEnabled: false });
      expect(await clientFor(sim.url).updatePassword('alice', 'not-the-old', 'new-secret')).toEqual({ kind: 'old-password-wrong' });
      expect(sim.passwordOf('alice')).toBe('old-secret');
    });

    it('HTTP 200 code 1100 -> policy-rejected with our fixed text, not the server\'s', async () => {
      const sim = await startSimulator({ users: { alice: 'old-secret' } });
      expect(await clientFor(sim.url).updatePassword('alice', 'old-secret', 'x'.repeat(73))).toEqual({
        kind: 'policy-rejected',
        message: 'HTTP 200 code 1100: parameter invalid (the password was refused by the cluster policy)',
      });
      expect(sim.passwordOf('alice')).toBe('old-secret');
    });

    it.each([
      ['HTTP 200 code 65535', reply(200, { code: 65535, message: 'UpdateCredential failed, proxyID = 3' }), /^HTTP 200 code 65535: unexpected server error$/],
      ['HTTP 200 code 1 (service not ready)', reply(200, { code: 1, message: 'service not ready[Abnormal]' }), /code 1:/],
      ['HTTP 200 code 4 (queue full)', reply(200, { code: 4, message: 'too many concurrent requests, queue is full' }), /code 4:/],
      ['HTTP 200 code 8 (rate limit)', reply(200, { code: 8, message: 'rate limit exceeded' }), /code 8:/],
      ['HTTP 408', reply(408, { code: 10001, message: 'request timeout' }), /HTTP 408/],
      ['HTTP 429', reply(429, 'Too Many Requests', 'text/plain'), /HTTP 429/],
      ['HTTP 500', reply(500, ''), /HTTP 500 with an empty body/],
      ['HTTP 503', reply(503, '<html>unavailable</html>', 'text/html'), /^HTTP 503 with a body that is not a Milvus reply$/],
      ['HTTP 200 with a non-JSON body', reply(200, '<html>gateway login</html>', 'text/html'), /^HTTP 200 with a body that is not a Milvus reply$/],
      ['HTTP 200 with JSON but no code', reply(200, { data: {} }), /HTTP 200/],
    ])('%s -> ambiguous', async (_label, fault, reason) => {
      const sim = await startSimulator({ users: { alice: 'old-secret' } });
      sim.injectFault({ route: 'update_password', fault });
      const result = await clientFor(sim.url).updatePassword('alice', 'old-secret', 'new-secret');
      expect(result.kind).toBe('ambiguous');
      expect(result.kind === 'ambiguous' ? result.reason : '').toMatch(reason);
    });

    it.each([
      ['HTTP 403', reply(403, { code: 65535, message: 'rpc error: code = PermissionDenied desc = PrivilegeUpdateUser: permission deny to alice in the `default` database' }), { httpStatus: 403, code: 65535 }],
      ['HTTP 200 code 1801', reply(200, { code: 1801, message: 'can only accept json format request, error: unexpected EOF' }), { httpStatus: 200, code: 1801 }],
      ['HTTP 200 code 1807 (not a user-route code)', reply(200, { code: 1807, message: 'request is rejected by limiter' }), { httpStatus: 200, code: 1807 }],
      ['HTTP 200 unknown code 4242', reply(200, { code: 4242, message: 'something new' }), { httpStatus: 200, code: 4242 }],
      ['HTTP 400 with a text body', reply(400, 'Bad Request', 'text/plain'), { httpStatus: 400, code: null }],
    ])('%s -> other', async (_label, fault, expected) => {
      const sim = await startSimulator({ users: { alice: 'old-secret' } });
      sim.injectFault({ route: 'update_password', fault });
      expect(await clientFor(sim.url).updatePassword('alice', 'old-secret', 'new-secret')).toMatchObject({ kind: 'other', ...expected });
    });

    it('HTTP 404 (a wrong path prefix) -> other, with our text, not gin\'s', async () => {
      const sim = await startSimulator({ users: { alice: 'old-secret' } });
      const result = await clientFor(`${sim.url}/wrong-prefix`).updatePassword('alice', 'old-secret', 'new-secret');
      expect(result).toEqual({ kind: 'other', httpStatus: 404, code: null, message: 'HTTP 404 with a body that is not a Milvus reply' });
    });

    it('HTTP 200 code 1802 (an empty new password) -> other', async () => {
      const sim = await startSimulator({ users: { alice: 'old-secret' } });
      const result = await clientFor(sim.url).updatePassword('alice', 'old-secret', '');
      expect(result).toMatchObject({ kind: 'other', httpStatus: 200, code: 1802, message: 'HTTP 200 code 1802: privilege or user operation refused' });
      expect(sim.passwordOf('alice')).toBe('old-secret');
    });
  });

  describe('probe classification (spec section 2)', () => {
    it('HTTP 200 code 0 -> accepted, HTTP 401 -> rejected', async () => {
      const sim = await startSimulator({ users: { alice: 'the-secret' } });
      const client = clientFor(sim.url);
      expect(await client.probe('alice', 'the-secret')).toEqual({ kind: 'accepted' });
      expect(await client.probe('alice', 'not-the-secret')).toEqual({ kind: 'rejected' });
      expect(await client.probe('nobody', 'the-secret')).toEqual({ kind: 'rejected' });
    });

    it.each([
      ['HTTP 502', { kind: 'status', status: 502 } as Fault],
      ['HTTP 403', reply(403, { code: 65535, message: 'permission deny' })],
      ['HTTP 200 code 800', reply(200, { code: 800, message: 'database not found[database=x]' })],
      ['HTTP 200 with a non-JSON body', reply(200, 'ok', 'text/plain')],
      ['HTTP 408', { kind: 'applied-then-408' } as Fault],
    ])('%s -> unknown', async (_label, fault) => {
      const sim = await startSimulator({ users: { alice: 'the-secret' } });
      sim.injectFault({ route: 'probe', fault });
      const result = await clientFor(sim.url).probe('alice', 'the-secret');
      expect(result.kind).toBe('unknown');
    });

    it('HTTP 404 -> unknown, not rejected: a misrouted probe proves nothing', async () => {
      const sim = await startSimulator({ users: { alice: 'the-secret' } });
      expect(await clientFor(`${sim.url}/nope`).probe('alice', 'the-secret')).toMatchObject({ kind: 'unknown', reason: expect.stringContaining('HTTP 404') });
    });

    it('accepts a wrong password when the cluster has authentication off (spec 12.7)', async () => {
      const sim = await startSimulator({ users: { alice: 'the-secret' }, authEnabled: false });
      expect(await clientFor(sim.url).probe('alice', 'deliberately-wrong')).toEqual({ kind: 'accepted' });
    });
  });

  describe('injected faults: the answer and the real server state', () => {
    const cases: { fault: Fault; kind: UpdateResult['kind']; applied: boolean }[] = [
      { fault: { kind: 'latency', ms: 40 }, kind: 'accepted', applied: true },
      { fault: { kind: 'status', status: 500 }, kind: 'ambiguous', applied: false },
      { fault: { kind: 'status', status: 502 }, kind: 'ambiguous', applied: false },
      { fault: { kind: 'status', status: 503 }, kind: 'ambiguous', applied: false },
      { fault: { kind: 'timeout' }, kind: 'ambiguous', applied: false },
      { fault: { kind: 'applied-then-408' }, kind: 'ambiguous', applied: true },
      { fault: { kind: 'applied-then-65535' }, kind: 'ambiguous', applied: true },
      { fault: { kind: 'applied-then-drop' }, kind: 'ambiguous', applied: true },
      { fault: { kind: 'drop-before-apply' }, kind: 'ambiguous', applied: false },
      { fault: { kind: 'applied-then-5xx' }, kind: 'ambiguous', applied: true },
    ];

    it.each(cases.map((c) => [JSON.stringify(c.fault), c] as const))('%s', async (_label, { fault, kind, applied }) => {
      const sim = await startSimulator({ users: { alice: 'old-secret' } });
      sim.injectFault({ route: 'update_password', user: 'alice', fault });
      const client = clientFor(sim.url, { timeoutMs: 250 });
      const started = performance.now();
      const result = await client.updatePassword('alice', 'old-secret', 'new-secret');
      const elapsedMs = performance.now() - started;
      expect(result.kind).toBe(kind);
      expect(sim.passwordOf('alice')).toBe(applied ? 'new-secret' : 'old-secret');
      expect(sim.pendingFaults()).toBe(0);
      if (fault.kind === 'latency') expect(elapsedMs).toBeGreaterThanOrEqual(fault.ms - 5);
      if (fault.kind === 'timeout') expect(result).toEqual({ kind: 'ambiguous', reason: 'timed out after 250 ms' });
      // The spec's resolution rule (section 10) works against the same server: probe new, then old.
      expect(await client.probe('alice', 'new-secret')).toEqual({ kind: applied ? 'accepted' : 'rejected' });
      expect(await client.probe('alice', 'old-secret')).toEqual({ kind: applied ? 'rejected' : 'accepted' });
    });
  });

  describe('timeouts and cancellation', () => {
    it('gives up at timeoutMs with ambiguous, while the slow server still applies the change', async () => {
      const sim = await startSimulator({ users: { alice: 'old-secret' }, latencyMs: 300 });
      const applied = new Promise<void>((resolve) => sim.onChange(() => resolve()));
      const started = performance.now();
      const result = await clientFor(sim.url, { timeoutMs: 100 }).updatePassword('alice', 'old-secret', 'new-secret');
      expect(result).toEqual({ kind: 'ambiguous', reason: 'timed out after 100 ms' });
      expect(performance.now() - started).toBeLessThan(280);
      expect(sim.passwordOf('alice')).toBe('old-secret');
      await applied;
      expect(sim.passwordOf('alice')).toBe('new-secret');
    });

    it('stops when the caller\'s signal aborts, and says so', async () => {
      const sim = await startSimulator({ users: { alice: 'old-secret' } });
      sim.injectFault({ fault: { kind: 'timeout' } });
      const controller = new AbortController();
      setTimeout(() => controller.abort(), 30);
      const result = await clientFor(sim.url, { timeoutMs: 5_000 }).updatePassword('alice', 'old-secret', 'new-secret', { signal: controller.signal });
      expect(result).toEqual({ kind: 'ambiguous', reason: 'aborted by the caller' });
    });

    it('sends nothing when the signal is already aborted', async () => {
      const sim = await startSimulator({ users: { alice: 'old-secret' } });
      const client = clientFor(sim.url);
      const signal = AbortSignal.abort();
      expect(await client.updatePassword('alice', 'old-secret', 'new-secret', { signal })).toEqual({ kind: 'ambiguous', reason: 'aborted by the caller' });
      expect(await client.probe('alice', 'old-secret', { signal })).toEqual({ kind: 'unknown', reason: 'aborted by the caller' });
      expect(sim.requestCount('any')).toBe(0);
    });

    it('answers unknown for a probe that times out', async () => {
      const sim = await startSimulator({ users: { alice: 'the-secret' } });
      sim.injectFault({ route: 'probe', fault: { kind: 'timeout' } });
      expect(await clientFor(sim.url, { timeoutMs: 80 }).probe('alice', 'the-secret')).toEqual({ kind: 'unknown', reason: 'timed out after 80 ms' });
    });

    it('maps a refused connection to ambiguous / unknown with a network reason', async () => {
      const port = await closedPort();
      const client = clientFor(`http://127.0.0.1:${port}`);
      expect(await client.updatePassword('alice', 'old-secret', 'new-secret')).toMatchObject({ kind: 'ambiguous', reason: expect.stringContaining('ECONNREFUSED') });
      expect(await client.probe('alice', 'old-secret')).toMatchObject({ kind: 'unknown', reason: expect.stringContaining('ECONNREFUSED') });
    });
  });

  describe('TLS with a private CA', () => {
    let dir = '';
    let caPem = '';
    let tls: { key: Buffer; cert: Buffer } = { key: Buffer.alloc(0), cert: Buffer.alloc(0) };

    beforeAll(() => {
      dir = mkdtempSync(join(tmpdir(), 'milvus-rotator-tls-'));
      const at = (name: string): string => join(dir, name);
      const openssl = (...args: string[]): void => {
        execFileSync('openssl', args, { stdio: 'pipe' });
      };
      const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
      openssl('req', '-x509', ...ec, '-keyout', at('ca.key'), '-out', at('ca.pem'), '-days', '1', '-subj', '/CN=milvus-rotator test CA',
        '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
      openssl('req', ...ec, '-keyout', at('server.key'), '-out', at('server.csr'), '-subj', '/CN=127.0.0.1');
      writeFileSync(at('server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n');
      openssl('x509', '-req', '-in', at('server.csr'), '-CA', at('ca.pem'), '-CAkey', at('ca.key'), '-CAcreateserial', '-out', at('server.pem'), '-days', '1', '-extfile', at('server.ext'));
      caPem = readFileSync(at('ca.pem'), 'utf8');
      tls = { key: readFileSync(at('server.key')), cert: readFileSync(at('server.pem')) };
    });

    afterAll(() => {
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    it('rotates over https when the CA is given', async () => {
      const sim = await startSimulator({ users: { alice: 'old-secret' }, tls });
      expect(sim.url).toMatch(/^https:\/\//);
      const client = clientFor(sim.url, { ca: caPem });
      expect(await client.probe('alice', 'old-secret')).toEqual({ kind: 'accepted' });
      expect(await client.updatePassword('alice', 'old-secret', 'new-secret')).toEqual({ kind: 'accepted' });
      expect(sim.passwordOf('alice')).toBe('new-secret');
    });

    it('fails as unknown / ambiguous without the CA, and the server never sees a request', async () => {
      const sim = await startSimulator({ users: { alice: 'old-secret' }, tls });
      const client = clientFor(sim.url);
      const probe = await client.probe('alice', 'old-secret');
      // The error's code only: Node's message can quote the server's certificate.
      expect(probe).toMatchObject({ kind: 'unknown', reason: expect.stringMatching(/^network error: [A-Z0-9_]+$/) });
      expect(await client.updatePassword('alice', 'old-secret', 'new-secret')).toMatchObject({ kind: 'ambiguous' });
      expect(sim.requestCount('any')).toBe(0);
      expect(sim.passwordOf('alice')).toBe('old-secret');
    });
  });

  describe('options', () => {
    it.each([
      ['not a URL', { endpoint: 'in01-xxxx:19530' }],
      ['an unsupported scheme', { endpoint: 'grpc://127.0.0.1:19530' }],
      ['a query string', { endpoint: 'http://127.0.0.1:19530/?x=1' }],
      ['a zero timeout', { endpoint: 'http://127.0.0.1:19530', timeoutMs: 0 }],
      ['a CA on plain http', { endpoint: 'http://127.0.0.1:19530', ca: 'PEM' }],
    ])('refuses %s with MilvusClientOptionsError', (_label, options) => {
      expect(() => new MilvusRestClient({ name: 'c1', timeoutMs: 1_000, ...options })).toThrow(MilvusClientOptionsError);
    });

    it('refuses credentials in the endpoint without repeating them in the error', () => {
      let caught: unknown;
      try {
        new MilvusRestClient({ name: 'c1', endpoint: 'https://root:Hunter2-secret@127.0.0.1:19530', timeoutMs: 1_000 });
      } catch (error) {
        caught = error;
      }
      expect(caught).toBeInstanceOf(MilvusClientOptionsError);
      expect((caught as MilvusClientOptionsError).code).toBe(ERROR_CODE.milvusClientOptionsInvalid);
      expect((caught as Error).message).toContain('c1');
      expect((caught as Error).message).not.toContain('Hunter2');
    });
  });

  describe('users and roles (spec section 14)', () => {
    const admin = { user: 'ops', password: 'Ops-Pass-123!' };
    const options = (): MilvusSimulatorOptions => ({
      users: { ops: admin.password, app_a: 'A-Pass-123!', app_b: 'B-Pass-123!' },
      roles: { ops: ['admin'], app_a: ['reader', 'writer'] },
    });

    it('POSTs describe, create, grant, revoke and roles/list with their exact bodies', async () => {
      const capture = await startCaptureServer({ status: 200, body: '{"code":0,"data":[]}' });
      const client = clientFor(`${capture.url}/gw`);
      await client.describeUser(admin, 'app_b');
      await client.createUser(admin, 'app_b', 'B-Pass-123!');
      await client.grantRole(admin, 'app_b', 'reader');
      await client.revokeRole(admin, 'app_b', 'writer');
      await client.listRoles(admin);
      expect(capture.requests.map((r) => [r.method, r.url, r.body])).toEqual([
        ['POST', '/gw/v2/vectordb/users/describe', '{"userName":"app_b"}'],
        ['POST', '/gw/v2/vectordb/users/create', '{"userName":"app_b","password":"B-Pass-123!"}'],
        ['POST', '/gw/v2/vectordb/users/grant_role', '{"userName":"app_b","roleName":"reader"}'],
        ['POST', '/gw/v2/vectordb/users/revoke_role', '{"userName":"app_b","roleName":"writer"}'],
        ['POST', '/gw/v2/vectordb/roles/list', '{}'],
      ]);
      expect(capture.requests.every((r) => r.headers.authorization === `Bearer ops:${admin.password}`)).toBe(true);
    });

    it('describes a user self-service: roles; 401 rejected; another user without privilege denied', async () => {
      const sim = await startSimulator(options());
      const client = clientFor(sim.url);
      expect(await client.describeUser({ user: 'app_a', password: 'A-Pass-123!' }, 'app_a')).toEqual({ kind: 'roles', roles: ['reader', 'writer'] });
      expect(await client.describeUser({ user: 'app_a', password: 'wrong-pass' }, 'app_a')).toEqual({ kind: 'rejected' });
      expect(await client.describeUser({ user: 'app_b', password: 'B-Pass-123!' }, 'app_a')).toMatchObject({ kind: 'denied', message: 'HTTP 403 code 65535: unexpected server error' });
      sim.injectFault({ route: 'users/describe', fault: { kind: 'status', status: 503 } });
      expect(await client.describeUser(admin, 'app_a')).toMatchObject({ kind: 'unknown' });
      sim.injectFault({ route: 'users/describe', fault: reply(200, { code: 0, data: {} }) });
      expect(await client.describeUser(admin, 'app_a')).toMatchObject({ kind: 'unknown', reason: expect.stringContaining('list of names') });
    });

    it('creates a user: created, then exists; limit; policy-rejected; an applied-then-408 is ambiguous', async () => {
      const users: Record<string, string> = { ...options().users };
      const sim = await startSimulator({ ...options(), users });
      const client = clientFor(sim.url);
      expect(await client.createUser(admin, 'app_c', 'C-Pass-123!')).toEqual({ kind: 'created' });
      expect(sim.passwordOf('app_c')).toBe('C-Pass-123!');
      expect(await client.createUser(admin, 'app_c', 'C-Pass-456!')).toEqual({ kind: 'exists' });
      expect(await client.createUser(admin, 'app_d', '12345')).toMatchObject({ kind: 'policy-rejected', message: 'HTTP 200 code 1100: parameter invalid (the password was refused by the cluster policy)' });
      expect(await client.createUser({ user: 'app_a', password: 'A-Pass-123!' }, 'app_d', 'D-Pass-123!')).toMatchObject({ kind: 'denied' });
      sim.injectFault({ route: 'users/create', fault: { kind: 'applied-then-408' } });
      expect(await client.createUser(admin, 'app_e', 'E-Pass-123!')).toMatchObject({ kind: 'ambiguous' });
      expect(sim.passwordOf('app_e')).toBe('E-Pass-123!');
      for (let i = sim.userNames().length; i < 100; i += 1) sim.setPassword(`filler${i}`, 'filler-pass');
      expect(await client.createUser(admin, 'app_f', 'F-Pass-123!')).toEqual({ kind: 'limit' });
    });

    it('grants and revokes: done (idempotent), not-found for an unknown role or user, ambiguous after an applied-then-65535', async () => {
      const sim = await startSimulator(options());
      const client = clientFor(sim.url);
      expect(await client.grantRole(admin, 'app_b', 'reader')).toEqual({ kind: 'done' });
      expect(await client.grantRole(admin, 'app_b', 'reader')).toEqual({ kind: 'done' });
      expect(await client.revokeRole(admin, 'app_b', 'writer')).toEqual({ kind: 'done' });
      expect(sim.rolesOf('app_b')).toEqual(['reader']);
      // Recognised by the server's words, reported in ours.
      expect(await client.grantRole(admin, 'app_b', 'ghost')).toMatchObject({ kind: 'not-found', message: 'HTTP 200 code 65535: role or user not found' });
      expect(await client.grantRole(admin, 'ghost', 'reader')).toMatchObject({ kind: 'not-found', message: 'HTTP 200 code 65535: role or user not found' });
      expect(await client.grantRole({ user: 'app_b', password: 'B-Pass-123!' }, 'app_b', 'admin')).toMatchObject({ kind: 'denied' });
      sim.injectFault({ route: 'users/grant_role', fault: { kind: 'applied-then-65535' } });
      expect(await client.grantRole(admin, 'app_b', 'writer')).toMatchObject({ kind: 'ambiguous' });
      expect(sim.rolesOf('app_b')).toEqual(['reader', 'writer']);
    });

    it('lists roles with SelectOwnership; denied without it', async () => {
      const sim = await startSimulator(options());
      const client = clientFor(sim.url);
      expect(await client.listRoles(admin)).toEqual({ kind: 'roles', roles: ['admin', 'public', 'reader', 'writer'] });
      expect(await client.listRoles({ user: 'app_a', password: 'A-Pass-123!' })).toMatchObject({ kind: 'denied' });
    });

    it('keeps the caller\'s and the new user\'s passwords out of every failure of these calls', async () => {
      const secret = 'Adm+n/P@ss=?~1';
      const created = 'N3w+Us/r=P@ss~2';
      const sim = await startSimulator({ users: { ops: secret }, roles: { ops: ['admin'] } });
      const client = clientFor(sim.url, { timeoutMs: 150 });
      const caller = { user: 'ops', password: secret };
      const formsOf = (plains: string[]): string[] =>
        plains.flatMap((plain) => [plain, Buffer.from(plain).toString('base64').replace(/=+$/, ''), Buffer.from(plain).toString('base64url')]);
      const forms = formsOf([secret, created, `ops:${secret}`]);
      // A server can only echo what it was sent: the caller's credential, and the new password to create.
      const callerEcho = formsOf([secret, `ops:${secret}`]).join(' ');
      const results: unknown[] = [];
      for (const status of [200, 403, 408, 502]) {
        for (const route of ['users/describe', 'users/create', 'users/grant_role', 'roles/list'] as const) {
          const echo = route === 'users/create' ? forms.join(' ') : callerEcho;
          sim.injectFault({ route, fault: reply(status, { code: 65535, message: echo }) });
        }
        results.push(await client.describeUser(caller, 'app_b'));
        results.push(await client.createUser(caller, 'app_b', created));
        results.push(await client.grantRole(caller, 'app_b', 'reader'));
        results.push(await client.listRoles(caller));
      }
      // The echoes reached the client (statuses and codes in the results), and no server text did.
      expect(results.some((r) => JSON.stringify(r).includes('code 65535'))).toBe(true);
      for (const result of results) {
        expect(JSON.stringify(result)).not.toContain('[REDACTED]');
        for (const form of forms) expect(JSON.stringify(result)).not.toContain(form);
      }
    });
  });

  describe('secrets never leak', () => {
    const user = 'alice';
    // Characters that make the base64, base64url and JSON forms differ from the plain text.
    const oldPassword = 'Old+P@ss/w0rd=?~1';
    const newPassword = 'New>P@ss/w0rd?~2ü';

    function formsOf(secrets: readonly string[]): string[] {
      const forms: string[] = [];
      for (const secret of secrets) {
        for (const plain of [secret, `${user}:${secret}`]) {
          const bytes = Buffer.from(plain, 'utf8');
          forms.push(plain, bytes.toString('base64'), bytes.toString('base64').replace(/=+$/, ''), bytes.toString('base64url'));
        }
      }
      return forms;
    }

    function forbiddenForms(): string[] {
      return formsOf([oldPassword, newPassword]);
    }

    /** Every string inside a result, keys included. */
    function strings(value: unknown): string[] {
      if (typeof value === 'string') return [value];
      if (typeof value !== 'object' || value === null) return [];
      return Object.entries(value).flatMap(([key, inner]) => [key, ...strings(inner)]);
    }

    function expectNoSecret(label: string, value: unknown): void {
      const texts = strings(value);
      for (const form of forbiddenForms()) {
        for (const text of texts) expect(text.includes(form), `${label}: ${JSON.stringify(value)} contains a form of a password`).toBe(false);
      }
    }

    /**
     * A message that echoes every form of what a call sent, like a careless gateway or proxy would.
     * A server can only echo what it was sent: a probe sends one password, an update both.
     */
    function echo(secrets: readonly string[] = [oldPassword, newPassword]): string {
      return formsOf(secrets).map((form, i) => `f${i}=${form}`).join(' ');
    }

    it('keeps every form of both passwords out of every failure result', async () => {
      const results: [string, UpdateResult | ProbeResult][] = [];
      const echoing = (sent: readonly string[]): Fault[] => [
        reply(200, { code: 1100, message: echo(sent) }),
        reply(200, { code: 65535, message: echo(sent) }),
        reply(200, { code: 1400, message: echo(sent) }),
        reply(200, { code: 4242, message: echo(sent) }),
        reply(403, { code: 65535, message: echo(sent) }),
        reply(408, { code: 10001, message: echo(sent) }),
        reply(401, { code: 1800, message: echo(sent) }),
        reply(404, echo(sent), 'text/plain'),
        reply(502, `<html><body>${echo(sent)}</body></html>`, 'text/html'),
        reply(200, echo(sent), 'text/plain'),
      ];
      const sim = await startSimulator({ users: { alice: oldPassword } });
      const client = clientFor(sim.url, { timeoutMs: 150 });
      for (const [i, fault] of echoing([oldPassword, newPassword]).entries()) {
        sim.injectFault({ route: 'update_password', fault });
        results.push([`update echo #${i}`, await client.updatePassword(user, oldPassword, newPassword)]);
      }
      for (const [i, fault] of echoing([newPassword]).entries()) {
        sim.injectFault({ route: 'probe', fault });
        results.push([`probe echo #${i}`, await client.probe(user, newPassword)]);
      }
      for (const fault of [{ kind: 'timeout' }, { kind: 'applied-then-drop' }, { kind: 'drop-before-apply' }, { kind: 'applied-then-65535' }] as Fault[]) {
        sim.setPassword(user, oldPassword);
        sim.injectFault({ fault });
        results.push([fault.kind, await client.updatePassword(user, oldPassword, newPassword)]);
      }
      results.push(['real 401', await client.updatePassword(user, newPassword, oldPassword)]);
      results.push(['real 1802', await client.updatePassword(user, oldPassword, '')]);
      results.push(['control characters', await client.updatePassword(user, `${oldPassword}\n`, newPassword)]);
      const refused = clientFor(`http://127.0.0.1:${await closedPort()}`);
      results.push(['refused update', await refused.updatePassword(user, oldPassword, newPassword)]);
      results.push(['refused probe', await refused.probe(user, oldPassword)]);
      const controller = new AbortController();
      controller.abort(new Error(`caller gave up on ${oldPassword}`));
      results.push(['aborted', await client.updatePassword(user, oldPassword, newPassword, { signal: controller.signal })]);

      // The echoing replies really reached the client: classified by status and code, with our text only.
      const policy = results.find(([label]) => label === 'update echo #0')?.[1];
      expect(policy).toMatchObject({ kind: 'policy-rejected', message: 'HTTP 200 code 1100: parameter invalid (the password was refused by the cluster policy)' });
      expect(results).toHaveLength(2 * 10 + 4 + 6);
      for (const [label, result] of results) expectNoSecret(label, result);
    });

    it('keeps no server text: a long message becomes status and code', async () => {
      const sim = await startSimulator({ users: { alice: 'old-secret' } });
      sim.injectFault({ fault: reply(200, { code: 4242, message: 'x'.repeat(5_000) }) });
      const result = await clientFor(sim.url).updatePassword('alice', 'old-secret', 'new-secret');
      expect(result).toEqual({ kind: 'other', httpStatus: 200, code: 4242, message: 'HTTP 200 code 4242' });
    });

    it.each(['plain', 'hex', 'base64', 'percent-lower', 'rfc3986', 'upper'] as const)(
      'a server echoing the request (%s) leaves nothing of it in any result, in an envelope or as the body',
      async (encoding) => {
        // ! and * are in the default symbols and are what RFC 3986 escaping changes; lower case is what upper-casing changes.
        const oldSecret = 'Old!pass*word-12345abc';
        const newSecret = 'New*pass!word-67890xyz';
        const sim = await startSimulator({ users: { alice: oldSecret } });
        const client = clientFor(sim.url);
        const results: unknown[] = [];
        for (const fault of [
          { kind: 'echo', status: 200, encoding, code: 1100 },
          { kind: 'echo', status: 200, encoding, code: 65535 },
          { kind: 'echo', status: 403, encoding, code: 4242 },
          { kind: 'echo', status: 400, encoding },
          { kind: 'echo', status: 502, encoding },
        ] as Fault[]) {
          sim.injectFault({ route: 'update_password', fault });
          results.push(await client.updatePassword('alice', oldSecret, newSecret));
          sim.injectFault({ route: 'probe', fault });
          results.push(await client.probe('alice', newSecret));
        }
        const text = JSON.stringify(results);
        // Whatever the encoding, the texts are ours: statuses, codes and fixed words.
        const values = (value: unknown): string[] =>
          typeof value === 'string' ? [value] : typeof value === 'object' && value !== null ? Object.values(value).flatMap(values) : [];
        for (const part of values(results)) expect(part).toMatch(/^(policy-rejected|ambiguous|unknown|other)$|^HTTP \d{3}( code \d+(: [a-z ()]+)?| with a body that is not a Milvus reply| with an empty body)?$/);
        for (const secret of [oldSecret, newSecret]) {
          for (const form of [secret, secret.toUpperCase(), Buffer.from(secret).toString('hex'), encodeURIComponent(secret).toLowerCase()]) expect(text).not.toContain(form);
        }
        expect(sim.passwordOf('alice')).toBe(oldSecret);
      },
    );
  });
});
