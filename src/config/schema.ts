/**
 * The configuration file's schema (docs/design.md section 3): shape, defaults, per-key rules and the
 * cross-references between keys. zod validates once, at load; nothing downstream re-checks.
 *
 * Messages name the key (through the issue path) and the reason, and quote only values that are
 * not secrets (cluster names, secret ids, cron fields). Trigger tokens, webhook secrets and the
 * Redis URL (which may carry a password) are never quoted.
 */
import { CronExpressionParser } from 'cron-parser';
import { z } from 'zod';
import { hasHashTag, parseHostPort, parseRedisUrl } from './redis-url.ts';
import { SCHEDULE_OFF } from './schedule.ts';
import { NOTIFICATION_EVENT_NAMES, REDIS_MODE, STRATEGY, type ClusterConfig, type Config, type CredentialConfig, type PasswordPolicy, type RedisConfig } from './types.ts';

/** Every default, in one place. docs/configuration.md lists the same values. */
export const DEFAULTS = {
  redis: { url: 'redis://127.0.0.1:6379', prefix: '{milvus-rotator}', connectTimeoutMs: 10_000, mode: REDIS_MODE.standalone },
  aws: { maxAttempts: 4, writesPerSecond: 50 },
  defaults: {
    schedule: '0 3 * * 0',
    timezone: 'UTC',
    password: { length: 32, symbols: '!#%*+-=?@^_~' },
  },
  cluster: { timeoutMs: 10_000 },
  http: {
    port: 8080,
    host: '0.0.0.0',
    requestTimeoutMs: 30_000,
    headersTimeoutMs: 10_000,
    keepAliveTimeoutMs: 5_000,
    maxConnections: 256,
    rateLimit: { triggerPerMinute: 60, alertsPerMinute: 1_200 },
  },
  leakAlerts: { toleranceSeconds: 300, fingerprintRefreshMs: 21_600_000, fingerprintMissRefreshMs: 300_000, fingerprintReadsPerSecond: 20, githubWebhook: { apiUrl: 'https://api.github.com', resolveAlerts: false } },
  worker: {
    concurrency: 8,
    lockDurationMs: 30_000,
    stalledIntervalMs: 30_000,
    credentialLockTtlMs: 30_000,
    shutdownTimeoutMs: 25_000,
    reconcileIntervalMs: 300_000,
    driftCheckIntervalMs: 3_600_000,
    labelCheckIntervalMs: 10_800_000,
    drainDelayMs: 5_000,
    scheduleCheckIntervalMs: 60_000,
  },
  rotation: { pendingLeaseMs: 600_000, minIntervalMs: 600_000 },
  /** Shorter passwords only when the config sets `password.minLength` explicitly. */
  passwordMinLength: 16,
  /** Twice the 1 h default cache of AWS's caching clients: a consumer re-reads well within it. */
  credential: { strategy: STRATEGY.single, graceMs: 7_200_000 },
} as const satisfies {
  redis: Required<Pick<RedisConfig, 'url' | 'prefix' | 'connectTimeoutMs' | 'mode'>>;
  aws: Omit<Config['aws'], 'region'>;
  defaults: Config['defaults'];
  cluster: Pick<ClusterConfig, 'timeoutMs'>;
  http: Omit<Config['http'], 'triggerTokens'>;
  leakAlerts: Required<Pick<Config['leakAlerts'], 'toleranceSeconds' | 'fingerprintRefreshMs' | 'fingerprintMissRefreshMs' | 'fingerprintReadsPerSecond'>> & { githubWebhook: Pick<NonNullable<Config['leakAlerts']['githubWebhook']>, 'apiUrl' | 'resolveAlerts'> };
  worker: Required<Config['worker']>;
  rotation: Config['rotation'];
  passwordMinLength: number;
  credential: { strategy: CredentialConfig['strategy']; graceMs: number };
};

/** Bounds of the numeric and length rules, with the reason each exists. */
export const LIMITS = {
  /** Zilliz Cloud accepts 8-64 characters (spec/milvus-rest-user-api.md section 7). */
  passwordLength: { min: 8, max: 64 },
  /** Below 100 ms every request times out; above 2 minutes a hung cluster stalls the rotation lock. */
  timeoutMs: { min: 100, max: 120_000 },
  redisConnectTimeoutMs: { min: 100, max: 120_000 },
  /** A bearer token shorter than 16 characters can be guessed. */
  triggerTokenMinLength: 16,
  /** Same for the HMAC key of leak alerts: a short key makes signatures forgeable offline. */
  webhookSecretMinLength: 16,
  toleranceSeconds: { min: 1, max: 3600 },
  awsMaxAttempts: { min: 1, max: 10 },
  /** Secrets Manager's default write quota is 50/s per region; the upper bound only catches typos. */
  writesPerSecond: { min: 1, max: 1000 },
  workerConcurrency: { min: 1, max: 256 },
  /** Below 1 s, a GC pause loses the lock; above 10 minutes a dead worker's job waits too long. */
  lockMs: { min: 1_000, max: 600_000 },
  shutdownTimeoutMs: { min: 1_000, max: 600_000 },
  reconcileIntervalMs: { min: 10_000, max: 86_400_000 },
  /** Drift probes and label reads: at least a minute (each is a Secrets Manager call per credential), at most a week. */
  checkIntervalMs: { min: 60_000, max: 604_800_000 },
  /** The fingerprint index's slow full refresh: at least a minute, at most a week. */
  fingerprintRefreshMs: { min: 60_000, max: 604_800_000 },
  /** Refresh-on-miss rate limit: 0 (every miss refreshes, tests) up to a day. */
  fingerprintMissRefreshMs: { min: 0, max: 86_400_000 },
  /** Secrets Manager's GetSecretValue quota is 10,000/s; the bound catches typos. */
  fingerprintReadsPerSecond: { min: 1, max: 10_000 },
  /** 0 turns the delay off (no load balancer in front); above 10 minutes a rollout stalls. */
  drainDelayMs: { min: 0, max: 600_000 },
  /** Each check is one Redis read; below a second it is noise, above a day a lost scheduler stays lost. */
  scheduleCheckIntervalMs: { min: 1_000, max: 86_400_000 },
  /** At least a second; at most a day (a longer-lived pending version is a stuck one). */
  pendingLeaseMs: { min: 1_000, max: 86_400_000 },
  /**
   * At least a second (tests and demos); at most 30 days, beyond which the retired user is not
   * retired at all. `config check` warns below `graceWarnBelowMs`.
   */
  graceMs: { min: 1_000, max: 2_592_000_000 },
  /** Below an hour, consumers that cache the secret for AWS's default hour may still hold the retired user. */
  graceWarnBelowMs: 3_600_000,
  /** 0 asks the OS for a free port (tests). */
  port: { min: 0, max: 65_535 },
  /** At least a second (tests and drills); the default is what Secrets Manager's version pruning sustains. */
  minIntervalMs: { min: 1_000, max: 31 * 86_400_000 },
  /** HTTP server timeouts: at least 100 ms; at most 10 minutes. */
  httpTimeoutMs: { min: 100, max: 600_000 },
  maxConnections: { min: 1, max: 65_535 },
  requestsPerMinute: { min: 1, max: 1_000_000 },
} as const;

