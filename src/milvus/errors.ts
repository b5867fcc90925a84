import { ERROR_CODE } from '../error-codes.ts';
import { RotatorError } from '../errors.ts';

/**
 * A MilvusRestClient was constructed with options it cannot work with (a programming or config
 * error, caught at startup). The message names the cluster and the problem, never the endpoint
 * itself: an endpoint with `user:password@` in it would otherwise leak through the error.
 */
export class MilvusClientOptionsError extends RotatorError {
  readonly cluster: string;

  constructor(cluster: string, problem: string) {
    super(ERROR_CODE.milvusClientOptionsInvalid, `cluster ${cluster}: ${problem}`);
    this.cluster = cluster;
  }
}
