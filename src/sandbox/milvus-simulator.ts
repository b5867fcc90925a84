/**
 * An in-process simulator of the Milvus / Zilliz Cloud REST v2 user API, faithful to
 * spec/milvus-rest-user-api.md (sections 1-7, 10 and the section 13 checklist), so tests, the
 * demo and benchmarks drive the real client over real HTTP(S) instead of mocking it.
 *
 * The request pipeline mirrors the Go server, in this order:
 *   1. gateway faults (injected 5xx, hangs, drops, canned replies): they sit in front of Milvus;
 *   2. `authenticate` (only when auth is on): Basic first, then `Bearer ` with a first-colon split,
 *      then API key; any failure is 401/1800, before routing and before the body is read;
 *   3. routing: POST only, anything else gets gin's plain-text 404;
 *   4. the timeout middleware (`Request-Timeout`, 408/10001) wraps everything below;
 *   5. JSON binding: 1801 (empty or malformed), 1802 (missing or empty required field);
 *   6. privilege check (auth on only): 403/65535, self-service and `root` always pass;
 *   7. the handler, after the simulated latency, against the state at that instant.
 *
 * Everything a rotation test wants to observe is exposed: the change log (with `onChange` called
 * synchronously at the instant a password changes), every password ever seen, and request counts.
 */
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';

/** The routes the simulator serves, as the tail after `/v2/vectordb/`. */
export const SIMULATOR_ROUTES = [
  'users/list',
  'users/describe',
  'users/create',
  'users/update_password',
  'users/drop',
  'databases/list',
  'collections/list',
] as const;
export type SimulatorRoute = (typeof SIMULATOR_ROUTES)[number];

/** Which requests a fault targets: `probe` is collections/list and databases/list. */
export type FaultRoute = 'update_password' | 'probe' | 'any';

/**
 * One injected fault. "applied" means the password change (if the request would change one)
 * really happens before the misbehaviour, which is what makes the answer ambiguous to a client.
 */
export type Fault =
  /** Extra handling time, counted against `Request-Timeout` like the base latency. */
  | { kind: 'latency'; ms: number }
  /** A gateway error before Milvus sees the request: not applied. */
  | { kind: 'status'; status: 500 | 502 | 503 }
  /** The request is swallowed: no answer until the client gives up (or `close()`). Not applied. */
  | { kind: 'timeout' }
  /** Applied, then 408 `{"code":10001,"message":"request timeout"}`. */
  | { kind: 'applied-then-408' }
  /** Applied, then 200/65535: the rootcoord cache push failed after etcd was written (spec 4 g). */
  | { kind: 'applied-then-65535' }
  /** Applied, then the socket is destroyed without a reply. */
  | { kind: 'applied-then-drop' }
  /** The socket is destroyed before the request reaches Milvus: not applied. */
  | { kind: 'drop-before-apply' }
  /** Applied, then a gateway 502 (the reply was lost behind a load balancer). */
  | { kind: 'applied-then-5xx' }
  /** A canned reply before Milvus sees the request (any status, any body): not applied. */
  | { kind: 'reply'; status: number; body: string; contentType?: string };

export interface FaultRule {
  /** @defaultValue 'any' */
  route?: FaultRoute;
  /** Only requests about this user: the body's `userName`, else the user in the Authorization header. */
  user?: string;
  /** How many matching requests it affects. @defaultValue 1 */
  times?: number;
  fault: Fault;
}

/** Background noise for chaos soaks; every roll uses the injected `random`. */
export interface RandomFaults {
  /** Probability that a request gets a gateway 503 (not applied). */
  rate5xx?: number;
  /** Probability that a successful request is applied and then answered ambiguously (408, 65535, drop or 502). */
  rateAmbiguous?: number;
  /** Extra handling time drawn uniformly from [0, latencyJitterMs). */
  latencyJitterMs?: number;
}

export type ChangeVia = 'update_password' | 'create' | 'drop' | 'setPassword';

/** One password change; `from`/`to` are null when the user did not exist / was dropped. */
export interface PasswordChange {
  seq: number;
  /** Milliseconds, from the injected `now()`. */
  at: number;
  user: string;
  from: string | null;
  to: string | null;
  via: ChangeVia;
}

export type ChangeListener = (change: PasswordChange) => void;

