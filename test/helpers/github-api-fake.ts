import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One request the fake received. */
export interface GithubApiCall {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
}

/**
 * A loopback fake of the two GitHub REST calls of the secret_scanning_alert feed, answering with
 * the shapes GitHub's docs record (`GET` returns the alert with `secret`; `PATCH` returns the
 * alert resolved). It checks the bearer token, and `failNext(status, n)` makes the next n calls fail.
 */
export async function startGithubApiFake(options: { token: string; /** Answered for an alert that was not added (any number of any repository). */ anySecret?: string }): Promise<{
  url: string;
  calls: GithubApiCall[];
  addAlert: (owner: string, repo: string, number: number, secret: string) => void;
  failNext: (status: number, count?: number) => void;
  resolved: () => string[];
  close: () => Promise<void>;
}> {
  const alerts = new Map<string, { number: number; secret: string; state: string; resolution: string | null }>();
  const calls: GithubApiCall[] = [];
  let failures: { status: number; left: number } | null = null;
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      calls.push({ method: req.method ?? '', path: req.url ?? '', headers: req.headers, body });
      const reply = (status: number, json: unknown): void => {
        res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(json));
      };
      if (failures && failures.left > 0) {
        failures.left -= 1;
        return reply(failures.status, { message: 'Server Error' });
      }
      if (req.headers.authorization !== `Bearer ${options.token}`) return reply(401, { message: 'Bad credentials' });
      const match = /^\/repos\/([^/]+)\/([^/]+)\/secret-scanning\/alerts\/(\d+)$/.exec(req.url ?? '');
      const id = match ? `${match[1]}/${match[2]}#${match[3]}` : '';
      if (match && !alerts.has(id) && options.anySecret !== undefined) alerts.set(id, { number: Number(match[3]), secret: options.anySecret, state: 'open', resolution: null });
      const alert = match ? alerts.get(id) : undefined;
      if (!alert) return reply(404, { message: 'Not Found' });
      const shape = () => ({
        number: alert.number,
        state: alert.state,
        resolution: alert.resolution,
        secret_type: 'milvus_password',
        secret_type_display_name: 'Milvus password',
        secret: alert.secret,
        html_url: `https://github.com/${match?.[1]}/${match?.[2]}/security/secret-scanning/${alert.number}`,
      });
      if (req.method === 'GET') return reply(200, shape());
      if (req.method === 'PATCH') {
        const patch = JSON.parse(body) as { state: string; resolution?: string };
        alert.state = patch.state;
        alert.resolution = patch.resolution ?? null;
        return reply(200, shape());
      }
      return reply(405, { message: 'Method Not Allowed' });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    calls,
    addAlert: (owner, repo, number, secret) => alerts.set(`${owner}/${repo}#${number}`, { number, secret, state: 'open', resolution: null }),
    failNext: (status, count = 1) => {
      failures = { status, left: count };
    },
    resolved: () => [...alerts.entries()].filter(([, a]) => a.state === 'resolved' && a.resolution === 'revoked').map(([id]) => id),
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
