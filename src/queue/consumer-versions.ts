/**
 * Which versions the consumers of each credential use, from the heartbeats the consumer helper
 * writes (src/consumer/heartbeat-layout.ts, the one file both sides share). Read when /metrics is
 * scraped; a beat older than `staleAfterMs` is a consumer that stopped: ignored and removed.
 */
import type { RedisClient } from './redis-client.ts';
import { HEARTBEAT_DEFAULTS, decodeHeartbeat, heartbeatKey } from '../consumer/heartbeat-layout.ts';

/** Consumers per version id, for one secret. */
export async function readConsumerVersions(redis: RedisClient, prefix: string, secretId: string, nowMs: number, staleAfterMs: number = HEARTBEAT_DEFAULTS.staleAfterMs): Promise<Map<string, number>> {
  const key = heartbeatKey(prefix, secretId);
  const fields = await redis.hgetall(key);
  const counts = new Map<string, number>();
  const stale: string[] = [];
  for (const [consumer, value] of Object.entries(fields)) {
    const beat = decodeHeartbeat(value);
    if (!beat || nowMs - beat.at > staleAfterMs) {
      stale.push(consumer);
      continue;
    }
    counts.set(beat.versionId, (counts.get(beat.versionId) ?? 0) + 1);
  }
  if (stale.length > 0) await redis.hdel(key, ...stale);
  return counts;
}
