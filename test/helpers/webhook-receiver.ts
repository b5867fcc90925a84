import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One request a receiver got. */
export interface WebhookHit {
  headers: IncomingHttpHeaders;
  body: string;
}

export interface WebhookReceiver {
  url: string;
  hits: WebhookHit[];
  server: Server;
  /** Closes the server and every connection it holds (a hanging receiver's included). */
  close: () => Promise<void>;
}

/**
 * A notification receiver on loopback (the fake of a Slack or signed-JSON webhook): records every
 * request and answers 200, or with `hang` never answers (the sockets stay open until `close`).
 */
export async function startWebhookReceiver(hang = false): Promise<WebhookReceiver> {
  const hits: WebhookHit[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      hits.push({ headers: req.headers, body });
      if (!hang) res.writeHead(200).end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`,
    hits,
    server,
    close: () => new Promise<void>((resolve) => (server.closeAllConnections(), server.close(() => resolve()))),
  };
}
