import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { z } from 'zod';
import { checkConfig } from '../src/config/check.ts';
import { ConfigError, type ConfigIssue } from '../src/config/errors.ts';
import { expandString } from '../src/config/expand-env.ts';
import { REPORT_HEAP_BYTES_PER_YAML_BYTE } from '../src/config/duplicate-keys.ts';
import { loadConfig, parseConfig } from '../src/config/load.ts';
import { ALIAS_LIMITS, aliasExpansionIssue, parseYaml, withoutSourceText } from '../src/config/parse-yaml.ts';
import { configFileSchema, DEFAULTS } from '../src/config/schema.ts';
import { makeFleetConfig } from './helpers/config.ts';
import { configToYaml } from './helpers/config-file.ts';
import { runCli } from './helpers/run-cli.ts';

const TOKEN = 'trigger-token-0123456789';
const SECRET = 'webhook-secret-0123456789';

/** The smallest valid file: two clusters, one credential on both. */
function minimal(): Record<string, unknown> {
  return {
    clusters: {
      'prod-west': { endpoint: 'https://west.example.com:19530' },
      'prod-east': { endpoint: 'https://east.example.com:19530' },
    },
    credentials: {
      'app-reader': { secretId: 'prod/milvus/app-reader', username: 'app_reader', clusters: ['prod-west', 'prod-east'] },
    },
  };
}

