/**
 * `items.map(fn)` with at most `limit` calls under way, results in the order of `items`. The
 * read-only commands (`status`, `verify`: 10,000 credentials read at once would open 10,000
 * requests to Secrets Manager together) and the schedule sync (one upsert per credential) go
 * through it. A neutral module: `cli` and `queue` both use it.
 *
 * On the first failure no further item is started; the calls already under way are waited for,
 * then it rejects with that failure. Nothing runs on behind the caller's back: a caller that
 * releases a resource (a client, a lock) after a rejection releases it with nothing in flight.
 */
export async function boundedMap<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  if (!Number.isInteger(limit) || limit < 1) throw new RangeError('limit must be an integer >= 1');
  const results: R[] = new Array(items.length);
  let next = 0;
  const failures: unknown[] = [];
  const worker = async (): Promise<void> => {
    for (let index = next++; index < items.length && failures.length === 0; index = next++) {
      try {
        results[index] = await fn(items[index] as T);
      } catch (error) {
        failures.push(error);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failures.length > 0) throw failures[0];
  return results;
}
