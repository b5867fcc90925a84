/**
 * `config check --config FILE`: validates a file without connecting to anything. The CLI prints
 * `lines` (stdout when `ok`, else stderr) and `warnings` (stderr) and exits 0 when `ok`, else 2
 * (docs/design.md section 7).
 *
 * Beyond what every command's load refuses, it opens what the commands open only later (each
 * cluster's `caFile`) and says which features the file leaves off: errors where nothing could
 * work, warnings where a feature is merely off.
 */
import { readFileSync } from 'node:fs';
import { ConfigError, formatIssue, type ConfigIssue } from './errors.ts';
import type { Env } from './expand-env.ts';
import { loadConfig } from './load.ts';
import { parseYaml } from './parse-yaml.ts';
import { SCHEDULE_OFF } from './schedule.ts';
import { DEFAULTS, LIMITS } from './schema.ts';
import { STRATEGY, type Config } from './types.ts';

export interface CheckResult {
  ok: boolean;
  /** One summary line when ok; one line per issue (`key.path: reason`) when not. */
  lines: string[];
  /** `warning: key.path: what is off`, one per feature the file leaves off. */
  warnings: string[];
}

/** Settings that are valid but weaken a protection: the file is accepted, each is named. */
export function protectionWarnings(config: Config): string[] {
  const warnings: string[] = [];
  if (config.rotation.minIntervalMs < DEFAULTS.rotation.minIntervalMs) {
    warnings.push(
      `rotation.minIntervalMs: ${config.rotation.minIntervalMs} ms is below the default ${DEFAULTS.rotation.minIntervalMs}: more than one rotation per 10 minutes per secret outruns Secrets Manager's version pruning`,
    );
  }
  for (const cluster of Object.values(config.clusters)) {
    if (cluster.allowInsecureHttp && cluster.endpoint.startsWith('http:')) {
      warnings.push(`clusters.${cluster.name}.allowInsecureHttp: passwords travel in clear to ${new URL(cluster.endpoint).host}`);
    }
  }
  return warnings;
}

export function checkConfig(path: string, env: Env = process.env): CheckResult {
  let config: Config;
  try {
    config = loadConfig(path, env);
  } catch (error) {
    if (error instanceof ConfigError) {
      return { ok: false, lines: error.issues.map((issue) => (issue.path === '' ? `${path}: ${issue.message}` : formatIssue(issue))), warnings: [] };
    }
    throw error;
  }
  const problems = caFileProblems(config);
  const warnings = [...featureWarnings(config, readRaw(path)), ...riskWarnings(config), ...protectionWarnings(config)].map((line) => `warning: ${line}`);
  if (problems.length > 0) return { ok: false, lines: problems.map(formatIssue), warnings };
  const credentials = Object.values(config.credentials);
  const scheduled = credentials.filter((credential) => credential.schedule !== SCHEDULE_OFF).length;
  const clusters = Object.keys(config.clusters).length;
  return {
    ok: true,
    lines: [`${path}: OK: ${plural(credentials.length, 'credential')} (${scheduled} scheduled), ${plural(clusters, 'cluster')}`],
    warnings,
  };
}

/** A caFile that cannot be read or is no PEM certificate, or one on an endpoint that is not https://. */
function caFileProblems(config: Config): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  for (const cluster of Object.values(config.clusters)) {
    if (cluster.caFile === undefined) continue;
    const path = `clusters.${cluster.name}.caFile`;
    if (!cluster.endpoint.startsWith('https:')) {
      issues.push({ path, message: 'is set but the endpoint is not https://: the CA would never be used (use an https:// endpoint or remove caFile)' });
      continue;
    }
    const problem = pemProblem(cluster.caFile);
    if (problem !== undefined) issues.push({ path, message: problem });
  }
  // redis.caFile with redis:// is refused at load; here only whether the file is usable.
  const redisProblem = config.redis.caFile === undefined ? undefined : pemProblem(config.redis.caFile);
  if (redisProblem !== undefined) issues.push({ path: 'redis.caFile', message: redisProblem });
  return issues;
}

/** Why a CA file is unusable (unreadable, or no PEM certificate in it), or undefined. */
function pemProblem(file: string): string | undefined {
  let pem: string;
  try {
    pem = readFileSync(file, 'utf8');
  } catch (error) {
    const reason = error instanceof Error && 'code' in error && typeof error.code === 'string' ? error.code : 'unreadable';
    return `cannot read the CA file (${reason})`;
  }
  return pem.includes('-----BEGIN CERTIFICATE-----') ? undefined : 'is not a PEM certificate (no BEGIN CERTIFICATE block)';
}

/** The file as written (before ${VAR} expansion), or null when it cannot be parsed (already validated). */
function readRaw(path: string): unknown {
  try {
    const parsed = parseYaml(readFileSync(path, 'utf8'));
    return parsed.ok ? parsed.value : null;
  } catch {
    return null;
  }
}

const REFERENCE = /\$\{([A-Za-z_][A-Za-z0-9_]*)/g;

/** The variables a raw value refers to, e.g. ["ROTATOR_TRIGGER_TOKEN"]. */
function referencesIn(value: unknown): string[] {
  const texts = Array.isArray(value) ? value : [value];
  return [...new Set(texts.filter((t): t is string => typeof t === 'string').flatMap((t) => [...t.matchAll(REFERENCE)].map((m) => m[1] as string)))];
}

function rawAt(raw: unknown, ...keys: string[]): unknown {
  let node = raw;
  for (const key of keys) node = typeof node === 'object' && node !== null ? (node as Record<string, unknown>)[key] : undefined;
  return node;
}

/** Why an empty list is empty: nothing written, or written and every entry expanded to nothing. */
function emptyBecause(written: unknown[]): string {
  const variables = [...new Set(written.flatMap(referencesIn))];
  if (written.every((w) => w === undefined || (Array.isArray(w) && w.length === 0))) return 'none configured';
  return variables.length > 0 ? `empty after \${VAR} expansion (unset: ${variables.join(', ')})` : 'empty';
}

/** Features off: the trigger API without tokens, the generic leak feed without a webhook secret. */
function featureWarnings(config: Config, raw: unknown): string[] {
  const warnings: string[] = [];
  if (config.http.triggerTokens.length === 0) {
    warnings.push(`http.triggerTokens: ${emptyBecause([rawAt(raw, 'http', 'triggerTokens')])}: POST /v1/rotations refuses every request`);
  }
  if (config.leakAlerts.webhookSecrets.length === 0) {
    const because = emptyBecause([rawAt(raw, 'leakAlerts', 'webhookSecret'), rawAt(raw, 'leakAlerts', 'webhookSecrets')]);
    warnings.push(`leakAlerts.webhookSecret: ${because}: POST /v1/leak-alerts refuses every alert`);
  }
  return warnings;
}

/**
 * Accepted but risky settings (the file still passes):
 * 1. an alternating credential's graceMs below an hour: consumers caching the secret for the
 *    default hour of AWS's caching clients may still hold the user a rotation changes.
 */
function riskWarnings(config: Config): string[] {
  const lines: string[] = [];
  for (const credential of Object.values(config.credentials)) {
    if (credential.strategy === STRATEGY.alternating && credential.graceMs < LIMITS.graceWarnBelowMs) {
      lines.push(
        `credentials.${credential.id}.graceMs: ${credential.graceMs} ms is under 1 h; consumers that cache the secret for an hour may still hold the user a rotation changes`,
      );
    }
  }
  return lines;
}

function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? '' : 's'}`;
}
