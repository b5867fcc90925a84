import { RotatorError } from '../errors.ts';

/** The error codes of the rotation layer (one namespace: ROTATOR_*). */
export const ROTATION_ERROR_CODE = {
  /** This process no longer owns the credential's lock. */
  leaseLost: 'ROTATOR_LEASE_LOST',
  /** The credential names a strategy this engine has no implementation of. */
  strategyUnavailable: 'ROTATOR_STRATEGY_UNAVAILABLE',
} as const;
export type RotationErrorCode = (typeof ROTATION_ERROR_CODE)[keyof typeof ROTATION_ERROR_CODE];

/**
 * Thrown by a fence when this process no longer owns the credential's lock. The engine lets it
 * through untouched and does nothing more: the new owner resumes the rotation (DESIGN section 6).
 */
export class LeaseLostError extends RotatorError {
  constructor(credential: string, options?: ErrorOptions) {
    super(ROTATION_ERROR_CODE.leaseLost, `lost the lock on credential "${credential}"; another worker owns it now`, options);
  }
}

/** A credential asks for a strategy the engine was not given (a programming or deployment error). */
export class StrategyUnavailableError extends RotatorError {
  constructor(credential: string, strategy: string) {
    super(ROTATION_ERROR_CODE.strategyUnavailable, `credential "${credential}" uses strategy "${strategy}", which this engine does not have`);
  }
}