/** Milvus ValidateUsername: first an ASCII letter, then letters, digits, `_`, `.`, `-`; at most 32. */
export const USERNAME_PATTERN = /^[A-Za-z][A-Za-z0-9_.-]{0,31}$/;

/**
 * Cluster names and credential ids end up in Redis keys, job ids, metric labels and key paths,
 * so they are kept to characters that need no quoting anywhere.
 */
export const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$/;

/** A Secrets Manager secret name (letters, digits, `/_+=.@-`, at most 512) ... */
const SECRET_NAME_PATTERN = /^[A-Za-z0-9/_+=.@-]{1,512}$/;
/** ... or its ARN. */
const SECRET_ARN_PATTERN = /^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]+$/;

/**
 * Characters a symbol set may not hold, and why: `:` splits `user:password` in the Bearer header
 * (and in the secret's `token`); quotes and backslash break shell, YAML and JSON quoting in the
 * hands of whoever uses the password.
 */
const FORBIDDEN_SYMBOLS: Readonly<Record<string, string>> = {
  ':': 'it separates user and password in "user:password" tokens',
  '"': 'quotes break quoting in shells and config files',
  "'": 'quotes break quoting in shells and config files',
  '`': 'quotes break quoting in shells and config files',
  '\\': 'backslash is an escape character almost everywhere',
};

/** Problems with a symbol set; empty when it is usable. Shared with src/password/policy.ts. */
export function symbolsProblems(symbols: string): string[] {
  if (symbols.length === 0) return ['must not be empty: passwords need at least one symbol'];
  const problems: string[] = [];
  const seen = new Set<string>();
  for (const char of symbols) {
    const code = char.codePointAt(0) ?? 0;
    if (/\s/.test(char)) problems.push(`must not contain whitespace (U+${hex(code)})`);
    else if (code < 0x21 || code > 0x7e) problems.push(`must be printable ASCII (U+${hex(code)} is not)`);
    else if (/[A-Za-z0-9]/.test(char)) problems.push(`must not contain letters or digits (${JSON.stringify(char)})`);
    else if (FORBIDDEN_SYMBOLS[char] !== undefined) problems.push(`must not contain ${JSON.stringify(char)}: ${FORBIDDEN_SYMBOLS[char]}`);
    else if (seen.has(char)) problems.push(`must not repeat ${JSON.stringify(char)}: a repeated symbol would be drawn more often`);
    seen.add(char);
  }
  return problems;
}

function hex(code: number): string {
  return code.toString(16).toUpperCase().padStart(4, '0');
}

/** Why a schedule is unusable, or undefined. Parsed the way BullMQ's job schedulers parse it. */
export function scheduleProblem(schedule: string): string | undefined {
  if (schedule === SCHEDULE_OFF) return undefined;
  const fields = schedule.trim().split(/\s+/).filter((field) => field !== '');
  if (fields.length !== 5 && fields.length !== 6) {
    return `must be a cron expression of 5 fields (or 6, seconds first), or "${SCHEDULE_OFF}"; got ${fields.length} field(s)`;
  }
  try {
    CronExpressionParser.parse(schedule, { tz: 'UTC' });
    return undefined;
  } catch (error) {
    return `invalid cron expression: ${error instanceof Error ? error.message : 'unparseable'}`;
  }
}

/** Fire times looked at when measuring a schedule's shortest gap (a year of hourly runs is more). */
const SCHEDULE_SAMPLE_RUNS = 500;

/**
 * Why `schedule` fires more often than `minIntervalMs`, or undefined: the shortest gap between
 * consecutive fire times over the next SCHEDULE_SAMPLE_RUNS runs. Unparseable schedules and
 * time zones are reported by their own rules.
 */
export function scheduleIntervalProblem(schedule: string, timezone: string, minIntervalMs: number): string | undefined {
  if (schedule === SCHEDULE_OFF || scheduleProblem(schedule) !== undefined || timeZoneProblem(timezone) !== undefined) return undefined;
  const runs = CronExpressionParser.parse(schedule, { tz: timezone, currentDate: new Date(Date.UTC(2026, 0, 1)) });
  let previous = runs.next().getTime();
  for (let i = 1; i < SCHEDULE_SAMPLE_RUNS && runs.hasNext(); i += 1) {
    const next = runs.next().getTime();
    if (next - previous < minIntervalMs) {
      return `fires every ${Math.round((next - previous) / 1000)} s at times, more often than rotation.minIntervalMs (${minIntervalMs} ms): those runs would be refused`;
    }
    previous = next;
  }
  return undefined;
}

