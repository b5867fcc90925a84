/**
 * What can go wrong between a client and Milvus, on demand: faults injected by tests and random
 * faults for chaos soaks, and the replies each fault produces. A fault either hits before Milvus
 * sees the request (not applied) or after a successful change (applied, then an ambiguous answer).
 */
import type { SimulatorRoute } from './milvus-simulator-handlers.ts';
import { CODE, fail, json, type Reply } from './milvus-simulator-messages.ts';

/**
 * Which requests a fault targets: `probe` is collections/list and databases/list,
 * `update_password` is users/update_password, and a route name targets that route alone.
 */
export type FaultRoute = 'update_password' | 'probe' | 'any' | SimulatorRoute;

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
  | { kind: 'reply'; status: number; body: string; contentType?: string }
  /**
   * A server that quotes the request (body and Authorization header) in its error, encoded: not
   * applied. With `code`, inside a Milvus envelope's `message` (HTTP `status`); else as the body.
   */
  | { kind: 'echo'; status: number; encoding: EchoEncoding; code?: number };

/** How an echoing server encodes what it quotes. */
export type EchoEncoding = 'plain' | 'hex' | 'base64' | 'percent-lower' | 'rfc3986' | 'upper';

/** The request as an echoing server quotes it. */
export function encodeEcho(text: string, encoding: EchoEncoding): string {
  const bytes = Buffer.from(text, 'utf8');
  switch (encoding) {
    case 'plain':
      return text;
    case 'hex':
      return bytes.toString('hex');
    case 'base64':
      return bytes.toString('base64');
    case 'percent-lower':
      return encodeURIComponent(text).replace(/%[0-9A-F]{2}/g, (escape) => escape.toLowerCase());
    case 'rfc3986':
      return encodeURIComponent(text).replace(/[!'()*]/g, (char) => `%${char.charCodeAt(0).toString(16).toUpperCase()}`);
    case 'upper':
      return text.toUpperCase();
    default: {
      const unknown: never = encoding;
      throw new Error(`unknown echo encoding: ${String(unknown)}`);
    }
  }
}

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

/** What one request is about, for fault matching. */
export interface RequestSubject {
  route: SimulatorRoute | null;
  user: string | undefined;
}

interface ActiveRule {
  route: FaultRoute;
  user: string | undefined;
  remaining: number;
  fault: Fault;
}

const GATEWAY_FAULTS: ReadonlySet<Fault['kind']> = new Set(['status', 'timeout', 'drop-before-apply', 'reply', 'echo']);
const LATENCY_FAULTS: ReadonlySet<Fault['kind']> = new Set(['latency']);
const AFTER_APPLY_FAULTS: ReadonlySet<Fault['kind']> = new Set([
  'applied-then-408',
  'applied-then-65535',
  'applied-then-drop',
  'applied-then-5xx',
]);

/**
 * The queued rules (matched in injection order) and the random faults. Each stage of the pipeline
 * asks for its own kind of fault: an injected rule first, then a random roll.
 */
export class FaultPlan {
  readonly #random: () => number;
  #rules: ActiveRule[] = [];
  #randomFaults: Required<RandomFaults> = { rate5xx: 0, rateAmbiguous: 0, latencyJitterMs: 0 };

  constructor(random: () => number) {
    this.#random = random;
  }

  inject(rule: FaultRule): void {
    const times = rule.times ?? 1;
    if (!Number.isInteger(times) || times < 1) throw new RangeError('injectFault: times must be a positive integer');
    this.#rules.push({ route: rule.route ?? 'any', user: rule.user, remaining: times, fault: rule.fault });
  }

  /** Removes every queued fault and turns random faults off. */
  clear(): void {
    this.#rules = [];
    this.#randomFaults = { rate5xx: 0, rateAmbiguous: 0, latencyJitterMs: 0 };
  }

  /** Uses of queued faults still left. */
  pending(): number {
    return this.#rules.reduce((sum, rule) => sum + rule.remaining, 0);
  }

  setRandom(faults: RandomFaults): void {
    this.#randomFaults = { rate5xx: faults.rate5xx ?? 0, rateAmbiguous: faults.rateAmbiguous ?? 0, latencyJitterMs: faults.latencyJitterMs ?? 0 };
  }

  /** A fault that hits on arrival, in front of Milvus: an injected gateway fault, else a random 503. */
  gatewayFault(subject: RequestSubject): Fault | null {
    return this.#take(subject, GATEWAY_FAULTS) ?? this.#rollGatewayFault();
  }

  /** An injected `latency` fault for a request that reaches a handler. */
  latencyFault(subject: RequestSubject): Fault | null {
    return this.#take(subject, LATENCY_FAULTS);
  }

  /** Random extra handling time, in whole ms. */
  jitterMs(): number {
    return this.#randomFaults.latencyJitterMs > 0 ? Math.floor(this.#random() * this.#randomFaults.latencyJitterMs) : 0;
  }

  /** A fault for a request whose change was applied: an injected `applied-then-*`, else a random one. */
  afterApplyFault(subject: RequestSubject): Fault | null {
    return this.#take(subject, AFTER_APPLY_FAULTS) ?? this.#rollAmbiguousFault();
  }

  #take(subject: RequestSubject, kinds: ReadonlySet<Fault['kind']>): Fault | null {
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
      return subject.route === rule.route;
  }
}

/** The reply for a fault that hits before Milvus: a gateway error, a hang, a drop or a canned reply. */
export function gatewayReply(fault: Fault, request: { rawBody: string; authorization: string } = { rawBody: '', authorization: '' }): Reply {
  switch (fault.kind) {
    case 'echo': {
      const quoted = encodeEcho(`${request.rawBody} Authorization: ${request.authorization}`, fault.encoding);
      return fault.code === undefined
        ? { kind: 'text', status: fault.status, body: `bad request: ${quoted}`, contentType: 'text/plain' }
        : json(fault.status, { code: fault.code, message: `invalid request ${quoted}` });
    }
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

/** The ambiguous reply for a fault that hits after the change was applied. */
export function afterApplyReply(fault: Fault): Reply {
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
