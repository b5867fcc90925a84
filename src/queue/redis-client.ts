import { readFileSync } from 'node:fs';
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import type { ConnectionOptions } from 'node:tls';
import { describeRedisEndpoint, parseHostPort, parseRedisUrl, type RedisUrl } from '../config/redis-url.ts';
import { REDIS_MODE, type RedisConfig } from '../config/types.ts';
import { ConfigError } from '../config/errors.ts';

/**
 * What every role's connection is typed as: a single server (standalone, or the primary a
 * Sentinel names) or a Redis Cluster. Both have the same command methods; BullMQ takes either.
 */
export type RedisClient = Redis | Cluster;

/**
 * One Redis target, resolved from `redis.*` (validated at load, so parsing cannot fail here): how
 * to build a client for it, and how to name it in messages (scheme, host and port: never the
 * user or the password).
 */
export interface RedisTarget {
  mode: RedisConfig['mode'] & string;
  /** `rediss://host:port`, `cluster rediss://a:6379,rediss://b:6379`, `sentinel "mymaster" via a:26379,b:26379`. */
  endpoint: string;
  /** Builds a new client with the role's options on top (maxRetriesPerRequest, offline queue, timeouts...). */
  connect: (roleOptions: RedisOptions) => RedisClient;
}

function parsed(text: string): RedisUrl {
  const result = parseRedisUrl(text);
  if (!result.ok) throw new Error(`redis URL invalid after validation: ${result.problem}`);
  return result.url;
}

/**
 * TLS for rediss://: the server certificate is always verified, against `caFile` alone when it is
 * given (a private CA: Node then trusts nothing else) or else against Node's system store.
 * `rejectUnauthorized` is never turned off. The CA is read once, here, at startup.
 */
function tlsOptions(url: RedisUrl, caFile: string | undefined, readFile: (path: string) => Buffer): ConnectionOptions | undefined {
  if (!url.tls) return undefined;
  if (caFile === undefined) return { rejectUnauthorized: true };
  let ca: Buffer;
  try {
    ca = readFile(caFile);
  } catch (error) {
    // A config error (exit 2 before any call), as for a cluster's caFile: nothing can be verified without it.
    const reason = error instanceof Error && 'code' in error && typeof error.code === 'string' ? error.code : 'unreadable';
    throw new ConfigError('config', [{ path: 'redis.caFile', message: `cannot read the CA file (${reason})` }], { cause: error });
  }
  return { ca, rejectUnauthorized: true };
}

function credentials(url: RedisUrl): Pick<RedisOptions, 'username' | 'password'> {
  return { ...(url.username !== undefined && { username: url.username }), ...(url.password !== undefined && { password: url.password }) };
}

/**
 * After a failover the old primary may come back as a replica while a connection still points at
 * it: writes then fail with READONLY. Reconnecting (2: and resend the command) asks the sentinels
 * again, or resolves the primary endpoint's DNS name again (ElastiCache moves it to the new
 * primary), and lands on the new primary.
 */
function reconnectOnReadonly(error: Error): 2 | false {
  return error.message.startsWith('READONLY') ? 2 : false;
}

/** Resolves `redis.*` into a target whose clients all go to the same place the same way. */
export function redisTarget(config: RedisConfig, readFile: (path: string) => Buffer = readFileSync): RedisTarget {
  const mode = config.mode ?? REDIS_MODE.standalone;
  const main = parsed(config.url);
  // Read when a client is made (at startup), so that naming the endpoint reads no file.
  const tlsNow = (): ConnectionOptions | undefined => tlsOptions(main, config.caFile, readFile);
  switch (mode) {
    case REDIS_MODE.standalone: {
      return {
        mode,
        endpoint: describeRedisEndpoint(main),
        connect: (role) => {
          const tls = tlsNow();
          return new Redis({ host: main.host, port: main.port, db: main.db, ...credentials(main), ...(tls && { tls }), reconnectOnError: reconnectOnReadonly, ...role });
        },
      };
    }
    case REDIS_MODE.sentinel: {
      const sentinels = (config.sentinels ?? []).map((text) => {
        const hostPort = parseHostPort(text);
        if (!hostPort.ok) throw new Error(`redis.sentinels invalid after validation: ${hostPort.problem}`);
        return { host: hostPort.host, port: hostPort.port };
      });
      const name = config.sentinelName ?? '';
      return {
        mode,
        endpoint: `sentinel ${JSON.stringify(name)} via ${sentinels.map((s) => `${s.host}:${s.port}`).join(',')}${main.tls ? ' (TLS)' : ''}`,
        connect: (role) => {
          const tls = tlsNow();
          return new Redis({
            sentinels,
            name,
            role: 'master',
            db: main.db,
            ...credentials(main),
            // rediss:// means TLS to the primary and to the sentinels alike, verified the same way.
            ...(tls && { tls, sentinelTLS: tls, enableTLSForSentinelMode: true }),
            // A failover is followed when the connection to the old primary drops (ioredis asks the
            // sentinels again) or when the demoted primary answers READONLY. ioredis' failoverDetector
            // (a +switch-master subscription) is left off: with it a connection ended for good
            // ("Connection is closed") during a failover in testing.
            reconnectOnError: reconnectOnReadonly,
            ...role,
          });
        },
      };
    }
    case REDIS_MODE.cluster: {
      const seeds = config.nodes && config.nodes.length > 0 ? config.nodes.map(parsed) : [main];
      // The first seed's credentials when the nodes carry them, else url's (validated: one scheme).
      const auth = credentials(seeds.find((s) => s.username !== undefined || s.password !== undefined) ?? main);
      const endpoint = `cluster ${seeds.map(describeRedisEndpoint).join(',')}`;
      return {
        mode,
        endpoint,
        connect: (role) => {
          const tls = tlsNow();
          const { enableOfflineQueue, ...perNode } = role;
          const options: ClusterOptions = {
            redisOptions: { ...auth, ...(tls && { tls }), ...perNode },
            ...(enableOfflineQueue !== undefined && { enableOfflineQueue }),
            // ioredis' own ready check sends CLUSTER INFO to a random node and, with no offline
            // queue, is refused while that node is still connecting; the client then reconnects and
            // meets the same race again (1 producer connection in 4 never became ready). Without the
            // offline queue, waitForRedis checks instead: every master connected, cluster_state:ok.
            ...(enableOfflineQueue === false && { enableReadyCheck: false }),
            // With TLS the certificate names the node's host name (ElastiCache's configuration
            // endpoint): connect by that name rather than a resolved IP, so verification passes.
            ...(tls && { dnsLookup: (address: string, callback: (err: Error | null, address: string) => void) => callback(null, address) }),
          };
          return new Cluster(seeds.map((s) => ({ host: s.host, port: s.port })), options);
        },
      };
    }
    default: {
      const unknown: never = mode;
      throw new Error(`unknown redis.mode ${String(unknown)}`);
    }
  }
}
