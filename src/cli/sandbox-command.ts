import type { Config } from '../config/types.ts';
import { startSandbox } from '../sandbox/sandbox.ts';
import { EXIT, type ExitCode } from '../rotation/exit-code.ts';
import { UsageError } from './usage-error.ts';

/**
 * `sandbox`: serves the Milvus simulator on each configured cluster's (loopback) port and the
 * Secrets Manager emulator, seeded from the config, until SIGINT or SIGTERM.
 */
export async function runSandbox(config: Config, options: { secretsPort?: string }, io: { out: (line: string) => void }): Promise<ExitCode> {
  const secretsPort = options.secretsPort === undefined ? 0 : Number(options.secretsPort);
  if (!Number.isInteger(secretsPort) || secretsPort < 0 || secretsPort > 65535) throw new UsageError(`--secrets-port must be a port number (got "${options.secretsPort}")`);
  // The simulators listen where the config says; anything but loopback http is a usage error (exit 2).
  for (const cluster of Object.values(config.clusters)) {
    const url = new URL(cluster.endpoint);
    if (url.protocol !== 'http:' || !['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname)) {
      throw new UsageError(`clusters.${cluster.name}.endpoint: the sandbox serves only http://127.0.0.1:<port> endpoints (got ${cluster.endpoint})`);
    }
  }
  const sandbox = await startSandbox(config, { secretsPort, clusterPorts: 'config' });
  io.out('# milvus-rotator sandbox is running. Point the rotator at it with:');
  for (const [key, value] of Object.entries(sandbox.env)) io.out(`export ${key}=${value}`);
  for (const [name, simulator] of sandbox.clusters) io.out(`# cluster ${name}: ${simulator.url}`);
  io.out(`# seeded ${Object.keys(config.credentials).length} credential(s): ${Object.values(config.credentials).map((c) => `${c.id} -> ${c.secretId}`).join(', ')}`);
  io.out('# Ctrl-C stops it.');
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await sandbox.close();
  return EXIT.ok;
}
