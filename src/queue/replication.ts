import { Redis } from 'ioredis';
import type { RedisClient } from './redis-client.ts';

/** How long a write waits for a replica to confirm it. Replication within a region takes ~1 ms. */
export const REPLICATION_WAIT_MS = 100;
/** How long the replica count of a connection is trusted before INFO is asked again. */
const REPLICA_COUNT_TTL_MS = 30_000;

export const REPLICATION = {
  /** A replica has every write this connection made so far: a failover keeps them. */
  replicated: 'replicated',
  /** The server reports no replica: nothing to wait for (and nothing a failover could lose to). */
  noReplicas: 'no-replicas',
  /** Replicas exist but none confirmed within the bound: a failover now could lose these writes. */
  notReplicated: 'not-replicated',
  /** Not measurable here (Redis Cluster routes WAIT to a random node; or the server refused). */
  unknown: 'unknown',
} as const;
export type Replication = (typeof REPLICATION)[keyof typeof REPLICATION];

const replicaCounts = new WeakMap<Redis, { count: number; atMs: number }>();

async function replicaCount(client: Redis, nowMs: number): Promise<number> {
  const cached = replicaCounts.get(client);
  if (cached && nowMs - cached.atMs < REPLICA_COUNT_TTL_MS) return cached.count;
  const info = await client.info('replication');
  const count = Number(/^connected_slaves:(\d+)/m.exec(info)?.[1] ?? 0);
  replicaCounts.set(client, { count, atMs: nowMs });
  return count;
}

/**
 * A bounded durability barrier for the few writes a failover must not lose (the credential lock
 * when taken, a leak notice and its job): `WAIT 1 <ms>` on the connection that wrote them, when
 * the primary has replicas (Sentinel, ElastiCache with replicas). Redis replication is
 * asynchronous: a write is acknowledged before any replica has it, and a failover to a replica
 * that was behind forgets it. After this returns `replicated`, it does not. Never throws and
 * never waits longer than `timeoutMs`: a slow replica costs safety margin, not availability.
 */
export async function awaitReplication(client: RedisClient, timeoutMs = REPLICATION_WAIT_MS, nowMs = Date.now()): Promise<Replication> {
  if (!(client instanceof Redis)) return REPLICATION.unknown;
  try {
    if ((await replicaCount(client, nowMs)) === 0) return REPLICATION.noReplicas;
    const acknowledged = await client.wait(1, timeoutMs);
    return acknowledged >= 1 ? REPLICATION.replicated : REPLICATION.notReplicated;
  } catch {
    return REPLICATION.unknown;
  }
}
