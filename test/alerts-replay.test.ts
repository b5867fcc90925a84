/**
 * The in-memory replay guard (unit tests and the demo) and the generic feed's TTL rule. The Redis
 * guard has its integration test in alerts-replay.int.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { genericReplayTtlSeconds, MemoryReplayGuard, replayRedisKey } from '../src/alerts/replay-guard.ts';

describe('MemoryReplayGuard', () => {
  it('says first-seen once, refuses repeats until the TTL has passed, then accepts again', async () => {
    const clock = { nowMs: 1_000_000 };
    const guard = new MemoryReplayGuard({ nowMs: () => clock.nowMs });
    expect(await guard.firstSeen('sig-a', 10)).toBe(true);
    expect(await guard.firstSeen('sig-a', 10)).toBe(false);
    expect(await guard.firstSeen('sig-b', 10)).toBe(true);
    clock.nowMs += 9_999;
    expect(await guard.firstSeen('sig-a', 10)).toBe(false);
    clock.nowMs += 1;
    expect(await guard.firstSeen('sig-a', 10)).toBe(true);
  });

  it('refuses a TTL under one second', async () => {
    await expect(new MemoryReplayGuard().firstSeen('k', 0)).rejects.toThrow(RangeError);
  });
});

describe('replay rules', () => {
  it('remembers a generic alert for twice the timestamp tolerance: the whole window in which it verifies', () => {
    expect(genericReplayTtlSeconds(300)).toBe(600);
  });

  it('names a Redis key by prefix and a sha256 of the offered key', () => {
    expect(replayRedisKey('{milvus-rotator}', 'abc')).toBe(
      '{milvus-rotator}:alert-replay:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
    );
  });
});
