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
  scheduleResyncs: 'milvus_rotator_schedule_resyncs_total',
  leakAlerts: 'milvus_rotator_leak_alerts_total',
  leakRevocation: 'milvus_rotator_leak_revocation_seconds',
  queueJobs: 'milvus_rotator_queue_jobs',
  lockContention: 'milvus_rotator_lock_contention_total',
  secretsManagerCalls: 'milvus_rotator_secrets_manager_calls_total',
  notifications: 'milvus_rotator_notifications_total',
  consumers: 'milvus_rotator_consumers',
  alternatingActiveUser: 'milvus_rotator_alternating_active_user',
  alternatingGraceEnd: 'milvus_rotator_alternating_grace_end_timestamp_seconds',
} as const;

/** Consumers that reported (by heartbeat) each version id, per credential. */
export type ConsumerVersionCounts = ReadonlyMap<string, ReadonlyMap<string, number>>;

/**
 * Label values come only from closed sets: a value taken from a request (an alert's `source`) is
 * kept only when it is one of these, else it is `other`, so 1,505 alerts with 1,505 made-up sources
 * make one series, not 1,505.
 */
export const LEAK_SOURCE_LABELS: ReadonlySet<string> = new Set(['generic', 'github', 'github_webhook', 'gitguardian', 'trufflehog', 'gitleaks', 'ggshield', 'manual', 'test']);
export const OTHER_LABEL = 'other';

/** The `source` label of a leak alert: its source when it is a known feed or scanner, else `other`. */
export function leakSourceLabel(source: string): string {
  return LEAK_SOURCE_LABELS.has(source) ? source : OTHER_LABEL;
}

/** A label value kept only when `allowed` has it, else `other`. */
export function closedLabel(value: string, allowed: ReadonlySet<string>): string {
  return allowed.has(value) ? value : OTHER_LABEL;
}

/** Fleet-wide per-credential facts (unix seconds, or 0/1), the same on every replica (see CredentialStateStore). */
export interface FleetFacts {
  needsAttention: ReadonlyMap<string, number>;
  currentSince: ReadonlyMap<string, number>;
  pendingSince: ReadonlyMap<string, number>;
  maxAgeSeconds: ReadonlyMap<string, number>;
  lastRotation: ReadonlyMap<string, number>;
  /** Alternating credentials: the user under AWSCURRENT, the other one, and when the other's grace ends (unix seconds, null: unknown). */
  alternating: ReadonlyMap<string, { activeUser: string; retiredUser: string; graceEndsAt: number | null }>;
}

