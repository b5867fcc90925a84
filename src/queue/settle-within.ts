/**
 * The value of `promise` if it settles within `ms`, else undefined; a rejection counts as
 * undefined. Bounds a close or a check that a Redis gone away would hold forever (a BullMQ
 * `QueueEvents.close()` waits for a connection that never comes back; a worker connection queues
 * commands while Redis is away).
 */
export async function settleWithin<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([promise.catch(() => undefined), new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}
