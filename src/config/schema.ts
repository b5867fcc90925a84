/**
 * The configuration file's schema (DESIGN section 3): shape, defaults, per-key rules and the
 * cross-references between keys. zod validates once, at load; nothing downstream re-checks.
 *
 * Messages name the key (through the issue path) and the reason, and quote only values that are
 * not secrets (cluster names, secret ids, cron fields). Trigger tokens, webhook secrets and the
 * Redis URL (which may carry a password) are never quoted.
 */
import { CronExpressionParser } from 'cron-parser';
import { z } from 'zod';
import { SCHEDULE_OFF } from './schedule.ts';
import type { ClusterConfig, Config, CredentialConfig, PasswordPolicy } from './types.ts';

/** Every default, in one place. docs/configuration.md lists the same values. */
export const DEFAULTS = {
  redis: { url: 'redis://127.0.0.1:6379', prefix: '{milvus-rotator}' },
  aws: { maxAttempts: 4, writesPerSecond: 50 },
  defaults: {
    schedule: '0 3 * * 0',
    timezone: 'UTC',
    password: { length: 32, symbols: '!#%*+-=?@^_~' },
  },
  cluster: { timeoutMs: 10_000 },
  http: { port: 8080, host: '0.0.0.0' },
  leakAlerts: { toleranceSeconds: 300, fingerprintRefreshMs: 21_600_000, fingerprintMissRefreshMs: 300_000, fingerprintReadsPerSecond: 20 },
  worker: {
    concurrency: 8,
    lockDurationMs: 30_000,
    stalledIntervalMs: 30_000,
    credentialLockTtlMs: 30_000,
    shutdownTimeoutMs: 25_000,
    reconcileIntervalMs: 300_000,
    driftCheckIntervalMs: 3_600_000,
    labelCheckIntervalMs: 10_800_000,
  },
  rotation: { pendingLeaseMs: 600_000 },
} as const satisfies {
  redis: Config['redis'];
  aws: Omit<Config['aws'], 'region'>;
  defaults: Config['defaults'];
  cluster: Pick<ClusterConfig, 'timeoutMs'>;
  http: Omit<Config['http'], 'triggerTokens'>;
  leakAlerts: Required<Pick<Config['leakAlerts'], 'toleranceSeconds' | 'fingerprintRefreshMs' | 'fingerprintMissRefreshMs' | 'fingerprintReadsPerSecond'>>;
  worker: Required<Config['worker']>;
  rotation: Config['rotation'];
};