/** Why a time zone is unusable, or undefined. Offsets such as "+02:00" are refused: they ignore DST. */
export function timeZoneProblem(timeZone: string): string | undefined {
  const reason = `unknown time zone ${JSON.stringify(timeZone)}: use an IANA name such as "UTC" or "Europe/Paris"`;
  if (timeZone === '' || /^[+-]/.test(timeZone)) return reason;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone });
    return undefined;
  } catch {
    return reason;
  }
}

/** Whether a URL's host is the loopback interface (cleartext never leaves the machine). */
export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  return host === 'localhost' || host === '::1' || /^127(\.\d{1,3}){3}$/.test(host);
}

/**
 * Why a cleartext endpoint is refused, or undefined: `http://` sends the Bearer `user:password`
 * header in clear, so it is accepted only on loopback or with the cluster's explicit
 * `allowInsecureHttp: true`.
 */
export function insecureEndpointProblem(endpoint: string, allowInsecureHttp: boolean): string | undefined {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    return undefined; // endpointProblem reports it.
  }
  if (url.protocol !== 'http:' || allowInsecureHttp || isLoopbackHost(url.hostname)) return undefined;
  return 'must be an https:// URL: http:// sends the password in clear (allowed only on loopback, or with allowInsecureHttp: true on this cluster)';
}

/** Why an endpoint is unusable, or undefined. */
function endpointProblem(endpoint: string): string | undefined {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    return 'must be an absolute http:// or https:// URL';
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return 'must be an http:// or https:// URL';
  // Credentials in the URL would be logged with it; the rotator authenticates as each user anyway.
  if (url.username !== '' || url.password !== '') return 'must not contain credentials';
  if (url.search !== '' || url.hash !== '') return 'must not contain a query or fragment';
  return undefined;
}

/** Why a Redis URL is unusable, or undefined. The URL itself is never quoted: it may hold a password. */
function redisUrlProblem(text: string): string | undefined {
  const parsed = parseRedisUrl(text);
  return parsed.ok ? undefined : parsed.problem;
}

function hostPortProblem(text: string): string | undefined {
  const parsed = parseHostPort(text);
  return parsed.ok ? undefined : parsed.problem;
}

/** Distinct strings a memoized check remembers; past that it starts over (a bound, not a policy). */
const MEMO_ENTRIES = 1_000;

/** `problem` (a pure function of its text) with its answers remembered. */
function memoized(problem: (text: string) => string | undefined): (text: string) => string | undefined {
  const answers = new Map<string, string | undefined>();
  return (text) => {
    if (answers.has(text)) return answers.get(text);
    const answer = problem(text);
    if (answers.size >= MEMO_ENTRIES) answers.clear();
    answers.set(text, answer);
    return answer;
  };
}

/** Rejects with `message` when `problem` returns one. */
function rule<T>(problem: (value: T) => string | undefined) {
  return (value: T, ctx: z.RefinementCtx<T>): void => {
    const message = problem(value);
    if (message !== undefined) ctx.addIssue({ code: 'custom', message });
  };
}

/**
 * An integer in [min, max]. A string of decimal digits is accepted too, so that a number can come
 * from the environment (`port: ${PORT}`): expansion only ever produces strings.
 */
function integer(min: number, max: number) {
  const message = `must be an integer from ${min} to ${max}`;
  return z.preprocess(
    (value) => (typeof value === 'string' && /^\d{1,15}$/.test(value) ? Number(value) : value),
    z.int({ error: message }).min(min, { error: message }).max(max, { error: message }),
  );
}

function text(what = 'a string') {
  return z.string({ error: `must be ${what}` }).min(1, { error: 'must not be empty' });
}

/**
 * A strict object: an unknown key is an error, so a typo (`timeoutMS`) is refused rather than
 * silently ignored in favour of the default.
 */
function strict<Shape extends z.ZodRawShape>(shape: Shape) {
  const allowed = Object.keys(shape);
  return z.strictObject(shape, {
    error: (issue) => {
      if (issue.code === 'unrecognized_keys') return unknownKeyMessage(issue.keys, allowed);
      if (issue.code === 'invalid_type') return issue.input === null ? 'must be a mapping, not empty (write {} or remove the key)' : 'must be a mapping';
      return undefined;
    },
  });
}

/** "unknown key (did you mean "timeoutMs"?)" for a near miss, else the list of allowed keys. */
export function unknownKeyMessage(keys: readonly string[], allowed: readonly string[]): string {
  const [only] = keys;
  if (keys.length === 1 && only !== undefined) {
    const near = allowed.find((candidate) => editDistance(candidate.toLowerCase(), only.toLowerCase()) <= 2);
    if (near !== undefined) return `unknown key (did you mean "${near}"?)`;
  }
  return `unknown key (allowed keys: ${allowed.join(', ')})`;
}

