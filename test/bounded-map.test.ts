import { describe, expect, it } from 'vitest';
import { boundedMap } from '../src/cli/bounded-map.ts';

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
});
