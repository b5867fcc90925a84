import { RotatorError } from '../errors.ts';

/**
 * Thrown by a fence when this process no longer owns the credential's lock. The engine lets it
 * through untouched and does nothing more: the new owner resumes the rotation (DESIGN section 6).
 */
export class LeaseLostError extends RotatorError {
  constructor(credential: string, options?: ErrorOptions) {
    super('ROTATOR_LEASE_LOST', `lost the lock on credential "${credential}"; another worker owns it now`, options);
  }
}
