import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import pino from 'pino';
import type { Config, SingleCredentialConfig } from '../../src/config/types.ts';
import { logRotationEvents } from '../../src/observability/rotation-log.ts';
import { createEngineRuntime, type EngineRuntime } from '../../src/rotation/create-engine.ts';
import type { EngineDeps } from '../../src/rotation/engine.ts';
import type { Mode, RotationEvent, RotationResult } from '../../src/rotation/types.ts';
import { startSandbox, type Sandbox } from '../../src/sandbox/sandbox.ts';
import { makeConfig, type CredentialSpec } from './config.ts';

/** Tuning that keeps retries real but fast. */
export const FAST_TUNING = { retryDelayMs: 5, verifyDelayMs: 10, verifyAttempts: 3 } as const;

export interface RotationFixture {
  sandbox: Sandbox;
  config: Config;
  credential: SingleCredentialConfig;
  events: RotationEvent[];
  /** Every log line written by every engine of this fixture. */
  logs: string[];
  /** Every result returned by `rotate`. */
  results: RotationResult[];
  /** A fresh engine over fresh clients: nothing shared with another engine but the sandbox. */
  engine: (extra?: Pick<EngineDeps, 'fence' | 'tuning'>) => EngineRuntime;
  rotate: (options?: { mode?: Mode; rotationId?: string; recover?: boolean; runtime?: EngineRuntime }) => Promise<RotationResult>;
  close: () => Promise<void>;
}

/** A sandbox with the given clusters and one credential, plus engines that log into `logs`. */
export async function startRotationFixture(options: {
  clusters?: string[];
  credential?: Partial<CredentialSpec>;
  latencyMs?: number;
}): Promise<RotationFixture> {
  const clusters = options.clusters ?? ['west'];
  const spec: CredentialSpec = { id: 'app-reader', username: 'app_reader', clusters, ...options.credential };
  const sandbox = await startSandbox(makeConfig(clusters, [spec]), { latencyMs: options.latencyMs ?? 0 });
  Object.assign(process.env, sandbox.env);
  const credential = sandbox.config.credentials[spec.id] as SingleCredentialConfig;
  const events: RotationEvent[] = [];
  const logs: string[] = [];
  const results: RotationResult[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      logs.push(chunk.toString());
      callback();
    },
  });
  const logger = pino({ level: 'debug' }, sink);
  const onLog = logRotationEvents(logger);
  const runtimes: EngineRuntime[] = [];
  const engine = (extra: Pick<EngineDeps, 'fence' | 'tuning'> = {}): EngineRuntime => {
    const runtime = createEngineRuntime(sandbox.config, {
      ...extra,
      tuning: { ...FAST_TUNING, ...extra.tuning },
      onEvent: (event) => {
        events.push(event);
        onLog(event);
      },
    });
    runtimes.push(runtime);
    return runtime;
  };
  const rotate: RotationFixture['rotate'] = async (opts = {}) => {
    const runtime = opts.runtime ?? engine();
    const result = await runtime.engine.rotate({
      credential,
      mode: opts.mode ?? 'manual',
      rotationId: opts.rotationId ?? randomUUID(),
      ...(opts.recover ? { recover: true } : {}),
    });
    results.push(result);
    return result;
  };
  return {
    sandbox,
    config: sandbox.config,
    credential,
    events,
    logs,
    results,
    engine,
    rotate,
    close: async () => {
      for (const runtime of runtimes) runtime.close();
      await sandbox.close();
    },
  };
}
