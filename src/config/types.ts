/**
 * The validated, defaulted, frozen configuration (docs/design.md section 3). Produced only by
 * loadConfig() in ./load.ts; everything downstream takes these types, never raw YAML.
 */

export interface PasswordPolicy {
  /** Characters, 8-64. */
  length: number;
  /** The special characters to draw from: printable ASCII, no `:`, quotes, backslash or whitespace. */
  symbols: string;
}

export interface ClusterConfig {
  /** The key under `clusters:`. */
  name: string;
  /** Base URL of the REST API, e.g. https://in01-xxxx.api.gcp-us-west1.zillizcloud.com:19530 */
  endpoint: string;
  /** Per-request timeout. Default 10000. */
  timeoutMs: number;
  /** PEM file of a CA to trust for this endpoint (private CAs). */
  caFile?: string;
  /** Set (true) when the config allows an `http://` endpoint off loopback; absent otherwise. */
  allowInsecureHttp?: true;
}

/** How a credential's password is changed (docs/design.md section 3.1). */
export const STRATEGY = {
  /** One user: each rotation replaces the password consumers hold. */
  single: 'single',
  /** Two users taking turns: a rotation changes the user consumers are not given, then hands it out. */
  alternating: 'alternating',
} as const;
export type Strategy = (typeof STRATEGY)[keyof typeof STRATEGY];

/** What every credential has, whatever its strategy. */
interface CredentialBase {
  /** The key under `credentials:`. */
  id: string;
  /** Secrets Manager name or ARN. */
  secretId: string;
  /** Names of clusters rotated together: all or none. */
  clusters: string[];
  /** Cron (5 or 6 fields) or "off"; the credential's own or `defaults.schedule`. */
  schedule: string;
  /** IANA time zone of `schedule`. */
  timezone: string;
  password: PasswordPolicy;
}

export interface SingleCredentialConfig extends CredentialBase {
  strategy: typeof STRATEGY.single;
  /** The Milvus user whose password is rotated (the secret's `username` must equal it). */
  username: string;
}

export interface AlternatingCredentialConfig extends CredentialBase {
  strategy: typeof STRATEGY.alternating;
  /** The two Milvus users; AWSCURRENT names one, AWSPREVIOUS the other. Distinct. */
  usernames: readonly [string, string];
  /** The retired user stays valid at least this long after a promotion (ms). Default 7200000. */
  graceMs: number;
  /** A secret holding an admin user's credential: creates the second user and aligns roles. */
  admin?: { secretId: string };
}

export type CredentialConfig = SingleCredentialConfig | AlternatingCredentialConfig;

/** Every Milvus user a credential rotates. */
export function usernamesOf(credential: CredentialConfig): readonly string[] {
  return credential.strategy === STRATEGY.single ? [credential.username] : credential.usernames;
}

/** The long-running worker (`worker` command): BullMQ and shutdown settings. */
export interface WorkerConfig {
  /** Rotation jobs run at once per worker process. Default 8. */
  concurrency: number;
  /** BullMQ job lock; a dead worker's job is taken over after it lapses. Default 30000. */
  lockDurationMs: number;
  /** How often BullMQ looks for stalled jobs (of dead workers). Default 30000. */
  stalledIntervalMs: number;
  /** TTL of the per-credential fencing lock (renewed every third of it while a rotation runs). Default 30000. */
  credentialLockTtlMs: number;
  /** On SIGTERM, how long the active rotations may take to finish before the worker closes anyway. Default 25000. */
  shutdownTimeoutMs: number;
  /**
   * How often a reconcile pass runs. Each pass resumes stale pending versions left by this fleet's
   * rotations (no Secrets Manager call while none is due) and takes the slice of the drift and
   * label checks that is due, spread over half the interval. Default 300000 (5 minutes).
   */
  reconcileIntervalMs: number;
  /** Each credential's AWSCURRENT is read (one GetSecretValue) and probed on every cluster once per this interval. Default 3600000 (1 hour). */
  driftCheckIntervalMs?: number;
  /**
   * Each credential's labels are read (one DescribeSecret) once per this interval: a pending
   * version written outside this fleet, and label changes for the fingerprint index. Default 10800000 (3 hours).
   */
  labelCheckIntervalMs?: number;
  /**
   * After SIGTERM, how long the HTTP listener keeps accepting (while `/readyz` answers 503) so that
   * load balancers and Kubernetes endpoints stop sending to this pod first. Default 5000.
   */
  drainDelayMs: number;
  /**
   * How often the worker checks that the job schedulers in Redis match the config, and re-syncs
   * them when they do not (Redis lost its data). Also checked after every Redis reconnect. Default 60000.
   */
  scheduleCheckIntervalMs: number;
}

/** The events a notification sink may ask for (config `notifications[].events`). */
export const NOTIFICATION_EVENT_NAMES = ['rotated', 'rolled_back', 'failed', 'needs_attention', 'leak_rotated', 'leak_not_contained', 'alert_unmatched'] as const;
export type NotificationEventName = (typeof NOTIFICATION_EVENT_NAMES)[number];

/** One entry of `notifications`: where to send which events, in which format. */
export type NotificationSinkConfig =
  | { format: 'slack'; url: string; events: NotificationEventName[] }
  /** Signed like the inbound generic leak feed, with `secret`. */
  | { format: 'json'; url: string; events: NotificationEventName[]; secret: string }
  /** PutEvents on the bus (name or ARN), through the AWS SDK; region from `aws.region` or the SDK. */
  | { format: 'eventbridge'; eventBusName: string; events: NotificationEventName[] };

