import { request } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { MilvusSimulator, type MilvusSimulatorOptions, type PasswordChange } from '../src/sandbox/milvus-simulator.ts';

/**
 * The simulator is the stand-in for every Milvus in the test suite, so these tests pin it to
 * spec/milvus-rest-user-api.md over real HTTP, with raw requests (no client of ours in between).
 */

interface RawReply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json: unknown;
  ms: number;
}

interface CallOptions {
  method?: string;
  /** A string is sent as is; an object is JSON-encoded; undefined sends no body. */
  body?: unknown;
  /** The raw Authorization value; written as UTF-8 bytes like a Go client would. */
  authorization?: string;
  headers?: Record<string, string>;
}

const simulators: MilvusSimulator[] = [];

async function startSimulator(options: MilvusSimulatorOptions = {}): Promise<MilvusSimulator> {
  const simulator = await MilvusSimulator.start(options);
  simulators.push(simulator);
  return simulator;
}

afterEach(async () => {
  await Promise.all(simulators.splice(0).map((s) => s.close()));
});

function bearer(user: string, password: string): string {
  return `Bearer ${user}:${password}`;
}

function call(simulator: MilvusSimulator, path: string, options: CallOptions = {}): Promise<RawReply> {
  const url = new URL(path, simulator.url);
  const body = options.body === undefined ? '' : typeof options.body === 'string' ? options.body : JSON.stringify(options.body);
  const headers: Record<string, string> = { ...options.headers };
  if (options.authorization !== undefined) headers['Authorization'] = Buffer.from(options.authorization, 'utf8').toString('latin1');
  if (body !== '') headers['Content-Type'] = 'application/json';
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const req = request(url, { method: options.method ?? 'POST', headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('error', reject);
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json: unknown = undefined;
        try {
          json = JSON.parse(text);
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json, ms: performance.now() - started });
      });
    });
    req.on('error', reject);
    // A Buffer body: with a string, node writes the header block as UTF-8 together with the body.
    req.end(Buffer.from(body, 'utf8'));
  });
}

const UPDATE = '/v2/vectordb/users/update_password';
const PROBE = '/v2/vectordb/collections/list';
const UNAUTHENTICATED = { code: 1800, message: "user hasn't authenticated" };

function update(simulator: MilvusSimulator, auth: string | undefined, userName: string, password: string, newPassword: string): Promise<RawReply> {
  return call(simulator, UPDATE, { authorization: auth, body: { userName, password, newPassword } });
}

