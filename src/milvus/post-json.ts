/**
 * One HTTP(S) POST with a JSON body, reduced to what the classifier needs: a status and a body,
 * or the fact that the exchange broke. It never throws: transport failures are data, because for
 * update_password a broken exchange means "may have happened", not "failed".
 */
import { request as httpRequest, type Agent as HttpAgent, type IncomingMessage } from 'node:http';
import { request as httpsRequest, type Agent as HttpsAgent } from 'node:https';

export type TransportOutcome =
  | { kind: 'response'; httpStatus: number; body: string }
  /** The signal fired (timeout or caller) before a complete response arrived. */
  | { kind: 'aborted' }
  /** Connection refused or reset, TLS failure, truncated or oversized body... `detail` holds no request data. */
  | { kind: 'network'; detail: string };

export interface PostJsonRequest {
  url: URL;
  agent: HttpAgent | HttpsAgent;
  headers: Record<string, string>;
  body: string;
  signal: AbortSignal;
  /** Bodies are small JSON envelopes; anything bigger is not Milvus talking. */
  maxResponseBytes: number;
}

export function postJson(input: PostJsonRequest): Promise<TransportOutcome> {
  const { url, agent, headers, body, signal, maxResponseBytes } = input;
  if (signal.aborted) return Promise.resolve({ kind: 'aborted' });
  return new Promise<TransportOutcome>((resolve) => {
    let settled = false;
    const settle = (outcome: TransportOutcome): void => {
      if (settled) return;
      settled = true;
      resolve(outcome);
    };
    // Whatever broke, an aborted signal is the real cause (node reports it as an AbortError or a reset).
    const fail = (error: unknown): void => settle(signal.aborted ? { kind: 'aborted' } : { kind: 'network', detail: describeNetworkError(error) });

    // A Buffer, never a string: given a string, node writes the header block in the same UTF-8
    // write as the body, which would re-encode the latin1-packed UTF-8 Authorization bytes.
    const payload = Buffer.from(body, 'utf8');
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    let req;
    try {
      req = send(url, {
        method: 'POST',
        agent,
        signal,
        headers: { ...headers, 'Content-Length': String(payload.length) },
      });
    } catch (error) {
      // Invalid header characters throw synchronously; nothing was sent.
      fail(error);
      return;
    }
    req.on('error', fail);
    req.on('response', (res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > maxResponseBytes) {
          settle({ kind: 'network', detail: `response body larger than ${maxResponseBytes} bytes` });
          req.destroy();
          return;
        }
        chunks.push(chunk);
      });
      res.on('error', fail);
      res.on('end', () => settle({ kind: 'response', httpStatus: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      // 'close' without 'end': the connection died mid-body.
      res.on('close', () => {
        if (!res.complete) fail(new Error('connection closed before the response was complete'));
      });
    });
    req.end(payload);
  });
}

/** The error's code and message: node's network errors name hosts and syscalls, never request data. */
/**
 * The error's code only (ECONNRESET, ERR_TLS_CERT_ALTNAME_INVALID, HPE_INVALID_HEADER_TOKEN...),
 * never its message: Node builds some messages from what the server sent (a certificate's names,
 * a header it could not parse), and no text from a server is kept.
 */
function describeNetworkError(error: unknown): string {
  const code = error instanceof Error ? (error as NodeJS.ErrnoException).code : undefined;
  return typeof code === 'string' && /^[A-Z0-9_]{1,64}$/.test(code) ? code : 'connection failed';
}
