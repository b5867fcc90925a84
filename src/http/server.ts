/**
 * The HTTP server of the `worker` process: builds the app over the worker's metrics and engine
 * clients, and owns what only the HTTP side uses.
 *
 * - A producer Redis connection of its own (fail fast: `maxRetriesPerRequest: 1`, no offline
 *   queue). The worker's connection waits out a Redis outage forever, as BullMQ workers must; an
 *   HTTP request must not: it answers 503 and the sender retries.
 * - A RotationQueue over it (enqueue and job status) and the RedisReplayGuard (same Redis, same
 *   prefix, so every replica shares what was seen).
 * - The FingerprintIndex over the worker's Secrets Manager client, following the fleet's feed of
 *   version labels (src/http/fingerprint-refresh.ts): the replica that rotated publishes the new
 *   labels, every replica reads only the new version's value; a slow fleet-wide full refresh and
 *   the rate-limited refresh-on-miss catch changes made outside the rotator.
 * - GitHub's public keys, loaded at startup from `leakAlerts.githubKeysFile` and re-read whenever
 *   the file changes (src/alerts/github-keys-file.ts). A missing or unusable file is logged as an
 *   error and the GitHub route answers 503 until a good one appears (the rest still serves: the
 *   trigger and the generic feed must not go down with a keys file).
 */
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import type { RedisClient } from '../queue/redis-client.ts';
import type { FingerprintIndex } from '../alerts/fingerprint-index.ts';
import { watchGithubKeys, type GithubKeysFile } from '../alerts/github-keys-file.ts';
import { loadGithubKeys, type GithubKeys } from '../alerts/github-partner.ts';
import { RedisReplayGuard } from '../alerts/replay-guard.ts';
import type { Config } from '../config/types.ts';
import type { Logger } from '../observability/logger.ts';
import { closeRedisConnection, createRedisConnection } from '../queue/redis-connection.ts';
import { RotationQueue } from '../queue/rotation-queue.ts';
import { SecretVersionsFeed } from '../queue/secret-versions.ts';
import { settleWithin } from '../queue/settle-within.ts';
import type { RunningWorker } from '../worker.ts';
import { buildApp } from './app.ts';
import { errorFields } from './errors.ts';
import { FleetFingerprints, type FingerprintRefresh } from './fingerprint-refresh.ts';
import { createRotationStatusReader } from './rotation-status.ts';

export interface HttpServerOptions {
  config: Config;
  logger: Logger;
  /** The worker this server fronts: its metrics registry, its Secrets Manager client and, when given, its readiness and notifier. */
  worker: Pick<RunningWorker, 'metrics' | 'runtime'> & Partial<Pick<RunningWorker, 'notReady' | 'notifier'>>;
  /** Where to listen. @defaultValue config.http.host and config.http.port */
  listen?: { host: string; port: number };
  /** How often the fingerprint index reads the feed of version labels. @defaultValue FINGERPRINT_FEED_POLL_MS (1 s) */
  fingerprintPollMs?: number;
}

export interface RunningHttpServer {
  app: FastifyInstance;
  /** `http://host:port` as bound (the port is the real one when 0 was asked for). */
  url: string;
  fingerprints: FingerprintIndex;
  /** The startup refresh of the fingerprint index (tests await it; the server does not). */
  fingerprintsReady: Promise<void>;
  /** Stops accepting, lets in-flight requests finish, closes the producer connection. */
  close: () => Promise<void>;
}

/** Bound of each close step (a Redis gone away must not hold the shutdown). */
const CLOSE_STEP_MS = 2_000;
/** Readiness ping bound (the route has its own, shorter one). */
const PING_TIMEOUT_MS = 1_000;

/** Redis answers PONG within `ms`; false when not connected, on error or on timeout. */
async function pingWithin(redis: RedisClient, ms: number): Promise<boolean> {
  if (redis.status !== 'ready') return false;
  let timer: NodeJS.Timeout | undefined;
  try {
    const timeout = new Promise<string>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), ms);
    });
    return (await Promise.race([redis.ping(), timeout])) === 'PONG';
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
  }
}

async function loadKeysOrNull(path: string | undefined, logger: Logger): Promise<GithubKeys | null> {
  if (path === undefined) {
    logger.info('GitHub secret scanning alerts are off: leakAlerts.githubKeysFile is not set (the route answers 503)');
    return null;
  }
  try {
    const keys = await loadGithubKeys(path);
    logger.info({ file: path, keyIdentifiers: [...keys.keys()] }, 'GitHub secret scanning public keys loaded');
    return keys;
  } catch (error) {
    logger.error({ file: path, err: errorFields(error) }, 'GitHub secret scanning public keys unusable: the GitHub route answers 503');
    return null;
  }
}

export async function startHttpServer(options: HttpServerOptions): Promise<RunningHttpServer> {
  const { config, worker } = options;
  const logger = options.logger.child({ component: 'http' });
  const producer = createRedisConnection(config.redis, 'producer', { logger, name: 'http-producer' });
  const rotations = new RotationQueue(producer, config.redis.prefix, { minIntervalMs: config.rotation.minIntervalMs });
  const fleetFingerprints = new FleetFingerprints({
    config,
    store: worker.runtime.store,
    feed: new SecretVersionsFeed(producer, config.redis.prefix),
    logger: options.logger,
    ...(options.fingerprintPollMs ? { pollMs: options.fingerprintPollMs } : {}),
  });
  const fingerprints = fleetFingerprints.index;
  let refresh: FingerprintRefresh | null = null;
  let keysFile: GithubKeysFile | null = null;

  try {
    // No wait for Redis: /healthz must answer as soon as the server listens, and /readyz says
    // redis_unreachable until the producer connects (requests that need Redis answer 503).
    const githubKeys = await loadKeysOrNull(config.leakAlerts.githubKeysFile, logger);
    keysFile = config.leakAlerts.githubKeysFile === undefined ? null : watchGithubKeys(config.leakAlerts.githubKeysFile, githubKeys, logger);
    refresh = fleetFingerprints.start();
    const app = buildApp({
      config,
      logger: options.logger,
      metrics: worker.metrics,
      redisReady: () => pingWithin(producer, PING_TIMEOUT_MS),
      ...(worker.notReady ? { notReady: worker.notReady } : {}),
      enqueue: (request) => rotations.enqueue(request),
      rotationStatus: createRotationStatusReader(rotations.queue),
      replayGuard: new RedisReplayGuard(producer, config.redis.prefix),
      fingerprints,
      githubKeys,
      ...(worker.notifier && { notifier: worker.notifier }),
      ...(keysFile === null ? {} : { currentGithubKeys: keysFile.current }),
    });
    const listen = options.listen ?? { host: config.http.host, port: config.http.port };
    await app.listen(listen);
    const address = app.server.address() as AddressInfo;
    const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    const url = `http://${host}:${address.port}`;
    logger.info({ url, githubFeed: githubKeys !== null, githubWebhookFeed: config.leakAlerts.githubWebhook !== undefined, genericFeed: config.leakAlerts.webhookSecrets.length > 0, triggerTokenCount: config.http.triggerTokens.length }, 'HTTP server listening');
    const running = refresh;
    const watcher = keysFile;
    return {
      app,
      url,
      fingerprints,
      fingerprintsReady: running.initial,
      close: async () => {
        running.stop();
        watcher?.stop();
        await app.close();
        await settleWithin(rotations.close(), CLOSE_STEP_MS);
        await closeRedisConnection(producer);
      },
    };
  } catch (error) {
    refresh?.stop();
    keysFile?.stop();
    await rotations.close().catch(() => {});
    producer.disconnect();
    throw error;
  }
}
