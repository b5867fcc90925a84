import type { Config, SingleCredentialConfig } from '../../src/config/types.ts';

export interface CredentialSpec {
  id: string;
  username: string;
  clusters: string[];
  secretId?: string;
  schedule?: string;
}

/** A Config whose credentials all use the single strategy. */
export type SingleUserConfig = Config & { credentials: Readonly<Record<string, SingleCredentialConfig>> };

/**
 * Worker settings for tests with real worker processes: short locks (a killed worker's job is
 * taken over within seconds), reconcile out of the way, no drain delay, the default schedule check.
 */
export const FAST_WORKER: Config['worker'] = Object.freeze({
  concurrency: 4,
  lockDurationMs: 2_000,
  stalledIntervalMs: 1_000,
  credentialLockTtlMs: 2_000,
  shutdownTimeoutMs: 8_000,
  reconcileIntervalMs: 3_600_000,
  drainDelayMs: 0,
  scheduleCheckIntervalMs: 60_000,
});

/** A valid Config built in code (the loader has its own tests); endpoints are replaced by the sandbox. */
export function makeConfig(clusters: string[], credentials: CredentialSpec[]): SingleUserConfig {
  const password = { length: 32, symbols: '!#%*+-=?@^_~' };
  return {
    redis: { url: 'redis://127.0.0.1:6379', prefix: '{milvus-rotator-test}', connectTimeoutMs: 10_000, mode: 'standalone' },
    aws: { region: 'us-east-1', maxAttempts: 3, writesPerSecond: 50 },
    defaults: { schedule: '0 3 * * 0', timezone: 'UTC', password },
    clusters: Object.fromEntries(clusters.map((name) => [name, { name, endpoint: 'http://127.0.0.1:1', timeoutMs: 2_000 }])),
    credentials: Object.fromEntries(
      credentials.map((c): [string, SingleCredentialConfig] => [
        c.id,
        {
          id: c.id,
          strategy: 'single',
          secretId: c.secretId ?? `test/milvus/${c.id}`,
          username: c.username,
          clusters: c.clusters,
          schedule: c.schedule ?? '0 3 * * 0',
          timezone: 'UTC',
          password,
        },
      ]),
    ),
    http: {
      port: 0,
      host: '127.0.0.1',
      triggerTokens: ['test-trigger-token-0123456789'],
      requestTimeoutMs: 30_000,
      headersTimeoutMs: 10_000,
      keepAliveTimeoutMs: 5_000,
      maxConnections: 256,
      rateLimit: { triggerPerMinute: 60, alertsPerMinute: 1_200 },
    },
    // The defaults, except no drain delay: test workers are stopped by the test, not behind a load balancer.
    worker: { concurrency: 8, lockDurationMs: 30_000, stalledIntervalMs: 30_000, credentialLockTtlMs: 30_000, shutdownTimeoutMs: 25_000, reconcileIntervalMs: 300_000, drainDelayMs: 0, scheduleCheckIntervalMs: 60_000, driftCheckIntervalMs: 3_600_000, labelCheckIntervalMs: 10_800_000 },
    // The shortest interval, so that tests may rotate a credential again a second later.
    rotation: { pendingLeaseMs: 600_000, minIntervalMs: 1_000 },
    leakAlerts: { webhookSecrets: ['test-webhook-secret-0123456789'], toleranceSeconds: 300, fingerprintRefreshMs: 21_600_000, fingerprintMissRefreshMs: 300_000, fingerprintReadsPerSecond: 20 },
    notifications: [],
  };
}

/** Users per cluster in makeFleetConfig, as bench/fleet spreads them. */
export const FLEET_USERS_PER_CLUSTER = 90;

/**
 * `count` single-user credentials `cred-<i>` (user `user_<i>`), 90 to a cluster `c<n>`: the
 * fleet of bench/fleet, for the tests and benches that measure size.
 */
export function makeFleetConfig(count: number): SingleUserConfig {
  const clusters = Array.from({ length: Math.ceil(count / FLEET_USERS_PER_CLUSTER) }, (_, i) => `c${i}`);
  const specs = Array.from({ length: count }, (_, i) => ({ id: `cred-${i}`, username: `user_${i}`, clusters: [clusters[Math.floor(i / FLEET_USERS_PER_CLUSTER)] as string] }));
  return makeConfig(clusters, specs);
}