/** Levenshtein distance; keys are short, so the quadratic table is fine. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i += 1) {
    const current = [i];
    for (let j = 1; j <= b.length; j += 1) {
      const substitution = (previous[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1);
      current.push(Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, substitution));
    }
    previous = current;
  }
  return previous[b.length] ?? 0;
}

function map<Value extends z.ZodType>(what: string, value: Value) {
  return z
    .record(
      z.string().regex(NAME_PATTERN, {
        error: `${what} may contain only letters, digits, "_" and "-", must start with a letter or digit and have at most 63 characters`,
      }),
      value,
      { error: 'must be a mapping' },
    )
    .refine((entries) => Object.keys(entries).length > 0, { error: `must define at least one ${what}` });
}

const lengthSchema = integer(LIMITS.passwordLength.min, LIMITS.passwordLength.max);
const symbolsSchema = z.string({ error: 'must be a string' }).superRefine((symbols, ctx) => {
  for (const message of symbolsProblems(symbols)) ctx.addIssue({ code: 'custom', message });
});
// Memoized: a fleet writes a few schedules and zones thousands of times, and each check costs
// 50-150 us (cron-parser, Intl), most of the time of loading 10,000 credentials otherwise.
const scheduleSchema = z.string({ error: `must be a cron expression or "${SCHEDULE_OFF}"` }).superRefine(rule(memoized(scheduleProblem)));
const timeZoneSchema = z.string({ error: 'must be an IANA time zone name' }).superRefine(rule(memoized(timeZoneProblem)));

/** A complete password policy: what generatePassword and satisfiesPolicy take. */
export const passwordPolicySchema = strict({ length: lengthSchema, symbols: symbolsSchema });

const clusterSchema = strict({
  endpoint: text('an http(s) URL').superRefine(rule(endpointProblem)),
  timeoutMs: integer(LIMITS.timeoutMs.min, LIMITS.timeoutMs.max).default(DEFAULTS.cluster.timeoutMs),
  caFile: text('a file path').optional(),
  allowInsecureHttp: z.boolean({ error: 'must be true or false' }).default(false),
}).superRefine((cluster, ctx) => {
  const message = insecureEndpointProblem(cluster.endpoint, cluster.allowInsecureHttp);
  if (message !== undefined) ctx.addIssue({ code: 'custom', path: ['endpoint'], message });
});

const usernameSchema = z.string({ error: 'must be a string' }).regex(USERNAME_PATTERN, {
  error: 'must start with a letter and contain only letters, digits, "_", "." and "-", at most 32 characters (Milvus username rules)',
});

const secretIdSchema = text('a secret name or ARN').regex(new RegExp(`${SECRET_NAME_PATTERN.source}|${SECRET_ARN_PATTERN.source}`), {
  error: 'must be a Secrets Manager secret name (letters, digits, /_+=.@-) or ARN',
});

/**
 * One credential. `username` belongs to the single strategy, `usernames`, `graceMs` and `admin`
 * to the alternating one; which keys go with which strategy is checked in checkStrategyKeys, so
 * the message can say "only with strategy: alternating" instead of a bare union error.
 */
const credentialSchema = strict({
  secretId: secretIdSchema,
  strategy: z.enum([STRATEGY.single, STRATEGY.alternating], { error: 'must be "single" or "alternating"' }).default(DEFAULTS.credential.strategy),
  username: usernameSchema.optional(),
  usernames: z.array(usernameSchema, { error: 'must be a list of two user names' }).optional(),
  graceMs: integer(LIMITS.graceMs.min, LIMITS.graceMs.max).optional(),
  admin: strict({ secretId: secretIdSchema }).optional(),
  clusters: z
    .array(text('a cluster name'), { error: 'must be a list of cluster names' })
    .min(1, { error: 'must list at least one cluster' }),
  schedule: scheduleSchema.optional(),
  timezone: timeZoneSchema.optional(),
  password: strict({ length: lengthSchema.optional(), symbols: symbolsSchema.optional(), minLength: lengthSchema.optional() }).optional(),
});

const triggerTokenSchema = z
  .string({ error: 'must be a string' })
  .min(LIMITS.triggerTokenMinLength, { error: `must be at least ${LIMITS.triggerTokenMinLength} characters` })
  .regex(/^[\x21-\x7e]+$/, { error: 'must be printable ASCII without whitespace (it is sent in an HTTP header)' });

const webhookSecretSchema = z
  .string({ error: 'must be a string' })
  .min(LIMITS.webhookSecretMinLength, { error: `must be at least ${LIMITS.webhookSecretMinLength} characters` });

/**
 * Why a notification receiver URL is unusable, or undefined. https:// only, except on loopback
 * (a receiver on the same host or a test): the body says what happened to which credential. The
 * URL is never quoted: a Slack webhook URL is itself a secret.
 */
function receiverUrlProblem(text: string): string | undefined {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return 'must be an absolute https:// URL';
  }
  if (url.protocol === 'https:') return undefined;
  const loopback = url.hostname === 'localhost' || url.hostname === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(url.hostname);
  if (url.protocol === 'http:' && loopback) return undefined;
  return 'must be an https:// URL (http:// only on loopback)';
}

const notificationEventsSchema = z
  .array(z.enum(NOTIFICATION_EVENT_NAMES, { error: `must be one of ${NOTIFICATION_EVENT_NAMES.join(', ')}` }), { error: 'must be a list of event names' })
  .min(1, { error: 'must name at least one event' })
  .refine((events) => new Set(events).size === events.length, { error: 'must not name an event twice' });

const receiverUrlSchema = text('an https:// URL').superRefine(rule(receiverUrlProblem));

/** One `notifications` entry, told apart by `format`. */
const notificationSinkSchema = z.discriminatedUnion(
  'format',
  [
    strict({ format: z.literal('slack'), url: receiverUrlSchema, events: notificationEventsSchema }),
    strict({ format: z.literal('json'), url: receiverUrlSchema, events: notificationEventsSchema, secret: webhookSecretSchema }),
    strict({ format: z.literal('eventbridge'), eventBusName: text('an EventBridge bus name or ARN').default('default'), events: notificationEventsSchema }),
  ],
  { error: 'must have format slack, json or eventbridge' },
);

