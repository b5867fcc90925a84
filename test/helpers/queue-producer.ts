import { Job, type Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { RotationQueue } from '../../src/queue/rotation-queue.ts';
import { waitFor } from './wait-for.ts';

/** A RotationQueue on a connection of its own, as a test enqueues and reads jobs; `close` closes both (BullMQ never closes a connection it is given). */
export interface TestProducer {
  producer: RotationQueue;
  connection: Redis;
  close: () => Promise<void>;
}

export function openProducer(redisUrl: string, prefix: string): TestProducer {
  const connection = new Redis(redisUrl, { maxRetriesPerRequest: null });
  const producer = new RotationQueue(connection, prefix);
  return {
    producer,
    connection,
    close: async () => {
      await producer.close();
      connection.disconnect();
    },
  };
}

/** Waits until job `jobId` of `queue` has finished, and returns its result. */
export async function finishedResult<T>(queue: Queue, jobId: string, timeoutMs: number, what = `job ${jobId} to finish`): Promise<T> {
  await waitFor(async () => (await Job.fromId(queue, jobId))?.finishedOn !== undefined, timeoutMs, what);
  return (await Job.fromId(queue, jobId))?.returnvalue as T;
}
