/**
 * An in-process simulator of the Milvus / Zilliz Cloud REST v2 user API, faithful to
 * spec/milvus-rest-user-api.md (sections 1-7, 10, the section 13 checklist and the roles and users
 * of section 14: describe, create, grant_role, revoke_role, roles/list), so tests, the
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
 *
 * This file is the server, the pipeline and the state API; each step's rules live next to it:
 * `-faults` (1 and the applied-then faults), `-auth` (2), `-binding` (5), `-handlers` (the routes,
 * 6 and 7) and `-messages` (Milvus's codes, limits and messages).
 */
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { headerBytesAsUtf8, parseAuthorization } from './milvus-simulator-auth.ts';
import { bindJson, parseLoosely, readBody } from './milvus-simulator-binding.ts';
import {
  FaultPlan,
  afterApplyReply,
  gatewayReply,
  type FaultRoute,
  type FaultRule,
  type RandomFaults,
  type RequestSubject,
} from './milvus-simulator-faults.ts';
import {
  BUILT_IN_ROLES,
  SIMULATOR_ROUTES,
  checkPrivilege,
  runHandler,
  type ChangeVia,
  type SimulatorRoute,
  type UserDirectory,
} from './milvus-simulator-handlers.ts';
import { CODE, UNAUTHENTICATED_MESSAGE, json, type Reply } from './milvus-simulator-messages.ts';

export type { Fault, FaultRoute, FaultRule, RandomFaults } from './milvus-simulator-faults.ts';
export { BUILT_IN_ROLES, SIMULATOR_ROUTES, type ChangeVia, type SimulatorRoute } from './milvus-simulator-handlers.ts';

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
  /**
   * Custom roles that exist besides the built-in `admin` and `public` (Zilliz Cloud's `db_admin`,
   * `db_rw`, `db_ro` are custom here). Every role named under `roles` exists too.
   */
  definedRoles?: string[];
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

const ROUTE_PREFIX = '/v2/vectordb/';
/** setTimeout's ceiling; longer delays would fire after 1 ms. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export class MilvusSimulator {
  /** Every password change, in order. */
  readonly changeLog: PasswordChange[] = [];
  /** Errors thrown by `onChange` listeners; caught so a checker cannot break a request mid-flight. */
  readonly listenerErrors: unknown[] = [];

  readonly #users = new Map<string, string>();
  readonly #roles = new Map<string, string[]>();
  readonly #definedRoles = new Set<string>(BUILT_IN_ROLES);
  readonly #superUsers: Set<string>;
  readonly #seen = new Set<string>();
  readonly #listeners = new Set<ChangeListener>();
  readonly #counts = new Map<string, number>();
  readonly #sockets = new Set<Socket>();
  readonly #timers = new Set<NodeJS.Timeout>();
  readonly #faults: FaultPlan;
  readonly #directory: UserDirectory;
  #authEnabled: boolean;
  #latencyMs: number;
  #seq = 0;
  #closed = false;
  readonly #basePath: string;
  readonly #defaultRequestTimeoutMs: number;
  readonly #now: () => number;
  readonly #server: Server;
  readonly #scheme: 'http' | 'https';
  readonly #host: string;

  private constructor(options: MilvusSimulatorOptions) {
    for (const [user, password] of Object.entries(options.users ?? { root: 'Milvus' })) {
      this.#users.set(user, password);
      this.#see(password);
    }
    for (const role of options.definedRoles ?? []) this.#definedRoles.add(role);
    for (const [user, roles] of Object.entries(options.roles ?? {})) this.setRoles(user, roles);
    this.#superUsers = new Set(options.superUsers ?? []);
    this.#authEnabled = options.authEnabled ?? true;
    this.#latencyMs = options.latencyMs ?? 0;
    this.#basePath = (options.basePath ?? '').replace(/\/+$/, '');
    this.#defaultRequestTimeoutMs = options.defaultRequestTimeoutMs ?? 30_000;
    this.#now = options.now ?? Date.now;
    this.#faults = new FaultPlan(options.random ?? Math.random);
    this.#directory = {
      users: this.#users,
      roles: this.#roles,
      definedRoles: this.#definedRoles,
      superUsers: this.#superUsers,
      userNames: () => this.userNames(),
      change: (user, to, via) => this.#change(user, to, via),
    };
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

  /** Removes a user and its role bindings out of band, like an operator in the console. */
  dropUser(user: string): void {
    if (!this.#users.has(user)) return;
    this.#change(user, null, 'drop');
    this.#roles.delete(user);
  }

  passwordOf(user: string): string | undefined {
    return this.#users.get(user);
  }

  /** The user names, sorted like etcd keys. */
  userNames(): string[] {
    return [...this.#users.keys()].sort();
  }

  /** The roles bound to a user (without the implicit `public`), in grant order; [] for a missing user. */
  rolesOf(user: string): string[] {
    return this.#users.has(user) ? [...(this.#roles.get(user) ?? [])] : [];
  }

  /** Binds exactly `roles` to a user out of band, like an operator in the console; the roles come to exist. */
  setRoles(user: string, roles: readonly string[]): void {
    for (const role of roles) this.#definedRoles.add(role);
    this.#roles.set(user, [...new Set(roles.filter((role) => role !== 'public'))]);
  }

  /** Creates a custom role out of band. */
  defineRole(role: string): void {
    this.#definedRoles.add(role);
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
    this.#faults.inject(rule);
  }

  /** Removes every queued fault and turns random faults off. */
  clearFaults(): void {
    this.#faults.clear();
  }

  /** Faults still queued, for assertions that a fault was used. */
  pendingFaults(): number {
    return this.#faults.pending();
  }

  setRandomFaults(faults: RandomFaults): void {
    this.#faults.setRandom(faults);
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
    const gateway = this.#faults.gatewayFault(subject);
    if (gateway) return this.#send(res, gatewayReply(gateway, { rawBody, authorization: header }));

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
        const denied = checkPrivilege(this.#directory, route, caller, bound.body);
        if (denied) return denied;
      }
      // 7. Handler, after the simulated handling time.
      const latencyFault = this.#faults.latencyFault(subject);
      const extraMs = latencyFault?.kind === 'latency' ? latencyFault.ms : 0;
      const jitterMs = this.#faults.jitterMs();
      const waitMs = this.#latencyMs + extraMs + jitterMs;
      if (waitMs > 0) await this.#sleep(waitMs);
      if (this.#closed) return { kind: 'hang' };
      const reply = runHandler(this.#directory, route, caller, bound.body);
      if (reply.kind === 'json' && reply.status === 200 && reply.body.code === CODE.success) {
        const after = this.#faults.afterApplyFault(subject);
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

/** `Request-Timeout` in whole seconds (Go ParseInt); anything unparsable falls back to the default. */
function requestTimeoutMs(value: string | string[] | undefined, defaultMs: number): number {
  const text = Array.isArray(value) ? value[0] : value;
  if (text === undefined || !/^[+-]?\d+$/.test(text)) return defaultMs;
  return Number.parseInt(text, 10) * 1000;
}
