import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import type { Config } from '../../src/config/types.ts';

/** The YAML file (docs/design.md section 3 shape) that loads back into `config`. */
export function configToYaml(config: Config): string {
  const { webhookSecrets, ...leakAlerts } = config.leakAlerts;
  return stringify({
    redis: config.redis,
    aws: config.aws,
    defaults: config.defaults,
    clusters: Object.fromEntries(Object.values(config.clusters).map(({ name, ...rest }) => [name, rest])),
    credentials: Object.fromEntries(Object.values(config.credentials).map(({ id, ...rest }) => [id, rest])),
    http: config.http,
    worker: config.worker,
    rotation: config.rotation,
    leakAlerts: { ...leakAlerts, webhookSecrets },
    notifications: config.notifications,
  }, { aliasDuplicateObjects: false });
}

/** Writes `config` to a fresh temp dir and returns the file path. */
export function writeConfigFile(config: Config): string {
  const dir = mkdtempSync(join(tmpdir(), 'rotator-config-'));
  const path = join(dir, 'rotator.yaml');
  writeFileSync(path, configToYaml(config));
  return path;
}
