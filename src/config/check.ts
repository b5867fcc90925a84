/**
 * `config check --config FILE`: validates a file without connecting to anything. The CLI prints
 * `lines` and exits 0 when `ok`, else 2 (DESIGN section 7).
 */
import { ConfigError, formatIssue } from './errors.ts';
import { DEFAULTS } from './schema.ts';
import type { Config } from './types.ts';
import type { Env } from './expand-env.ts';
import { loadConfig } from './load.ts';
import { SCHEDULE_OFF } from './schedule.ts';

export interface CheckResult {
  ok: boolean;
  /** One summary line when ok, then one `warning: key.path: reason` line per warning; one line per issue (`key.path: reason`) when not. */
  lines: string[];
}

/** Settings that are valid but weaken a protection: the file is accepted, each is named. */
export function configWarnings(config: Config): string[] {
  const warnings: string[] = [];
  if (config.rotation.minIntervalMs < DEFAULTS.rotation.minIntervalMs) {
    warnings.push(
      `warning: rotation.minIntervalMs: ${config.rotation.minIntervalMs} ms is below the default ${DEFAULTS.rotation.minIntervalMs}: more than one rotation per 10 minutes per secret outruns Secrets Manager's version pruning`,
    );
  }
  for (const cluster of Object.values(config.clusters)) {
    if (cluster.allowInsecureHttp && cluster.endpoint.startsWith('http:')) {
      warnings.push(`warning: clusters.${cluster.name}.allowInsecureHttp: passwords travel in clear to ${new URL(cluster.endpoint).host}`);
    }
  }
  return warnings;
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
        ...configWarnings(config),
      ],
    };
  } catch (error) {
    if (error instanceof ConfigError) {
      return { ok: false, lines: error.issues.map((issue) => (issue.path === '' ? `${path}: ${issue.message}` : formatIssue(issue))) };
    }
    throw error;
  }
}

function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? '' : 's'}`;
}