export interface MilvusSimulatorOptions {
  /** Initial users and passwords. @defaultValue `{ root: 'Milvus' }` (a fresh Milvus); when given, used as is. */
  users?: Record<string, string>;
  /** Whether the `authenticate` middleware is installed. @defaultValue true */
  authEnabled?: boolean;
  /** Callers whose updates skip the old-password check (`common.security.superUsers`). @defaultValue [] */
  superUsers?: string[];
  /** Role names per user. The built-in `admin` role grants every privilege; other roles grant none. */
  roles?: Record<string, string[]>;
  /** Handling time of every request that reaches a handler. @defaultValue 0 */
  latencyMs?: number;
  /** @defaultValue '127.0.0.1' */
  host?: string;
  /** 0 picks a free port. @defaultValue 0 */
  port?: number;
  /** Serve HTTPS with this key and certificate (PEM). */
  tls?: { key: string | Buffer; cert: string | Buffer };
  /** A path prefix in front of `/v2/vectordb`, like a gateway that routes by path. @defaultValue '' */
  basePath?: string;
  /** `proxy.http.requestTimeoutMs`: the timeout when no valid `Request-Timeout` header is sent. @defaultValue 30000 */
  defaultRequestTimeoutMs?: number;
  /** Clock for the change log. @defaultValue Date.now */
  now?: () => number;
  /** Source of randomness for random faults (never for passwords). @defaultValue Math.random */
  random?: () => number;
}

/** Milvus limits (spec section 7). */
const LIMITS = {
  minPasswordBytes: 6,
  maxPasswordBytes: 72,
  maxUsernameBytes: 32,
  maxUsers: 100,
} as const;

/** Codes used in replies (spec section 5). */
const CODE = {
  success: 0,
  parameterInvalid: 1100,
  notAuthenticated: 1400,
  privilegeNotPermitted: 1401,
  userUnauthenticated: 1800,
  badJson: 1801,
  missingParameters: 1802,
  databaseNotFound: 800,
  requestTimeout: 10001,
  unexpected: 65535,
} as const;

const UNAUTHENTICATED_MESSAGE = "user hasn't authenticated";
const ROUTE_PREFIX = '/v2/vectordb/';
const MAX_BODY_BYTES = 1024 * 1024;
/** setTimeout's ceiling; longer delays would fire after 1 ms. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** The request structs of `request_v2.go`: their Go names and required fields, for binding messages. */
const REQUEST_SHAPES = {
  'users/list': { struct: 'DatabaseReq', fields: { dbName: false } },
  'users/describe': { struct: 'UserReq', fields: { userName: true } },
  'users/create': { struct: 'PasswordReq', fields: { userName: true, password: true } },
  'users/update_password': { struct: 'NewPasswordReq', fields: { userName: true, password: true, newPassword: true } },
  'users/drop': { struct: 'UserReq', fields: { userName: true } },
  'databases/list': { struct: 'EmptyReq', fields: {} },
  'collections/list': { struct: 'DatabaseReq', fields: { dbName: false } },
} as const satisfies Record<SimulatorRoute, { struct: string; fields: Record<string, boolean> }>;

/** The privilege each route checks when auth is on (milvus.proto privilege_ext_obj). */
const ROUTE_PRIVILEGE: Record<SimulatorRoute, { privilege: string; selfAllowed: boolean } | null> = {
  'users/list': { privilege: 'PrivilegeSelectOwnership', selfAllowed: false },
  'users/describe': { privilege: 'PrivilegeSelectUser', selfAllowed: true },
  'users/create': { privilege: 'PrivilegeCreateOwnership', selfAllowed: false },
  'users/update_password': { privilege: 'PrivilegeUpdateUser', selfAllowed: true },
  'users/drop': { privilege: 'PrivilegeDropOwnership', selfAllowed: false },
  // databases/list and collections/list call the proxy with checkAuth=false (spec section 2).
  'databases/list': null,
  'collections/list': null,
};

type BoundBody = Record<string, string>;

type Envelope = { code: number; data: unknown } | { code: number; message: string };

type Reply =
  | { kind: 'json'; status: number; body: Envelope }
  | { kind: 'text'; status: number; body: string; contentType: string }
  | { kind: 'drop' }
  | { kind: 'hang' };

interface ActiveRule {
  route: FaultRoute;
  user: string | undefined;
  remaining: number;
  fault: Fault;
}

interface Credentials {
  user: string;
  password: string;
}

/** What one request is about, for fault matching. */
interface RequestSubject {
  route: SimulatorRoute | null;
  user: string | undefined;
}

const GATEWAY_FAULTS: ReadonlySet<Fault['kind']> = new Set(['status', 'timeout', 'drop-before-apply', 'reply']);
const LATENCY_FAULTS: ReadonlySet<Fault['kind']> = new Set(['latency']);
const AFTER_APPLY_FAULTS: ReadonlySet<Fault['kind']> = new Set([
  'applied-then-408',
  'applied-then-65535',
  'applied-then-drop',
  'applied-then-5xx',
]);

export class MilvusSimulator {
  /** Every password change, in order. */
  readonly changeLog: PasswordChange[] = [];
  /** Errors thrown by `onChange` listeners; caught so a checker cannot break a request mid-flight. */
  readonly listenerErrors: unknown[] = [];

