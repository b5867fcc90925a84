/**
 * The REST v2 client of one cluster (spec/milvus-rest-user-api.md): self-service update_password,
 * a credential probe, and the user and role calls of section 14 (describe, create, grant, revoke,
 * list roles), each answered as a discriminated union (./types.ts). It holds no
 * credentials: every call carries its own, so concurrent rotations never share state, and it does
 * not log: results are data that the engine logs, and none of them carries a password.
 */
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import {
  classifyCreateUser,
  classifyDescribeUser,
  classifyListRoles,
  classifyProbe,
  classifyRoleChange,
  classifyUpdate,
  type Exchange,
  type Redact,
} from './classify.ts';
import { ROUTE, resolveEndpoint, type Route } from './endpoint.ts';
import { MilvusClientOptionsError } from './errors.ts';
import { postJson } from './post-json.ts';
import { createRedactor } from './redact.ts';
import type {
  Caller,
  ClusterClient,
  CreateUserResult,
  DescribeUserResult,
  ListRolesResult,
  ProbeResult,
  RequestOptions,
  RoleChangeResult,
  RoleClient,
  UpdateResult,
} from './types.ts';

export interface MilvusRestClientOptions {
  /** The cluster's name in the config; used in results and errors, never a URL. */
  name: string;
  /** Base URL of the REST API, possibly with a path prefix, e.g. https://in01-xxxx.api.gcp-us-west1.zillizcloud.com:19530 */
  endpoint: string;
  /** Per-request budget: connect, send and read the whole reply. Also sent as `Request-Timeout`. */
  timeoutMs: number;
  /**
   * PEM contents of the CA(s) to trust for this endpoint (the caller reads the file). https only.
   * Replaces Node's bundled roots for this client, so a private CA cannot be bypassed by a public one.
   */
  ca?: string | Buffer;
}

/** Milvus replies are small envelopes; a megabyte is already something else answering. */
const MAX_RESPONSE_BYTES = 1024 * 1024;

/** Node rejects header values with these characters; they cannot be sent in `Authorization`. */
const INVALID_HEADER_CHAR = /[^\t\x20-\x7e\x80-\xff]/;

const UNSENDABLE = 'the credential cannot be sent in an Authorization header (control characters)';

export class MilvusRestClient implements ClusterClient, RoleClient {
  readonly name: string;
  readonly #timeoutMs: number;
  readonly #requestTimeoutHeader: string;
  readonly #agent: HttpAgent | HttpsAgent;
  readonly #routeUrl: (route: Route) => URL;

  constructor(options: MilvusRestClientOptions) {
    this.name = options.name;
    if (!Number.isFinite(options.timeoutMs) || options.timeoutMs <= 0) {
      throw new MilvusClientOptionsError(options.name, 'timeoutMs must be a positive number of milliseconds');
    }
    this.#timeoutMs = options.timeoutMs;
    // Whole seconds, rounded up so the server never gives up before we do (its default is 30 s).
    this.#requestTimeoutHeader = String(Math.max(1, Math.ceil(options.timeoutMs / 1000)));
    this.#routeUrl = resolveEndpoint(options.name, options.endpoint);
    const https = this.#routeUrl(ROUTE.probe).protocol === 'https:';
    if (options.ca !== undefined && !https) throw new MilvusClientOptionsError(options.name, 'a CA is set but the endpoint is not https');
    // Keep-alive: a rotation makes several calls to one cluster in a row (probe, update, verify).
    this.#agent = https
      ? new HttpsAgent({ keepAlive: true, ...(options.ca !== undefined ? { ca: options.ca } : {}) })
      : new HttpAgent({ keepAlive: true });
  }

  /**
   * `POST /v2/vectordb/users/update_password` as `user:oldPassword`, body
   * `{"userName","password" (the old one),"newPassword"}`. Not idempotent (spec section 10):
   * the caller resolves an `ambiguous` answer by probing, never by replaying blindly.
   */
  async updatePassword(user: string, oldPassword: string, newPassword: string, options: RequestOptions = {}): Promise<UpdateResult> {
    const redact = createRedactor(user, [oldPassword, newPassword]);
    const body = JSON.stringify({ userName: user, password: oldPassword, newPassword });
    const exchange = await this.#post(ROUTE.updatePassword, user, oldPassword, body, options.signal, redact);
    if (exchange === null) return { kind: 'other', httpStatus: 0, code: null, message: UNSENDABLE };
    return classifyUpdate(exchange, redact);
  }

  /** `POST /v2/vectordb/collections/list` with `{}` as `user:password`: 200/0 accepted, 401 rejected. */
  async probe(user: string, password: string, options: RequestOptions = {}): Promise<ProbeResult> {
    const redact = createRedactor(user, [password]);
    const exchange = await this.#post(ROUTE.probe, user, password, '{}', options.signal, redact);
    if (exchange === null) return { kind: 'unknown', reason: UNSENDABLE };
    return classifyProbe(exchange, redact);
  }