/** `leakAlerts.githubWebhook`: the secret_scanning_alert webhook and the REST API it reads alerts from. */
const githubWebhookSchema = strict({
  secrets: z.array(webhookSecretSchema, { error: 'must be a list of secrets' }).min(1, { error: 'must list at least one webhook secret' }),
  apiUrl: receiverUrlSchema.default(DEFAULTS.leakAlerts.githubWebhook.apiUrl),
  token: text('a GitHub token'),
  resolveAlerts: z.boolean({ error: 'must be true or false' }).default(DEFAULTS.leakAlerts.githubWebhook.resolveAlerts),
});
const redisUrlSchema = z.string({ error: 'must be a string' }).superRefine(rule(redisUrlProblem));

/** The file as written, with defaults filled in, before cross-references are checked. */
export const configFileSchema = strict({
  redis: strict({
    // No default here: whether the file gave one matters in cluster mode (see checkRedis).
    url: redisUrlSchema.optional(),
    prefix: text()
      .regex(/^\S+$/, { error: 'must not contain whitespace' })
      .default(DEFAULTS.redis.prefix),
    connectTimeoutMs: integer(LIMITS.redisConnectTimeoutMs.min, LIMITS.redisConnectTimeoutMs.max).default(DEFAULTS.redis.connectTimeoutMs),
    caFile: text('a file path').optional(),
    mode: z.enum(Object.values(REDIS_MODE), { error: `must be one of ${Object.values(REDIS_MODE).join(', ')}` }).default(DEFAULTS.redis.mode),
    nodes: z.array(redisUrlSchema, { error: 'must be a list of redis:// or rediss:// URLs' }).min(1, { error: 'must list at least one node' }).optional(),
    sentinels: z.array(z.string({ error: 'must be host:port' }).superRefine(rule(hostPortProblem)), { error: 'must be a list of host:port' }).min(1, { error: 'must list at least one sentinel' }).optional(),
    sentinelName: text('the master name the sentinels monitor').optional(),
  }).prefault({}),
  aws: strict({
    region: text('an AWS region').regex(/^[a-z]{2}(-[a-z]+)+-\d+$/, { error: 'must be an AWS region such as us-west-2' }).optional(),
    maxAttempts: integer(LIMITS.awsMaxAttempts.min, LIMITS.awsMaxAttempts.max).default(DEFAULTS.aws.maxAttempts),
    writesPerSecond: integer(LIMITS.writesPerSecond.min, LIMITS.writesPerSecond.max).default(DEFAULTS.aws.writesPerSecond),
  }).prefault({}),
  defaults: strict({
    schedule: scheduleSchema.default(DEFAULTS.defaults.schedule),
    timezone: timeZoneSchema.default(DEFAULTS.defaults.timezone),
    password: strict({
      length: lengthSchema.default(DEFAULTS.defaults.password.length),
      symbols: symbolsSchema.default(DEFAULTS.defaults.password.symbols),
      /** The shortest `length` accepted; below DEFAULTS.passwordMinLength only when set here or on the credential. */
      minLength: lengthSchema.optional(),
    }).prefault({}),
  }).prefault({}),
  clusters: map('cluster', clusterSchema),
  credentials: map('credential', credentialSchema),
  http: strict({
    port: integer(LIMITS.port.min, LIMITS.port.max).default(DEFAULTS.http.port),
    host: text('a host name or address').default(DEFAULTS.http.host),
    triggerTokens: z.array(triggerTokenSchema, { error: 'must be a list of tokens' }).default([]),
    requestTimeoutMs: integer(LIMITS.httpTimeoutMs.min, LIMITS.httpTimeoutMs.max).default(DEFAULTS.http.requestTimeoutMs),
    headersTimeoutMs: integer(LIMITS.httpTimeoutMs.min, LIMITS.httpTimeoutMs.max).default(DEFAULTS.http.headersTimeoutMs),
    keepAliveTimeoutMs: integer(LIMITS.httpTimeoutMs.min, LIMITS.httpTimeoutMs.max).default(DEFAULTS.http.keepAliveTimeoutMs),
    maxConnections: integer(LIMITS.maxConnections.min, LIMITS.maxConnections.max).default(DEFAULTS.http.maxConnections),
    rateLimit: strict({
      triggerPerMinute: integer(LIMITS.requestsPerMinute.min, LIMITS.requestsPerMinute.max).default(DEFAULTS.http.rateLimit.triggerPerMinute),
      alertsPerMinute: integer(LIMITS.requestsPerMinute.min, LIMITS.requestsPerMinute.max).default(DEFAULTS.http.rateLimit.alertsPerMinute),
    }).prefault({}),
  }).prefault({}),
  leakAlerts: strict({
    webhookSecret: webhookSecretSchema.optional(),
    webhookSecrets: z.array(webhookSecretSchema, { error: 'must be a list of secrets' }).default([]),
    toleranceSeconds: integer(LIMITS.toleranceSeconds.min, LIMITS.toleranceSeconds.max).default(DEFAULTS.leakAlerts.toleranceSeconds),
    githubKeysFile: text('a file path').optional(),
    githubWebhook: githubWebhookSchema.optional(),
    fingerprintRefreshMs: integer(LIMITS.fingerprintRefreshMs.min, LIMITS.fingerprintRefreshMs.max).default(DEFAULTS.leakAlerts.fingerprintRefreshMs),
    fingerprintMissRefreshMs: integer(LIMITS.fingerprintMissRefreshMs.min, LIMITS.fingerprintMissRefreshMs.max).default(DEFAULTS.leakAlerts.fingerprintMissRefreshMs),
    fingerprintReadsPerSecond: integer(LIMITS.fingerprintReadsPerSecond.min, LIMITS.fingerprintReadsPerSecond.max).default(DEFAULTS.leakAlerts.fingerprintReadsPerSecond),
  }).prefault({}),
  worker: strict({
    concurrency: integer(LIMITS.workerConcurrency.min, LIMITS.workerConcurrency.max).default(DEFAULTS.worker.concurrency),
    lockDurationMs: integer(LIMITS.lockMs.min, LIMITS.lockMs.max).default(DEFAULTS.worker.lockDurationMs),
    stalledIntervalMs: integer(LIMITS.lockMs.min, LIMITS.lockMs.max).default(DEFAULTS.worker.stalledIntervalMs),
    credentialLockTtlMs: integer(LIMITS.lockMs.min, LIMITS.lockMs.max).default(DEFAULTS.worker.credentialLockTtlMs),
    shutdownTimeoutMs: integer(LIMITS.shutdownTimeoutMs.min, LIMITS.shutdownTimeoutMs.max).default(DEFAULTS.worker.shutdownTimeoutMs),
    reconcileIntervalMs: integer(LIMITS.reconcileIntervalMs.min, LIMITS.reconcileIntervalMs.max).default(DEFAULTS.worker.reconcileIntervalMs),
    driftCheckIntervalMs: integer(LIMITS.checkIntervalMs.min, LIMITS.checkIntervalMs.max).default(DEFAULTS.worker.driftCheckIntervalMs),
    labelCheckIntervalMs: integer(LIMITS.checkIntervalMs.min, LIMITS.checkIntervalMs.max).default(DEFAULTS.worker.labelCheckIntervalMs),
    drainDelayMs: integer(LIMITS.drainDelayMs.min, LIMITS.drainDelayMs.max).default(DEFAULTS.worker.drainDelayMs),
    scheduleCheckIntervalMs: integer(LIMITS.scheduleCheckIntervalMs.min, LIMITS.scheduleCheckIntervalMs.max).default(DEFAULTS.worker.scheduleCheckIntervalMs),
  }).prefault({}),
  rotation: strict({
    pendingLeaseMs: integer(LIMITS.pendingLeaseMs.min, LIMITS.pendingLeaseMs.max).default(DEFAULTS.rotation.pendingLeaseMs),
    minIntervalMs: integer(LIMITS.minIntervalMs.min, LIMITS.minIntervalMs.max).default(DEFAULTS.rotation.minIntervalMs),
  }).prefault({}),
  notifications: z.array(notificationSinkSchema, { error: 'must be a list of notification sinks' }).default([]),
});

