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