describe('MilvusSimulator', () => {
  describe('authentication (spec section 6)', () => {
    it('splits a Bearer token at the first colon, so a password containing ":" works', async () => {
      const sim = await startSimulator({ users: { alice: 'pa:ss:word' } });
      const reply = await call(sim, PROBE, { authorization: bearer('alice', 'pa:ss:word'), body: {} });
      expect(reply.status).toBe(200);
      expect(reply.json).toEqual({ code: 0, data: [] });
    });

    it('rejects a lower-case "bearer" prefix and a double space with 401/1800', async () => {
      const sim = await startSimulator({ users: { alice: 'secret-1' } });
      for (const authorization of ['bearer alice:secret-1', 'Bearer  alice:secret-1']) {
        const reply = await call(sim, PROBE, { authorization, body: {} });
        expect(reply.status).toBe(401);
        expect(reply.json).toEqual(UNAUTHENTICATED);
      }
    });

    it('accepts a token without the Bearer prefix, because GetAuthorization only trims an exact prefix', async () => {
      const sim = await startSimulator({ users: { alice: 'secret-1' } });
      const reply = await call(sim, PROBE, { authorization: 'alice:secret-1', body: {} });
      expect(reply.status).toBe(200);
    });

    it('accepts Basic auth (tried first) and answers with WWW-Authenticate whenever Basic parses', async () => {
      const sim = await startSimulator({ users: { alice: 'pa:ss' } });
      const good = await call(sim, PROBE, { authorization: `Basic ${Buffer.from('alice:pa:ss').toString('base64')}`, body: {} });
      expect(good.status).toBe(200);
      expect(good.headers['www-authenticate']).toBe('Basic realm="restricted", charset="UTF-8"');
      const bad = await call(sim, PROBE, { authorization: `Basic ${Buffer.from('alice:wrong').toString('base64')}`, body: {} });
      expect(bad.status).toBe(401);
      expect(bad.json).toEqual(UNAUTHENTICATED);
      expect(bad.headers['www-authenticate']).toBe('Basic realm="restricted", charset="UTF-8"');
    });

    it('treats a token without a colon as an API key, which OSS Milvus always refuses with 401/1800', async () => {
      const sim = await startSimulator({ users: { alice: 'secret-1' } });
      const reply = await call(sim, PROBE, { authorization: 'Bearer sk-0123456789abcdef', body: {} });
      expect(reply.status).toBe(401);
      expect(reply.json).toEqual(UNAUTHENTICATED);
    });

    it('rejects a missing header, an empty password and a wrong password with 401/1800', async () => {
      const sim = await startSimulator({ users: { alice: 'secret-1' } });
      for (const authorization of [undefined, 'Bearer alice:', 'Bearer alice:secret-2', 'Bearer :secret-1']) {
        const reply = await call(sim, PROBE, { authorization, body: {} });
        expect(reply.status, String(authorization)).toBe(401);
        expect(reply.json).toEqual(UNAUTHENTICATED);
      }
    });

    it('authenticates before reading the body: a bad credential with a malformed body is 401, not 1801', async () => {
      const sim = await startSimulator({ users: { alice: 'secret-1' } });
      const reply = await call(sim, UPDATE, { authorization: bearer('alice', 'nope!!'), body: '{not json' });
      expect(reply.status).toBe(401);
      expect(reply.json).toEqual(UNAUTHENTICATED);
    });

    it('compares header passwords as UTF-8 bytes, so a non-ASCII password authenticates', async () => {
      const sim = await startSimulator({ users: { alice: 'pässwörd-ü' } });
      const reply = await call(sim, PROBE, { authorization: bearer('alice', 'pässwörd-ü'), body: {} });
      expect(reply.status).toBe(200);
    });
  });

  describe('routing and envelope (spec sections 1, 2)', () => {
    it('answers GET on a registered route and unknown POST paths with gin\'s plain-text 404', async () => {
      const sim = await startSimulator({ users: { alice: 'secret-1' } });
      const get = await call(sim, PROBE, { method: 'GET', authorization: bearer('alice', 'secret-1') });
      expect(get.status).toBe(404);
      expect(get.text).toBe('404 page not found');
      expect(get.headers['content-type']).toMatch(/^text\/plain/);
      const unknown = await call(sim, '/v2/vectordb/users/rename', { authorization: bearer('alice', 'secret-1'), body: {} });
      expect(unknown.status).toBe(404);
    });

    it('sends JSON with the CORS and nosniff headers on success and on errors', async () => {
      const sim = await startSimulator({ users: { alice: 'secret-1' } });
      for (const authorization of [bearer('alice', 'secret-1'), bearer('alice', 'bad-pass')]) {
        const reply = await call(sim, PROBE, { authorization, body: {} });
        expect(reply.headers['content-type']).toMatch(/^application\/json/);
        expect(reply.headers['access-control-allow-origin']).toBe('*');
        expect(reply.headers['x-content-type-options']).toBe('nosniff');
      }
    });

    it('lists databases and rejects an unknown dbName on collections/list with code 800', async () => {
      const sim = await startSimulator({ users: { alice: 'secret-1' } });
      const dbs = await call(sim, '/v2/vectordb/databases/list', { authorization: bearer('alice', 'secret-1'), body: {} });
      expect(dbs.json).toEqual({ code: 0, data: ['default'] });
      const missing = await call(sim, PROBE, { authorization: bearer('alice', 'secret-1'), body: { dbName: 'nope' } });
      expect(missing.status).toBe(200);
      expect(missing.json).toMatchObject({ code: 800 });
    });

    it('serves under a base path when configured, and 404s the bare path', async () => {
      const sim = await startSimulator({ users: { alice: 'secret-1' }, basePath: '/milvus/' });
      expect(sim.url).toMatch(/\/milvus$/);
      const prefixed = await call(sim, `/milvus${PROBE}`, { authorization: bearer('alice', 'secret-1'), body: {} });
      expect(prefixed.status).toBe(200);
      const bare = await call(sim, PROBE, { authorization: bearer('alice', 'secret-1'), body: {} });
      expect(bare.status).toBe(404);
    });
  });

  describe('JSON binding (spec section 5)', () => {
    it('answers an empty body with 1801 and the exact message, even on routes with no fields', async () => {
      const sim = await startSimulator({ users: { alice: 'secret-1' } });
      for (const path of [UPDATE, PROBE]) {
        const reply = await call(sim, path, { authorization: bearer('alice', 'secret-1') });
        expect(reply.status).toBe(200);
        expect(reply.json).toEqual({ code: 1801, message: 'can only accept json format request, the request body should be nil, however {} is valid' });
      }
    });

    it('answers malformed JSON and a wrong field type with 1801', async () => {
      const sim = await startSimulator({ users: { alice: 'secret-1' } });
      const malformed = await call(sim, UPDATE, { authorization: bearer('alice', 'secret-1'), body: 'xyz' });
      expect(malformed.json).toEqual({ code: 1801, message: "can only accept json format request, error: invalid character 'x' looking for beginning of value" });
      const wrongType = await call(sim, UPDATE, { authorization: bearer('alice', 'secret-1'), body: { userName: 'alice', password: 'secret-1', newPassword: 12345678 } });
      expect(wrongType.json).toEqual({
        code: 1801,
        message: 'can only accept json format request, error: json: cannot unmarshal number into Go struct field NewPasswordReq.newPassword of type string',
      });
      expect(sim.passwordOf('alice')).toBe('secret-1');
    });

    it('answers a missing or empty required field with 1802 and the validator message', async () => {
      const sim = await startSimulator({ users: { alice: 'secret-1' } });
      const missing = await call(sim, UPDATE, { authorization: bearer('alice', 'secret-1'), body: { userName: 'alice', password: 'secret-1' } });
      expect(missing.json).toEqual({
        code: 1802,
        message: "missing required parameters, error: Key: 'NewPasswordReq.NewPassword' Error:Field validation for 'NewPassword' failed on the 'required' tag",
      });
      const empty = await call(sim, UPDATE, { authorization: bearer('alice', 'secret-1'), body: { userName: 'alice', password: '', newPassword: 'new-secret' } });
      expect(empty.json).toMatchObject({ code: 1802, message: expect.stringContaining("'NewPasswordReq.Password'") });
    });

    it('matches JSON keys case-insensitively, like encoding/json', async () => {
      const sim = await startSimulator({ users: { alice: 'secret-1' } });
      const reply = await call(sim, UPDATE, { authorization: bearer('alice', 'secret-1'), body: { USERNAME: 'alice', Password: 'secret-1', newpassword: 'secret-2' } });
      expect(reply.json).toEqual({ code: 0, data: {} });
      expect(sim.passwordOf('alice')).toBe('secret-2');
    });
  });

  describe('update_password (spec section 4)', () => {
    it('lets a user change its own password: the new one works and the old one is refused at once', async () => {
      const sim = await startSimulator({ users: { alice: 'old-secret' } });
      const reply = await update(sim, bearer('alice', 'old-secret'), 'alice', 'old-secret', 'new-secret');
      expect(reply.status).toBe(200);
      expect(reply.json).toEqual({ code: 0, data: {} });
      expect(sim.passwordOf('alice')).toBe('new-secret');
      expect((await call(sim, PROBE, { authorization: bearer('alice', 'new-secret'), body: {} })).status).toBe(200);
      expect((await call(sim, PROBE, { authorization: bearer('alice', 'old-secret'), body: {} })).status).toBe(401);
    });

    it('refuses new passwords of 5 and 73 bytes with 1100 and accepts 6 and 72', async () => {
      const sim = await startSimulator({ users: { alice: 'secret-0' } });
      let current = 'secret-0';
      for (const length of [5, 73]) {
        const reply = await update(sim, bearer('alice', current), 'alice', current, 'x'.repeat(length));
        expect(reply.json).toEqual({ code: 1100, message: `invalid password length: invalid parameter[${length} out of range 6 <= value <= 72]` });
      }
      for (const length of [6, 72]) {
        const next = 'y'.repeat(length);
        const reply = await update(sim, bearer('alice', current), 'alice', current, next);
        expect(reply.json, `length ${length}`).toEqual({ code: 0, data: {} });
        current = next;
      }
      expect(sim.passwordOf('alice')).toBe('y'.repeat(72));
    });

    it('counts UTF-8 bytes, not characters', async () => {
      const sim = await startSimulator({ users: { alice: 'secret-0' } });
      // 'é' is two bytes: 3 characters = 6 bytes pass, 'éé' + 'a' = 5 bytes fail, 37 of them = 74 bytes fail.
      const fiveBytes = await update(sim, bearer('alice', 'secret-0'), 'alice', 'secret-0', 'ééa');
      expect(fiveBytes.json).toMatchObject({ code: 1100, message: expect.stringContaining('[5 out of range') });
      const tooLong = await update(sim, bearer('alice', 'secret-0'), 'alice', 'secret-0', 'é'.repeat(37));
      expect(tooLong.json).toMatchObject({ code: 1100, message: expect.stringContaining('[74 out of range') });
      const sixBytes = await update(sim, bearer('alice', 'secret-0'), 'alice', 'secret-0', 'ééé');
      expect(sixBytes.json).toEqual({ code: 0, data: {} });
      expect(sim.passwordOf('alice')).toBe('ééé');
    });

    it('checks the new password length before the old password', async () => {
      const sim = await startSimulator({ users: { alice: 'secret-1' }, authEnabled: false });
      const reply = await update(sim, undefined, 'alice', 'wrong-old', 'short');
      expect(reply.json).toMatchObject({ code: 1100 });
    });

    it('answers a wrong old password and an unknown user with the same 1400', async () => {
      const sim = await startSimulator({ users: { root: 'root-pass', alice: 'secret-1' } });
      const wrongOld = await update(sim, bearer('root', 'root-pass'), 'alice', 'not-it', 'new-secret');
      expect(wrongOld.json).toEqual({ code: 1400, message: 'old password not correct for alice: not authenticated' });
      const ghost = await update(sim, bearer('root', 'root-pass'), 'ghost', 'anything', 'new-secret');
      expect(ghost.json).toEqual({ code: 1400, message: 'old password not correct for ghost: not authenticated' });
      expect(sim.passwordOf('alice')).toBe('secret-1');
      expect(sim.passwordOf('ghost')).toBeUndefined();
    });

    it('refuses to let a user update another user with 403/65535', async () => {
      const sim = await startSimulator({ users: { alice: 'secret-a', bob: 'secret-b' } });
      const reply = await update(sim, bearer('bob', 'secret-b'), 'alice', 'secret-a', 'new-secret');
      expect(reply.status).toBe(403);
      expect(reply.json).toEqual({
        code: 65535,
        message: 'rpc error: code = PermissionDenied desc = PrivilegeUpdateUser: permission deny to bob in the `default` database',
      });
      expect(sim.passwordOf('alice')).toBe('secret-a');
    });

    it('lets root and admin-role users update others, still requiring the target\'s old password', async () => {
      const sim = await startSimulator({ users: { root: 'root-pass', ops: 'ops-pass', alice: 'secret-a' }, roles: { ops: ['admin'] } });
      expect((await update(sim, bearer('root', 'root-pass'), 'alice', 'secret-a', 'secret-b')).json).toEqual({ code: 0, data: {} });
      expect((await update(sim, bearer('ops', 'ops-pass'), 'alice', 'secret-b', 'secret-c')).json).toEqual({ code: 0, data: {} });
      expect((await update(sim, bearer('ops', 'ops-pass'), 'alice', 'wrong-old', 'secret-d')).json).toMatchObject({ code: 1400 });
      expect(sim.passwordOf('alice')).toBe('secret-c');
    });

    it('lets a configured superuser skip the old-password check, and upsert a missing user', async () => {
      const sim = await startSimulator({ users: { boss: 'boss-pass', alice: 'secret-a' }, superUsers: ['boss'], roles: { boss: ['admin'] } });
      expect((await update(sim, bearer('boss', 'boss-pass'), 'alice', 'whatever', 'reset-pass')).json).toEqual({ code: 0, data: {} });
      expect(sim.passwordOf('alice')).toBe('reset-pass');
      expect((await update(sim, bearer('boss', 'boss-pass'), 'carol', 'whatever', 'carol-pass')).json).toEqual({ code: 0, data: {} });
      expect(sim.changeLog.at(-1)).toMatchObject({ user: 'carol', from: null, to: 'carol-pass', via: 'update_password' });
    });

    it('is not idempotent: a replay with the old header is 401, with the new header 1400', async () => {
      const sim = await startSimulator({ users: { alice: 'old-secret' } });
      await update(sim, bearer('alice', 'old-secret'), 'alice', 'old-secret', 'new-secret');
      const replayOld = await update(sim, bearer('alice', 'old-secret'), 'alice', 'old-secret', 'new-secret');
      expect(replayOld.status).toBe(401);
      const replayNew = await update(sim, bearer('alice', 'new-secret'), 'alice', 'old-secret', 'new-secret');
      expect(replayNew.json).toEqual({ code: 1400, message: 'old password not correct for alice: not authenticated' });
    });
  });

  describe('create, list, describe, drop (spec sections 2, 5, 13)', () => {
    it('creates a user that then appears in users/list and can authenticate', async () => {
      const sim = await startSimulator({ users: { root: 'root-pass' } });
      const created = await call(sim, '/v2/vectordb/users/create', { authorization: bearer('root', 'root-pass'), body: { userName: 'alice', password: 'alice-pass' } });
      expect(created.json).toEqual({ code: 0, data: {} });
      const list = await call(sim, '/v2/vectordb/users/list', { authorization: bearer('root', 'root-pass'), body: {} });
      expect(list.json).toEqual({ code: 0, data: ['alice', 'root'] });
      expect((await call(sim, PROBE, { authorization: bearer('alice', 'alice-pass'), body: {} })).status).toBe(200);
    });

    it('validates the username with 1100 and Milvus\'s messages', async () => {
      const sim = await startSimulator({ users: { root: 'root-pass' } });
      const create = (userName: string): Promise<RawReply> =>
        call(sim, '/v2/vectordb/users/create', { authorization: bearer('root', 'root-pass'), body: { userName, password: 'long-enough' } });
      expect((await create('9x')).json).toEqual({ code: 1100, message: 'invalid user name 9x, the first character must be a letter, but got 9: invalid parameter' });
      expect((await create('a b')).json).toEqual({
        code: 1100,
        message: 'invalid user name a b, username must contain only numbers, letters, underscores, dots, and hyphens, but got %!s(uint8=32): invalid parameter',
      });
      expect((await create('a'.repeat(33))).json).toMatchObject({ code: 1100, message: expect.stringContaining('with length 33') });
      expect((await create('ok.name-1_x')).json).toEqual({ code: 0, data: {} });
    });

    it('refuses a short password, an existing user and the 101st user', async () => {
      const users: Record<string, string> = { root: 'root-pass', alice: 'alice-pass' };
      for (let i = 0; i < 98; i += 1) users[`u${i}`] = 'some-pass';
      const sim = await startSimulator({ users });
      const create = (userName: string, password: string): Promise<RawReply> =>
        call(sim, '/v2/vectordb/users/create', { authorization: bearer('root', 'root-pass'), body: { userName, password } });
      expect((await create('bob', '12345')).json).toMatchObject({ code: 1100, message: expect.stringContaining('[5 out of range') });
      expect((await create('alice', 'other-pass')).json).toEqual({ code: 65535, message: 'user already exists: alice' });
      expect(sim.passwordOf('alice')).toBe('alice-pass');
      expect((await create('bob', 'bob-pass')).json).toEqual({ code: 65535, message: 'unable to add user because the number of users has reached the limit' });
      expect(sim.passwordOf('bob')).toBeUndefined();
    });

    it('returns [] when describing a missing user, and the roles of an existing one', async () => {
      const sim = await startSimulator({ users: { root: 'root-pass', alice: 'alice-pass' }, roles: { alice: ['reader'] } });
      const missing = await call(sim, '/v2/vectordb/users/describe', { authorization: bearer('root', 'root-pass'), body: { userName: 'ghost' } });
      expect(missing.json).toEqual({ code: 0, data: [] });
      const self = await call(sim, '/v2/vectordb/users/describe', { authorization: bearer('alice', 'alice-pass'), body: { userName: 'alice' } });
      expect(self.json).toEqual({ code: 0, data: ['reader'] });
    });

    it('refuses to drop root with 1401, drops a missing user with code 0, and logs a real drop', async () => {
      const sim = await startSimulator({ users: { root: 'root-pass', alice: 'alice-pass' } });
      const drop = (userName: string): Promise<RawReply> => call(sim, '/v2/vectordb/users/drop', { authorization: bearer('root', 'root-pass'), body: { userName } });
      expect((await drop('root')).json).toEqual({ code: 1401, message: 'root user cannot be deleted: privilege not permitted' });
      expect((await drop('ghost')).json).toEqual({ code: 0, data: {} });
      expect(sim.changeLog).toHaveLength(0);
      expect((await drop('alice')).json).toEqual({ code: 0, data: {} });
      expect(sim.passwordOf('alice')).toBeUndefined();
      expect(sim.changeLog).toMatchObject([{ user: 'alice', from: 'alice-pass', to: null, via: 'drop' }]);
    });

    it('requires privileges for list, create and drop from non-admin users', async () => {
      const sim = await startSimulator({ users: { alice: 'alice-pass' } });
      const list = await call(sim, '/v2/vectordb/users/list', { authorization: bearer('alice', 'alice-pass'), body: {} });
      expect(list.status).toBe(403);
      expect(list.json).toMatchObject({ code: 65535, message: expect.stringContaining('PrivilegeSelectOwnership: permission deny to alice') });
      const create = await call(sim, '/v2/vectordb/users/create', { authorization: bearer('alice', 'alice-pass'), body: { userName: 'bob', password: 'bob-pass' } });
      expect(create.status).toBe(403);
      expect(sim.passwordOf('bob')).toBeUndefined();
    });
  });

  describe('roles and users for the alternating strategy (spec section 14)', () => {
    const GRANT = '/v2/vectordb/users/grant_role';
    const REVOKE = '/v2/vectordb/users/revoke_role';
    const DESCRIBE = '/v2/vectordb/users/describe';
    const ROLES = '/v2/vectordb/roles/list';
    const admin = bearer('ops', 'ops-pass');
    const options = (): MilvusSimulatorOptions => ({
      users: { root: 'root-pass', ops: 'ops-pass', app_a: 'a-pass-1', app_b: 'b-pass-1' },
      roles: { ops: ['admin'], app_a: ['reader', 'writer'] },
      definedRoles: ['db_ro'],
    });

    it('lists every role that exists: built-in admin and public, custom ones, and those bound to users', async () => {
      const sim = await startSimulator(options());
      expect((await call(sim, ROLES, { authorization: admin, body: {} })).json).toEqual({ code: 0, data: ['admin', 'db_ro', 'public', 'reader', 'writer'] });
    });

    it('lets a user describe itself without any privilege, and refuses describing another with 403 PrivilegeSelectUser', async () => {
      const sim = await startSimulator(options());
      const self = await call(sim, DESCRIBE, { authorization: bearer('app_b', 'b-pass-1'), body: { userName: 'app_b' } });
      expect(self.json).toEqual({ code: 0, data: [] });
      const other = await call(sim, DESCRIBE, { authorization: bearer('app_b', 'b-pass-1'), body: { userName: 'app_a' } });
      expect(other.status).toBe(403);
      expect(other.json).toMatchObject({ code: 65535, message: expect.stringContaining('PrivilegeSelectUser: permission deny to app_b') });
    });

    it('grants and revokes idempotently: a role already held, or one not held, answers code 0 and changes nothing', async () => {
      const sim = await startSimulator(options());
      const grant = (roleName: string): Promise<RawReply> => call(sim, GRANT, { authorization: admin, body: { userName: 'app_b', roleName } });
      const revoke = (roleName: string): Promise<RawReply> => call(sim, REVOKE, { authorization: admin, body: { userName: 'app_b', roleName } });
      expect((await grant('reader')).json).toEqual({ code: 0, data: {} });
      expect((await grant('reader')).json).toEqual({ code: 0, data: {} });
      expect((await grant('writer')).json).toEqual({ code: 0, data: {} });
      expect(sim.rolesOf('app_b')).toEqual(['reader', 'writer']);
      expect((await revoke('writer')).json).toEqual({ code: 0, data: {} });
      expect((await revoke('writer')).json).toEqual({ code: 0, data: {} });
      expect((await revoke('db_ro')).json).toEqual({ code: 0, data: {} });
      expect(sim.rolesOf('app_b')).toEqual(['reader']);
      const described = await call(sim, DESCRIBE, { authorization: bearer('app_b', 'b-pass-1'), body: { userName: 'app_b' } });
      expect(described.json).toEqual({ code: 0, data: ['reader'] });
    });

    it('refuses granting an unknown role or to an unknown user; revoking checks only the role', async () => {
      const sim = await startSimulator(options());
      const roleMissing = await call(sim, GRANT, { authorization: admin, body: { userName: 'app_b', roleName: 'ghost_role' } });
      expect(roleMissing.json).toEqual({ code: 65535, message: "not found the role, maybe the role isn't existed or internal system error" });
      const userMissing = await call(sim, GRANT, { authorization: admin, body: { userName: 'ghost', roleName: 'reader' } });
      expect(userMissing.json).toEqual({ code: 65535, message: "not found the user, maybe the user isn't existed or internal system error" });
      expect((await call(sim, REVOKE, { authorization: admin, body: { userName: 'ghost', roleName: 'reader' } })).json).toEqual({ code: 0, data: {} });
      expect((await call(sim, REVOKE, { authorization: admin, body: { userName: 'app_b', roleName: 'ghost_role' } })).json).toMatchObject({ code: 65535 });
    });

    it('requires ManageOwnership for grant and revoke and SelectOwnership for roles/list, even on oneself', async () => {
      const sim = await startSimulator(options());
      const self = bearer('app_a', 'a-pass-1');
      const grant = await call(sim, GRANT, { authorization: self, body: { userName: 'app_a', roleName: 'admin' } });
      expect(grant.status).toBe(403);
      expect(grant.json).toMatchObject({ message: expect.stringContaining('PrivilegeManageOwnership: permission deny to app_a') });
      const revoke = await call(sim, REVOKE, { authorization: self, body: { userName: 'app_a', roleName: 'reader' } });
      expect(revoke.status).toBe(403);
      const roles = await call(sim, ROLES, { authorization: self, body: {} });
      expect(roles.status).toBe(403);
      expect(roles.json).toMatchObject({ message: expect.stringContaining('PrivilegeSelectOwnership') });
      expect(sim.rolesOf('app_a')).toEqual(['reader', 'writer']);
      // root bypasses the checks.
      expect((await call(sim, GRANT, { authorization: bearer('root', 'root-pass'), body: { userName: 'app_b', roleName: 'reader' } })).json).toEqual({ code: 0, data: {} });
    });

    it('binds the required fields: a missing roleName is 1802 on UserRoleReq', async () => {
      const sim = await startSimulator(options());
      const reply = await call(sim, GRANT, { authorization: admin, body: { userName: 'app_b' } });
      expect(reply.json).toMatchObject({ code: 1802, message: expect.stringContaining("Key: 'UserRoleReq.RoleName'") });
    });

    it('drops a user with its role bindings: re-created, it starts with no roles', async () => {
      const sim = await startSimulator(options());
      expect((await call(sim, '/v2/vectordb/users/drop', { authorization: admin, body: { userName: 'app_a' } })).json).toEqual({ code: 0, data: {} });
      expect((await call(sim, '/v2/vectordb/users/create', { authorization: admin, body: { userName: 'app_a', password: 'a-pass-2' } })).json).toEqual({ code: 0, data: {} });
      expect(sim.rolesOf('app_a')).toEqual([]);
      const described = await call(sim, DESCRIBE, { authorization: bearer('app_a', 'a-pass-2'), body: { userName: 'app_a' } });
      expect(described.json).toEqual({ code: 0, data: [] });
    });

    it('injects faults on these routes by name, after a real grant for applied-then-408', async () => {
      const sim = await startSimulator(options());
      sim.injectFault({ route: 'users/grant_role', fault: { kind: 'applied-then-408' } });
      sim.injectFault({ route: 'users/describe', fault: { kind: 'status', status: 503 } });
      const grant = await call(sim, GRANT, { authorization: admin, body: { userName: 'app_b', roleName: 'reader' } });
      expect(grant.status).toBe(408);
      expect(sim.rolesOf('app_b')).toEqual(['reader']);
      const described = await call(sim, DESCRIBE, { authorization: bearer('app_b', 'b-pass-1'), body: { userName: 'app_b' } });
      expect(described.status).toBe(503);
      expect(sim.pendingFaults()).toBe(0);
      expect(sim.requestCount('users/grant_role')).toBe(1);
    });
  });

  describe('with authentication off', () => {
    it('accepts any header, or none, and checks no privileges', async () => {
      const sim = await startSimulator({ users: { alice: 'alice-pass' }, authEnabled: false });
      for (const authorization of [undefined, bearer('alice', 'wrong-pass'), bearer('nobody', 'x'), 'garbage']) {
        expect((await call(sim, PROBE, { authorization, body: {} })).json).toEqual({ code: 0, data: [] });
      }
      expect((await call(sim, '/v2/vectordb/users/list', { body: {} })).json).toEqual({ code: 0, data: ['alice'] });
    });

    it('still requires the old password in the body (1400), because the proxy checks it', async () => {
      const sim = await startSimulator({ users: { alice: 'alice-pass' }, authEnabled: false });
      expect((await update(sim, undefined, 'alice', 'wrong-old', 'new-secret')).json).toMatchObject({ code: 1400 });
      expect((await update(sim, undefined, 'alice', 'alice-pass', 'new-secret')).json).toEqual({ code: 0, data: {} });
    });

    it('can be switched at run time', async () => {
      const sim = await startSimulator({ users: { alice: 'alice-pass' } });
      expect((await call(sim, PROBE, { authorization: bearer('alice', 'wrong-pass'), body: {} })).status).toBe(401);
      sim.setAuthEnabled(false);
      expect((await call(sim, PROBE, { authorization: bearer('alice', 'wrong-pass'), body: {} })).status).toBe(200);
    });
  });

  describe('Request-Timeout (spec sections 1, 4)', () => {
    it('answers 408/10001 at the deadline when handling is slower, and still applies the change afterwards', async () => {
      const sim = await startSimulator({ users: { alice: 'old-secret' }, latencyMs: 1300 });
      const changed = new Promise<PasswordChange>((resolve) => sim.onChange(resolve));
      const reply = await call(sim, UPDATE, { authorization: bearer('alice', 'old-secret'), headers: { 'Request-Timeout': '1' }, body: { userName: 'alice', password: 'old-secret', newPassword: 'new-secret' } });
      expect(reply.status).toBe(408);
      expect(reply.json).toEqual({ code: 10001, message: 'request timeout' });
      expect(reply.ms).toBeGreaterThanOrEqual(950);
      expect(reply.ms).toBeLessThan(1300);
      expect(sim.passwordOf('alice')).toBe('old-secret');
      expect((await changed).to).toBe('new-secret');
    });

    it('answers normally when handling fits in the deadline, and 408 at once for a zero deadline', async () => {
      const sim = await startSimulator({ users: { alice: 'secret-1' }, latencyMs: 30 });
      const fits = await call(sim, PROBE, { authorization: bearer('alice', 'secret-1'), headers: { 'Request-Timeout': '1' }, body: {} });
      expect(fits.status).toBe(200);
      expect(fits.ms).toBeGreaterThanOrEqual(25);
      const zero = await call(sim, PROBE, { authorization: bearer('alice', 'secret-1'), headers: { 'Request-Timeout': '0' }, body: {} });
      expect(zero.status).toBe(408);
    });
  });

  describe('change log and listeners', () => {
    it('stamps every change with the injected clock and an increasing seq, for every way of changing', async () => {
      let clock = 1_000;
      const sim = await startSimulator({ users: { root: 'root-pass', alice: 'a-pass-1' }, now: () => clock });
      clock = 2_000;
      await update(sim, bearer('alice', 'a-pass-1'), 'alice', 'a-pass-1', 'a-pass-2');
      clock = 3_000;
      await call(sim, '/v2/vectordb/users/create', { authorization: bearer('root', 'root-pass'), body: { userName: 'bob', password: 'b-pass-1' } });
      clock = 4_000;
      sim.setPassword('bob', 'b-pass-2');
      clock = 5_000;
      await call(sim, '/v2/vectordb/users/drop', { authorization: bearer('root', 'root-pass'), body: { userName: 'bob' } });
      expect(sim.changeLog).toEqual([
        { seq: 1, at: 2_000, user: 'alice', from: 'a-pass-1', to: 'a-pass-2', via: 'update_password' },
        { seq: 2, at: 3_000, user: 'bob', from: null, to: 'b-pass-1', via: 'create' },
        { seq: 3, at: 4_000, user: 'bob', from: 'b-pass-1', to: 'b-pass-2', via: 'setPassword' },
        { seq: 4, at: 5_000, user: 'bob', from: 'b-pass-2', to: null, via: 'drop' },
      ]);
    });

    it('calls onChange synchronously, with the new state already in place, until unsubscribed', async () => {
      const sim = await startSimulator({ users: { alice: 'a-pass-1' } });
      const seen: string[] = [];
      const unsubscribe = sim.onChange((change) => seen.push(`${change.seq}:${sim.passwordOf(change.user)}`));
      sim.setPassword('alice', 'a-pass-2');
      expect(seen).toEqual(['1:a-pass-2']);
      unsubscribe();
      sim.setPassword('alice', 'a-pass-3');
      expect(seen).toEqual(['1:a-pass-2']);
    });

    it('keeps a throwing listener from breaking the request, and records its error', async () => {
      const sim = await startSimulator({ users: { alice: 'a-pass-1' } });
      sim.onChange(() => {
        throw new Error('checker failed');
      });
      const reply = await update(sim, bearer('alice', 'a-pass-1'), 'alice', 'a-pass-1', 'a-pass-2');
      expect(reply.json).toEqual({ code: 0, data: {} });
      expect(sim.listenerErrors).toHaveLength(1);
    });
  });

  describe('observation helpers', () => {
    it('records every password held or sent, in headers and bodies, and nothing else', async () => {
      const sim = await startSimulator({ users: { alice: 'held-pass' } });
      await update(sim, bearer('alice', 'header-pass'), 'alice', 'body-old', 'body-new');
      await call(sim, PROBE, { authorization: `Basic ${Buffer.from('alice:basic-pass').toString('base64')}`, body: {} });
      sim.setPassword('bob', 'set-pass');
      expect(sim.passwordsSeen()).toEqual(new Set(['held-pass', 'header-pass', 'body-old', 'body-new', 'basic-pass', 'set-pass']));
    });

    it('counts requests per route, for probes together and in total', async () => {
      const sim = await startSimulator({ users: { alice: 'secret-1' } });
      await call(sim, PROBE, { authorization: bearer('alice', 'secret-1'), body: {} });
      await call(sim, '/v2/vectordb/databases/list', { authorization: bearer('alice', 'secret-1'), body: {} });
      await update(sim, bearer('alice', 'wrong'), 'alice', 'wrong', 'secret-2');
      await call(sim, '/nowhere', { body: {} });
      expect(sim.requestCount('collections/list')).toBe(1);
      expect(sim.requestCount('probe')).toBe(2);
      expect(sim.requestCount('update_password')).toBe(1);
      expect(sim.requestCount('users/update_password')).toBe(1);
      expect(sim.requestCount('any')).toBe(4);
    });
  });

  describe('fault injection', () => {
    it('targets a fault by route and user, and uses it up after `times` requests', async () => {
      const sim = await startSimulator({ users: { alice: 'a-pass', bob: 'b-pass' } });
      sim.injectFault({ route: 'probe', user: 'bob', times: 2, fault: { kind: 'status', status: 503 } });
      expect((await call(sim, PROBE, { authorization: bearer('alice', 'a-pass'), body: {} })).status).toBe(200);
      expect((await call(sim, PROBE, { authorization: bearer('bob', 'b-pass'), body: {} })).status).toBe(503);
      expect(sim.pendingFaults()).toBe(1);
      expect((await call(sim, PROBE, { authorization: bearer('bob', 'b-pass'), body: {} })).status).toBe(503);
      expect((await call(sim, PROBE, { authorization: bearer('bob', 'b-pass'), body: {} })).status).toBe(200);
      expect(sim.pendingFaults()).toBe(0);
    });

    it('applies the change before an applied-then-408, and only when the handler succeeds', async () => {
      const sim = await startSimulator({ users: { alice: 'old-secret' } });
      sim.injectFault({ route: 'update_password', fault: { kind: 'applied-then-408' } });
      const failing = await update(sim, bearer('alice', 'old-secret'), 'alice', 'old-secret', 'short');
      expect(failing.json).toMatchObject({ code: 1100 });
      expect(sim.pendingFaults()).toBe(1);
      const reply = await update(sim, bearer('alice', 'old-secret'), 'alice', 'old-secret', 'new-secret');
      expect(reply.status).toBe(408);
      expect(sim.passwordOf('alice')).toBe('new-secret');
    });

    it('drops the connection without applying for drop-before-apply', async () => {
      const sim = await startSimulator({ users: { alice: 'old-secret' } });
      sim.injectFault({ route: 'update_password', fault: { kind: 'drop-before-apply' } });
      await expect(update(sim, bearer('alice', 'old-secret'), 'alice', 'old-secret', 'new-secret')).rejects.toThrow();
      expect(sim.passwordOf('alice')).toBe('old-secret');
    });

    it('draws random faults from the injected random source', async () => {
      const sim = await startSimulator({ users: { alice: 'secret-1' }, random: () => 0.01 });
      sim.setRandomFaults({ rate5xx: 0.05 });
      expect((await call(sim, PROBE, { authorization: bearer('alice', 'secret-1'), body: {} })).status).toBe(503);
      sim.setRandomFaults({ rate5xx: 0.001 });
      expect((await call(sim, PROBE, { authorization: bearer('alice', 'secret-1'), body: {} })).status).toBe(200);
    });

    it('destroys a hung request on close, so nothing waits forever', async () => {
      const sim = await startSimulator({ users: { alice: 'secret-1' } });
      sim.injectFault({ fault: { kind: 'timeout' } });
      const pending = call(sim, PROBE, { authorization: bearer('alice', 'secret-1'), body: {} });
      await new Promise((resolve) => setTimeout(resolve, 30));
      const started = performance.now();
      await sim.close();
      await expect(pending).rejects.toThrow();
      expect(performance.now() - started).toBeLessThan(1000);
    });
  });
});
