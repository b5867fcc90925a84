import { describe, expect, it } from 'vitest';
import { createLogger, REDACTED, REDACT_MAX_DEPTH, rotationLogger, SECRET_KEYS, serializeError } from '../src/observability/logger.ts';

const SECRET = 'hunter2-Secret!';

/** A logger writing into memory, and the JSON objects it wrote. */
function capture(level = 'trace') {
  const chunks: string[] = [];
  const logger = createLogger({ level, destination: { write: (chunk: string) => void chunks.push(chunk) } });
  const lines = (): Record<string, unknown>[] =>
    chunks
      .join('')
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  return { logger, lines, raw: () => chunks.join('') };
}

/** `{a: {b: {key: value}}}` with `depth` levels above the key. */
function nest(key: string, value: unknown, depth: number): Record<string, unknown> {
  let node: Record<string, unknown> = { [key]: value };
  for (let level = depth; level > 0; level -= 1) node = { [`level${level}`]: node };
  return node;
}

function at(object: unknown, path: string[]): unknown {
  return path.reduce<unknown>((node, key) => (typeof node === 'object' && node !== null ? (node as Record<string, unknown>)[key] : undefined), object);
}

describe('createLogger', () => {
  it('writes one JSON object per line with level names and ISO times', () => {
    const { logger, lines } = capture();
    logger.info({ credential: 'app-reader' }, 'hello');
    logger.warn('second');
    const [first, second] = lines();
    expect(first).toMatchObject({ level: 'info', credential: 'app-reader', msg: 'hello' });
    expect(second).toMatchObject({ level: 'warn', msg: 'second' });
    expect(typeof first?.time).toBe('string');
    expect(Number.isNaN(Date.parse(String(first?.time)))).toBe(false);
  });

  it('honours the level', () => {
    const { logger, lines } = capture('warn');
    logger.info('hidden');
    logger.error('shown');
    expect(lines().map((line) => line.msg)).toEqual(['shown']);
  });

  describe('redaction (the backstop)', () => {
    const depths = Array.from({ length: REDACT_MAX_DEPTH + 1 }, (_, depth) => depth);

    it.each(SECRET_KEYS.flatMap((key) => depths.map((depth) => [key, depth] as const)))('censors "%s" at depth %i', (key, depth) => {
      const { logger, lines, raw } = capture();
      logger.info(nest(key, SECRET, depth), 'event');
      const path = [...Array.from({ length: depth }, (_, index) => `level${index + 1}`), key];
      expect(at(lines()[0], path)).toBe(REDACTED);
      expect(raw()).not.toContain(SECRET);
    });

    it('censors the listed keys named in the brief at several depths at once', () => {
      const { logger, raw, lines } = capture();
      logger.info(
        {
          password: SECRET,
          rotation: { pp: SECRET, pc: SECRET, pv: SECRET },
          request: { body: { newPassword: SECRET, oldPassword: SECRET } },
          headers: { authorization: `Bearer user:${SECRET}` },
          req: { headers: { authorization: `Bearer user:${SECRET}`, Authorization: SECRET } },
          aws: { response: { SecretString: SECRET, secretString: SECRET } },
          version: { value: SECRET, token: SECRET, secret: SECRET },
          list: [{ password: SECRET }],
        },
        'everything',
      );
      expect(raw()).not.toContain(SECRET);
      const line = lines()[0];
      expect(at(line, ['headers', 'authorization'])).toBe(REDACTED);
      expect(at(line, ['req', 'headers', 'authorization'])).toBe(REDACTED);
      expect(at(line, ['request', 'body', 'newPassword'])).toBe(REDACTED);
    });

    it('leaves other keys alone', () => {
      const { logger, lines } = capture();
      logger.info({ credential: 'app-reader', cluster: { name: 'prod-west', timeoutMs: 100 }, username: 'app_reader' }, 'ok');
      expect(lines()[0]).toMatchObject({ credential: 'app-reader', cluster: { name: 'prod-west', timeoutMs: 100 }, username: 'app_reader' });
    });

    it('censors child bindings too', () => {
      const { logger, raw } = capture();
      logger.child({ password: SECRET, nested: { token: SECRET } }).info('child');
      expect(raw()).not.toContain(SECRET);
    });
  });

  describe('error serialization', () => {
    it('keeps the cause chain as nested objects, with type, message, code and stack', () => {
      const { logger, lines } = capture();
      const root = Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
      const middle = new Error('probe failed', { cause: root });
      const top = Object.assign(new Error('cluster prod-west unreachable', { cause: middle }), { code: 'ROTATOR_X', httpStatus: 503 });
      logger.error({ err: top }, 'failed');
      const err = lines()[0]?.err as Record<string, unknown>;
      expect(err).toMatchObject({
        type: 'Error',
        message: 'cluster prod-west unreachable',
        code: 'ROTATOR_X',
        httpStatus: 503,
        cause: { type: 'Error', message: 'probe failed', cause: { type: 'Error', message: 'socket hang up', code: 'ECONNRESET' } },
      });
      expect(String(err.stack)).toContain('cluster prod-west unreachable');
    });

    it('serializes an error passed directly, as pino does, and an `error` key', () => {
      const { logger, lines } = capture();
      logger.error(new TypeError('bad'));
      logger.warn({ error: new RangeError('worse') }, 'x');
      logger.warn({ error: 'already a string' }, 'y');
      const [first, second, third] = lines();
      expect(first?.err).toMatchObject({ type: 'TypeError', message: 'bad' });
      expect(second?.error).toMatchObject({ type: 'RangeError', message: 'worse' });
      expect(third?.error).toBe('already a string');
    });

    it('never copies request or response bodies, headers or secret-named properties of an error', () => {
      const { logger, raw, lines } = capture();
      const error = Object.assign(new Error('update_password failed'), {
        body: { oldPassword: SECRET, newPassword: SECRET },
        request: { headers: { authorization: SECRET } },
        response: { data: SECRET },
        config: { data: JSON.stringify({ password: SECRET }) },
        password: SECRET,
        $metadata: { httpStatusCode: 400, requestId: 'req-1', extendedRequestId: undefined },
      });
      const wrapper = new Error('rotation failed', { cause: Object.assign(new Error('deep'), { SecretString: SECRET, rawBody: SECRET }) });
      logger.error({ err: error }, 'one');
      logger.error({ err: wrapper }, 'two');
      expect(raw()).not.toContain(SECRET);
      const first = lines()[0]?.err as Record<string, unknown>;
      expect(first.body).toBeUndefined();
      expect(first.request).toBeUndefined();
      expect(first.password).toBe(REDACTED);
      expect(first.$metadata).toEqual({ httpStatusCode: 400, requestId: 'req-1' });
    });

    it('describes a non-Error cause by its type only, and survives cycles and AggregateErrors', () => {
      const stringCause = new Error('wrapped', { cause: `password=${SECRET}` });
      expect(serializeError(stringCause)).toMatchObject({ cause: { type: 'string' } });
      expect(JSON.stringify(serializeError(stringCause))).not.toContain(SECRET);

      const a = new Error('a');
      const b = new Error('b', { cause: a });
      (a as Error & { cause?: unknown }).cause = b;
      expect(serializeError(a)).toMatchObject({ message: 'a', cause: { message: 'b', cause: { message: '[circular cause]' } } });

      const aggregate = new AggregateError([new Error('one'), 'two'], 'both failed');
      expect(serializeError(aggregate)).toMatchObject({ type: 'AggregateError', errors: [{ message: 'one' }, { type: 'string' }] });
    });
  });
});

describe('rotationLogger', () => {
  it('binds credential and rotationId (and step) to every line', () => {
    const { logger, lines } = capture();
    const rotation = rotationLogger(logger, { credential: 'app-reader', rotationId: 'rot-1' });
    rotation.info('begin');
    rotation.child({ step: 'writeAhead' }).info({ durationMs: 12 }, 'end');
    rotationLogger(logger, { credential: 'app-writer', rotationId: 'rot-2', step: 'load' }).info('load');
    expect(lines()).toEqual([
      expect.objectContaining({ credential: 'app-reader', rotationId: 'rot-1', msg: 'begin' }),
      expect.objectContaining({ credential: 'app-reader', rotationId: 'rot-1', step: 'writeAhead', durationMs: 12, msg: 'end' }),
      expect.objectContaining({ credential: 'app-writer', rotationId: 'rot-2', step: 'load', msg: 'load' }),
    ]);
  });
});
