import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../src/observability/logger.ts';
import { asRedisUnavailable, createRedisConnection, describeRedisError, isFatalRedisError, redactRedisUrl, RedisUnavailableError, closeRedisConnection, waitForRedis } from '../src/queue/redis-connection.ts';

const REDIS = { url: 'redis://:hunter2-redis@127.0.0.1:1', prefix: '{t}', connectTimeoutMs: 1_000 };

function withCode(message: string, code: string): Error {
  return Object.assign(new Error(message), { code });
}

/** A connection that never connects (lazy), its log lines, and a clock the test moves. */
function harness() {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n')) if (line) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  let now = 1_000_000;
  const connection = createRedisConnection(REDIS, 'producer', {
    logger: createLogger({ destination: sink }),
    name: 'test',
    errorLogIntervalMs: 10_000,
    now: () => now,
    extra: { lazyConnect: true },
  });
  return { lines, connection, advance: (ms: number) => (now += ms) };
}

describe('redis connection: connection errors are rate-limited JSON lines', () => {
  it('logs one line per distinct cause per interval, then one more with the count of the repeats', () => {
    const { lines, connection, advance } = harness();
    for (let i = 0; i < 5; i += 1) connection.emit('error', withCode('connect ECONNREFUSED 127.0.0.1:1', 'ECONNREFUSED'));
    connection.emit('error', new Error('WRONGPASS invalid username-password pair or user is disabled.'));
    connection.emit('error', new Error("Stream isn't writeable and enableOfflineQueue options is false"));
    expect(lines.map((l) => l.cause)).toEqual(['connection refused (is Redis running at this address?)', 'authentication refused (WRONGPASS: wrong user name or password)']);
    expect(lines[0]).toMatchObject({ level: 'warn', msg: 'redis connection error', redis: 'redis://:***@127.0.0.1:1', connection: 'test', code: 'ECONNREFUSED' });
    advance(9_999);
    connection.emit('error', withCode('connect ECONNREFUSED 127.0.0.1:1', 'ECONNREFUSED'));
    expect(lines).toHaveLength(2);
    advance(1);
    connection.emit('error', withCode('connect ECONNREFUSED 127.0.0.1:1', 'ECONNREFUSED'));
    expect(lines).toHaveLength(3);
    expect(lines[2]).toMatchObject({ cause: 'connection refused (is Redis running at this address?)', repeated: 5 });
    const text = JSON.stringify(lines);
    expect(text).not.toContain('hunter2');
    expect(text).not.toContain('stack');
    connection.disconnect();
  });
});

