import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { RotationResult } from '../rotation/types.ts';

/**
 * Every metric milvus-rotator exports, in one place: dashboards, PrometheusRule alerts and tests
 * reference these names. Labels never carry a password or a version value, only ids and codes.
 */
export const METRIC = {
  rotations: 'milvus_rotator_rotations_total',
  rotationDuration: 'milvus_rotator_rotation_duration_seconds',
  credentialAge: 'milvus_rotator_credential_age_seconds',
  credentialMaxAge: 'milvus_rotator_credential_max_age_seconds',
  needsAttention: 'milvus_rotator_needs_attention',
  pendingAge: 'milvus_rotator_pending_version_age_seconds',
  lastRotation: 'milvus_rotator_last_rotation_timestamp_seconds',
  scheduleTicks: 'milvus_rotator_schedule_ticks_total',
  schedulerNextRun: 'milvus_rotator_scheduler_next_run_timestamp_seconds',
  leakAlerts: 'milvus_rotator_leak_alerts_total',
  leakRevocation: 'milvus_rotator_leak_revocation_seconds',
  queueJobs: 'milvus_rotator_queue_jobs',
  lockContention: 'milvus_rotator_lock_contention_total',
  secretsManagerCalls: 'milvus_rotator_secrets_manager_calls_total',
} as const;

export class RotatorMetrics {
  readonly registry: Registry;
  readonly rotations: Counter<'outcome' | 'reason' | 'mode'>;
  readonly rotationDuration: Histogram<'outcome' | 'mode'>;
  readonly credentialAge: Gauge<'credential'>;
  readonly credentialMaxAge: Gauge<'credential'>;
  readonly needsAttention: Gauge<'credential'>;
  readonly pendingAge: Gauge<'credential'>;
  readonly lastRotation: Gauge<'credential'>;
  readonly scheduleTicks: Counter<'credential'>;
  readonly schedulerNextRun: Gauge<'scheduler'>;
  readonly leakAlerts: Counter<'source' | 'result'>;
  readonly leakRevocation: Histogram<'source'>;
  readonly queueJobs: Gauge<'queue' | 'state'>;
  readonly lockContention: Counter<'credential'>;
  readonly secretsManagerCalls: Counter<'operation' | 'result'>;

  constructor(options: { defaultMetrics?: boolean } = {}) {
    this.registry = new Registry();
    if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: this.registry, prefix: 'milvus_rotator_' });
    const registers = [this.registry];
    this.rotations = new Counter({ name: METRIC.rotations, help: 'Rotations ended, by outcome, reason code and mode.', labelNames: ['outcome', 'reason', 'mode'], registers });
    this.rotationDuration = new Histogram({
      name: METRIC.rotationDuration,
      help: 'Duration of a rotation from load to outcome.',
      labelNames: ['outcome', 'mode'],
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
      registers,
    });
    this.credentialAge = new Gauge({ name: METRIC.credentialAge, help: 'Age of the AWSCURRENT version of each credential.', labelNames: ['credential'], registers });
    this.credentialMaxAge = new Gauge({ name: METRIC.credentialMaxAge, help: 'The longest a credential may go unrotated (its schedule period plus slack).', labelNames: ['credential'], registers });
    this.needsAttention = new Gauge({ name: METRIC.needsAttention, help: '1 while the last rotation or reconcile of a credential says a human must look.', labelNames: ['credential'], registers });
    this.pendingAge = new Gauge({ name: METRIC.pendingAge, help: 'Age of an AWSPENDING version other than AWSCURRENT (0 when none).', labelNames: ['credential'], registers });
    this.lastRotation = new Gauge({ name: METRIC.lastRotation, help: 'Unix time of the last rotated outcome.', labelNames: ['credential'], registers });
    this.scheduleTicks = new Counter({ name: METRIC.scheduleTicks, help: 'Schedule ticks processed (each enqueues a scheduled rotation).', labelNames: ['credential'], registers });
    this.schedulerNextRun = new Gauge({ name: METRIC.schedulerNextRun, help: 'Unix time a job scheduler will next produce a job (a value in the past means it is silent).', labelNames: ['scheduler'], registers });
    this.leakAlerts = new Counter({ name: METRIC.leakAlerts, help: 'Leak alerts received, by source and result.', labelNames: ['source', 'result'], registers });
    this.leakRevocation = new Histogram({
      name: METRIC.leakRevocation,
      help: 'Seconds from receiving a leak alert to the leaked password rejected on every cluster.',
      labelNames: ['source'],
      buckets: [0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300],
      registers,
    });
    this.queueJobs = new Gauge({ name: METRIC.queueJobs, help: 'Jobs in the queue by state.', labelNames: ['queue', 'state'], registers });
    this.lockContention = new Counter({ name: METRIC.lockContention, help: 'Rotation jobs delayed because another holder had the credential lock.', labelNames: ['credential'], registers });
    this.secretsManagerCalls = new Counter({ name: METRIC.secretsManagerCalls, help: 'Secrets Manager calls by operation and result (ok or an error code).', labelNames: ['operation', 'result'], registers });
  }

  /** Records an outcome: counters, duration, needs-attention and last-rotation gauges. */
  observeRotation(result: RotationResult, now: number = Date.now()): void {
    this.rotations.inc({ outcome: result.outcome, reason: result.reason, mode: result.mode });
    this.rotationDuration.observe({ outcome: result.outcome, mode: result.mode }, result.durationMs / 1000);
    this.needsAttention.set({ credential: result.credential }, result.outcome === 'needs_attention' ? 1 : 0);
    if (result.outcome === 'rotated') {
      this.lastRotation.set({ credential: result.credential }, Math.floor(now / 1000));
      this.credentialAge.set({ credential: result.credential }, 0);
      this.pendingAge.set({ credential: result.credential }, 0);
    }
  }
}
