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
import type { ReconcileState } from '../src/queue/reconcile-state.ts';
import type { SecretVersionsFeed } from '../src/queue/secret-versions.ts';
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
  reconcileState: ReconcileState;
  feed: SecretVersionsFeed;
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
  const rotateAndPublish = async (job: Job, token?: string): Promise<unknown> => {
    const credentialId = typeof job.data === 'object' && job.data !== null && typeof job.data.credentialId === 'string' ? job.data.credentialId : null;
    const credential = credentialId === null ? undefined : deps.config.credentials[credentialId];
    // Reconcile looks for a stale pending version of this credential once a lease has passed, unless the rotation is seen to finish.
    if (credential) await deps.reconcileState.markRotation(credential.id, Date.now());
    const result = await rotate(job, token);
    if (credential) {
      // Rotated: nothing pending is left. Anything else ended the job: the next reconcile pass looks (a pending version may remain).
      if (result.outcome === 'rotated') await deps.reconcileState.clearRotation(credential.id).catch(() => {});
      else await deps.reconcileState.markRotation(credential.id, Date.now() - deps.config.rotation.pendingLeaseMs).catch(() => {});
      // The fleet's fingerprint indexes learn the new labels from here (one DescribeSecret per rotation) and read only the
      // new version. Not awaited: the job's slot is free for the next rotation at once (the write quota is the bottleneck).
      void deps.runtime.store
        .describe(credential.secretId)
        .then((description) => deps.feed.publish(credential.id, description.versions))
        .catch((err: Error) => deps.logger.warn({ credential: credential.id, err: { message: err.message } }, 'could not publish the rotated version labels'));
    }
    return result;
  };
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
  return { rotate: rotateAndPublish, control };
}
