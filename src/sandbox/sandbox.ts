import { usernamesOf, type Config, type ClusterConfig } from '../config/types.ts';
import { generatePassword } from '../password/generate.ts';
import { MilvusSimulator } from './milvus-simulator.ts';
import { SecretsManagerEmulator } from './secrets-emulator.ts';

export interface SandboxOptions {
  /** Port of the Secrets Manager emulator; 0 (default) picks a free one. */
  secretsPort?: number;
  /**
   * `config`: each simulator listens on the port of its cluster's endpoint (which must be on
   * loopback), so the config works unchanged. `free` (default): free ports, and the returned
   * config's endpoints are rewritten to them.
   */
  clusterPorts?: 'config' | 'free';
  /** Latency added to every request of both services (benchmarks). */
  latencyMs?: number;
  /** Secrets Manager write quota (PutSecretValue + UpdateSecretVersionStage per second). */
  writeLimitPerSecond?: number;
  /** The emulator's source of randomness for random faults (never for passwords). */
  secretsRandom?: () => number;
  /** Versions one secret may hold (the emulator's version quota). @defaultValue the emulator's */
  versionQuota?: number;
  /** Each simulator's source of randomness for random faults (never for passwords), by cluster name. */
  milvusRandom?: (cluster: string) => () => number;
  /** The emulator's clock (epoch ms): its CreatedDate and LastChangedDate, its write quota. @defaultValue Date.now */
  secretsNow?: () => number;
}

/** A running sandbox: one Milvus simulator per configured cluster and one Secrets Manager emulator. */
export interface Sandbox<C extends Config = Config> {
  emulator: SecretsManagerEmulator;
  clusters: ReadonlyMap<string, MilvusSimulator>;
  /** The config, with cluster endpoints pointing at the simulators. */
  config: C;
  /** What a process needs in its environment to reach the emulator with the real AWS SDK. */
  env: Record<string, string>;
  close: () => Promise<void>;
}

/**
 * Starts the sandbox for a config and seeds it: every credential gets a fresh policy-conforming
 * password, set for its user on each of its clusters and stored as the secret's AWSCURRENT
 * (`{"username", "password"}`); an alternating credential's second user gets its own, stored
 * under AWSPREVIOUS. Each simulator also has a `root` user with its own random password.
 */
export async function startSandbox<C extends Config>(config: C, options: SandboxOptions = {}): Promise<Sandbox<C>> {
  const latencyMs = options.latencyMs ?? 0;
  const emulator = await SecretsManagerEmulator.start({
    port: options.secretsPort ?? 0,
    latencyMs,
    ...(options.writeLimitPerSecond ? { writeLimitPerSecond: options.writeLimitPerSecond } : {}),
    ...(options.secretsRandom ? { random: options.secretsRandom } : {}),
    ...(options.versionQuota !== undefined ? { versionQuota: options.versionQuota } : {}),
    ...(options.secretsNow ? { now: options.secretsNow } : {}),
  });
  const simulators = new Map<string, MilvusSimulator>();
  const clusters: Record<string, ClusterConfig> = {};
  try {
    for (const cluster of Object.values(config.clusters)) {
      const port = options.clusterPorts === 'config' ? loopbackPort(cluster) : 0;
      const simulator = await MilvusSimulator.start({
        port,
        latencyMs,
        users: { root: generatePassword(config.defaults.password) },
        ...(options.milvusRandom ? { random: options.milvusRandom(cluster.name) } : {}),
      });
      simulators.set(cluster.name, simulator);
      clusters[cluster.name] = { ...cluster, endpoint: simulator.url };
    }
    for (const credential of Object.values(config.credentials)) {
      // Single: the user under AWSCURRENT. Alternating: the first user under AWSCURRENT and the
      // second under AWSPREVIOUS (an onboarded credential), both holding the same roles (none).
      const [current, ...others] = [...usernamesOf(credential)].map((username) => ({ username, password: generatePassword(credential.password) }));
      if (!current) throw new Error(`credential ${credential.id} has no user`);
      for (const user of [current, ...others]) {
        for (const name of credential.clusters) simulators.get(name)?.setPassword(user.username, user.password);
      }
      const [previous] = others;
      if (previous) {
        emulator.seedSecret(credential.secretId, JSON.stringify(previous));
        emulator.seedVersion(credential.secretId, JSON.stringify(current));
      } else emulator.seedSecret(credential.secretId, JSON.stringify(current));
    }
  } catch (err) {
    await Promise.all([emulator.close(), ...[...simulators.values()].map((s) => s.close())]);
    throw err;
  }
  const env = {
    AWS_ENDPOINT_URL_SECRETS_MANAGER: emulator.url,
    AWS_REGION: config.aws.region ?? 'us-east-1',
    AWS_ACCESS_KEY_ID: 'sandbox',
    AWS_SECRET_ACCESS_KEY: 'sandbox',
  };
  return {
    emulator,
    clusters: simulators,
    config: Object.freeze({ ...config, clusters: Object.freeze(clusters) }),
    env,
    close: async () => {
      await Promise.all([emulator.close(), ...[...simulators.values()].map((s) => s.close())]);
    },
  };
}

function loopbackPort(cluster: ClusterConfig): number {
  const url = new URL(cluster.endpoint);
  if (!['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname) || url.protocol !== 'http:') {
    throw new Error(`clusters.${cluster.name}.endpoint: the sandbox serves only http://127.0.0.1:<port> endpoints (got ${cluster.endpoint})`);
  }
  return Number(url.port || 80);
}
