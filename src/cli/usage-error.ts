import { ERROR_CODE } from '../error-codes.ts';
import { RotatorError } from '../errors.ts';

/** A bad command line: exit 2 before any call. */
export class UsageError extends RotatorError {
  constructor(message: string) {
    super(ERROR_CODE.usage, message);
  }
}
