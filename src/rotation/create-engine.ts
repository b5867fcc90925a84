import { readFileSync } from 'node:fs';
import { ConfigError } from '../config/errors.ts';
import type { Config } from '../config/types.ts';
import { MilvusRestClient } from '../milvus/client.ts';
import type { MilvusUserClient } from '../milvus/types.ts';
import { generatePassword } from '../password/generate.ts';
import { createSecretStore, type AwsSecretStore, type SecretStoreOptions } from '../secrets/store.ts';
import { createAlternatingStrategy } from './alternating-strategy.ts';
import { DEFAULT_STRATEGIES, RotationEngine, type EngineDeps } from './engine.ts';
import { STRATEGY } from './strategy.ts';

/** An engine wired to the real clients of a config, and the means to release them. */
export interface EngineRuntime {
  /** A pending version older than this is stale (config rotation.pendingLeaseMs). */
  pendingLeaseMs: number;
  engine: RotationEngine;
  /** Another engine over the same clients, with its own fence or listener (one per job). */
  engineFor: (extra: Pick<EngineDeps, 'onEvent' | 'fence' | 'tuning' | 'pendingOwner' | 'now'>) => RotationEngine;
  store: AwsSecretStore;
  /** A configured cluster's client: passwords and probes, users and roles. */
  cluster: (name: string) => MilvusUserClient;
  close: () => void;
}

/**
 * Builds the clients a config names (one keep-alive REST client per cluster, one Secrets Manager
 * client) and an engine over them. The composition root of the CLI, the worker and the demo.
 */
export function createEngineRuntime(
  config: Config,
  extra: Pick<EngineDeps, 'onEvent' | 'fence' | 'tuning' | 'pendingOwner' | 'now'> & { onSecretsCall?: SecretStoreOptions['onCall'] } = {},
): EngineRuntime {
  const clients = new Map<string, MilvusRestClient>();
  for (const cluster of Object.values(config.clusters)) {
    clients.set(
      cluster.name,
      new MilvusRestClient({
        name: cluster.name,
        endpoint: cluster.endpoint,
        timeoutMs: cluster.timeoutMs,
        ...(cluster.caFile ? { ca: readCaFile(cluster.name, cluster.caFile) } : {}),
      }),
    );
  }
  const cluster = (name: string): MilvusUserClient => {
    const client = clients.get(name);
    if (!client) throw new Error(`no client for cluster "${name}" (not in the config)`);
    return client;
  };
  const strategies = { ...DEFAULT_STRATEGIES, [STRATEGY.alternating]: createAlternatingStrategy(cluster) };
  const store = createSecretStore({
    ...(config.aws.region ? { region: config.aws.region } : {}),
    maxAttempts: config.aws.maxAttempts,
    ...(extra.onSecretsCall ? { onCall: extra.onSecretsCall } : {}),
  });
  const tuning = { pendingLeaseMs: config.rotation.pendingLeaseMs, ...extra.tuning };
  const engineFor = (more: Pick<EngineDeps, 'onEvent' | 'fence' | 'tuning' | 'pendingOwner' | 'now'>): RotationEngine =>
    new RotationEngine({ store, cluster, generatePassword, strategies, ...extra, ...more, tuning: { ...tuning, ...more.tuning } });
  return {
    pendingLeaseMs: config.rotation.pendingLeaseMs,
    engine: engineFor({}),
    engineFor,
    store,
    cluster,
    close: () => {
      for (const client of clients.values()) client.close();
      store.close();
    },
  };
}

/**
 * A cluster's CA file (not opened at config load). Unreadable, it is a config error (exit 2 before
 * any call), not an unexpected failure.
 */
function readCaFile(clusterName: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    const reason = error instanceof Error && 'code' in error && typeof error.code === 'string' ? error.code : 'unreadable';
    throw new ConfigError('config', [{ path: `clusters.${clusterName}.caFile`, message: `cannot read the CA file (${reason})` }], { cause: error });
  }
}