type ConfigFile = z.output<typeof configFileSchema>;

/**
 * Rules that span keys. zod runs them only when every value has the right type (a type error
 * aborts; a range error such as a bad timeoutMs does not), so they may trust the types and are
 * reported together with range errors.
 *
 * 1. Every cluster a credential names is defined under `clusters`.
 * 2. A credential names each cluster once (rotating it twice in one run would race itself).
 * 3. No two credentials share a secretId: two engines would fight over one AWSPENDING label.
 * 4. No two credentials rotate the same user on the same cluster: each would lock the other out
 *    (both users of an alternating credential count).
 * 5. The keys of the credential's strategy (checkStrategyKeys).
 * 6. A password length is at least its minimum (DEFAULTS.passwordMinLength unless `minLength` is set).
 * 7. No schedule fires more often than `rotation.minIntervalMs`: its extra runs would be refused.
 */
function checkReferences(file: ConfigFile, ctx: z.RefinementCtx<ConfigFile>): void {
  const secretOwners = new Map<string, string>();
  const userOwners = new Map<string, string>();
  const minLength = (password: { minLength?: number | undefined } | undefined): number =>
    password?.minLength ?? file.defaults.password.minLength ?? DEFAULTS.passwordMinLength;
  const defaultMin = minLength(undefined);
  const inRange = (length: number): boolean => length >= LIMITS.passwordLength.min && length <= LIMITS.passwordLength.max;
  if (inRange(file.defaults.password.length) && file.defaults.password.length < defaultMin) {
    ctx.addIssue({ code: 'custom', path: ['defaults', 'password', 'length'], message: `must be at least ${defaultMin} (set password.minLength to allow shorter passwords)` }); // Rule 6.
  }
  const intervalProblems = new Map<string, string | undefined>();
  const scheduleInterval = (schedule: string, timezone: string): string | undefined => {
    const key = `${schedule}\u0000${timezone}`;
    if (!intervalProblems.has(key)) intervalProblems.set(key, scheduleIntervalProblem(schedule, timezone, file.rotation.minIntervalMs));
    return intervalProblems.get(key);
  };
  const defaultProblem = scheduleInterval(file.defaults.schedule, file.defaults.timezone);
  if (defaultProblem !== undefined) ctx.addIssue({ code: 'custom', path: ['defaults', 'schedule'], message: defaultProblem }); // Rule 7.
  for (const [id, credential] of Object.entries(file.credentials)) {
    const length = credential.password?.length ?? file.defaults.password.length;
    const min = minLength(credential.password);
    if (inRange(length) && length < min && (credential.password?.length !== undefined || credential.password?.minLength !== undefined)) {
      ctx.addIssue({ code: 'custom', path: ['credentials', id, 'password', 'length'], message: `must be at least ${min} (set password.minLength to allow shorter passwords)` }); // Rule 6.
    }
    if (credential.schedule !== undefined || credential.timezone !== undefined) {
      const problem = scheduleInterval(credential.schedule ?? file.defaults.schedule, credential.timezone ?? file.defaults.timezone);
      if (problem !== undefined) ctx.addIssue({ code: 'custom', path: ['credentials', id, 'schedule'], message: problem }); // Rule 7.
    }
    const users = checkStrategyKeys(id, credential, ctx);
    const firstIndex = new Map<string, number>();
    credential.clusters.forEach((cluster, index) => {
      const path = ['credentials', id, 'clusters', index];
      if (!Object.hasOwn(file.clusters, cluster)) {
        ctx.addIssue({ code: 'custom', path, message: `unknown cluster ${JSON.stringify(cluster)}` }); // Rule 1.
        return;
      }
      const first = firstIndex.get(cluster);
      if (first !== undefined) {
        ctx.addIssue({ code: 'custom', path, message: `cluster ${JSON.stringify(cluster)} is listed twice (first at clusters[${first}])` }); // Rule 2.
        return;
      }
      firstIndex.set(cluster, index);
      for (const { name, path: userPath } of users) {
        const userKey = `${cluster}\u0000${name}`;
        const owner = userOwners.get(userKey);
        if (owner !== undefined) {
          ctx.addIssue({
            code: 'custom',
            path: ['credentials', id, ...userPath],
            message: `user ${JSON.stringify(name)} on cluster ${JSON.stringify(cluster)} is already rotated by credential ${JSON.stringify(owner)}`,
          }); // Rule 4.
        } else userOwners.set(userKey, id);
      }
    });
    const secretOwner = secretOwners.get(credential.secretId);
    if (secretOwner !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['credentials', id, 'secretId'],
        message: `secret ${JSON.stringify(credential.secretId)} is already used by credential ${JSON.stringify(secretOwner)}`,
      }); // Rule 3.
    } else secretOwners.set(credential.secretId, id);
  }
}

