/**
 * Credentials the read-only commands (`status`, `verify`) handle at once: 10,000 read together
 * would open 10,000 requests to Secrets Manager (its read quota is shared) and to every cluster.
 */
export const READ_CONCURRENCY = 16;
