import { ERROR_CODE } from '../error-codes.ts';
import { RotatorError } from '../errors.ts';


/**
 * Thrown by a fence when this process no longer owns the credential's lock. The engine lets it
 * through untouched and does nothing more: the new owner resumes the rotation (docs/design.md section 6).
 */
export class LeaseLostError extends RotatorError {
  constructor(credential: string, options?: ErrorOptions) {
    super(ERROR_CODE.leaseLost, `lost the lock on credential "${credential}"; another worker owns it now`, options);
  }
}

/** A credential asks for a strategy the engine was not given (a programming or deployment error). */
export class StrategyUnavailableError extends RotatorError {
  constructor(credential: string, strategy: string) {
    super(ERROR_CODE.strategyUnavailable, `credential "${credential}" uses strategy "${strategy}", which this engine does not have`);
  }
}

/** Whether `err` is a lost lease (from the fence): it must go through untouched, never be reported as a failure. */
export function isLeaseLost(err: unknown): boolean {
  return err instanceof RotatorError && err.code === ERROR_CODE.leaseLost;
}
