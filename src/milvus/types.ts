/**
 * What the rotation engine needs from a cluster, and what the REST client answers. Expected
 * answers are data (discriminated unions); the client throws only for programming errors.
 * No variant carries a password.
 */

/** The answer to "does the cluster accept user:password?". */
export type ProbeResult =
  | { kind: 'accepted' }
  | { kind: 'rejected' }
  /** Timeout, socket error, 5xx, non-JSON body...: nothing is known about the password. */
  | { kind: 'unknown'; reason: string };

/** The answer to update_password, classified (spec/milvus-rest-user-api.md sections 5 and 10). */
export type UpdateResult =
  /** HTTP 200 code 0: every proxy already accepts the new password. */
  | { kind: 'accepted' }
  /** HTTP 401 code 1800: the header credential (user:old) was not accepted. */
  | { kind: 'rejected' }
  /** HTTP 200 code 1400: old password wrong, or the user does not exist. */
  | { kind: 'old-password-wrong' }
  /** HTTP 200 code 1100: the new password breaks the server's policy. Nothing changed. */
  | { kind: 'policy-rejected'; message: string }
  /** Timeout, socket error, 408, 5xx, code 65535: the change may or may not have happened. */
  | { kind: 'ambiguous'; reason: string }
  /** Anything else (403, 1801, 1802, unknown codes): not retryable, nothing assumed. */
  | { kind: 'other'; httpStatus: number; code: number | null; message: string };

export interface RequestOptions {
  /** Aborts the request; the answer is then `unknown` / `ambiguous`. */
  signal?: AbortSignal;
}

/** One cluster's user API, as the engine sees it. */
export interface ClusterClient {
  /** The cluster's name in the config. */
  readonly name: string;
  /** Self-service change: authenticates as `user:oldPassword` and sets `newPassword`. */
  updatePassword(user: string, oldPassword: string, newPassword: string, options?: RequestOptions): Promise<UpdateResult>;
  /** Whether the cluster accepts `user:password` (POST /v2/vectordb/collections/list). */
  probe(user: string, password: string, options?: RequestOptions): Promise<ProbeResult>;
}

/** Who makes a call: a user and its password (self-service, or an admin). Never logged. */
export interface Caller {
  user: string;
  password: string;
}

/** Answers every role call may get besides its own success. */
type RoleCallFailure =
  /** HTTP 401: the caller's credential was not accepted. */
  | { kind: 'rejected' }
  /** HTTP 403: the caller lacks the privilege (spec section 14). */
  | { kind: 'denied'; message: string }
  /** Anything else (1801, 1802, unknown codes): not retryable, nothing assumed. */
  | { kind: 'other'; httpStatus: number; code: number | null; message: string };

/** users/describe: the user's role names. An unknown user also answers `roles: []` (spec section 12.11). */
export type DescribeUserResult = { kind: 'roles'; roles: string[] } | RoleCallFailure | { kind: 'unknown'; reason: string };

/** roles/list: the names of every role that exists. */
export type ListRolesResult = { kind: 'roles'; roles: string[] } | RoleCallFailure | { kind: 'unknown'; reason: string };

/** users/create. */
export type CreateUserResult =
  | { kind: 'created' }
  /** 65535 `user already exists: X`: nothing changed. */
  | { kind: 'exists' }
  /** 65535: the cluster holds its maximum number of users (100 by default, and on Zilliz Cloud). */
  | { kind: 'limit' }
  /** 1100: the name or the password breaks the server's rules. */
  | { kind: 'policy-rejected'; message: string }
  /** Timeout, socket error, 408, 5xx, other 65535: the user may or may not exist now. */
  | { kind: 'ambiguous'; reason: string }
  | RoleCallFailure;

/** users/grant_role and users/revoke_role (both idempotent on the server). */
export type RoleChangeResult =
  | { kind: 'done' }
  /** The role (or, for a grant, the user) does not exist. */
  | { kind: 'not-found'; message: string }
  /** Timeout, socket error, 408, 5xx, other 65535: the binding may or may not have changed; retrying is safe. */
  | { kind: 'ambiguous'; reason: string }
  | RoleCallFailure;

/** The user and role calls of the alternating strategy (spec section 14). */
export interface RoleClient {
  readonly name: string;
  /** `users/describe` as `caller` (allowed on one's own user without privileges). */
  describeUser(caller: Caller, userName: string, options?: RequestOptions): Promise<DescribeUserResult>;
  /** `users/create` as `caller` (needs CreateOwnership). The new user has no roles. */
  createUser(caller: Caller, userName: string, password: string, options?: RequestOptions): Promise<CreateUserResult>;
  /** `users/grant_role` as `caller` (needs ManageOwnership). */
  grantRole(caller: Caller, userName: string, roleName: string, options?: RequestOptions): Promise<RoleChangeResult>;
  /** `users/revoke_role` as `caller` (needs ManageOwnership). */
  revokeRole(caller: Caller, userName: string, roleName: string, options?: RequestOptions): Promise<RoleChangeResult>;
  /** `roles/list` as `caller` (needs SelectOwnership). */
  listRoles(caller: Caller, options?: RequestOptions): Promise<ListRolesResult>;
}

/** A cluster's whole user API: passwords, probes, users and roles. */
export type MilvusUserClient = ClusterClient & RoleClient;