/**
 * The Redis keys that depend on each other (`config check` prints each refusal with its key):
 *
 * 1. `nodes` only in cluster mode; `sentinels` and `sentinelName` only in sentinel mode, and
 *    there both are required (ioredis asks the sentinels for the primary of that name).
 * 2. Cluster mode: all seeds (`url`, `nodes`) use one scheme (TLS is one setting for the whole
 *    cluster) and database 0 (a cluster has no other); the prefix carries a hash tag, because
 *    BullMQ's Lua scripts touch several keys of a queue at once and Redis Cluster refuses keys of
 *    different slots in one script (CROSSSLOT).
 * 3. `caFile` only with rediss:// (it is the CA that verifies the server's TLS certificate).
 */
function checkRedis(file: ConfigFile, ctx: z.RefinementCtx<ConfigFile>): void {
  const redis = file.redis;
  const issue = (key: string, message: string): void => ctx.addIssue({ code: 'custom', path: ['redis', key], message });
  if (redis.mode !== REDIS_MODE.cluster && redis.nodes !== undefined) issue('nodes', `only with mode: cluster (mode is ${redis.mode})`); // Rule 1.
  if (redis.mode !== REDIS_MODE.sentinel) {
    if (redis.sentinels !== undefined) issue('sentinels', `only with mode: sentinel (mode is ${redis.mode})`);
    if (redis.sentinelName !== undefined) issue('sentinelName', `only with mode: sentinel (mode is ${redis.mode})`);
  } else {
    if (redis.sentinels === undefined) issue('sentinels', 'required with mode: sentinel (the sentinels to ask for the primary, host:port each)');
    if (redis.sentinelName === undefined) issue('sentinelName', 'required with mode: sentinel (the master name the sentinels monitor)');
  }
  const seeds = [...(redis.url === undefined ? [] : [redis.url]), ...(redis.nodes ?? [])].flatMap((text) => {
    const parsed = parseRedisUrl(text);
    return parsed.ok ? [parsed.url] : [];
  });
  const tls = seeds.some((seed) => seed.tls);
  if (redis.mode === REDIS_MODE.cluster) {
    // Rule 2.
    if (seeds.some((seed) => seed.tls !== tls)) issue('nodes', 'url and every node must use the same scheme (all redis:// or all rediss://)');
    const dbOf = (text: string): number => {
      const parsed = parseRedisUrl(text);
      return parsed.ok ? parsed.url.db : 0;
    };
    if (redis.url !== undefined && dbOf(redis.url) !== 0) issue('url', 'a Redis Cluster has only database 0');
    if (redis.nodes?.some((node) => dbOf(node) !== 0)) issue('nodes', 'a Redis Cluster has only database 0');
    if (!hasHashTag(redis.prefix)) issue('prefix', 'must contain a hash tag such as {milvus-rotator} in cluster mode: BullMQ needs every key of a queue in one hash slot');
  }
  if (redis.caFile !== undefined && !tls) issue('caFile', 'only with a rediss:// URL (it verifies the server\'s TLS certificate; redis:// has none)'); // Rule 3.
}

type FileCredential = ConfigFile['credentials'][string];

/**
 * Rule 5: the keys of a credential's strategy, and only those. Returns the users it rotates with
 * their key paths (for rule 4); none when the keys are wrong (already reported).
 *  a. single (the default): `username` required; `usernames`, `graceMs`, `admin` refused.
 *  b. alternating: `usernames` required, exactly two distinct names; `username` refused; the admin
 *     secret is not the credential's own (the rotator would rotate the admin's secret as a user's).
 */
