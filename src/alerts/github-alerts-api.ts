/**
 * The two GitHub REST calls the `secret_scanning_alert` webhook needs:
 *
 *   GET   {apiUrl}/repos/{owner}/{repo}/secret-scanning/alerts/{number}   -> the alert, with `secret`
 *   PATCH {apiUrl}/repos/{owner}/{repo}/secret-scanning/alerts/{number}   {state: "resolved", resolution: "revoked", resolution_comment}
 *
 * authenticated with a GitHub App installation token or a fine-grained token with "Secret scanning
 * alerts" read (write, to resolve). The literal is returned to the caller, which matches it and
 * drops it at once; it is never logged, stored or put in an error. Errors say which call failed
 * and the HTTP status, never a body (a body may quote the secret).
 */

/** GitHub's REST version header value this client is written against. */
const API_VERSION = '2022-11-28';

export type AlertSecretRead = { ok: true; secret: string } | { ok: false; status: number | null; cause: 'not_found' | 'unauthorized' | 'http_error' | 'timeout' | 'connection_error' | 'no_secret' };

export type AlertResolve = { ok: true } | { ok: false; status: number | null; retryable: boolean; cause: string };

export interface GithubAlertsApiOptions {
  /** `leakAlerts.githubWebhook.apiUrl`: https://api.github.com, or a GitHub Enterprise Server's `/api/v3`. */
  apiUrl: string;
  /** The token (`leakAlerts.githubWebhook.token`). */
  token: string;
  /** Per call. @defaultValue 10000 */
  timeoutMs?: number;
}

export class GithubAlertsApi {
  private readonly apiUrl: string;
  private readonly token: string;
  private readonly timeoutMs: number;

  constructor(options: GithubAlertsApiOptions) {
    this.apiUrl = options.apiUrl.replace(/\/+$/, '');
    this.token = options.token;
    this.timeoutMs = options.timeoutMs ?? 10_000;
  }

  /** Reads the alert's secret literal. */
  async readSecret(alert: { owner: string; repo: string; number: number }, signal?: AbortSignal): Promise<AlertSecretRead> {
    let response: Response;
    try {
      response = await fetch(this.alertUrl(alert), { method: 'GET', headers: this.headers(), redirect: 'error', signal: this.signal(signal) });
    } catch (error) {
      return { ok: false, status: null, cause: error instanceof Error && error.name === 'TimeoutError' ? 'timeout' : 'connection_error' };
    }
    if (!response.ok) {
      await response.arrayBuffer().catch(() => undefined);
      const cause = response.status === 404 ? 'not_found' : response.status === 401 || response.status === 403 ? 'unauthorized' : 'http_error';
      return { ok: false, status: response.status, cause };
    }
    let body: unknown;
    try {
      body = await response.json();
    } catch {
      return { ok: false, status: response.status, cause: 'no_secret' };
    }
    const secret = typeof body === 'object' && body !== null ? (body as { secret?: unknown }).secret : undefined;
    if (typeof secret !== 'string' || secret === '') return { ok: false, status: response.status, cause: 'no_secret' };
    return { ok: true, secret };
  }

  /** Resolves the alert as revoked, with a comment naming the rotation (never the secret). */
  async resolveRevoked(alert: { owner: string; repo: string; number: number }, comment: string, signal?: AbortSignal): Promise<AlertResolve> {
    let response: Response;
    try {
      response = await fetch(this.alertUrl(alert), {
        method: 'PATCH',
        headers: { ...this.headers(), 'content-type': 'application/json' },
        body: JSON.stringify({ state: 'resolved', resolution: 'revoked', resolution_comment: comment.slice(0, 270) }),
        redirect: 'error',
        signal: this.signal(signal),
      });
    } catch (error) {
      return { ok: false, status: null, retryable: !(signal?.aborted ?? false), cause: error instanceof Error && error.name === 'TimeoutError' ? 'timeout' : 'connection_error' };
    }
    await response.arrayBuffer().catch(() => undefined);
    if (response.ok) return { ok: true };
    return { ok: false, status: response.status, retryable: response.status === 429 || response.status >= 500, cause: `http_${response.status}` };
  }

  private alertUrl(alert: { owner: string; repo: string; number: number }): string {
    return `${this.apiUrl}/repos/${encodeURIComponent(alert.owner)}/${encodeURIComponent(alert.repo)}/secret-scanning/alerts/${alert.number}`;
  }

  private headers(): Record<string, string> {
    return { accept: 'application/vnd.github+json', authorization: `Bearer ${this.token}`, 'x-github-api-version': API_VERSION, 'user-agent': 'milvus-rotator' };
  }

  private signal(outer: AbortSignal | undefined): AbortSignal {
    const timeout = AbortSignal.timeout(this.timeoutMs);
    return outer ? AbortSignal.any([outer, timeout]) : timeout;
  }
}
