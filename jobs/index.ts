import type { Job } from 'bullmq';
import type { RedisClient } from '../src/queue/redis-client.ts';
import type { Logger } from 'pino';
import type { Config } from '../src/config/types.ts';
import type { RotatorMetrics } from '../src/observability/metrics.ts';
import { JOB } from '../src/queue/names.ts';
import type { RotationQueue } from '../src/queue/rotation-queue.ts';
import { WriteGate } from '../src/queue/write-gate.ts';
import type { CredentialStateStore } from '../src/queue/credential-state.ts';
import type { Notifier } from '../src/notifications/notifier.ts';
import type { EngineRuntime } from '../src/rotation/create-engine.ts';
import { processReconcile } from './reconcile.ts';
import { createRotateProcessor } from './rotate.ts';
import { processScheduleTick } from './schedule-tick.ts';

export interface ProcessorDeps {
  config: Config;
  runtime: EngineRuntime;
  redis: RedisClient;
  rotations: RotationQueue;
  metrics: RotatorMetrics;
  credentialState: CredentialStateStore;
  logger: Logger;
  workerId: string;
  notifier?: Notifier;
}

/** The processors of both queues, wired to their dependencies. */
export function createProcessors(deps: ProcessorDeps): { rotate: (job: Job, token?: string) => Promise<unknown>; control: (job: Job) => Promise<unknown> } {
  const rotate = createRotateProcessor({
    config: deps.config,
    runtime: deps.runtime,
    redis: deps.redis,
    prefix: deps.config.redis.prefix,
    leakFlags: deps.rotations.leakFlags,
    credentialState: deps.credentialState,
    writeGate: new WriteGate(deps.redis, deps.config.redis.prefix, deps.config.aws.writesPerSecond),
    metrics: deps.metrics,
    logger: deps.logger,
    workerId: deps.workerId,
    ...(deps.notifier && { notifier: deps.notifier }),
    pendingOwner: (versionId) => deps.rotations.rotationOwner(versionId),
  });
  const control = async (job: Job): Promise<unknown> => {
    switch (job.name) {
      case JOB.scheduleTick:
        return processScheduleTick(job, deps);
      case JOB.reconcile:
        return processReconcile(deps);
      default:
        throw new Error(`unknown control job "${job.name}"`);
    }
  };
  return { rotate, control };
}
