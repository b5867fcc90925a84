import type { RedisClient } from './redis-client.ts';

/** A secret's labelled versions: version id -> staging labels (DescribeSecret's VersionIdsToStages). */
export type VersionLabels = Record<string, string[]>;

/** One published change: the credential whose labels moved, and its labels now. */
export interface VersionChange {
  /** The stream entry id (Redis stream ids order the changes). */
  id: string;
  credential: string;
  labels: VersionLabels;
}

/** Changes kept in the stream; a replica further behind than this resyncs from the hash. */
const STREAM_MAX_LENGTH = 10_000;
/** Entries read per XRANGE. */
const READ_BATCH = 500;

/**
 * Publishes a change only when the labels differ from the hash: KEYS[1] hash, KEYS[2] stream,
 * ARGV[1] credential, ARGV[2] labels (canonical JSON), ARGV[3] stream length. Returns the new
 * entry id, or false when nothing changed. Atomic, so two replicas publishing the same view
 * produce one entry.
 */
const PUBLISH_SCRIPT = `
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then return false end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], '*', 'credential', ARGV[1], 'labels', ARGV[2])
`;

/**
 * The fleet's shared view of which version ids carry which staging labels, per credential: a
 * hash (the latest labels) and a stream (each change, in order). Whoever learns new labels (the
 * replica that rotated, a reconcile pass, a replica's slow refresh) publishes them; every replica's
 * fingerprint index follows the stream and reads from Secrets Manager only the versions it does
 * not know yet. Version ids and label names only: never a value, never a hash of one.
 */
export class SecretVersionsFeed {
  private readonly redis: RedisClient;
  private readonly hashKey: string;
  private readonly streamKey: string;
  private readonly leasePrefix: string;

  constructor(redis: RedisClient, prefix: string) {
    this.redis = redis;
    this.leasePrefix = `${prefix}:secret-versions:lease:`;
    this.hashKey = `${prefix}:secret-versions`;
    this.streamKey = `${prefix}:secret-versions:changes`;
  }

  /** Records `labels` for `credential`; appends a change to the stream only if they differ. Returns whether they did. */
  async publish(credential: string, labels: VersionLabels): Promise<boolean> {
    const reply = await this.redis.eval(PUBLISH_SCRIPT, 2, this.hashKey, this.streamKey, credential, canonicalLabels(labels), String(STREAM_MAX_LENGTH));
    return reply !== null;
  }

  /** The latest labels of every credential published so far. */
  async readAll(): Promise<Map<string, VersionLabels>> {
    const hash = await this.redis.hgetall(this.hashKey);
    const out = new Map<string, VersionLabels>();
    for (const [credential, text] of Object.entries(hash)) {
      const labels = parseLabels(text);
      if (labels !== null) out.set(credential, labels);
    }
    return out;
  }

  /** The latest published labels of `credentials` (absent when none was published). */
  async labelsOf(credentials: readonly string[]): Promise<Map<string, VersionLabels>> {
    const out = new Map<string, VersionLabels>();
    if (credentials.length === 0) return out;
    const texts = await this.redis.hmget(this.hashKey, ...credentials);
    credentials.forEach((credential, i) => {
      const labels = parseLabels(texts[i] ?? '');
      if (labels !== null) out.set(credential, labels);
    });
    return out;
  }

  /** The id of the newest change, or `0-0` for an empty stream: where a new follower starts. */
  async lastId(): Promise<string> {
    const newest = await this.redis.xrevrange(this.streamKey, '+', '-', 'COUNT', 1);
    return newest[0]?.[0] ?? '0-0';
  }

  /**
   * The changes after `afterId`, oldest first, and whether some may have been trimmed away in
   * between (`gap`: the follower must resync from readAll()).
   */
  async changesAfter(afterId: string): Promise<{ changes: VersionChange[]; gap: boolean }> {
    const changes: VersionChange[] = [];
    let from = afterId;
    for (;;) {
      const entries = await this.redis.xrange(this.streamKey, `(${from}`, '+', 'COUNT', READ_BATCH);
      for (const [id, fields] of entries) {
        const credential = fieldOf(fields, 'credential');
        const labels = parseLabels(fieldOf(fields, 'labels') ?? '');
        if (credential !== undefined && labels !== null) changes.push({ id, credential, labels });
        from = id;
      }
      if (entries.length < READ_BATCH) break;
    }
    // The entry `afterId` itself is gone when the stream was trimmed past it: entries after it may
    // be gone too, so the follower resyncs (cheap: it compares version ids and reads only new ones).
    let gap = false;
    if (afterId !== '0-0') {
      const oldestId = (await this.redis.xrange(this.streamKey, '-', '+', 'COUNT', 1))[0]?.[0];
      gap = oldestId === undefined ? false : compareStreamIds(oldestId, afterId) > 0;
    }
    return { changes, gap };
  }

  /**
   * A fleet-wide lease: true for exactly one caller per `ttlMs` (SET NX PX). What runs once per
   * interval for the whole fleet (the fingerprint index's full refresh) asks for it first.
   */
  async claim(name: string, ttlMs: number): Promise<boolean> {
    return (await this.redis.set(`${this.leasePrefix}${name}`, '1', 'PX', ttlMs, 'NX')) === 'OK';
  }

  /** Drops credentials no longer configured from the hash (their stream entries age out). */
  async retain(credentials: readonly string[]): Promise<void> {
    const keep = new Set(credentials);
    const stale = (await this.redis.hkeys(this.hashKey)).filter((id) => !keep.has(id));
    if (stale.length > 0) await this.redis.hdel(this.hashKey, ...stale);
  }
}

/** JSON of the labels with version ids and labels sorted, so equal views compare equal as text. */
export function canonicalLabels(labels: VersionLabels): string {
  const sorted: VersionLabels = {};
  for (const versionId of Object.keys(labels).sort()) {
    const stages = labels[versionId] ?? [];
    if (stages.length > 0) sorted[versionId] = [...stages].sort();
  }
  return JSON.stringify(sorted);
}

function parseLabels(text: string): VersionLabels | null {
  try {
    const value: unknown = JSON.parse(text);
    if (value === null || typeof value !== 'object' || Array.isArray(value)) return null;
    const labels: VersionLabels = {};
    for (const [versionId, stages] of Object.entries(value)) {
      if (Array.isArray(stages) && stages.every((s) => typeof s === 'string')) labels[versionId] = stages as string[];
    }
    return labels;
  } catch {
    return null;
  }
}

function fieldOf(fields: string[], name: string): string | undefined {
  for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i] === name) return fields[i + 1];
  return undefined;
}

/** Orders two stream ids (`ms-seq`). */
function compareStreamIds(a: string, b: string): number {
  const [am = 0n, as = 0n] = a.split('-').map((p) => BigInt(p));
  const [bm = 0n, bs = 0n] = b.split('-').map((p) => BigInt(p));
  if (am !== bm) return am < bm ? -1 : 1;
  if (as !== bs) return as < bs ? -1 : 1;
  return 0;
}
