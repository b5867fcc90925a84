import { ERROR_CODE } from '../error-codes.ts';
import { RotatorError } from '../errors.ts';

/**
 * The GitHub secret-scanning keys file (config `leakAlerts.githubKeysFile`) cannot be used. Raised
 * at startup, never per request: a worker that cannot verify GitHub alerts should say so before it
 * serves, not answer every delivery with 401 (a configuration problem: exit code 2). Messages name the file and the key identifier (public
 * values), never the key material.
 */
export class GithubKeysError extends RotatorError {
  /** The file as given to the loader. */
  readonly source: string;

  constructor(source: string, reason: string, options?: ErrorOptions) {
    super(ERROR_CODE.githubKeysInvalid, `${source}: unusable GitHub public keys file: ${reason}`, options);
    this.source = source;
  }
}