  readonly #users = new Map<string, string>();
  readonly #roles = new Map<string, string[]>();
  readonly #superUsers: Set<string>;
  readonly #seen = new Set<string>();
  readonly #listeners = new Set<ChangeListener>();
  readonly #counts = new Map<string, number>();
  readonly #sockets = new Set<Socket>();
  readonly #timers = new Set<NodeJS.Timeout>();
  #rules: ActiveRule[] = [];
  #randomFaults: Required<RandomFaults> = { rate5xx: 0, rateAmbiguous: 0, latencyJitterMs: 0 };
  #authEnabled: boolean;
  #latencyMs: number;
  #seq = 0;
  #closed = false;
  readonly #basePath: string;
  readonly #defaultRequestTimeoutMs: number;
  readonly #now: () => number;
  readonly #random: () => number;
  readonly #server: Server;
  readonly #scheme: 'http' | 'https';
  readonly #host: string;

  private constructor(options: MilvusSimulatorOptions) {
    for (const [user, password] of Object.entries(options.users ?? { root: 'Milvus' })) {
      this.#users.set(user, password);
      this.#see(password);
    }
    for (const [user, roles] of Object.entries(options.roles ?? {})) this.#roles.set(user, [...roles]);
    this.#superUsers = new Set(options.superUsers ?? []);
    this.#authEnabled = options.authEnabled ?? true;
    this.#latencyMs = options.latencyMs ?? 0;
    this.#basePath = (options.basePath ?? '').replace(/\/+$/, '');
    this.#defaultRequestTimeoutMs = options.defaultRequestTimeoutMs ?? 30_000;
    this.#now = options.now ?? Date.now;
    this.#random = options.random ?? Math.random;
    this.#host = options.host ?? '127.0.0.1';
    const handler = (req: IncomingMessage, res: ServerResponse): void => {
      this.#handle(req, res).catch(() => {
        // A bug in the simulator must not leave the client hanging.
        if (!res.headersSent && !res.destroyed) this.#send(res, { kind: 'text', status: 500, body: '', contentType: 'text/plain' });
      });
    };
    if (options.tls) {
      this.#server = createHttpsServer({ key: options.tls.key, cert: options.tls.cert }, handler);
      this.#scheme = 'https';
    } else {
      this.#server = createHttpServer(handler);
      this.#scheme = 'http';
    }
    this.#server.on('connection', (socket: Socket) => {
      this.#sockets.add(socket);
      socket.on('close', () => this.#sockets.delete(socket));
    });
  }

  /** Starts a simulator listening on `host:port` (a free port by default). */
  static async start(options: MilvusSimulatorOptions = {}): Promise<MilvusSimulator> {
    const simulator = new MilvusSimulator(options);
    await new Promise<void>((resolve, reject) => {
      simulator.#server.once('error', reject);
      simulator.#server.listen(options.port ?? 0, simulator.#host, () => {
        simulator.#server.off('error', reject);
        resolve();
      });
    });
    return simulator;
  }

  /** The base URL to configure as a cluster endpoint, including `basePath`. */
  get url(): string {
    const host = this.#host.includes(':') ? `[${this.#host}]` : this.#host;
    return `${this.#scheme}://${host}:${this.port}${this.#basePath}`;
  }

  get port(): number {
    return (this.#server.address() as AddressInfo).port;
  }

  /** Stops listening, destroys every open socket (hung requests included) and cancels pending handlers. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    for (const socket of this.#sockets) socket.destroy();
    await closed;
  }

  // ---- state API -------------------------------------------------------------------------------

  /** Sets (or creates) a user's password out of band, like an operator in the console. */
  setPassword(user: string, password: string): void {
    this.#see(password);
    this.#change(user, password, 'setPassword');
  }

  passwordOf(user: string): string | undefined {
    return this.#users.get(user);
  }

  /** The user names, sorted like etcd keys. */
  userNames(): string[] {
    return [...this.#users.keys()].sort();
  }

  setLatency(ms: number): void {
    this.#latencyMs = ms;
  }

  setAuthEnabled(enabled: boolean): void {
    this.#authEnabled = enabled;
  }

  /** Calls `listener` synchronously at the instant of each change. Returns an unsubscribe function. */
  onChange(listener: ChangeListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Every password the simulator held or was sent (headers and bodies), for secret-exposure scans. */
  passwordsSeen(): Set<string> {
    return new Set(this.#seen);
  }

  /** Requests received on a route since start; `probe` sums both list routes, `any` counts every request. */
  requestCount(route: SimulatorRoute | FaultRoute): number {
    if (route === 'any') return this.#counts.get('any') ?? 0;
    if (route === 'probe') return (this.#counts.get('collections/list') ?? 0) + (this.#counts.get('databases/list') ?? 0);
    if (route === 'update_password') return this.#counts.get('users/update_password') ?? 0;
    return this.#counts.get(route) ?? 0;
  }

  resetCounts(): void {
    this.#counts.clear();
  }

  /**
   * Queues a fault for the next matching request(s). Rules are matched in injection order.
   * Gateway faults (`status`, `timeout`, `drop-before-apply`, `reply`) hit a matching request on
   * arrival, whatever its credentials. `latency` hits the next matching request that reaches a
   * handler. The `applied-then-*` faults hit the next matching request whose handler succeeds
   * (code 0), so they always follow a real change; a failing request gets its real answer.
   */
  injectFault(rule: FaultRule): void {
    const times = rule.times ?? 1;
    if (!Number.isInteger(times) || times < 1) throw new RangeError('injectFault: times must be a positive integer');
    this.#rules.push({ route: rule.route ?? 'any', user: rule.user, remaining: times, fault: rule.fault });
  }

  /** Removes every queued fault and turns random faults off. */
  clearFaults(): void {
    this.#rules = [];
    this.#randomFaults = { rate5xx: 0, rateAmbiguous: 0, latencyJitterMs: 0 };
  }

  /** Faults still queued, for assertions that a fault was used. */
  pendingFaults(): number {
    return this.#rules.reduce((sum, rule) => sum + rule.remaining, 0);
  }

  setRandomFaults(faults: RandomFaults): void {
    this.#randomFaults = { rate5xx: faults.rate5xx ?? 0, rateAmbiguous: faults.rateAmbiguous ?? 0, latencyJitterMs: faults.latencyJitterMs ?? 0 };
  }

  // ---- pipeline --------------------------------------------------------------------------------

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // Set by the `RequestHandlerFunc` middleware on every response (spec section 1).
    res.setHeader('Access-Control-Allow-Origin', '*');
    res.setHeader('X-Content-Type-Options', 'nosniff');

    const rawBody = await readBody(req);
    if (rawBody === null) {
      req.socket.destroy();
      return;
    }
    const route = this.#matchRoute(req);
    this.#count(route);
    const header = headerBytesAsUtf8(req.headers.authorization);
    const parsedHeader = parseAuthorization(header);
    if (parsedHeader.credentials) this.#see(parsedHeader.credentials.password);
    else if (parsedHeader.apiKey) this.#see(parsedHeader.apiKey);
    const looseBody = parseLoosely(rawBody);
    for (const field of ['password', 'newPassword']) {
      const value = looseBody?.[field];
      if (typeof value === 'string') this.#see(value);
    }
    const bodyUser = looseBody?.['userName'];
    const subject: RequestSubject = {
      route: route === 'unknown' ? null : route,
      user: typeof bodyUser === 'string' ? bodyUser : parsedHeader.credentials?.user,
    };

    // 1. Gateway faults: in front of Milvus, so before authentication.
    const gateway = this.#takeFault(subject, GATEWAY_FAULTS) ?? this.#rollGatewayFault();
    if (gateway) return this.#send(res, gatewayReply(gateway));

    // 2. authenticate (only installed when auth is on).
    let caller: string | null = null;
    if (this.#authEnabled) {
      if (parsedHeader.basicParsed) res.setHeader('WWW-Authenticate', 'Basic realm="restricted", charset="UTF-8"');
      const creds = parsedHeader.credentials;
      // An API key (a token without `:`) goes to VerifyAPIKey, which always fails in OSS Milvus.
      if (!creds || this.#users.get(creds.user) !== creds.password) {
        return this.#send(res, json(401, { code: CODE.userUnauthenticated, message: UNAUTHENTICATED_MESSAGE }));
      }
      caller = creds.user;
    }

    // 3. Routing: only POST routes are registered; gin answers anything else with a text 404.
    if (route === 'unknown') return this.#send(res, { kind: 'text', status: 404, body: '404 page not found', contentType: 'text/plain' });

    // 4. The timeout middleware wraps binding, privilege check and handler.
    await this.#withTimeout(res, requestTimeoutMs(req.headers['request-timeout'], this.#defaultRequestTimeoutMs), async () => {
      // 5. JSON binding.
      const bound = bindJson(route, rawBody);
      if (!bound.ok) return bound.reply;
      // 6. Privilege check.
      if (caller !== null) {
        const denied = this.#checkPrivilege(route, caller, bound.body);
        if (denied) return denied;
      }
      // 7. Handler, after the simulated handling time.
      const latencyFault = this.#takeFault(subject, LATENCY_FAULTS);
      const extraMs = latencyFault?.kind === 'latency' ? latencyFault.ms : 0;
      const jitterMs = this.#randomFaults.latencyJitterMs > 0 ? Math.floor(this.#random() * this.#randomFaults.latencyJitterMs) : 0;
      const waitMs = this.#latencyMs + extraMs + jitterMs;
      if (waitMs > 0) await this.#sleep(waitMs);
      if (this.#closed) return { kind: 'hang' };
      const reply = this.#runHandler(route, caller, bound.body);
      if (reply.kind === 'json' && reply.status === 200 && reply.body.code === CODE.success) {
        const after = this.#takeFault(subject, AFTER_APPLY_FAULTS) ?? this.#rollAmbiguousFault();
        if (after) return afterApplyReply(after);
      }
      return reply;
    });
  }

  /**
   * Runs `work` under the timeout middleware: if it takes longer than `timeoutMs`, the client gets
   * 408 at the deadline while the work runs on and still applies its change, as the Go handler
   * goroutine does. That is exactly the ambiguity a rotation worker must resolve by probing.
   */
  async #withTimeout(res: ServerResponse, timeoutMs: number, work: () => Promise<Reply>): Promise<void> {
    const timeoutReply = json(408, { code: CODE.requestTimeout, message: 'request timeout' });
    let answered = false;
    let timer: NodeJS.Timeout | null = null;
    if (timeoutMs <= 0) {
      // A zero or negative deadline has expired before the handler starts.
      answered = true;
      this.#send(res, timeoutReply);
    } else {
      const deadline = setTimeout(() => {
        this.#timers.delete(deadline);
        answered = true;
        this.#send(res, timeoutReply);
      }, Math.min(timeoutMs, MAX_TIMER_MS));
      this.#timers.add(deadline);
      timer = deadline;
    }
    const reply = await work();
    if (timer) {
      clearTimeout(timer);
      this.#timers.delete(timer);
    }
    if (!answered) this.#send(res, reply);
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#timers.delete(timer);
        resolve();
      }, ms);
      this.#timers.add(timer);
    });
  }

  #send(res: ServerResponse, reply: Reply): void {
    if (res.headersSent || res.destroyed || this.#closed) return;
    switch (reply.kind) {
      case 'json': {
        const body = JSON.stringify(reply.body);
        res.writeHead(reply.status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(body) });
        res.end(body);
        return;
      }
      case 'text':
        res.writeHead(reply.status, { 'Content-Type': reply.contentType, 'Content-Length': Buffer.byteLength(reply.body) });
        res.end(reply.body);
        return;
      case 'drop':
        res.socket?.destroy();
        return;
      case 'hang':
        // Never answered; close() destroys the socket if the client does not give up first.
        return;
      default:
        assertNever(reply);
    }
  }

  #matchRoute(req: IncomingMessage): SimulatorRoute | 'unknown' {
    if (req.method !== 'POST') return 'unknown';
    const path = (req.url ?? '').split('?')[0] ?? '';
    const prefix = this.#basePath + ROUTE_PREFIX;
    if (!path.startsWith(prefix)) return 'unknown';
    const tail = path.slice(prefix.length);
    return (SIMULATOR_ROUTES as readonly string[]).includes(tail) ? (tail as SimulatorRoute) : 'unknown';
  }

  #count(route: SimulatorRoute | 'unknown'): void {
    this.#counts.set('any', (this.#counts.get('any') ?? 0) + 1);
    this.#counts.set(route, (this.#counts.get(route) ?? 0) + 1);
  }

  #see(secret: string): void {
    if (secret !== '') this.#seen.add(secret);
  }

  #takeFault(subject: RequestSubject, kinds: ReadonlySet<Fault['kind']>): Fault | null {
    const index = this.#rules.findIndex((rule) => kinds.has(rule.fault.kind) && ruleMatches(rule, subject));
    const rule = this.#rules[index];
    if (!rule) return null;
    rule.remaining -= 1;
    if (rule.remaining <= 0) this.#rules.splice(index, 1);
    return rule.fault;
  }

  #rollGatewayFault(): Fault | null {
    const rate = this.#randomFaults.rate5xx;
    return rate > 0 && this.#random() < rate ? { kind: 'status', status: 503 } : null;
  }

  #rollAmbiguousFault(): Fault | null {
    const rate = this.#randomFaults.rateAmbiguous;
    if (rate <= 0 || this.#random() >= rate) return null;
    const kinds = ['applied-then-408', 'applied-then-65535', 'applied-then-drop', 'applied-then-5xx'] as const;
    return { kind: kinds[Math.min(kinds.length - 1, Math.floor(this.#random() * kinds.length))] ?? 'applied-then-408' };
  }

  /**
   * `checkAuthorizationV2` with a simplified RBAC model: `root` bypasses (no `rootShouldBindRole`),
   * the `admin` role holds every privilege, and a user may always describe or update itself
   * (`isCurUserObject`).
   */
  #checkPrivilege(route: SimulatorRoute, caller: string, body: BoundBody): Reply | null {
    const rule = ROUTE_PRIVILEGE[route];
    if (!rule || caller === 'root') return null;
    if (rule.selfAllowed && body['userName'] === caller) return null;
    if ((this.#roles.get(caller) ?? []).includes('admin')) return null;
    return json(403, {
      code: CODE.unexpected,
      message: `rpc error: code = PermissionDenied desc = ${rule.privilege}: permission deny to ${caller} in the \`default\` database`,
    });
  }

  #runHandler(route: SimulatorRoute, caller: string | null, body: BoundBody): Reply {
    switch (route) {
      case 'users/list':
        return ok(this.userNames());
      case 'users/describe': {
        const name = body['userName'] ?? '';
        const invalid = validateUsername(name);
        if (invalid) return fail(CODE.parameterInvalid, invalid);
        // A missing user looks like a user without roles (rootcoord SelectUser).
        return ok(this.#users.has(name) ? [...(this.#roles.get(name) ?? [])] : []);
      }
      case 'users/create':
        return this.#create(body['userName'] ?? '', body['password'] ?? '');
      case 'users/update_password':
        return this.#updatePassword(caller, body['userName'] ?? '', body['password'] ?? '', body['newPassword'] ?? '');
      case 'users/drop':
        return this.#drop(body['userName'] ?? '');
      case 'databases/list':
        return ok(['default']);
      case 'collections/list': {
        const db = body['dbName'] ?? '';
        if (db !== '' && db !== 'default') return fail(CODE.databaseNotFound, `database not found[database=${db}]`);
        return ok([]);
      }
      default:
        return assertNever(route);
    }
  }

  /** Proxy.UpdateCredential, in the order of spec section 4 step 5. */
  #updatePassword(caller: string | null, user: string, oldPassword: string, newPassword: string): Reply {
    // c. The new password's length is checked before the old password.
    const invalid = validatePassword(newPassword);
    if (invalid) return fail(CODE.parameterInvalid, invalid);
    // d. Superusers (the caller, not the target) skip the old-password check.
    const skipVerify = caller !== null && this.#superUsers.has(caller);
    // e. A wrong old password and a missing user give the same 1400.
    if (!skipVerify && this.#users.get(user) !== oldPassword) {
      return fail(CODE.notAuthenticated, `old password not correct for ${user}: not authenticated`);
    }
    // f. An unconditional upsert: a superuser "updating" a missing user creates it.
    this.#change(user, newPassword, 'update_password');
    return ok({});
  }

  /** Proxy.CreateCredential, then rootcoord AddCredential (spec section 13). */
  #create(user: string, password: string): Reply {
    const invalidName = validateUsername(user);
    if (invalidName) return fail(CODE.parameterInvalid, invalidName);
    const invalidPassword = validatePassword(password);
    if (invalidPassword) return fail(CODE.parameterInvalid, invalidPassword);
    if (this.#users.has(user)) return fail(CODE.unexpected, `user already exists: ${user}`);
    if (this.#users.size >= LIMITS.maxUsers) {
      return fail(CODE.unexpected, 'unable to add user because the number of users has reached the limit');
    }
    this.#change(user, password, 'create');
    return ok({});
  }

  /** Proxy.DeleteCredential: root is protected; a missing user is not an error. */
  #drop(user: string): Reply {
    if (user === 'root') return fail(CODE.privilegeNotPermitted, 'root user cannot be deleted: privilege not permitted');
    if (this.#users.has(user)) {
      this.#change(user, null, 'drop');
      this.#roles.delete(user);
    }
    return ok({});
  }

  /** The one place a password changes: updates state, appends to the log, tells listeners. */
  #change(user: string, to: string | null, via: ChangeVia): void {
    const from = this.#users.get(user) ?? null;
    if (to === null) this.#users.delete(user);
    else this.#users.set(user, to);
    this.#seq += 1;
    const change: PasswordChange = { seq: this.#seq, at: this.#now(), user, from, to, via };
    this.changeLog.push(change);
    for (const listener of this.#listeners) {
      try {
        listener(change);
      } catch (error) {
        this.listenerErrors.push(error);
      }
    }
  }
}

// ---- pure helpers ------------------------------------------------------------------------------

function assertNever(value: never): never {
  throw new Error(`unexpected value: ${JSON.stringify(value)}`);
}

function json(status: number, body: Envelope): Reply {
  return { kind: 'json', status, body };
}

function ok(data: unknown): Reply {
  return json(200, { code: CODE.success, data });
}

/** Business and validation errors are HTTP 200 with a non-zero code (spec section 1). */
function fail(code: number, message: string): Reply {
  return json(200, { code, message });
}

function ruleMatches(rule: ActiveRule, subject: RequestSubject): boolean {
  if (rule.user !== undefined && rule.user !== subject.user) return false;
  switch (rule.route) {
    case 'any':
      return true;
    case 'update_password':
      return subject.route === 'users/update_password';
    case 'probe':
      return subject.route === 'collections/list' || subject.route === 'databases/list';
    default:
      return assertNever(rule.route);
  }
}

function gatewayReply(fault: Fault): Reply {
  switch (fault.kind) {
    case 'status':
      return gatewayError(fault.status);
    case 'timeout':
      return { kind: 'hang' };
    case 'drop-before-apply':
      return { kind: 'drop' };
    case 'reply':
      return { kind: 'text', status: fault.status, body: fault.body, contentType: fault.contentType ?? 'application/json; charset=utf-8' };
    default:
      throw new Error(`not a gateway fault: ${fault.kind}`);
  }
}

function afterApplyReply(fault: Fault): Reply {
  switch (fault.kind) {
    case 'applied-then-408':
      return json(408, { code: CODE.requestTimeout, message: 'request timeout' });
    case 'applied-then-65535':
      return fail(
        CODE.unexpected,
        'UpdateCredential failed, proxyID = 7, err = rpc error: code = Unavailable desc = connection error: desc = "transport: Error while dialing: dial tcp 10.0.3.7:19529: connect: connection refused"',
      );
    case 'applied-then-drop':
      return { kind: 'drop' };
    case 'applied-then-5xx':
      return gatewayError(502);
    default:
      throw new Error(`not an after-apply fault: ${fault.kind}`);
  }
}

/** What a load balancer in front of Milvus sends: HTML, or gin Recovery's empty 500. */
function gatewayError(status: 500 | 502 | 503): Reply {
  if (status === 500) return { kind: 'text', status, body: '', contentType: 'text/plain' };
  const title = status === 502 ? '502 Bad Gateway' : '503 Service Temporarily Unavailable';
  return { kind: 'text', status, body: `<html><head><title>${title}</title></head><body><center><h1>${title}</h1></center></body></html>`, contentType: 'text/html' };
}

async function readBody(req: IncomingMessage): Promise<string | null> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buffer = chunk as Buffer;
    size += buffer.length;
    if (size > MAX_BODY_BYTES) return null;
    chunks.push(buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * Node hands header values over as latin1 (one char per byte); Go compares the raw bytes, which a
 * client writes as UTF-8. Re-decoding as UTF-8 makes non-ASCII credentials behave as in Go.
 */
function headerBytesAsUtf8(value: string | undefined): string {
  return value === undefined ? '' : Buffer.from(value, 'latin1').toString('utf8');
}

interface ParsedAuthorization {
  /** user and password, both non-empty (ParseUsernamePassword's `ok`). */
  credentials: Credentials | null;
  /** A non-empty token without `:`: an API key for VerifyAPIKey. */
  apiKey: string | null;
  /** Whether a Basic header decoded (the server then sends WWW-Authenticate). */
  basicParsed: boolean;
}

const STD_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** `ParseUsernamePassword` and the API-key branch of `authenticate` (spec section 6). */
function parseAuthorization(header: string): ParsedAuthorization {
  let basicParsed = false;
  let user = '';
  let password = '';
  // 1. Go's Request.BasicAuth: case-insensitive "Basic ", strict standard base64, first-colon split.
  if (header.length >= 6 && header.slice(0, 6).toLowerCase() === 'basic ') {
    const encoded = header.slice(6);
    if (STD_BASE64.test(encoded)) {
      const decoded = Buffer.from(encoded, 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      if (colon !== -1) {
        basicParsed = true;
        user = decoded.slice(0, colon);
        password = decoded.slice(colon + 1);
      }
    }
  }
  // 2. Otherwise strip the exact, case-sensitive "Bearer " and split at the first colon.
  const token = header.startsWith('Bearer ') ? header.slice('Bearer '.length) : header;
  if (!basicParsed) {
    const colon = token.indexOf(':');
    if (colon !== -1) {
      user = token.slice(0, colon);
      password = token.slice(colon + 1);
    }
  }
  const credentials = user !== '' && password !== '' ? { user, password } : null;
  const apiKey = credentials === null && token !== '' && !token.includes(':') ? token : null;
  return { credentials, apiKey, basicParsed };
}

/** `Request-Timeout` in whole seconds (Go ParseInt); anything unparsable falls back to the default. */
function requestTimeoutMs(value: string | string[] | undefined, defaultMs: number): number {
  const text = Array.isArray(value) ? value[0] : value;
  if (text === undefined || !/^[+-]?\d+$/.test(text)) return defaultMs;
  return Number.parseInt(text, 10) * 1000;
}

function parseLoosely(body: string): Record<string, unknown> | null {
  try {
    const value: unknown = JSON.parse(body);
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

type BindResult = { ok: true; body: BoundBody } | { ok: false; reply: Reply };

/**
 * gin's ShouldBindBodyWith(binding.JSON) + validator, as `wrapperPost` reports it: an empty body
 * (io.EOF) and decode errors are 1801, missing or empty `binding:"required"` fields are 1802.
 * Like encoding/json, keys match case-insensitively (exact match preferred) and a JSON null
 * leaves a field empty.
 */
function bindJson(route: SimulatorRoute, rawBody: string): BindResult {
  const shape = REQUEST_SHAPES[route];
  if (rawBody.trim() === '') {
    return { ok: false, reply: fail(CODE.badJson, 'can only accept json format request, the request body should be nil, however {} is valid') };
  }
  let value: unknown;
  try {
    value = JSON.parse(rawBody);
  } catch {
    return { ok: false, reply: fail(CODE.badJson, `can only accept json format request, error: ${goSyntaxError(rawBody)}`) };
  }
  if (value === null) value = {};
  if (typeof value !== 'object' || Array.isArray(value)) {
    const kind = Array.isArray(value) ? 'array' : jsonKind(value);
    return { ok: false, reply: fail(CODE.badJson, `can only accept json format request, error: json: cannot unmarshal ${kind} into Go value of type httpserver.${shape.struct}`) };
  }
  const object = value as Record<string, unknown>;
  const body: BoundBody = {};
  const missing: string[] = [];
  for (const [field, required] of Object.entries(shape.fields)) {
    const key = field in object ? field : Object.keys(object).find((k) => k.toLowerCase() === field.toLowerCase());
    const fieldValue = key === undefined ? undefined : object[key];
    if (fieldValue !== undefined && fieldValue !== null && typeof fieldValue !== 'string') {
      return {
        ok: false,
        reply: fail(CODE.badJson, `can only accept json format request, error: json: cannot unmarshal ${jsonKind(fieldValue)} into Go struct field ${shape.struct}.${field} of type string`),
      };
    }
    const text = typeof fieldValue === 'string' ? fieldValue : '';
    body[field] = text;
    if (required && text === '') missing.push(field);
  }
  if (missing.length > 0) {
    const details = missing.map((field) => {
      const goName = field.charAt(0).toUpperCase() + field.slice(1);
      return `Key: '${shape.struct}.${goName}' Error:Field validation for '${goName}' failed on the 'required' tag`;
    });
    return { ok: false, reply: fail(CODE.missingParameters, `missing required parameters, error: ${details.join('\n')}`) };
  }
  return { ok: true, body };
}

function jsonKind(value: unknown): string {
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'number') return 'number';
  if (typeof value === 'boolean') return 'bool';
  if (typeof value === 'object') return 'object';
  return 'string';
}

/** An approximation of encoding/json's syntax errors: enough to look like the real thing. */
function goSyntaxError(body: string): string {
  const first = body.trimStart().charAt(0);
  if (first !== '' && !'{["-0123456789tfn'.includes(first)) return `invalid character '${first}' looking for beginning of value`;
  return 'unexpected EOF';
}

/** ValidateUsername (internal/proxy/util.go), messages included. */
function validateUsername(raw: string): string | null {
  const name = raw.trim();
  if (name === '') return 'username must be not empty: invalid parameter';
  const bytes = Buffer.from(name, 'utf8');
  if (bytes.length > LIMITS.maxUsernameBytes) {
    return `invalid username ${name} with length ${bytes.length}, the length of username must be less than ${LIMITS.maxUsernameBytes}: invalid parameter`;
  }
  const first = bytes[0] ?? 0;
  if (!isAsciiLetter(first)) {
    return `invalid user name ${name}, the first character must be a letter, but got ${String.fromCharCode(first)}: invalid parameter`;
  }
  for (let i = 1; i < bytes.length; i += 1) {
    const c = bytes[i] ?? 0;
    if (c !== 0x5f && c !== 0x2d && c !== 0x2e && !isAsciiLetter(c) && !(c >= 0x30 && c <= 0x39)) {
      // Go formats the offending byte with %s, which prints `%!s(uint8=N)`.
      return `invalid user name ${name}, username must contain only numbers, letters, underscores, dots, and hyphens, but got %!s(uint8=${c}): invalid parameter`;
    }
  }
  return null;
}

function isAsciiLetter(c: number): boolean {
  return (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
}

/** ValidatePassword: the UTF-8 byte length must be within [6, 72]; no character classes. */
function validatePassword(password: string): string | null {
  const length = Buffer.byteLength(password, 'utf8');
  if (length >= LIMITS.minPasswordBytes && length <= LIMITS.maxPasswordBytes) return null;
  return `invalid password length: invalid parameter[${length} out of range ${LIMITS.minPasswordBytes} <= value <= ${LIMITS.maxPasswordBytes}]`;
}