function checkStrategyKeys(id: string, credential: FileCredential, ctx: z.RefinementCtx<ConfigFile>): { name: string; path: (string | number)[] }[] {
  const issue = (key: (string | number)[], message: string): void => {
    ctx.addIssue({ code: 'custom', path: ['credentials', id, ...key], message });
  };
  if (credential.strategy === STRATEGY.single) {
    for (const key of ['usernames', 'graceMs', 'admin'] as const) {
      if (credential[key] !== undefined) issue([key], 'only with strategy: alternating');
    }
    if (credential.username === undefined) {
      issue(['username'], credential.usernames !== undefined ? 'required with strategy: single (or set strategy: alternating to use usernames)' : 'required');
      return [];
    }
    return [{ name: credential.username, path: ['username'] }];
  }
  if (credential.username !== undefined) issue(['username'], 'not with strategy: alternating: list both users under usernames');
  const { usernames } = credential;
  if (usernames === undefined) {
    issue(['usernames'], 'required with strategy: alternating (the two Milvus users that take turns)');
    return [];
  }
  if (usernames.length !== 2) {
    issue(['usernames'], `must list exactly two users, got ${usernames.length}`);
    return [];
  }
  if (usernames[0] === usernames[1]) {
    issue(['usernames', 1], `must differ from usernames[0] (${JSON.stringify(usernames[0])}): the two users take turns`);
    return [];
  }
  if (credential.admin?.secretId === credential.secretId) issue(['admin', 'secretId'], "must not be the credential's own secret");
  return usernames.map((name, index) => ({ name, path: ['usernames', index] }));
}

/** Turns the checked file into the Config shape of ./types.ts: names filled in, overrides merged. */
function toConfig(file: ConfigFile): Config {
  const clusters: Record<string, ClusterConfig> = {};
  for (const [name, cluster] of Object.entries(file.clusters)) {
    clusters[name] = {
      name,
      endpoint: cluster.endpoint,
      timeoutMs: cluster.timeoutMs,
      ...(cluster.caFile !== undefined && { caFile: cluster.caFile }),
      ...(cluster.allowInsecureHttp && { allowInsecureHttp: true }),
    };
  }
  const credentials: Record<string, CredentialConfig> = {};
  for (const [id, credential] of Object.entries(file.credentials)) {
    const password: PasswordPolicy = {
      length: credential.password?.length ?? file.defaults.password.length,
      symbols: credential.password?.symbols ?? file.defaults.password.symbols,
    };
    const base = {
      id,
      secretId: credential.secretId,
      clusters: [...credential.clusters],
      schedule: credential.schedule ?? file.defaults.schedule,
      timezone: credential.timezone ?? file.defaults.timezone,
      password,
    };
    credentials[id] = toCredential(base, credential);
  }
  const { webhookSecret, webhookSecrets } = file.leakAlerts;
  return {
    redis: {
      // Cluster seeds given only as nodes: url is the first of them (one place to read credentials from).
      url: file.redis.url ?? file.redis.nodes?.[0] ?? DEFAULTS.redis.url,
      prefix: file.redis.prefix,
      connectTimeoutMs: file.redis.connectTimeoutMs,
      mode: file.redis.mode,
      ...(file.redis.caFile !== undefined && { caFile: file.redis.caFile }),
      ...(file.redis.nodes !== undefined && { nodes: [...file.redis.nodes] }),
      ...(file.redis.sentinels !== undefined && { sentinels: [...file.redis.sentinels] }),
      ...(file.redis.sentinelName !== undefined && { sentinelName: file.redis.sentinelName }),
    },
    aws: {
      ...(file.aws.region !== undefined && { region: file.aws.region }),
      maxAttempts: file.aws.maxAttempts,
      writesPerSecond: file.aws.writesPerSecond,
    },
    defaults: {
      schedule: file.defaults.schedule,
      timezone: file.defaults.timezone,
      password: { length: file.defaults.password.length, symbols: file.defaults.password.symbols },
    },
    clusters,
    credentials,
    http: { ...file.http, triggerTokens: [...file.http.triggerTokens], rateLimit: { ...file.http.rateLimit } },
    worker: { ...file.worker },
    rotation: { ...file.rotation },
    leakAlerts: {
      // The single key first, then the list; duplicates collapse (they verify the same signatures).
      webhookSecrets: [...new Set([...(webhookSecret === undefined ? [] : [webhookSecret]), ...webhookSecrets])],
      toleranceSeconds: file.leakAlerts.toleranceSeconds,
      ...(file.leakAlerts.githubKeysFile !== undefined && { githubKeysFile: file.leakAlerts.githubKeysFile }),
      ...(file.leakAlerts.githubWebhook !== undefined && { githubWebhook: { ...file.leakAlerts.githubWebhook, secrets: [...file.leakAlerts.githubWebhook.secrets] } }),
      fingerprintRefreshMs: file.leakAlerts.fingerprintRefreshMs,
      fingerprintMissRefreshMs: file.leakAlerts.fingerprintMissRefreshMs,
      fingerprintReadsPerSecond: file.leakAlerts.fingerprintReadsPerSecond,
    },
    notifications: file.notifications.map((sink) => ({ ...sink, events: [...sink.events] })),
  };
}

/** The strategy's own keys on top of `base`; checkStrategyKeys has already refused a bad combination. */
function toCredential(base: Omit<CredentialConfig, 'strategy' | 'username' | 'usernames' | 'graceMs' | 'admin'>, credential: FileCredential): CredentialConfig {
  if (credential.strategy === STRATEGY.single) {
    if (credential.username === undefined) throw new Error('unreachable: a single credential without username passed validation');
    return { ...base, strategy: STRATEGY.single, username: credential.username };
  }
  const [first, second] = credential.usernames ?? [];
  if (first === undefined || second === undefined) throw new Error('unreachable: an alternating credential without two usernames passed validation');
  return {
    ...base,
    strategy: STRATEGY.alternating,
    usernames: [first, second],
    graceMs: credential.graceMs ?? DEFAULTS.credential.graceMs,
    ...(credential.admin !== undefined && { admin: { secretId: credential.admin.secretId } }),
  };
}

/** The whole file: shape and defaults, then cross-references, then the Config shape (not yet frozen). */
export const configSchema = configFileSchema.superRefine(checkReferences).superRefine(checkRedis).transform(toConfig);
