/**
 * `items.map(fn)` with at most `limit` calls under way, results in the order of `items`. The
 * read-only commands (`status`, `verify`) go through it: 10,000 credentials read at once would
 * open 10,000 requests to Secrets Manager together (its read quota is shared) and to every cluster.
 */
export async function boundedMap<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    for (let index = next++; index < items.length; index = next++) results[index] = await fn(items[index] as T);
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  return results;
}

/** Credentials the read-only commands handle at once. */
export const READ_CONCURRENCY = 16;
