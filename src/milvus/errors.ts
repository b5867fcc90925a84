import { RotatorError } from '../errors.ts';

/** The stable code of a client built with unusable options. */
export const MILVUS_CLIENT_OPTIONS_INVALID = 'ROTATOR_MILVUS_CLIENT_OPTIONS_INVALID';

/**
 * A MilvusRestClient was constructed with options it cannot work with (a programming or config
 * error, caught at startup). The message names the cluster and the problem, never the endpoint
 * itself: an endpoint with `user:password@` in it would otherwise leak through the error.
 */
export class MilvusClientOptionsError extends RotatorError {
  readonly cluster: string;

  constructor(cluster: string, problem: string) {
    super(MILVUS_CLIENT_OPTIONS_INVALID, `cluster ${cluster}: ${problem}`);
    this.cluster = cluster;
  }
}
