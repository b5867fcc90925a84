/**
 * `config check --config FILE`: validates a file without connecting to anything. The CLI prints
 * `lines` and exits 0 when `ok`, else 2 (DESIGN section 7).
 */
import { ConfigError, formatIssue } from './errors.ts';
import type { Env } from './expand-env.ts';
import { loadConfig } from './load.ts';
import { SCHEDULE_OFF } from './schedule.ts';
import { LIMITS } from './schema.ts';
import { STRATEGY, type Config } from './types.ts';

export interface CheckResult {
  ok: boolean;
  /** One summary line when ok; one line per issue (`key.path: reason`) when not. */
  lines: string[];
}

export function checkConfig(path: string, env: Env = process.env): CheckResult {
  try {
    const config = loadConfig(path, env);
    const credentials = Object.values(config.credentials);
    const scheduled = credentials.filter((credential) => credential.schedule !== SCHEDULE_OFF).length;
    const clusters = Object.keys(config.clusters).length;
    return {
      ok: true,
      lines: [
        `${path}: OK: ${plural(credentials.length, 'credential')} (${scheduled} scheduled), ${plural(clusters, 'cluster')}`,
        ...warnings(config),
      ],
    };
  } catch (error) {
    if (error instanceof ConfigError) {
      return { ok: false, lines: error.issues.map((issue) => (issue.path === '' ? `${path}: ${issue.message}` : formatIssue(issue))) };
    }
    throw error;
  }
}

/**
 * Accepted but risky settings, one `warning:` line each (the file still passes):
 * 1. an alternating credential's graceMs below an hour: consumers caching the secret for the
 *    default hour of AWS's caching clients may still hold the user a rotation changes.
 */
function warnings(config: Config): string[] {
  const lines: string[] = [];
  for (const credential of Object.values(config.credentials)) {
    if (credential.strategy === STRATEGY.alternating && credential.graceMs < LIMITS.graceWarnBelowMs) {
      lines.push(
        `warning: credentials.${credential.id}.graceMs: ${credential.graceMs} ms is under 1 h; consumers that cache the secret for an hour may still hold the user a rotation changes`,
      );
    }
  }
  return lines;
}

function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? '' : 's'}`;
}
