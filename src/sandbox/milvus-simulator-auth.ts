/**
 * Reading the Authorization header as Milvus's `authenticate` middleware does (spec section 6):
 * Basic first, then `Bearer ` with a first-colon split, then an API key. Parsing only; checking the
 * credentials against the users is the simulator's pipeline step.
 */

export interface Credentials {
  user: string;
  password: string;
}

export interface ParsedAuthorization {
  /** user and password, both non-empty (ParseUsernamePassword's `ok`). */
  credentials: Credentials | null;
  /** A non-empty token without `:`: an API key for VerifyAPIKey. */
  apiKey: string | null;
  /** Whether a Basic header decoded (the server then sends WWW-Authenticate). */
  basicParsed: boolean;
}

/**
 * Node hands header values over as latin1 (one char per byte); Go compares the raw bytes, which a
 * client writes as UTF-8. Re-decoding as UTF-8 makes non-ASCII credentials behave as in Go.
 */
export function headerBytesAsUtf8(value: string | undefined): string {
  return value === undefined ? '' : Buffer.from(value, 'latin1').toString('utf8');
}

const STD_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** `ParseUsernamePassword` and the API-key branch of `authenticate` (spec section 6). */
export function parseAuthorization(header: string): ParsedAuthorization {
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