export interface GithubWebhookConfig {
  /** X-Hub-Signature-256 keys; all accepted (rotation of the webhook secret). */
  secrets: string[];
  /** The REST API base URL. Default https://api.github.com. */
  apiUrl: string;
  /** A GitHub App installation token or fine-grained token with secret-scanning alerts read (write to resolve). */
  token: string;
  /** After the leak rotation succeeds, resolve the alert as revoked. Default false. */
  resolveAlerts: boolean;
}

/** The worker's HTTP server: where it listens, who may trigger, and the limits that bound abuse. */
export interface HttpConfig {
  port: number;
  host: string;
  triggerTokens: string[];
  /** Longest a request may take to arrive whole (headers and body). Default 30000. */
  requestTimeoutMs: number;
  /** Longest the request headers may take to arrive. Default 10000. */
  headersTimeoutMs: number;
  /** An idle keep-alive connection is closed after this. Default 5000. */
  keepAliveTimeoutMs: number;
  /** Open connections at most; more are refused at accept. Default 256. */
  maxConnections: number;
  rateLimit: {
    /** Trigger API requests per minute per bearer token (per replica). Default 60. */
    triggerPerMinute: number;
    /** Authenticated leak-alert requests per minute per feed (per replica). Default 1200. */
    alertsPerMinute: number;
  };
}

/** How the rotator reaches Redis (`redis.mode`). */
export const REDIS_MODE = {
  /** One server (or a primary behind one endpoint, e.g. ElastiCache cluster mode disabled). */
  standalone: 'standalone',
  /** Redis Cluster: `url`/`nodes` are seeds, any node works (ElastiCache cluster mode enabled). */
  cluster: 'cluster',
  /** Redis Sentinel: the sentinels name the primary; a failover is followed without a restart. */
  sentinel: 'sentinel',
} as const;
export type RedisMode = (typeof REDIS_MODE)[keyof typeof REDIS_MODE];

export interface RedisConfig {
  /**
   * redis:// or rediss:// (TLS); user and password percent-encoded; path = database. In cluster
   * mode a seed node; in sentinel mode only its scheme, user, password and database are used.
   */
  url: string;
  /** Prefix of every key; keep a `{...}` hash tag (one Redis Cluster slot). */
  prefix: string;
  /**
   * How long a one-shot command (enqueue, schedules) waits for Redis to answer before it gives
   * up with one line naming the cause; also the bound of each connection attempt. Default 10000.
   */
  connectTimeoutMs: number;
  /** Absent means standalone (configs built in code before the key existed). */
  mode?: RedisMode;
  /** PEM file of the only CA trusted for rediss:// (else the system store). */
  caFile?: string;
  /** Cluster mode: more seed URLs. */
  nodes?: string[];
  /** Sentinel mode: `host:port` of each sentinel. */
  sentinels?: string[];
  /** Sentinel mode: the monitored master's name. */
  sentinelName?: string;
}

export interface Config {
  redis: RedisConfig;
  aws: {
    region?: string;
    /** Attempts per Secrets Manager call (SDK retry with jittered backoff). Default 4. */
    maxAttempts: number;
    /** Secrets Manager write quota shared by all replicas (PutSecretValue + UpdateSecretVersionStage). Default 50. */
    writesPerSecond: number;
  };
  defaults: { schedule: string; timezone: string; password: PasswordPolicy };
  clusters: Readonly<Record<string, ClusterConfig>>;
  credentials: Readonly<Record<string, CredentialConfig>>;
  http: HttpConfig;
  worker: WorkerConfig;
  rotation: {
    /**
     * A pending version of another rotation younger than this is taken to have a live owner and
     * is left alone; an older one is stale: adopted by the next rotation, reported by verify,
     * resumed by reconcile. Must exceed the longest rotation. Default 600000 (10 minutes).
     */
    pendingLeaseMs: number;
    /**
     * The shortest time between two completed rotations of one credential for manual and scheduled
     * requests (leak requests are never refused). Default 600000 (10 minutes).
     */
    minIntervalMs: number;
  };
  leakAlerts: {
    /** The `webhookSecret` key plus any under `webhookSecrets`: all are accepted (rotation without dropping alerts). */
    webhookSecrets: string[];
    /** Accepted clock skew of X-Rotator-Timestamp. Default 300. */
    toleranceSeconds: number;
    /** JSON file of GitHub secret-scanning public keys ({public_keys: [{key_identifier, key}]}). */
    githubKeysFile?: string;
    /** GitHub secret scanning on one's own organization or repository (`secret_scanning_alert` webhooks). */
    githubWebhook?: GithubWebhookConfig;
    /** The fingerprint index's full refresh (one replica of the fleet per interval, one DescribeSecret per credential). Default 21600000 (6 hours). */
    fingerprintRefreshMs?: number;
    /** An alert that matches nothing refreshes the index at most once per this interval per replica. Default 300000 (5 minutes). */
    fingerprintMissRefreshMs?: number;
    /** Secrets Manager calls per second of a paced fingerprint load (startup and the full refresh). Default 20. */
    fingerprintReadsPerSecond?: number;
  };
  /** Where rotation outcomes and leak events are sent; empty: nowhere. */
  notifications: NotificationSinkConfig[];
}
