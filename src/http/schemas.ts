/**
 * Every request and response schema of the HTTP API (docs/design.md section 7), in one place. Response
 * schemas are the disclosure guard: fastify serializes replies through them, so a property that a
 * schema does not name never reaches a client, whatever a handler puts in the object.
 */
import { NAME_PATTERN } from '../config/schema.ts';

/** `{"error": "...", "detail"?: "..."}`: every 4xx and 5xx reply. `detail` never quotes a request. */
export const errorBodySchema = {
  type: 'object',
  properties: {
    error: { type: 'string' },
    detail: { type: 'string' },
  },
  required: ['error'],
  additionalProperties: false,
} as const;

export interface ErrorBody {
  error: string;
  detail?: string;
}

/** The error replies of every route (4xx and 5xx bodies are `{error, detail?}`). */
export const ERROR_REPLY_SCHEMAS = { '4xx': errorBodySchema, '5xx': errorBodySchema } as const;
const errorReplies = ERROR_REPLY_SCHEMAS;

const credentialIdSchema = { type: 'string', pattern: NAME_PATTERN.source } as const;

/** Upper bound of a `credentials` list (a fleet is a few thousand credentials). */
export const MAX_CREDENTIALS_PER_TRIGGER = 10_000;

/** `POST /v1/rotations`: exactly one of `credential`, `credentials`, `all`. */
export const triggerBodySchema = {
  type: 'object',
  properties: {
    credential: credentialIdSchema,
    credentials: { type: 'array', items: credentialIdSchema, minItems: 1, maxItems: MAX_CREDENTIALS_PER_TRIGGER },
    all: { const: true },
  },
  additionalProperties: false,
  oneOf: [{ required: ['credential'] }, { required: ['credentials'] }, { required: ['all'] }],
} as const;

export type TriggerBody = { credential: string } | { credentials: string[] } | { all: true };

const queuedRotationSchema = {
  type: 'object',
  properties: { credential: { type: 'string' }, jobId: { type: 'string' } },
  required: ['credential', 'jobId'],
  additionalProperties: false,
} as const;

export interface QueuedRotation {
  credential: string;
  jobId: string;
}

/** A credential of a trigger request refused by `rotation.minIntervalMs`, and when it is possible again. */
export interface RefusedRotation {
  credential: string;
  reason: 'min_interval';
  /** ISO 8601. */
  retryAt: string;
}

const refusedRotationSchema = {
  type: 'object',
  properties: { credential: { type: 'string' }, reason: { type: 'string', enum: ['min_interval'] }, retryAt: { type: 'string' } },
  required: ['credential', 'reason', 'retryAt'],
  additionalProperties: false,
} as const;

export const triggerRouteSchema = {
  body: triggerBodySchema,
  response: {
    202: {
      type: 'object',
      properties: { rotations: { type: 'array', items: queuedRotationSchema }, refused: { type: 'array', items: refusedRotationSchema } },
      required: ['rotations'],
      additionalProperties: false,
    },
    ...errorReplies,
  },
} as const;

/**
 * Rotation job ids: the rotation id, a UUID (src/queue/rotation-queue.ts). Anything else is refused
 * before Redis is asked: BullMQ keeps its own keys beside the jobs' (`events`, `id`, `completed`,
 * `meta`...), and a job id naming one of them read the wrong key type (503).
 */
export const JOB_ID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

const leakAnswerSchema = {
  type: 'object',
  properties: {
    alertIds: { type: 'array', items: { type: 'string' } },
    alertCount: { type: 'integer' },
    sources: { type: 'array', items: { type: 'string' } },
    firstReceivedAt: { type: 'number' },
    revokedAt: { type: ['number', 'null'] },
    receiptToRevokedMs: { type: ['number', 'null'] },
  },
  required: ['alertIds', 'sources', 'firstReceivedAt', 'revokedAt', 'receiptToRevokedMs'],
  additionalProperties: false,
} as const;

export const rotationStatusRouteSchema = {
  params: {
    type: 'object',
    properties: { jobId: { type: 'string', pattern: JOB_ID_PATTERN.source } },
    required: ['jobId'],
    additionalProperties: false,
  },
  response: {
    200: {
      type: 'object',
      properties: {
        jobId: { type: 'string' },
        credential: { type: 'string' },
        state: { type: 'string' },
        step: { type: ['string', 'null'] },
        outcome: { type: ['string', 'null'] },
        reason: { type: ['string', 'null'] },
        clusters: { type: 'object', additionalProperties: { type: 'string' } },
        versionId: { type: ['string', 'null'] },
        durationMs: { type: ['number', 'null'] },
        leak: leakAnswerSchema,
        alternating: {
          type: 'object',
          properties: {
            currentUser: { type: 'string' },
            previousUser: { type: ['string', 'null'] },
            turns: { type: 'integer' },
            onboarded: { type: 'boolean' },
            rolesAligned: {
              type: 'object',
              properties: { user: { type: 'string' }, granted: { type: 'array', items: { type: 'string' } }, revoked: { type: 'array', items: { type: 'string' } } },
              required: ['user', 'granted', 'revoked'],
              additionalProperties: false,
            },
            notBefore: { type: 'string' },
            graceEndsAt: { type: 'string' },
          },
          required: ['currentUser', 'previousUser', 'turns'],
          additionalProperties: false,
        },
      },
      required: ['jobId', 'credential', 'state', 'step', 'outcome', 'reason', 'clusters', 'versionId', 'durationMs'],
      additionalProperties: false,
    },
    ...errorReplies,
  },
} as const;

/** `POST /v1/leak-alerts`: 202 with what was queued and how many credentials the alert named. */
export const healthRouteSchema = {
  response: {
    200: { type: 'object', properties: { status: { type: 'string' } }, required: ['status'], additionalProperties: false },
  },
} as const;

/**
 * Why `/readyz` answers 503, in its `reasons` (several may hold at once; empty when ready):
 * - `redis_unreachable`: Redis did not answer a PING within READINESS_REDIS_TIMEOUT_MS;
 * - `config_not_loaded`: the config is not loaded (a process that reloads it, while a reload failed);
 * - `schedules_not_synced`: the worker's first job scheduler sync has not succeeded yet;
 * - `shutting_down`: the worker received SIGTERM and is draining.
 */
export const READINESS_REASONS = ['redis_unreachable', 'config_not_loaded', 'schedules_not_synced', 'shutting_down'] as const;
export type ReadinessReason = (typeof READINESS_REASONS)[number];

const readinessBodySchema = {
  type: 'object',
  properties: {
    status: { type: 'string', enum: ['ready', 'not_ready'] },
    checks: {
      type: 'object',
      properties: { redis: { type: 'boolean' }, config: { type: 'boolean' } },
      required: ['redis', 'config'],
      additionalProperties: false,
    },
    reasons: { type: 'array', items: { type: 'string', enum: [...READINESS_REASONS] } },
  },
  required: ['status', 'checks', 'reasons'],
  additionalProperties: false,
} as const;

/** `GET /readyz`: 200 when every check passes, else 503, with the same body. */
export const readinessRouteSchema = {
  response: { 200: readinessBodySchema, 503: readinessBodySchema },
} as const;