/** `minimal()` with `patch` applied at a dotted path (undefined deletes the key). */
function withValue(path: string, value: unknown): Record<string, unknown> {
  const root = minimal();
  const keys = path.split('.');
  let node: Record<string, unknown> = root;
  for (const key of keys.slice(0, -1)) {
    if (typeof node[key] !== 'object' || node[key] === null) node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  const last = keys.at(-1) ?? '';
  if (value === undefined) delete node[last];
  else node[last] = value;
  return root;
}

function parse(input: Record<string, unknown> | string, env: Record<string, string> = {}) {
  return parseConfig(typeof input === 'string' ? input : stringify(input), env, 'test.yaml');
}

/** The issues of a refused file (fails the test when the file is accepted). */
function issuesOf(input: Record<string, unknown> | string, env: Record<string, string> = {}): ConfigIssue[] {
  try {
    parse(input, env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    const configError = error as ConfigError;
    expect(configError.code).toBe('ROTATOR_CONFIG_INVALID');
    return [...configError.issues];
  }
  throw new Error('expected the configuration to be refused');
}

/** Asserts that the file is refused with exactly one issue at `path` whose message matches. */
function expectRefused(input: Record<string, unknown> | string, path: string, message: string | RegExp, env: Record<string, string> = {}): void {
  const issues = issuesOf(input, env);
  expect(issues, JSON.stringify(issues)).toHaveLength(1);
  expect(issues[0]?.path).toBe(path);
  if (typeof message === 'string') expect(issues[0]?.message).toBe(message);
  else expect(issues[0]?.message).toMatch(message);
}

describe('config: loading', () => {
  it('applies every default to a minimal file', () => {
    const config = parse(minimal());
    expect(config.redis).toEqual({ url: 'redis://127.0.0.1:6379', prefix: '{milvus-rotator}', connectTimeoutMs: 10_000, mode: 'standalone' });
    expect(config.aws).toEqual({ maxAttempts: 4, writesPerSecond: 50 });
    expect('region' in config.aws).toBe(false);
    expect(config.defaults).toEqual({ schedule: '0 3 * * 0', timezone: 'UTC', password: { length: 32, symbols: '!#%*+-=?@^_~' } });
    expect(config.http).toEqual({
      port: 8080,
      host: '0.0.0.0',
      triggerTokens: [],
      requestTimeoutMs: 30_000,
      headersTimeoutMs: 10_000,
      keepAliveTimeoutMs: 5_000,
      maxConnections: 256,
      rateLimit: { triggerPerMinute: 60, alertsPerMinute: 1_200 },
    });
    expect(config.rotation).toEqual({ pendingLeaseMs: 600_000, minIntervalMs: 600_000 });
    expect(config.leakAlerts).toEqual({ webhookSecrets: [], toleranceSeconds: 300, fingerprintRefreshMs: 21_600_000, fingerprintMissRefreshMs: 300_000, fingerprintReadsPerSecond: 20 });
    expect(config.clusters['prod-west']).toEqual({ name: 'prod-west', endpoint: 'https://west.example.com:19530', timeoutMs: 10_000 });
    expect(config.credentials['app-reader']).toEqual({
      id: 'app-reader',
      strategy: 'single',
      secretId: 'prod/milvus/app-reader',
      username: 'app_reader',
      clusters: ['prod-west', 'prod-east'],
      schedule: '0 3 * * 0',
      timezone: 'UTC',
      password: { length: 32, symbols: '!#%*+-=?@^_~' },
    });
  });

  it('keeps DEFAULTS equal to the documented defaults', () => {
    expect(DEFAULTS).toEqual({
      redis: { url: 'redis://127.0.0.1:6379', prefix: '{milvus-rotator}', connectTimeoutMs: 10_000, mode: 'standalone' },
      aws: { maxAttempts: 4, writesPerSecond: 50 },
      defaults: { schedule: '0 3 * * 0', timezone: 'UTC', password: { length: 32, symbols: '!#%*+-=?@^_~' } },
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
      passwordMinLength: 16,
      credential: { strategy: 'single', graceMs: 7_200_000 },
    });
  });

  it('merges per-credential overrides field by field over defaults', () => {
    const file = minimal();
    file.defaults = { schedule: '0 1 * * *', timezone: 'Europe/Paris', password: { length: 40 } };
    (file.credentials as Record<string, Record<string, unknown>>)['app-reader'] = {
      secretId: 'a',
      username: 'a',
      clusters: ['prod-west'],
      schedule: '30 2 * * 1-5',
      timezone: 'Asia/Tokyo',
      password: { symbols: '#%' },
    };
    (file.credentials as Record<string, unknown>)['app-writer'] = { secretId: 'b', username: 'b', clusters: ['prod-east'] };
    const config = parse(file);
    expect(config.credentials['app-reader']).toMatchObject({ schedule: '30 2 * * 1-5', timezone: 'Asia/Tokyo', password: { length: 40, symbols: '#%' } });
    expect(config.credentials['app-writer']).toMatchObject({
      schedule: '0 1 * * *',
      timezone: 'Europe/Paris',
      password: { length: 40, symbols: '!#%*+-=?@^_~' },
    });
  });

  it('accepts 6-field cron, "off", an ARN secret id, caFile, region and the added keys', () => {
    const file = minimal();
    file.defaults = { schedule: 'off' };
    file.aws = { region: 'eu-central-1', maxAttempts: 6, writesPerSecond: 10 };
    file.http = { port: 9090, host: '127.0.0.1', triggerTokens: [TOKEN] };
    file.leakAlerts = { webhookSecret: SECRET, webhookSecrets: ['another-secret-abcdefgh', SECRET], toleranceSeconds: 60, githubKeysFile: '/keys.json' };
    const clusters = file.clusters as Record<string, Record<string, unknown>>;
    clusters['prod-west'] = { endpoint: 'http://10.0.0.1:19530', timeoutMs: 100, caFile: '/etc/ca.pem', allowInsecureHttp: true };
    const credentials = file.credentials as Record<string, Record<string, unknown>>;
    credentials['app-reader'] = {
      secretId: 'arn:aws:secretsmanager:us-west-2:123456789012:secret:prod/milvus/app-reader-AbCdEf',
      username: 'App.reader-1',
      clusters: ['prod-west'],
      schedule: '0 0 3 * * 0',
    };
    const config = parse(file);
    expect(config.defaults.schedule).toBe('off');
    expect(config.credentials['app-reader']?.schedule).toBe('0 0 3 * * 0');
    expect(config.aws).toEqual({ region: 'eu-central-1', maxAttempts: 6, writesPerSecond: 10 });
    expect(config.clusters['prod-west']).toEqual({ name: 'prod-west', endpoint: 'http://10.0.0.1:19530', timeoutMs: 100, caFile: '/etc/ca.pem', allowInsecureHttp: true });
    expect(config.http).toMatchObject({ port: 9090, host: '127.0.0.1', triggerTokens: [TOKEN] });
    expect(config.leakAlerts).toEqual({
      webhookSecrets: [SECRET, 'another-secret-abcdefgh'],
      toleranceSeconds: 60,
      githubKeysFile: '/keys.json',
      fingerprintRefreshMs: 21_600_000,
      fingerprintMissRefreshMs: 300_000,
      fingerprintReadsPerSecond: 20,
    });
  });

  it('freezes the result deeply', () => {
    const config = parse(minimal());
    const credential = config.credentials['app-reader'];
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.redis)).toBe(true);
    expect(Object.isFrozen(config.clusters)).toBe(true);
    expect(Object.isFrozen(config.clusters['prod-west'])).toBe(true);
    expect(Object.isFrozen(credential)).toBe(true);
    expect(Object.isFrozen(credential?.clusters)).toBe(true);
    expect(Object.isFrozen(credential?.password)).toBe(true);
    expect(Object.isFrozen(config.http.triggerTokens)).toBe(true);
    expect(Object.isFrozen(config.leakAlerts.webhookSecrets)).toBe(true);
    expect(() => {
      (config.redis as { url: string }).url = 'redis://elsewhere';
    }).toThrow(TypeError);
    expect(() => credential?.clusters.push('x')).toThrow(TypeError);
  });

  it('loads a file from disk, and reports an unreadable one as a config error', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rotator-config-'));
    try {
      const file = join(dir, 'rotator.yaml');
      writeFileSync(file, stringify(minimal()));
      expect(loadConfig(file, {}).credentials['app-reader']).toMatchObject({ strategy: 'single', username: 'app_reader' });
      const missing = join(dir, 'missing.yaml');
      expect(() => loadConfig(missing, {})).toThrow(ConfigError);
      expect(checkConfig(missing, {})).toEqual({ ok: false, lines: [`${missing}: cannot read the file (ENOENT)`], warnings: [] });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('accepts a number written as a string of digits, so numbers can come from ${ENV}', () => {
    const config = parse(withValue('http', { port: '${PORT}' }), { PORT: '9091' });
    expect(config.http.port).toBe(9091);
  });
});

describe('config: the examples', () => {
  const env = {
    REDIS_URL: 'rediss://:redis-password@redis.internal:6380/0',
    ROTATOR_TRIGGER_TOKEN: TOKEN,
    ROTATOR_WEBHOOK_SECRET: SECRET,
  };

  it('examples/rotator.yaml passes config check with and without its variables', () => {
    expect(checkConfig('examples/rotator.yaml', env)).toEqual({ ok: true, lines: ['examples/rotator.yaml: OK: 2 credentials (2 scheduled), 2 clusters'], warnings: [] });
    expect(checkConfig('examples/rotator.yaml', {}).ok).toBe(true);
    const config = loadConfig('examples/rotator.yaml', env);
    expect(config.redis.url).toBe(env.REDIS_URL);
    expect(config.http.triggerTokens).toEqual([TOKEN]);
    expect(config.leakAlerts.webhookSecrets).toEqual([SECRET]);
    expect(Object.keys(config.clusters)).toEqual(['prod-west', 'prod-dr']);
    expect(config.credentials['app-writer']?.password).toEqual({ length: 40, symbols: '!#%*+-=?@^_~' });
  });

  it('examples/sandbox.yaml points at the local sandbox and passes config check', () => {
    expect(checkConfig('examples/sandbox.yaml', {})).toEqual({
      ok: true,
      lines: ['examples/sandbox.yaml: OK: 3 credentials (1 scheduled), 2 clusters'],
      warnings: [expect.stringMatching(/^warning: rotation\.minIntervalMs: 60000 ms is below the default 600000/)],
    });
    const config = loadConfig('examples/sandbox.yaml', {});
    expect(Object.values(config.clusters).map((cluster) => cluster.endpoint)).toEqual(['http://127.0.0.1:19531', 'http://127.0.0.1:19532']);
    expect(config.credentials['app-reader']?.clusters).toHaveLength(2);
    expect(config.credentials['app-writer']?.clusters).toHaveLength(1);
  });
});

describe('config: ${ENV} expansion', () => {
  it('substitutes ${VAR} inside longer strings', () => {
    const config = parse(withValue('clusters.prod-west.endpoint', 'https://${HOST}:${PORT}'), { HOST: 'w.example.com', PORT: '19530' });
    expect(config.clusters['prod-west']?.endpoint).toBe('https://w.example.com:19530');
  });

  it('treats a scalar that is exactly ${VAR}, VAR unset, as absent: the default applies', () => {
    const config = parse(withValue('redis', { url: '${REDIS_URL}' }), {});
    expect(config.redis.url).toBe('redis://127.0.0.1:6379');
    expect(parse(withValue('redis', { url: '${REDIS_URL}' }), { REDIS_URL: 'redis://r:6379' }).redis.url).toBe('redis://r:6379');
  });

  it('drops a list item that is exactly ${VAR} with VAR unset', () => {
    const config = parse(withValue('http', { triggerTokens: ['${A}', '${B}'] }), { B: TOKEN });
    expect(config.http.triggerTokens).toEqual([TOKEN]);
  });

  it('names the variable when a required key is absent because it is unset', () => {
    expectRefused(withValue('credentials.app-reader.secretId', '${SECRET_ID}'), 'credentials.app-reader.secretId', 'required, but environment variable SECRET_ID is not set');
  });

  it('refuses an unset variable inside a longer string, naming the key and the variable', () => {
    expectRefused(
      withValue('clusters.prod-west.endpoint', 'https://${HOST}:19530'),
      'clusters.prod-west.endpoint',
      'environment variable HOST is not set (write ${HOST:-default} to give a default)',
    );
  });

  it('uses ${VAR:-default} when VAR is unset or empty, and the value otherwise', () => {
    const file = withValue('http', { host: '${HOST:-127.0.0.1}' });
    expect(parse(file, {}).http.host).toBe('127.0.0.1');
    expect(parse(file, { HOST: '' }).http.host).toBe('127.0.0.1');
    expect(parse(file, { HOST: '::' }).http.host).toBe('::');
    expect(parse(withValue('redis', { prefix: 'p-${X:-}' }), {}).redis.prefix).toBe('p-');
  });

  it('keeps $${ as a literal ${ and never re-expands a value from the environment', () => {
    expect(expandString('a$${B}c', {})).toEqual({ kind: 'value', value: 'a${B}c' });
    expect(expandString('${A}', { A: '${B}', B: 'no' })).toEqual({ kind: 'value', value: '${B}' });
    const config = parse(withValue('http', { triggerTokens: ['$${literal}-0123456789'] }));
    expect(config.http.triggerTokens).toEqual(['${literal}-0123456789']);
  });

  it('expands string scalars only: keys, numbers and booleans are untouched', () => {
    expect(expandString('plain', {})).toEqual({ kind: 'value', value: 'plain' });
    // A key that looks like a reference is not expanded, so it is an unknown key, not "port".
    expectRefused(withValue('http', { '${KEY}': 1 }), 'http["${KEY}"]', /^unknown key/, { KEY: 'port' });
  });

  it('refuses malformed references', () => {
    expectRefused(withValue('redis', { prefix: 'a${B' }), 'redis.prefix', /^unterminated \$\{ at character 2/);
    expectRefused(withValue('redis', { prefix: '${1B}' }), 'redis.prefix', /^invalid variable reference at character 1/);
  });

  it('never puts a value from the environment into an error message', () => {
    const secret = 'super-secret-value-do-not-print';
    const issues = issuesOf(withValue('redis', { url: 'http://${PASSWORD}@host' }), { PASSWORD: secret });
    expect(issues).toEqual([{ path: 'redis.url', message: 'must be a redis:// or rediss:// URL' }]);
    const tokenIssues = issuesOf(withValue('http', { triggerTokens: ['${SHORT}'] }), { SHORT: 'tiny-secret' });
    expect(JSON.stringify(tokenIssues)).not.toContain('tiny-secret');
  });
});

describe('config: refusals name the key path and the reason', () => {
  it('refuses a reference to an unknown cluster', () => {
    expectRefused(withValue('credentials.app-reader.clusters', ['prod-west', 'prod-dr']), 'credentials.app-reader.clusters[1]', 'unknown cluster "prod-dr"');
  });

  it('refuses a cluster listed twice in one credential', () => {
    expectRefused(
      withValue('credentials.app-reader.clusters', ['prod-west', 'prod-east', 'prod-west']),
      'credentials.app-reader.clusters[2]',
      'cluster "prod-west" is listed twice (first at clusters[0])',
    );
  });

  it('refuses two credentials with the same secretId', () => {
    const file = withValue('credentials.app-writer', { secretId: 'prod/milvus/app-reader', username: 'app_writer', clusters: ['prod-west'] });
    expectRefused(file, 'credentials.app-writer.secretId', 'secret "prod/milvus/app-reader" is already used by credential "app-reader"');
  });

  it('refuses two credentials rotating the same user on the same cluster', () => {
    const file = withValue('credentials.app-writer', { secretId: 'prod/milvus/other', username: 'app_reader', clusters: ['prod-east'] });
    expectRefused(file, 'credentials.app-writer.username', 'user "app_reader" on cluster "prod-east" is already rotated by credential "app-reader"');
  });

  it('allows the same user on different clusters under different credentials', () => {
    const file = withValue('credentials.app-reader.clusters', ['prod-west']);
    (file.credentials as Record<string, unknown>)['app-reader-east'] = { secretId: 'east/reader', username: 'app_reader', clusters: ['prod-east'] };
    expect(Object.keys(parse(file).credentials)).toEqual(['app-reader', 'app-reader-east']);
  });

  describe('the alternating strategy', () => {
    const alternating = (extra: Record<string, unknown> = {}): Record<string, unknown> =>
      withValue('credentials.app', { secretId: 'prod/milvus/app', strategy: 'alternating', usernames: ['app_a', 'app_b'], clusters: ['prod-west'], ...extra });

    it('loads two users with the default grace and no admin, and the admin secret when given', () => {
      expect(parse(alternating()).credentials['app']).toEqual({
        id: 'app',
        strategy: 'alternating',
        secretId: 'prod/milvus/app',
        usernames: ['app_a', 'app_b'],
        graceMs: 7_200_000,
        clusters: ['prod-west'],
        schedule: '0 3 * * 0',
        timezone: 'UTC',
        password: { length: 32, symbols: '!#%*+-=?@^_~' },
      });
      const withAdmin = parse(alternating({ graceMs: 1000, admin: { secretId: 'prod/milvus/rotator-admin' } })).credentials['app'];
      expect(withAdmin).toMatchObject({ graceMs: 1000, admin: { secretId: 'prod/milvus/rotator-admin' } });
    });

    it('defaults to the single strategy and accepts strategy: single written out', () => {
      expect(parse(minimal()).credentials['app-reader']?.strategy).toBe('single');
      expect(parse(withValue('credentials.app-reader.strategy', 'single')).credentials['app-reader']?.strategy).toBe('single');
      expectRefused(withValue('credentials.app-reader.strategy', 'rolling'), 'credentials.app-reader.strategy', 'must be "single" or "alternating"');
    });

    it('needs exactly two distinct usernames, each a valid Milvus name', () => {
      expectRefused(alternating({ usernames: ['app_a'] }), 'credentials.app.usernames', 'must list exactly two users, got 1');
      expectRefused(alternating({ usernames: ['app_a', 'app_b', 'app_c'] }), 'credentials.app.usernames', 'must list exactly two users, got 3');
      expectRefused(alternating({ usernames: ['app_a', 'app_a'] }), 'credentials.app.usernames[1]', 'must differ from usernames[0] ("app_a"): the two users take turns');
      expectRefused(alternating({ usernames: ['app_a', '9b'] }), 'credentials.app.usernames[1]', /Milvus username rules/);
      expectRefused(alternating({ usernames: undefined }), 'credentials.app.usernames', 'required with strategy: alternating (the two Milvus users that take turns)');
    });

    it('keeps each strategy to its own keys', () => {
      expectRefused(alternating({ username: 'app_a' }), 'credentials.app.username', 'not with strategy: alternating: list both users under usernames');
      expectRefused(withValue('credentials.app-reader.usernames', ['a', 'b']), 'credentials.app-reader.usernames', 'only with strategy: alternating');
      expect(issuesOf(withValue('credentials.app-reader.graceMs', 5000))).toEqual([{ path: 'credentials.app-reader.graceMs', message: 'only with strategy: alternating' }]);
      expectRefused(withValue('credentials.app-reader.admin', { secretId: 'x/admin' }), 'credentials.app-reader.admin', 'only with strategy: alternating');
      const noUser = withValue('credentials.app-reader.username', undefined);
      expectRefused(noUser, 'credentials.app-reader.username', 'required');
    });

    it('refuses a grace under a second or over 30 days, and an admin secret that is the credential\'s own', () => {
      expectRefused(alternating({ graceMs: 999 }), 'credentials.app.graceMs', 'must be an integer from 1000 to 2592000000');
      expectRefused(alternating({ graceMs: 2_592_000_001 }), 'credentials.app.graceMs', 'must be an integer from 1000 to 2592000000');
      expectRefused(alternating({ admin: { secretId: 'prod/milvus/app' } }), 'credentials.app.admin.secretId', "must not be the credential's own secret");
      expect(issuesOf(alternating({ admin: { secret: 'x' } }))).toEqual([
        { path: 'credentials.app.admin.secretId', message: 'required' },
        { path: 'credentials.app.admin.secret', message: 'unknown key (did you mean "secretId"?)' },
      ]);
    });

    it('counts both users in the user-on-cluster rule, against single and alternating credentials', () => {
      expectRefused(alternating({ usernames: ['app_b', 'app_reader'] }), 'credentials.app.usernames[1]', 'user "app_reader" on cluster "prod-west" is already rotated by credential "app-reader"');
      const two = alternating();
      (two.credentials as Record<string, unknown>)['other'] = { secretId: 'prod/milvus/other', strategy: 'alternating', usernames: ['app_c', 'app_a'], clusters: ['prod-west'] };
      expectRefused(two, 'credentials.other.usernames[1]', 'user "app_a" on cluster "prod-west" is already rotated by credential "app"');
    });
  });

  it('refuses unknown keys at every level, suggesting the near miss', () => {
    expectRefused(withValue('clusters.prod-west.timeoutMS', 5000), 'clusters.prod-west.timeoutMS', 'unknown key (did you mean "timeoutMs"?)');
    expectRefused(withValue('credentials.app-reader.schedul', '0 3 * * *'), 'credentials.app-reader.schedul', 'unknown key (did you mean "schedule"?)');
    expectRefused(withValue('redis.password', 'x'), 'redis.password', 'unknown key (allowed keys: url, prefix, connectTimeoutMs, caFile, mode, nodes, sentinels, sentinelName)');
    expectRefused(withValue('defaults.password.lenght', 20), 'defaults.password.lenght', 'unknown key (did you mean "length"?)');
    expectRefused(withValue('credentials.app-reader.password', { length: 20, extra: 1 }), 'credentials.app-reader.password.extra', /^unknown key/);
    expectRefused(withValue('metrics', { port: 1 }), 'metrics', /^unknown key \(allowed keys: redis, aws, defaults, clusters, credentials, http, leakAlerts, worker, rotation, notifications\)$/);
    expectRefused(withValue('leakAlerts.webhookSecretz', SECRET), 'leakAlerts.webhookSecretz', 'unknown key (did you mean "webhookSecret"?)');
  });

  it('refuses duplicate keys, naming the path and the first line', () => {
    const text = [
      'clusters:',
      '  prod-west:',
      '    endpoint: https://a.example.com',
      '  prod-west:',
      '    endpoint: https://b.example.com',
      'credentials:',
      '  app-reader:',
      '    secretId: s',
      '    username: u',
      '    username: v',
      '    clusters: [prod-west]',
    ].join('\n');
    expect(issuesOf(text)).toEqual([
      { path: 'clusters.prod-west', message: 'duplicate key (first defined on line 2)' },
      { path: 'credentials.app-reader.username', message: 'duplicate key (first defined on line 9)' },
    ]);
  });

  it('refuses bad cron expressions', () => {
    expectRefused(withValue('defaults.schedule', '0 3 * *'), 'defaults.schedule', 'must be a cron expression of 5 fields (or 6, seconds first), or "off"; got 4 field(s)');
    expectRefused(withValue('credentials.app-reader.schedule', '0 3 * * 0 2026 1'), 'credentials.app-reader.schedule', /got 7 field\(s\)$/);
    expectRefused(withValue('credentials.app-reader.schedule', '61 3 * * 0'), 'credentials.app-reader.schedule', /^invalid cron expression: .*61/);
    expectRefused(withValue('credentials.app-reader.schedule', '@daily'), 'credentials.app-reader.schedule', /got 1 field\(s\)$/);
    expectRefused(withValue('credentials.app-reader.schedule', 'Off'), 'credentials.app-reader.schedule', /got 1 field\(s\)$/);
  });

  it('refuses unknown and offset time zones', () => {
    expectRefused(withValue('defaults.timezone', 'Mars/Olympus_Mons'), 'defaults.timezone', 'unknown time zone "Mars/Olympus_Mons": use an IANA name such as "UTC" or "Europe/Paris"');
    expectRefused(withValue('credentials.app-reader.timezone', '+02:00'), 'credentials.app-reader.timezone', /^unknown time zone "\+02:00"/);
  });

  it('refuses endpoints that are not http(s) URLs', () => {
    expectRefused(withValue('clusters.prod-west.endpoint', 'grpc://w.example.com:19530'), 'clusters.prod-west.endpoint', 'must be an http:// or https:// URL');
    expectRefused(withValue('clusters.prod-west.endpoint', 'w.example.com:19530'), 'clusters.prod-west.endpoint', 'must be an http:// or https:// URL');
    expectRefused(withValue('clusters.prod-west.endpoint', 'not a url'), 'clusters.prod-west.endpoint', 'must be an absolute http:// or https:// URL');
    expectRefused(withValue('clusters.prod-west.endpoint', 'https://u:p@w.example.com'), 'clusters.prod-west.endpoint', 'must not contain credentials');
    expectRefused(withValue('clusters.prod-west.endpoint', undefined), 'clusters.prod-west.endpoint', 'required');
  });

  it('refuses usernames Milvus would refuse', () => {
    const message = /^must start with a letter and contain only letters, digits/;
    for (const username of ['1user', '_user', 'user:x', 'user name', 'a'.repeat(33), '']) {
      expectRefused(withValue('credentials.app-reader.username', username), 'credentials.app-reader.username', message);
    }
    expect(parse(withValue('credentials.app-reader.username', `a${'b'.repeat(31)}`)).credentials['app-reader']).toMatchObject({ username: `a${'b'.repeat(31)}` });
  });

  it('refuses password lengths outside 8-64', () => {
    expectRefused(withValue('defaults.password', { length: 7 }), 'defaults.password.length', 'must be an integer from 8 to 64');
    expectRefused(withValue('credentials.app-reader.password', { length: 65 }), 'credentials.app-reader.password.length', 'must be an integer from 8 to 64');
    expectRefused(withValue('defaults.password', { length: 20.5 }), 'defaults.password.length', 'must be an integer from 8 to 64');
    expect(parse(withValue('defaults.password', { length: 8, minLength: 8 })).defaults.password.length).toBe(8);
    expect(parse(withValue('defaults.password', { length: 64 })).defaults.password.length).toBe(64);
  });

  it('refuses a password length below 16 unless password.minLength says otherwise explicitly', () => {
    expectRefused(withValue('defaults.password', { length: 12 }), 'defaults.password.length', 'must be at least 16 (set password.minLength to allow shorter passwords)');
    expectRefused(withValue('credentials.app-reader.password', { length: 15 }), 'credentials.app-reader.password.length', /^must be at least 16/);
    expect(parse(withValue('defaults.password', { length: 16 })).defaults.password.length).toBe(16);
    expect(parse(withValue('defaults.password', { length: 12, minLength: 12 })).defaults.password.length).toBe(12);
    expect(parse(withValue('credentials.app-reader.password', { length: 10, minLength: 10 })).credentials['app-reader']?.password.length).toBe(10);
    expectRefused(withValue('credentials.app-reader.password', { length: 10, minLength: 12 }), 'credentials.app-reader.password.length', /^must be at least 12/);
  });

  it('requires https:// for cluster endpoints except on loopback, unless the cluster sets allowInsecureHttp: true', () => {
    expectRefused(withValue('clusters.prod-west.endpoint', 'http://milvus-prod.internal:19530'), 'clusters.prod-west.endpoint', /^must be an https:\/\/ URL: http:\/\/ sends the password in clear/);
    expectRefused(withValue('clusters.prod-west.endpoint', 'http://10.1.2.3:19530'), 'clusters.prod-west.endpoint', /^must be an https:\/\/ URL/);
    for (const endpoint of ['http://127.0.0.1:19530', 'http://localhost:19530', 'http://[::1]:19530', 'http://127.8.9.10:19530', 'https://milvus-prod.internal:19530']) {
      expect(parse(withValue('clusters.prod-west.endpoint', endpoint)).clusters['prod-west']?.endpoint).toBe(endpoint);
    }
    const opted = parse(withValue('clusters.prod-west', { endpoint: 'http://milvus.dev.internal:19530', allowInsecureHttp: true }));
    expect(opted.clusters['prod-west']).toMatchObject({ endpoint: 'http://milvus.dev.internal:19530', allowInsecureHttp: true });
    expectRefused(withValue('clusters.prod-west', { endpoint: 'http://milvus.dev.internal:19530', allowInsecureHttp: 'yes' }), 'clusters.prod-west.allowInsecureHttp', 'must be true or false');
  });

  it('takes rotation.minIntervalMs from 1000 ms, and refuses a schedule that fires more often', () => {
    expectRefused(withValue('rotation', { minIntervalMs: 999 }), 'rotation.minIntervalMs', /^must be an integer from 1000 to/);
    expect(parse(withValue('rotation', { minIntervalMs: 1_000 })).rotation.minIntervalMs).toBe(1_000);
    expectRefused(withValue('defaults.schedule', '*/5 * * * *'), 'defaults.schedule', /^fires every 300 s at times, more often than rotation\.minIntervalMs \(600000 ms\)/);
    const every5 = withValue('credentials.app-reader.schedule', '*/5 * * * *');
    expectRefused(every5, 'credentials.app-reader.schedule', /more often than rotation\.minIntervalMs/);
    every5.rotation = { minIntervalMs: 300_000 };
    expect(parse(every5).credentials['app-reader']?.schedule).toBe('*/5 * * * *');
    // Irregular gaps count by their shortest: 03:00 and 03:05 on the same day.
    expectRefused(withValue('defaults.schedule', '0,5 3 * * *'), 'defaults.schedule', /^fires every 300 s/);
  });

  it('refuses bad symbol sets', () => {
    const at = 'defaults.password.symbols';
    expectRefused(withValue('defaults.password', { symbols: '' }), at, 'must not be empty: passwords need at least one symbol');
    expectRefused(withValue('defaults.password', { symbols: '!!' }), at, 'must not repeat "!": a repeated symbol would be drawn more often');
    expectRefused(withValue('defaults.password', { symbols: '!:' }), at, /^must not contain ":"/);
    expectRefused(withValue('defaults.password', { symbols: '!"' }), at, /^must not contain "\\""/);
    expectRefused(withValue('defaults.password', { symbols: "!'" }), at, /^must not contain "'"/);
    expectRefused(withValue('defaults.password', { symbols: '!`' }), at, /^must not contain "`"/);
    expectRefused(withValue('defaults.password', { symbols: '!\\' }), at, /^must not contain "\\\\"/);
    expectRefused(withValue('defaults.password', { symbols: '! ' }), at, 'must not contain whitespace (U+0020)');
    expectRefused(withValue('defaults.password', { symbols: '!\t' }), at, 'must not contain whitespace (U+0009)');
    expectRefused(withValue('defaults.password', { symbols: '!\u0001' }), at, 'must be printable ASCII (U+0001 is not)');
    expectRefused(withValue('defaults.password', { symbols: '!é' }), at, 'must be printable ASCII (U+00E9 is not)');
    expectRefused(withValue('defaults.password', { symbols: '!a' }), at, 'must not contain letters or digits ("a")');
    expectRefused(withValue('credentials.app-reader.password', { symbols: '!!' }), 'credentials.app-reader.password.symbols', /^must not repeat/);
  });

  it('refuses trigger tokens and webhook secrets shorter than 16 characters', () => {
    expectRefused(withValue('http', { triggerTokens: [TOKEN, 'fifteen-chars!!'] }), 'http.triggerTokens[1]', 'must be at least 16 characters');
    expectRefused(withValue('http', { triggerTokens: ['sixteen chars ok'] }), 'http.triggerTokens[0]', /^must be printable ASCII without whitespace/);
    expectRefused(withValue('leakAlerts', { webhookSecret: 'short' }), 'leakAlerts.webhookSecret', 'must be at least 16 characters');
    expectRefused(withValue('leakAlerts', { webhookSecrets: [SECRET, 'short'] }), 'leakAlerts.webhookSecrets[1]', 'must be at least 16 characters');
    expect(parse(withValue('http', { triggerTokens: ['x'.repeat(16)] })).http.triggerTokens).toEqual(['x'.repeat(16)]);
  });

  it('refuses a Redis URL that is not redis:// or rediss://, without quoting it', () => {
    expectRefused(withValue('redis', { url: 'http://:pw@127.0.0.1:6379' }), 'redis.url', 'must be a redis:// or rediss:// URL');
    expectRefused(withValue('redis', { url: '127.0.0.1:6379' }), 'redis.url', 'must be a redis:// or rediss:// URL');
    expect(parse(withValue('redis', { url: 'rediss://h:6380' })).redis.url).toBe('rediss://h:6380');
  });

  it('refuses timeoutMs outside 100-120000', () => {
    expectRefused(withValue('clusters.prod-west.timeoutMs', 99), 'clusters.prod-west.timeoutMs', 'must be an integer from 100 to 120000');
    expectRefused(withValue('clusters.prod-east.timeoutMs', 120_001), 'clusters.prod-east.timeoutMs', 'must be an integer from 100 to 120000');
    expectRefused(withValue('clusters.prod-east.timeoutMs', 'soon'), 'clusters.prod-east.timeoutMs', 'must be an integer from 100 to 120000');
    expect(parse(withValue('clusters.prod-west.timeoutMs', 120_000)).clusters['prod-west']?.timeoutMs).toBe(120_000);
  });

  it('refuses other out-of-range numbers', () => {
    expectRefused(withValue('http', { port: 65_536 }), 'http.port', 'must be an integer from 0 to 65535');
    expectRefused(withValue('aws', { maxAttempts: 0 }), 'aws.maxAttempts', 'must be an integer from 1 to 10');
    expectRefused(withValue('aws', { writesPerSecond: 0 }), 'aws.writesPerSecond', 'must be an integer from 1 to 1000');
    expectRefused(withValue('leakAlerts', { toleranceSeconds: 0 }), 'leakAlerts.toleranceSeconds', 'must be an integer from 1 to 3600');
    expectRefused(withValue('aws', { region: 'mars' }), 'aws.region', 'must be an AWS region such as us-west-2');
  });

  it('refuses missing sections, empty maps, empty cluster lists and bad names', () => {
    expectRefused(withValue('clusters', undefined), 'clusters', 'required');
    expectRefused(withValue('credentials', {}), 'credentials', 'must define at least one credential');
    expectRefused(withValue('credentials.app-reader.clusters', []), 'credentials.app-reader.clusters', 'must list at least one cluster');
    expectRefused(withValue('credentials.app-reader.secretId', 'has space'), 'credentials.app-reader.secretId', /^must be a Secrets Manager secret name/);
    expectRefused(withValue('clusters.prod west', { endpoint: 'https://x.example.com' }), 'clusters["prod west"]', /^cluster may contain only letters/);
    expectRefused(withValue('credentials.app-reader', 'oops'), 'credentials.app-reader', 'must be a mapping');
  });

  it('reports every shape problem at once', () => {
    const file = withValue('clusters.prod-west.timeoutMs', 1);
    (file.credentials as Record<string, Record<string, unknown>>)['app-reader']!.username = '9';
    file.redis = { url: 'nope' };
    expect(issuesOf(file).map((issue) => issue.path)).toEqual(['redis.url', 'clusters.prod-west.timeoutMs', 'credentials.app-reader.username']);
  });

  it('refuses a key named __proto__ anywhere (objects and zod records would drop it silently)', () => {
    const text = ['clusters:', '  __proto__: {endpoint: "https://y.example.com"}', '  a: {endpoint: "https://x.example.com"}', 'credentials:', '  r: {secretId: s, username: u, clusters: [a]}'].join('\n');
    expect(issuesOf(text)).toEqual([{ path: 'clusters.__proto__', message: 'reserved key name' }]);
  });

  it('says how to write an empty section', () => {
    expectRefused(`${stringify(minimal())}redis:\n`, 'redis', 'must be a mapping, not empty (write {} or remove the key)');
  });

  it('refuses YAML that does not parse, an empty file and a non-mapping, without quoting the source', () => {
    const issues = issuesOf('clusters: [a\nsecret: hunter2-secret-value');
    expect(issues[0]?.path).toBe('');
    expect(issues[0]?.message).toMatch(/^YAML syntax error at line \d+, column \d+: /);
    expect(JSON.stringify(issues)).not.toContain('hunter2');
    expect(issuesOf('')).toEqual([{ path: '', message: 'the file is empty' }]);
    expect(issuesOf('- a\n- b\n')).toEqual([{ path: '', message: 'the top level must be a mapping of keys' }]);
  });
});

describe('config: the YAML dialect (js-yaml, YAML 1.2 core schema)', () => {
  /** The value of `k` in a one-key document, or the issues. */
  const scalar = (text: string): unknown => {
    const parsed = parseYaml(`k: ${text}\n`);
    return parsed.ok ? (parsed.value as { k: unknown }).k : parsed.issues;
  };

  it('reads scalars by the core schema: only true/false are booleans, cron fields and dates stay strings', () => {
    const table: [string, unknown][] = [
      ['true', true], ['False', false], ['yes', 'yes'], ['on', 'on'], ['off', 'off'], ['n', 'n'],
      ['null', null], ['~', null], ['', null],
      ['8080', 8080], ['0o17', 15], ['0x1F', 31], ['1e3', 1000], ['1_000', '1_000'], ['1:30', '1:30'],
      ['0 3 * * 0', '0 3 * * 0'], ['2026-01-01', '2026-01-01'], ['"8080"', '8080'], ['!!str 1', '1'],
    ];
    for (const [text, value] of table) expect(scalar(text), text).toEqual(value);
  });

  it('treats << as a plain key (the core schema has no merge keys): it is an unknown key', () => {
    const text = `${stringify(minimal())}defaults:\n  <<: {schedule: "0 3 * * 0"}\n`;
    expect(issuesOf(text)).toEqual([{ path: 'defaults["<<"]', message: 'unknown key (allowed keys: schedule, timezone, password)' }]);
  });

  it('accepts anchors and aliases that repeat a block', () => {
    const text = [
      'clusters:',
      '  a: {endpoint: "https://a.example.com"}',
      '  b: {endpoint: "https://b.example.com"}',
      'credentials:',
      '  r: {secretId: s1, username: u1, clusters: &both [a, b], password: &policy {length: 40}}',
      '  w: {secretId: s2, username: u2, clusters: *both, password: *policy}',
    ].join('\n');
    const config = parse(text);
    expect(config.credentials.w?.clusters).toEqual(['a', 'b']);
    expect(config.credentials.w?.password.length).toBe(40);
  });

  it('refuses an alias bomb (a billion laughs) at once, before ${VAR} expansion and zod walk it', () => {
    // Nine levels of nine aliases: 9^9 (387 million) strings once expanded.
    const levels = ['a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]'];
    for (const [previous, name] of [...'abcdefgh'].map((c, i) => [c, 'bcdefghi'[i]] as const)) {
      levels.push(`${name}: &${name} [${Array(9).fill(`*${previous}`).join(', ')}]`);
    }
    const started = performance.now();
    const issues = issuesOf(levels.join('\n'));
    // Generous for a loaded machine: a walk of the expanded tree would take minutes and run out of memory.
    expect(performance.now() - started).toBeLessThan(2_000);
    expect(issues).toEqual([{ path: '', message: expect.stringMatching(/^aliases \(\*name\) expand 19 written nodes to 490329055, over the limit of 100000 .*an alias bomb\?$/) }]);
  });

  it('bounds alias expansion at 10 times the nodes written, and at least 100,000 nodes', () => {
    const fanOut = (count: number): string => `big: &big [${Array(1_000).fill('x').join(', ')}]\nuses: [${Array(count).fill('*big').join(', ')}]\n`;
    // Written: the top mapping, the two lists and the 1,000 strings; each *big adds 1,001 nodes.
    const under = parseYaml(fanOut(98));
    expect(under.ok).toBe(true);
    expect(aliasExpansionIssue(under.ok ? under.value : undefined)).toBeUndefined();
    expect(parseYaml(fanOut(99))).toEqual({ ok: false, issues: [{ path: '', message: expect.stringMatching(/^aliases \(\*name\) expand 1003 written nodes to 100102, over the limit of 100000/) }] });
    // Past 100,000 nodes the factor decides: 10,003 written allow 100,030.
    const wide = `big: &big [${Array(10_000).fill('x').join(', ')}]\nuses: [*big, *big, *big, *big, *big, *big, *big, *big, *big]\n`;
    expect(parseYaml(wide).ok).toBe(true);
    expect(parseYaml(wide.replace('*big]', '*big, *big]'))).toEqual({ ok: false, issues: [{ path: '', message: expect.stringMatching(/^aliases \(\*name\) expand 10003 written nodes to 110013, over the limit of 100030/) }] });
    expect(ALIAS_LIMITS).toEqual({ expansionFactor: 10, minExpandedNodes: 100_000 });
  });

  it('refuses an alias inside the node it refers to', () => {
    expect(issuesOf('clusters: &c\n  a: *c\n')).toEqual([{ path: '', message: 'an alias (*name) refers to a mapping or list that contains it' }]);
  });

  it('refuses __proto__ in an aliased block once, at its first path', () => {
    const text = 'clusters:\n  a: &x {endpoint: "https://a.example.com", __proto__: 1}\n  b: *x\n';
    expect(issuesOf(text)).toEqual([{ path: 'clusters.a.__proto__', message: 'reserved key name' }]);
  });

  it('quotes no name from the file in a syntax error: an unquoted value starting with ! or * is a tag or an alias', () => {
    const tag = issuesOf(`${stringify(minimal())}leakAlerts:\n  webhookSecret: !Xy7-hunter2-secret\n`);
    // js-yaml marks an unknown tag where the node ends: the start of the next line.
    expect(tag).toEqual([{ path: '', message: 'YAML syntax error at line 15, column 1: unknown tag !<…> (quote a value that starts with ! or *)' }]);
    const alias = issuesOf(`${stringify(minimal())}http:\n  triggerTokens: [*Zq9-hunter2-secret]\n`);
    expect(alias).toEqual([{ path: '', message: 'YAML syntax error at line 14, column 38: unidentified alias "…" (quote a value that starts with ! or *)' }]);
    const unclosed = issuesOf(`${stringify(minimal())}http:\n  triggerTokens: ["hunter2-secret-value\n`);
    expect(unclosed[0]?.message).toMatch(/^YAML syntax error at line \d+, column \d+: unexpected end of the stream within a double quoted scalar$/);
    expect(withoutSourceText('unacceptable node kind for !<!x> tag; it should be "scalar", not "mapping"')).toBe('unacceptable node kind for !<…> tag; it should be "scalar", not "mapping"');
    expect(withoutSourceText('tag name is malformed: !hunter2')).toBe('tag name is malformed');
    expect(withoutSourceText('undeclared tag handle "!hunter2!"')).toBe('undeclared tag handle "…"');
  });

  it('refuses a second document in the file', () => {
    expect(issuesOf(`${stringify(minimal())}---\nclusters: {}\n`)).toEqual([{ path: '', message: 'YAML syntax error: expected a single document in the stream, but found more' }]);
  });

  it('lists every duplicate key although js-yaml stops at the first; with too little heap for the list, the first by position', () => {
    const text = 'clusters:\n  a: {endpoint: "https://a.example.com"}\n  a: {endpoint: "https://b.example.com"}\nhttp:\n  port: 1\n  port: 2\n';
    expect(parseYaml(text)).toEqual({
      ok: false,
      issues: [
        { path: 'clusters.a', message: 'duplicate key (first defined on line 2)' },
        { path: 'http.port', message: 'duplicate key (first defined on line 5)' },
      ],
    });
    const heapLeft = text.length * REPORT_HEAP_BYTES_PER_YAML_BYTE - 1;
    expect(parseYaml(text, { heapAvailableBytes: () => heapLeft })).toEqual({
      ok: false,
      issues: [{ path: '', message: 'duplicate key at line 3, column 3 (the first one; the file is too large to list them all within this heap: run config check with more heap for the full list)' }],
    });
  });
});

describe('config: size', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rotator-size-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("checks 10,000 credentials within the Deployment's heap (k8s/base NODE_OPTIONS)", async () => {
    const deployment = readFileSync('k8s/base/deployment.yaml', 'utf8');
    const nodeOptions = /name: NODE_OPTIONS\s+value: (.+)/.exec(deployment)?.[1]?.trim() ?? '';
    expect(nodeOptions).toMatch(/--max-old-space-size=\d+/);
    const file = join(dir, 'fleet.yaml');
    writeFileSync(file, configToYaml(makeFleetConfig(10_000)));
    const run = await runCli(['config', 'check', '--config', file], { env: { NODE_OPTIONS: nodeOptions }, timeoutMs: 120_000 });
    expect(run.stderr).not.toMatch(/heap out of memory/);
    expect(run.stdout).toMatch(/OK: 10000 credentials \(10000 scheduled\), 112 clusters$/m);
    expect(run.code).toBe(0);
  }, 180_000);
});

describe('config: checkConfig', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rotator-check-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('prints one line per issue, in DESIGN format', () => {
    const file = join(dir, 'bad.yaml');
    const bad = withValue('credentials.app-reader.clusters', ['prod-west', 'prod-dr']);
    (bad.clusters as Record<string, Record<string, unknown>>)['prod-west']!.timeoutMs = 5;
    writeFileSync(file, stringify(bad));
    expect(checkConfig(file, {})).toEqual({
      ok: false,
      lines: ['clusters.prod-west.timeoutMs: must be an integer from 100 to 120000', 'credentials.app-reader.clusters[1]: unknown cluster "prod-dr"'],
      warnings: [],
    });
    writeFileSync(file, stringify(withValue('credentials.app-reader.clusters', ['prod-west', 'prod-dr'])));
    expect(checkConfig(file, {})).toEqual({ ok: false, lines: ['credentials.app-reader.clusters[1]: unknown cluster "prod-dr"'], warnings: [] });
  });

  it('warns about an alternating grace under an hour, and still passes the file', () => {
    const file = join(dir, 'short-grace.yaml');
    const input = withValue('credentials.app', { secretId: 'prod/milvus/app', strategy: 'alternating', usernames: ['app_a', 'app_b'], clusters: ['prod-west'], graceMs: 60_000 });
    writeFileSync(file, stringify(input));
    const grace = 'warning: credentials.app.graceMs: 60000 ms is under 1 h; consumers that cache the secret for an hour may still hold the user a rotation changes';
    const checked = checkConfig(file, {});
    expect(checked).toMatchObject({ ok: true, lines: [`${file}: OK: 2 credentials (2 scheduled), 2 clusters`] });
    expect(checked.warnings).toContain(grace);
    writeFileSync(file, stringify({ ...input, credentials: { app: { ...(input.credentials as Record<string, Record<string, unknown>>)['app'], graceMs: 3_600_000 } } }));
    expect(checkConfig(file, {}).warnings.some((w) => w.includes('graceMs'))).toBe(false);
  });

  it('summarises a good file with its counts', () => {
    const file = join(dir, 'good.yaml');
    writeFileSync(file, stringify(minimal()));
    expect(checkConfig(file, {})).toEqual({ ok: true, lines: [`${file}: OK: 1 credential (1 scheduled), 2 clusters`], warnings: ['warning: http.triggerTokens: none configured: POST /v1/rotations refuses every request', 'warning: leakAlerts.webhookSecret: none configured: POST /v1/leak-alerts refuses every alert'] });
  });

  it('refuses a caFile it cannot read, one that is no PEM, and one on an http:// endpoint (exit 2 lines), naming the key', () => {
    const file = join(dir, 'ca.yaml');
    const pem = join(dir, 'ca.pem');
    writeFileSync(pem, '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n');
    const notPem = join(dir, 'not.pem');
    writeFileSync(notPem, 'hello');
    const config = minimal();
    const clusters = config.clusters as Record<string, Record<string, unknown>>;
    clusters['prod-west']!.caFile = join(dir, 'absent.pem');
    clusters['prod-east']!.caFile = notPem;
    writeFileSync(file, stringify(config));
    expect(checkConfig(file, {}).ok).toBe(false);
    expect(checkConfig(file, {}).lines).toEqual([
      'clusters.prod-west.caFile: cannot read the CA file (ENOENT)',
      'clusters.prod-east.caFile: is not a PEM certificate (no BEGIN CERTIFICATE block)',
    ]);
    clusters['prod-west']!.caFile = pem;
    clusters['prod-east'] = { endpoint: 'http://127.0.0.1:19530', caFile: pem };
    writeFileSync(file, stringify(config));
    expect(checkConfig(file, {}).lines).toEqual([
      'clusters.prod-east.caFile: is set but the endpoint is not https://: the CA would never be used (use an https:// endpoint or remove caFile)',
    ]);
    delete clusters['prod-east']!.caFile;
    writeFileSync(file, stringify(config));
    expect(checkConfig(file, {}).ok).toBe(true);
  });

  it('warns (still ok) when the trigger tokens or webhook secrets are empty after ${VAR} expansion, naming the unset variables', () => {
    const file = join(dir, 'features.yaml');
    const config = { ...minimal(), http: { triggerTokens: ['${T1}', '${T2}'] }, leakAlerts: { webhookSecret: '${WEBHOOK}' } };
    writeFileSync(file, stringify(config));
    expect(checkConfig(file, {})).toMatchObject({
      ok: true,
      warnings: [
        'warning: http.triggerTokens: empty after ${VAR} expansion (unset: T1, T2): POST /v1/rotations refuses every request',
        'warning: leakAlerts.webhookSecret: empty after ${VAR} expansion (unset: WEBHOOK): POST /v1/leak-alerts refuses every alert',
      ],
    });
    expect(checkConfig(file, { T2: TOKEN, WEBHOOK: SECRET })).toMatchObject({ ok: true, warnings: [] });
  });
});

describe('config: docs/configuration.md', () => {
  /** Every key path the schema accepts, `<name>` standing for map keys. */
  function schemaKeys(schema: z.ZodType, prefix: string): string[] {
    if (schema instanceof z.ZodOptional || schema instanceof z.ZodDefault || schema instanceof z.ZodPrefault) {
      return schemaKeys(schema.def.innerType as z.ZodType, prefix);
    }
    if (schema instanceof z.ZodPipe) return schemaKeys(schema.def.out as z.ZodType, prefix);
    if (schema instanceof z.ZodObject) {
      return Object.entries(schema.shape as Record<string, z.ZodType>).flatMap(([key, child]) => {
        const path = prefix === '' ? key : `${prefix}.${key}`;
        const below = schemaKeys(child, path);
        return below.length === 0 ? [path] : below;
      });
    }
    if (schema instanceof z.ZodArray) {
      const below = schemaKeys(schema.def.element as z.ZodType, `${prefix}[]`);
      return below.length === 0 ? [] : below;
    }
    if (schema instanceof z.ZodUnion) {
      return [...new Set((schema.def.options as z.ZodType[]).flatMap((option) => schemaKeys(option, prefix)))];
    }
    if (schema instanceof z.ZodRecord) {
      const placeholder = prefix === 'clusters' ? '<name>' : '<id>';
      return schemaKeys(schema.def.valueType as z.ZodType, `${prefix}.${placeholder}`);
    }
    return [];
  }

  it('documents exactly the keys of the schema, with the defaults of DEFAULTS', () => {
    const docs = readFileSync('docs/configuration.md', 'utf8');
    const documented = [...docs.matchAll(/^\| `([A-Za-z][^`]*)` \|/gm)].map((match) => match[1]);
    expect(documented.sort()).toEqual(schemaKeys(configFileSchema, '').sort());
    const row = (key: string): string => docs.split('\n').find((line) => line.startsWith(`| \`${key}\` |`)) ?? '';
    expect(row('redis.url')).toContain(`| \`${DEFAULTS.redis.url}\` |`);
    expect(row('redis.prefix')).toContain(`| \`${DEFAULTS.redis.prefix}\` |`);
    expect(row('redis.mode')).toContain(`| \`${DEFAULTS.redis.mode}\` |`);
    expect(row('aws.maxAttempts')).toContain(`| \`${DEFAULTS.aws.maxAttempts}\` |`);
    expect(row('aws.writesPerSecond')).toContain(`| \`${DEFAULTS.aws.writesPerSecond}\` |`);
    expect(row('defaults.schedule')).toContain(`| \`${DEFAULTS.defaults.schedule}\` |`);
    expect(row('defaults.timezone')).toContain(`| \`${DEFAULTS.defaults.timezone}\` |`);
    expect(row('defaults.password.length')).toContain(`| \`${DEFAULTS.defaults.password.length}\` |`);
    expect(row('defaults.password.symbols')).toContain(`| \`${DEFAULTS.defaults.password.symbols}\` |`);
    expect(row('clusters.<name>.timeoutMs')).toContain(`| \`${DEFAULTS.cluster.timeoutMs}\` |`);
    expect(row('http.port')).toContain(`| \`${DEFAULTS.http.port}\` |`);
    expect(row('http.host')).toContain(`| \`${DEFAULTS.http.host}\` |`);
    expect(row('leakAlerts.toleranceSeconds')).toContain(`| \`${DEFAULTS.leakAlerts.toleranceSeconds}\` |`);
  });
});
