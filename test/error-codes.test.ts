import { describe, expect, it } from 'vitest';
import { ERROR_CODE } from '../src/error-codes.ts';

/**
 * Error codes are a contract: scripts, the Secrets Manager call metric's `code` label, logs and
 * tests match these strings. This pins every released value, so a rename fails here first.
 */
describe('ERROR_CODE', () => {
  it('keeps every released code string unchanged', () => {
    expect(ERROR_CODE).toEqual({
      configInvalid: 'ROTATOR_CONFIG_INVALID',
      usage: 'ROTATOR_USAGE',
      passwordPolicyInvalid: 'ROTATOR_PASSWORD_POLICY_INVALID',
      githubKeysInvalid: 'ROTATOR_GITHUB_KEYS_INVALID',
      milvusClientOptionsInvalid: 'ROTATOR_MILVUS_CLIENT_OPTIONS_INVALID',
      passwordGenerationFailed: 'ROTATOR_PASSWORD_GENERATION_FAILED',
      leaseLost: 'ROTATOR_LEASE_LOST',
      strategyUnavailable: 'ROTATOR_STRATEGY_UNAVAILABLE',
      rotationCooldown: 'rotation_cooldown',
      schedulesSyncLockLost: 'ROTATOR_SCHEDULES_SYNC_LOCK_LOST',
      redisUnavailable: 'redis.unavailable',
      secretNotFound: 'SECRET_NOT_FOUND',
      secretVersionConflict: 'SECRET_VERSION_CONFLICT',
      secretInvalidParameter: 'SECRET_INVALID_PARAMETER',
      secretInvalidRequest: 'SECRET_INVALID_REQUEST',
      secretThrottled: 'SECRET_THROTTLED',
      secretLimitExceeded: 'SECRET_LIMIT_EXCEEDED',
      secretAccessDenied: 'SECRET_ACCESS_DENIED',
      secretKmsFailure: 'SECRET_KMS_FAILURE',
      secretServiceError: 'SECRET_SERVICE_ERROR',
      secretNotString: 'SECRET_NOT_STRING',
    });
  });

  it('gives each code to one meaning only', () => {
    const values = Object.values(ERROR_CODE);
    expect(new Set(values).size).toBe(values.length);
  });
});