export class RotatorMetrics {
  private fleetSource: (() => Promise<FleetFacts>) | null = null;
  private consumerSource: (() => Promise<ConsumerVersionCounts>) | null = null;

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
  readonly scheduleResyncs: Counter<'trigger'>;
  readonly leakAlerts: Counter<'source' | 'result'>;
  readonly leakRevocation: Histogram<'source'>;
  readonly queueJobs: Gauge<'queue' | 'state'>;
  readonly lockContention: Counter<'credential'>;
  readonly secretsManagerCalls: Counter<'operation' | 'result'>;
  readonly notifications: Counter<'format' | 'event' | 'result'>;
  readonly consumers: Gauge<'credential' | 'version_id'>;
  readonly alternatingActiveUser: Gauge<'credential' | 'username'>;
  readonly alternatingGraceEnd: Gauge<'credential'>;

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
    // prom-client collects every metric of a scrape at once: the per-credential gauges all await
    // one shared read of the fleet facts.
    const fleet = async (): Promise<void> => this.refreshFleetOnce();
    this.credentialAge = new Gauge({ name: METRIC.credentialAge, help: 'Age of the AWSCURRENT version of each credential.', labelNames: ['credential'], registers, collect: fleet });
    this.credentialMaxAge = new Gauge({ name: METRIC.credentialMaxAge, help: 'The longest a credential may go unrotated (its schedule period plus slack).', labelNames: ['credential'], registers, collect: fleet });
    this.needsAttention = new Gauge({ name: METRIC.needsAttention, help: '1 while the last rotation or reconcile of a credential says a human must look.', labelNames: ['credential'], registers, collect: fleet });
    this.pendingAge = new Gauge({ name: METRIC.pendingAge, help: 'Age of an AWSPENDING version other than AWSCURRENT (0 when none).', labelNames: ['credential'], registers, collect: fleet });
    this.lastRotation = new Gauge({ name: METRIC.lastRotation, help: 'Unix time of the last rotated outcome.', labelNames: ['credential'], registers, collect: fleet });
    // Alternating credentials. `username` takes only the two configured users of the credential.
    this.alternatingActiveUser = new Gauge({
      name: METRIC.alternatingActiveUser,
      help: 'Alternating credentials: 1 for the user under AWSCURRENT (the one consumers are given), 0 for the other (retired, still valid during its grace).',
      labelNames: ['credential', 'username'],
      registers,
      collect: fleet,
    });
    this.alternatingGraceEnd = new Gauge({
      name: METRIC.alternatingGraceEnd,
      help: 'Alternating credentials: unix time the grace of the retired user ends, from when a scheduled or manual rotation is allowed (in the past: allowed now).',
      labelNames: ['credential'],
      registers,
      collect: fleet,
    });
    this.scheduleTicks = new Counter({ name: METRIC.scheduleTicks, help: 'Schedule ticks processed (each enqueues a scheduled rotation).', labelNames: ['credential'], registers });
    this.schedulerNextRun = new Gauge({ name: METRIC.schedulerNextRun, help: 'Unix time a job scheduler will next produce a job (a value in the past means it is silent).', labelNames: ['scheduler'], registers });
    this.scheduleResyncs = new Counter({
      name: METRIC.scheduleResyncs,
      help: 'Job schedulers re-synced by a running worker because Redis no longer held what the config asks for (Redis lost its data), by what found it: interval or reconnect.',
      labelNames: ['trigger'],
      registers,
    });
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
    this.notifications = new Counter({
      name: METRIC.notifications,
      help: 'Notification deliveries by format, event and result (delivered, retried, failed, dropped).',
      labelNames: ['format', 'event', 'result'],
      registers,
    });
    const metrics = this;
    this.consumers = new Gauge({
      name: METRIC.consumers,
      help: 'Consumers (helpers with a heartbeat) that reported using each version of a credential in the last 90 s.',
      labelNames: ['credential', 'version_id'],
      registers,
      async collect() {
        await metrics.refreshConsumers();
      },
    });
  }

  /** Where the consumer gauge reads its counts when scraped (the helpers' heartbeats in Redis). */
  setConsumerSource(source: () => Promise<ConsumerVersionCounts>): void {
    this.consumerSource = source;
  }

  /** Sets the consumer gauge from the heartbeats; a failed read keeps the last values. */
  async refreshConsumers(): Promise<void> {
    if (!this.consumerSource) return;
    let counts: ConsumerVersionCounts;
    try {
      counts = await this.consumerSource();
    } catch {
      return;
    }
    this.consumers.reset();
    for (const [credential, versions] of counts) for (const [version_id, n] of versions) this.consumers.set({ credential, version_id }, n);
  }

  /** Records an outcome: counters and duration (the per-credential gauges come from the fleet facts). */
  observeRotation(result: RotationResult): void {
    this.rotations.inc({ outcome: result.outcome, reason: result.reason, mode: result.mode });
    this.rotationDuration.observe({ outcome: result.outcome, mode: result.mode }, result.durationMs / 1000);
  }

  /** Where the per-credential gauges read their values when scraped. */
  setFleetSource(source: () => Promise<FleetFacts>): void {
    this.fleetSource = source;
  }

  private fleetRead: Promise<void> | null = null;

  /** One read of the fleet facts shared by every gauge of a scrape. */
  private refreshFleetOnce(): Promise<void> {
    this.fleetRead ??= this.refreshFleet().finally(() => {
      this.fleetRead = null;
    });
    return this.fleetRead;
  }

  /** Sets the per-credential gauges from the fleet facts; a failed read keeps the last values. */
  async refreshFleet(nowMs: number = Date.now()): Promise<void> {
    if (!this.fleetSource) return;
    let facts: FleetFacts;
    try {
      facts = await this.fleetSource();
    } catch {
      return;
    }
    const now = nowMs / 1000;
    for (const gauge of [this.credentialAge, this.pendingAge, this.needsAttention, this.credentialMaxAge, this.lastRotation, this.alternatingActiveUser, this.alternatingGraceEnd]) gauge.reset();
    for (const [credential, since] of facts.currentSince) this.credentialAge.set({ credential }, Math.max(0, now - since));
    for (const [credential, since] of facts.pendingSince) this.pendingAge.set({ credential }, since > 0 ? Math.max(0, now - since) : 0);
    for (const [credential, flag] of facts.needsAttention) this.needsAttention.set({ credential }, flag);
    for (const [credential, seconds] of facts.maxAgeSeconds) this.credentialMaxAge.set({ credential }, seconds);
    for (const [credential, at] of facts.lastRotation) this.lastRotation.set({ credential }, at);
    for (const [credential, state] of facts.alternating) {
      this.alternatingActiveUser.set({ credential, username: state.activeUser }, 1);
      this.alternatingActiveUser.set({ credential, username: state.retiredUser }, 0);
      if (state.graceEndsAt !== null) this.alternatingGraceEnd.set({ credential }, state.graceEndsAt);
    }
  }
}
