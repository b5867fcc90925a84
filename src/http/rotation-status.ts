/**
 * `GET /v1/rotations/:jobId`: a rotation job as the API shows it. Read from BullMQ (job data,
 * progress, return value), each part checked with a schema because it comes from Redis and may
 * have been written by another version of the worker. Only ids, states and timings are taken;
 * whatever else a job holds stays in Redis (and the route's response schema drops it anyway).
 */
import { Job, type Queue } from 'bullmq';
import { z } from 'zod';
import { JOB } from '../queue/names.ts';

/** The leak alerts a rotation answered (jobs/rotate.ts LeakAnswer). */
export interface RotationLeakView {
  alertIds: string[];
  /** Every alert answered (alertIds holds the last ones only); absent in results of older workers. */
  alertCount?: number;
  sources: string[];
  firstReceivedAt: number;
  revokedAt: number | null;
  receiptToRevokedMs: number | null;
}

export interface RotationStatus {
  jobId: string;
  credential: string;
  /** BullMQ's state: waiting, prioritized, delayed, active, completed, failed, ... */
  state: string;
  /** The protocol step the job last reported (load, write_ahead, set, verify, finish, roll_back). */
  step: string | null;
  /** rotated, rolled_back, failed, needs_attention; null until the job completed. */
  outcome: string | null;
  reason: string | null;
  /** Cluster name -> state: the final states once completed, the last reported one while active. */
  clusters: Record<string, string>;
  versionId: string | null;
  durationMs: number | null;
  leak?: RotationLeakView;
  /** Alternating credentials, once completed: which user is AWSCURRENT and AWSPREVIOUS, turns, roles aligned, when a refused rotation becomes possible, when the grace ends. */
  alternating?: RotationAlternatingView;
}

/** The alternating part of a result (src/rotation/types.ts AlternatingSummary), user names and role names only. */
export interface RotationAlternatingView {
  currentUser: string;
  previousUser: string | null;
  turns: number;
  onboarded?: boolean;
  rolesAligned?: { user: string; granted: string[]; revoked: string[] };
  notBefore?: string;
  /** When the grace of the retired user ends (a promotion's instant + graceMs, or notBefore of a refusal). */
  graceEndsAt?: string;
}

/** Reads one rotation job; null when no rotation job has this id. */
export type RotationStatusReader = (jobId: string) => Promise<RotationStatus | null>;

const shortText = z.string().max(256);

const dataSchema = z.object({ credentialId: shortText });

const progressSchema = z.object({
  step: shortText.optional(),
  cluster: shortText.optional(),
  state: shortText.optional(),
});

const leakSchema = z.object({
  alertIds: z.array(shortText).max(1_000),
  alertCount: z.number().int().nonnegative().optional(),
  sources: z.array(shortText).max(1_000),
  firstReceivedAt: z.number(),
  revokedAt: z.number().nullable(),
  receiptToRevokedMs: z.number().nullable(),
});

const alternatingSchema = z.object({
  currentUser: shortText,
  previousUser: shortText.nullable(),
  turns: z.number().int(),
  onboarded: z.boolean().optional(),
  rolesAligned: z.object({ user: shortText, granted: z.array(shortText), revoked: z.array(shortText) }).optional(),
  notBefore: shortText.optional(),
  graceEndsAt: shortText.optional(),
});

const resultSchema = z.object({
  outcome: shortText,
  reason: shortText,
  versionId: shortText.nullable(),
  clusters: z.record(shortText, shortText),
  durationMs: z.number(),
  leak: leakSchema.optional(),
  alternating: alternatingSchema.optional(),
});

/** The reader over the rotations queue. */
export function createRotationStatusReader(queue: Queue): RotationStatusReader {
  return async (jobId) => {
    // The state first, then the job: read the other way round, a job that completes in between
    // shows `completed` without its return value.
    const state = await queue.getJobState(jobId);
    const job = await Job.fromId(queue, jobId);
    if (job === undefined || job.name !== JOB.rotate) return null;
    const data = dataSchema.safeParse(job.data);
    if (!data.success) return null;
    return rotationStatusOf(String(job.id ?? jobId), data.data.credentialId, state, job.progress, job.returnvalue);
  };
}

/** Builds the view from a job's parts (exported for tests). Unreadable parts become nulls. */
export function rotationStatusOf(jobId: string, credential: string, state: string, progress: unknown, returnValue: unknown): RotationStatus {
  const reported = progressSchema.safeParse(progress);
  const step = reported.success ? (reported.data.step ?? null) : null;
  const result = state === 'completed' ? resultSchema.safeParse(returnValue) : null;
  if (result?.success) {
    const { outcome, reason, versionId, clusters, durationMs, leak, alternating } = result.data;
    return { jobId, credential, state, step, outcome, reason, clusters, versionId, durationMs, ...(leak ? { leak } : {}), ...(alternating ? { alternating: viewOf(alternating) } : {}) };
  }
  const clusters: Record<string, string> = {};
  if (reported.success && reported.data.cluster !== undefined && reported.data.state !== undefined) {
    clusters[reported.data.cluster] = reported.data.state;
  }
  return { jobId, credential, state, step, outcome: null, reason: null, clusters, versionId: null, durationMs: null };
}

/** Only the documented keys, without the optional ones that are absent. */
function viewOf(a: z.infer<typeof alternatingSchema>): RotationAlternatingView {
  return {
    currentUser: a.currentUser,
    previousUser: a.previousUser,
    turns: a.turns,
    ...(a.onboarded !== undefined ? { onboarded: a.onboarded } : {}),
    ...(a.rolesAligned ? { rolesAligned: a.rolesAligned } : {}),
    ...(a.notBefore !== undefined ? { notBefore: a.notBefore } : {}),
    ...(a.graceEndsAt !== undefined ? { graceEndsAt: a.graceEndsAt } : {}),
  };
}