  /** `POST /v2/vectordb/users/describe` `{"userName"}` as `caller`: the user's role names. */
  async describeUser(caller: Caller, userName: string, options: RequestOptions = {}): Promise<DescribeUserResult> {
    const redact = createRedactor(caller.user, [caller.password]);
    const exchange = await this.#post(ROUTE.describeUser, caller.user, caller.password, JSON.stringify({ userName }), options.signal, redact);
    if (exchange === null) return { kind: 'unknown', reason: UNSENDABLE };
    return classifyDescribeUser(exchange, redact);
  }

  /** `POST /v2/vectordb/users/create` `{"userName","password"}` as `caller`. Not idempotent: `exists` after an ambiguous try is for the caller to resolve by probing. */
  async createUser(caller: Caller, userName: string, password: string, options: RequestOptions = {}): Promise<CreateUserResult> {
    const redact = createRedactor(caller.user, [caller.password, password]);
    const exchange = await this.#post(ROUTE.createUser, caller.user, caller.password, JSON.stringify({ userName, password }), options.signal, redact);
    if (exchange === null) return { kind: 'other', httpStatus: 0, code: null, message: UNSENDABLE };
    return classifyCreateUser(exchange, redact);
  }

  /** `POST /v2/vectordb/users/grant_role` `{"userName","roleName"}` as `caller`. Idempotent on the server. */
  async grantRole(caller: Caller, userName: string, roleName: string, options: RequestOptions = {}): Promise<RoleChangeResult> {
    return this.#roleChange(ROUTE.grantRole, caller, userName, roleName, options);
  }

  /** `POST /v2/vectordb/users/revoke_role` `{"userName","roleName"}` as `caller`. Idempotent on the server. */
  async revokeRole(caller: Caller, userName: string, roleName: string, options: RequestOptions = {}): Promise<RoleChangeResult> {
    return this.#roleChange(ROUTE.revokeRole, caller, userName, roleName, options);
  }

  /** `POST /v2/vectordb/roles/list` `{}` as `caller`: every role that exists. */
  async listRoles(caller: Caller, options: RequestOptions = {}): Promise<ListRolesResult> {
    const redact = createRedactor(caller.user, [caller.password]);
    const exchange = await this.#post(ROUTE.listRoles, caller.user, caller.password, '{}', options.signal, redact);
    if (exchange === null) return { kind: 'unknown', reason: UNSENDABLE };
    return classifyListRoles(exchange, redact);
  }

  async #roleChange(route: Route, caller: Caller, userName: string, roleName: string, options: RequestOptions): Promise<RoleChangeResult> {
    const redact = createRedactor(caller.user, [caller.password]);
    const exchange = await this.#post(route, caller.user, caller.password, JSON.stringify({ userName, roleName }), options.signal, redact);
    if (exchange === null) return { kind: 'other', httpStatus: 0, code: null, message: UNSENDABLE };
    return classifyRoleChange(exchange, redact);
  }

  /** Closes idle keep-alive sockets and any in flight; the client is unusable afterwards. */
  close(): void {
    this.#agent.destroy();
  }

  /** One POST under the client's timeout and the caller's signal; null when the header cannot be sent. */
  async #post(route: Route, user: string, password: string, body: string, callerSignal: AbortSignal | undefined, redact: Redact): Promise<Exchange | null> {
    // The server reads header bytes as UTF-8 while node writes header strings as latin1, so the
    // UTF-8 bytes go in one latin1 char each; non-ASCII passwords then arrive intact.
    const authorization = Buffer.from(`Bearer ${user}:${password}`, 'utf8').toString('latin1');
    if (INVALID_HEADER_CHAR.test(authorization)) return null;
    const timeout = AbortSignal.timeout(this.#timeoutMs);
    const signal = callerSignal ? AbortSignal.any([timeout, callerSignal]) : timeout;
    const outcome = await postJson({
      url: this.#routeUrl(route),
      agent: this.#agent,
      headers: {
        Authorization: authorization,
        'Content-Type': 'application/json',
        Accept: 'application/json',
        'Request-Timeout': this.#requestTimeoutHeader,
      },
      body,
      signal,
      maxResponseBytes: MAX_RESPONSE_BYTES,
    });
    switch (outcome.kind) {
      case 'response':
        return outcome;
      case 'aborted':
        return { kind: 'failed', reason: timeout.aborted ? `timed out after ${this.#timeoutMs} ms` : 'aborted by the caller' };
      case 'network':
        return { kind: 'failed', reason: `network error: ${redact(outcome.detail)}` };
      default: {
        const unreachable: never = outcome;
        throw new Error(`unexpected transport outcome ${JSON.stringify(unreachable)}`);
      }
    }
  }
}
