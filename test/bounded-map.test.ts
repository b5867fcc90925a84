import { describe, expect, it } from 'vitest';
import { boundedMap } from '../src/bounded-map.ts';

describe('boundedMap', () => {
  it('keeps at most `limit` calls under way and returns the results in input order', async () => {
    let active = 0;
    let peak = 0;
    const results = await boundedMap(Array.from({ length: 50 }, (_, i) => i), 4, async (i) => {
      active++;
      peak = Math.max(peak, active);
      await new Promise((resolve) => setTimeout(resolve, (i * 7) % 5));
      active--;
      return i * 2;
    });
    expect(peak).toBe(4);
    expect(results).toEqual(Array.from({ length: 50 }, (_, i) => i * 2));
  });

  it('handles an empty list and rejects with the first failure', async () => {
    expect(await boundedMap([], 8, async () => 1)).toEqual([]);
    await expect(boundedMap([1, 2, 3], 2, async (i) => (i === 2 ? Promise.reject(new Error('boom')) : i))).rejects.toThrow('boom');
  });

  it('starts nothing after the first failure and waits for the calls under way before rejecting', async () => {
    const started: number[] = [];
    const finished: number[] = [];
    const run = boundedMap(Array.from({ length: 20 }, (_, i) => i), 3, async (i) => {
      started.push(i);
      // Item 1 fails at once; items 0 and 2, already under way, take longer.
      if (i === 1) throw new Error('boom');
      await new Promise((resolve) => setTimeout(resolve, 30));
      finished.push(i);
      return i;
    });
    await expect(run).rejects.toThrow('boom');
    expect(started).toEqual([0, 1, 2]);
    expect(finished.sort()).toEqual([0, 2]);
  });

  it('refuses a limit below 1', async () => {
    await expect(boundedMap([1], 0, async (i) => i)).rejects.toThrow(RangeError);
  });
});