describe('redis connection: causes, URLs, fatality', () => {
  it('names each kind of trouble, and only the ones retrying cannot mend are fatal', () => {
    const cases: [Error, RegExp, boolean][] = [
      [withCode('connect ECONNREFUSED 127.0.0.1:6379', 'ECONNREFUSED'), /^connection refused/, false],
      [withCode('getaddrinfo ENOTFOUND redis.internal', 'ENOTFOUND'), /does not resolve/, false],
      [withCode('connect ETIMEDOUT', 'ETIMEDOUT'), /timed out/, false],
      [withCode('read ECONNRESET', 'ECONNRESET'), /reset the connection \(a TLS-only server/, false],
      [new Error('WRONGPASS invalid username-password pair'), /WRONGPASS/, true],
      [new Error('NOAUTH Authentication required.'), /NOAUTH/, true],
      [withCode('write EPROTO 0080:error:0A00010B:SSL routines:ssl3_get_record:wrong version number', 'EPROTO'), /^TLS handshake failed/, true],
      [withCode('Client network socket disconnected before secure TLS connection was established', 'ECONNRESET'), /^TLS handshake failed/, true],
      [withCode('self-signed certificate', 'DEPTH_ZERO_SELF_SIGNED_CERT'), /^TLS certificate refused/, true],
      [new Error('MOVED 12182 127.0.0.1:7001'), /Redis Cluster node \(MOVED\)/, true],
      [new Error('LOADING Redis is loading the dataset in memory'), /loading/, false],
    ];
    for (const [error, phrase, fatal] of cases) {
      expect(describeRedisError(error), error.message).toMatch(phrase);
      expect(isFatalRedisError(error), error.message).toBe(fatal);
    }
  });

  it('hides the password of a URL, keeps the user, and never throws', () => {
    expect(redactRedisUrl('rediss://app:s3cret@redis.internal:6380/2')).toBe('rediss://app:***@redis.internal:6380/2');
    expect(redactRedisUrl('redis://127.0.0.1:6379')).toBe('redis://127.0.0.1:6379');
    expect(redactRedisUrl('not a url')).toBe('<unparsable redis url>');
  });

  it('turns a Redis failure met mid-command into a RedisUnavailableError on the redacted URL, and leaves other errors alone', () => {
    const moved = Object.assign(new Error('MOVED 1 127.0.0.1:7001'), { name: 'ReplyError' });
    const wrapped = asRedisUnavailable(moved, REDIS);
    expect(wrapped).toBeInstanceOf(RedisUnavailableError);
    expect((wrapped as RedisUnavailableError).message).toBe('redis redis://:***@127.0.0.1:1: the server is a Redis Cluster node (MOVED): set redis.mode: cluster');
    expect((wrapped as RedisUnavailableError).code).toBe('redis.unavailable');
    const other = new TypeError('a bug');
    expect(asRedisUnavailable(other, REDIS)).toBe(other);
  });
});

describe('redis connection: waiting for ready', () => {
  it('answers at once when the connection is released while waiting (a sibling failed first), so the bound timer does not hold the process', async () => {
    // A port nothing listens on: the client retries until the bound; closing it must end the wait now.
    const connection = createRedisConnection({ ...REDIS, connectTimeoutMs: 60_000 }, 'worker', { logger: createLogger({ level: 'silent' }), name: 'closed-while-waiting' });
    const started = performance.now();
    const waiting = waitForRedis(connection, { ...REDIS, connectTimeoutMs: 60_000 });
    setTimeout(() => void closeRedisConnection(connection), 100);
    await expect(waiting).rejects.toBeInstanceOf(RedisUnavailableError);
    expect(performance.now() - started).toBeLessThan(5_000);
  });
});

describe('redis connection: closing one that waits to reconnect', () => {
  it('ends it and its copies (status end, the end event) and rejects their queued commands, as a closed connection does', async () => {
    // A port nothing listens on: the client is in `reconnecting` between attempts, with no socket.
    const connection = createRedisConnection({ ...REDIS, connectTimeoutMs: 60_000 }, 'worker', { logger: createLogger({ level: 'silent' }), name: 'reconnecting' });
    const copy = connection.duplicate() as typeof connection & { status: string };
    copy.on('error', () => {}); // BullMQ listens on its copies; the reconnect errors are not the point here
    const waitUntilReconnecting = async (c: { status: string }): Promise<void> => {
      while (c.status !== 'reconnecting') await new Promise((resolve) => setTimeout(resolve, 10));
    };
    await Promise.all([waitUntilReconnecting(connection), waitUntilReconnecting(copy)]);
    // The worker role queues commands while Redis is away (BullMQ's reads wait so for Redis to come back).
    const queued = [connection.get('k'), copy.get('k')].map((p) => p.then(() => 'answered', (error: Error) => error.message));
    const ended = [connection, copy].map((c) => new Promise<string>((resolve) => c.once('end', () => resolve('end'))));

    await closeRedisConnection(connection);

    // BullMQ's Worker.close() waits for its copy's `end`; without it, it never stopped its lock-renewal timer.
    const within = <T>(p: Promise<T>): Promise<T | 'still waiting'> => Promise.race([p, new Promise<'still waiting'>((resolve) => setTimeout(() => resolve('still waiting'), 3_000).unref())]);
    expect(await within(Promise.all(ended))).toEqual(['end', 'end']);
    expect([connection.status, copy.status]).toEqual(['end', 'end']);
    expect(await within(Promise.all(queued))).toEqual(['Connection is closed.', 'Connection is closed.']);
    // Ended means ended: a later command is refused at once, not queued.
    await expect(connection.get('k')).rejects.toThrow('Connection is closed.');
  });
});