/** Bounds of the numeric and length rules, with the reason each exists. */
export const LIMITS = {
  /** Zilliz Cloud accepts 8-64 characters (spec/milvus-rest-user-api.md section 7). */
  passwordLength: { min: 8, max: 64 },
  /** Below 100 ms every request times out; above 2 minutes a hung cluster stalls the rotation lock. */
  timeoutMs: { min: 100, max: 120_000 },
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
  /** At least a second; at most a day (a longer-lived pending version is a stuck one). */
  pendingLeaseMs: { min: 1_000, max: 86_400_000 },
  /** 0 asks the OS for a free port (tests). */
  port: { min: 0, max: 65_535 },
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
  try {
    const url = new URL(text);
    if (url.protocol === 'redis:' || url.protocol === 'rediss:') return undefined;
  } catch {
    // Falls through to the message below.
  }
  return 'must be a redis:// or rediss:// URL';
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
const scheduleSchema = z.string({ error: `must be a cron expression or "${SCHEDULE_OFF}"` }).superRefine(rule(scheduleProblem));
const timeZoneSchema = z.string({ error: 'must be an IANA time zone name' }).superRefine(rule(timeZoneProblem));

/** A complete password policy: what generatePassword and satisfiesPolicy take. */
export const passwordPolicySchema = strict({ length: lengthSchema, symbols: symbolsSchema });

const clusterSchema = strict({
  endpoint: text('an http(s) URL').superRefine(rule(endpointProblem)),
  timeoutMs: integer(LIMITS.timeoutMs.min, LIMITS.timeoutMs.max).default(DEFAULTS.cluster.timeoutMs),
  caFile: text('a file path').optional(),
});

const credentialSchema = strict({
  secretId: text('a secret name or ARN').regex(new RegExp(`${SECRET_NAME_PATTERN.source}|${SECRET_ARN_PATTERN.source}`), {
    error: 'must be a Secrets Manager secret name (letters, digits, /_+=.@-) or ARN',
  }),
  username: z.string({ error: 'must be a string' }).regex(USERNAME_PATTERN, {
    error: 'must start with a letter and contain only letters, digits, "_", "." and "-", at most 32 characters (Milvus username rules)',
  }),
  clusters: z
    .array(text('a cluster name'), { error: 'must be a list of cluster names' })
    .min(1, { error: 'must list at least one cluster' }),
  schedule: scheduleSchema.optional(),
  timezone: timeZoneSchema.optional(),
  password: strict({ length: lengthSchema.optional(), symbols: symbolsSchema.optional() }).optional(),
});

const triggerTokenSchema = z
  .string({ error: 'must be a string' })
  .min(LIMITS.triggerTokenMinLength, { error: `must be at least ${LIMITS.triggerTokenMinLength} characters` })
  .regex(/^[\x21-\x7e]+$/, { error: 'must be printable ASCII without whitespace (it is sent in an HTTP header)' });

const webhookSecretSchema = z
  .string({ error: 'must be a string' })
  .min(LIMITS.webhookSecretMinLength, { error: `must be at least ${LIMITS.webhookSecretMinLength} characters` });

/** The file as written, with defaults filled in, before cross-references are checked. */
export const configFileSchema = strict({
  redis: strict({
    url: z.string({ error: 'must be a string' }).superRefine(rule(redisUrlProblem)).default(DEFAULTS.redis.url),
    prefix: text()
      .regex(/^\S+$/, { error: 'must not contain whitespace' })
      .default(DEFAULTS.redis.prefix),
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
    }).prefault({}),
  }).prefault({}),
  clusters: map('cluster', clusterSchema),
  credentials: map('credential', credentialSchema),
  http: strict({
    port: integer(LIMITS.port.min, LIMITS.port.max).default(DEFAULTS.http.port),
    host: text('a host name or address').default(DEFAULTS.http.host),
    triggerTokens: z.array(triggerTokenSchema, { error: 'must be a list of tokens' }).default([]),
  }).prefault({}),
  leakAlerts: strict({
    webhookSecret: webhookSecretSchema.optional(),
    webhookSecrets: z.array(webhookSecretSchema, { error: 'must be a list of secrets' }).default([]),
    toleranceSeconds: integer(LIMITS.toleranceSeconds.min, LIMITS.toleranceSeconds.max).default(DEFAULTS.leakAlerts.toleranceSeconds),
    githubKeysFile: text('a file path').optional(),
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
  }).prefault({}),
  rotation: strict({
    pendingLeaseMs: integer(LIMITS.pendingLeaseMs.min, LIMITS.pendingLeaseMs.max).default(DEFAULTS.rotation.pendingLeaseMs),
  }).prefault({}),
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
 * 4. No two credentials rotate the same user on the same cluster: each would lock the other out.
 */
function checkReferences(file: ConfigFile, ctx: z.RefinementCtx<ConfigFile>): void {
  const secretOwners = new Map<string, string>();
  const userOwners = new Map<string, string>();
  for (const [id, credential] of Object.entries(file.credentials)) {
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
      const userKey = `${cluster}\u0000${credential.username}`;
      const owner = userOwners.get(userKey);
      if (owner !== undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['credentials', id, 'username'],
          message: `user ${JSON.stringify(credential.username)} on cluster ${JSON.stringify(cluster)} is already rotated by credential ${JSON.stringify(owner)}`,
        }); // Rule 4.
      } else userOwners.set(userKey, id);
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

/** Turns the checked file into the Config shape of ./types.ts: names filled in, overrides merged. */
function toConfig(file: ConfigFile): Config {
  const clusters: Record<string, ClusterConfig> = {};
  for (const [name, cluster] of Object.entries(file.clusters)) {
    clusters[name] = {
      name,
      endpoint: cluster.endpoint,
      timeoutMs: cluster.timeoutMs,
      ...(cluster.caFile !== undefined && { caFile: cluster.caFile }),
    };
  }
  const credentials: Record<string, CredentialConfig> = {};
  for (const [id, credential] of Object.entries(file.credentials)) {
    const password: PasswordPolicy = {
      length: credential.password?.length ?? file.defaults.password.length,
      symbols: credential.password?.symbols ?? file.defaults.password.symbols,
    };
    credentials[id] = {
      id,
      secretId: credential.secretId,
      username: credential.username,
      clusters: [...credential.clusters],
      schedule: credential.schedule ?? file.defaults.schedule,
      timezone: credential.timezone ?? file.defaults.timezone,
      password,
    };
  }
  const { webhookSecret, webhookSecrets } = file.leakAlerts;
  return {
    redis: { url: file.redis.url, prefix: file.redis.prefix },
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
    http: { port: file.http.port, host: file.http.host, triggerTokens: [...file.http.triggerTokens] },
    worker: { ...file.worker },
    rotation: { ...file.rotation },
    leakAlerts: {
      // The single key first, then the list; duplicates collapse (they verify the same signatures).
      webhookSecrets: [...new Set([...(webhookSecret === undefined ? [] : [webhookSecret]), ...webhookSecrets])],
      toleranceSeconds: file.leakAlerts.toleranceSeconds,
      ...(file.leakAlerts.githubKeysFile !== undefined && { githubKeysFile: file.leakAlerts.githubKeysFile }),
      fingerprintRefreshMs: file.leakAlerts.fingerprintRefreshMs,
      fingerprintMissRefreshMs: file.leakAlerts.fingerprintMissRefreshMs,
      fingerprintReadsPerSecond: file.leakAlerts.fingerprintReadsPerSecond,
    },
  };
}

/** The whole file: shape and defaults, then cross-references, then the Config shape (not yet frozen). */
export const configSchema = configFileSchema.superRefine(checkReferences).transform(toConfig);
