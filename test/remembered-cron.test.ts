import { defaultRepeatStrategy, type RepeatOptions } from 'bullmq';
import { describe, expect, it } from 'vitest';
import { rememberedCronStrategy } from '../src/queue/remembered-cron.ts';

/**
 * The remembered strategy must give BullMQ's answer for every call, whatever came before: it is
 * compared with defaultRepeatStrategy call by call, over times in order and shuffled, across
 * daylight-saving changes, for schedules that share or do not share a pattern.
 */
const SCHEDULES: RepeatOptions[] = [
  { pattern: '0 3 * * 0', tz: 'UTC' },
  { pattern: '30 2 * * *', tz: 'Europe/Paris' }, // 02:30 does not exist on 29 March 2026 there
  { pattern: '30 1 * * *', tz: 'America/New_York' }, // 01:30 happens twice on 1 November 2026
  { pattern: '*/15 * * * *', tz: 'Asia/Kolkata' },
  { pattern: '0 4 * * 1', tz: 'Europe/Paris' },
  { pattern: '0 3 * * 0' }, // no time zone
];

/**
 * Every 37 minutes over 3 days from `startIso`, every 7 minutes 13 seconds over the 8 hours around
 * the change (`changeIso`), each on the whole second and at 1 and 999 ms past it (cron-parser
 * treats a whole second apart), and run times around the changes.
 */
function times(startIso: string, changeIso: string): number[] {
  const start = Date.parse(startIso);
  const change = Date.parse(changeIso);
  const out: number[] = [];
  for (let t = start; t < start + 3 * 86_400_000; t += 2_220_000) out.push(t, t + 1, t + 999);
  for (let t = change - 4 * 3_600_000; t < change + 4 * 3_600_000; t += 433_000) out.push(t, t + 1, t + 999);
  for (const iso of ['2026-03-29T01:00:00Z', '2026-03-29T00:30:00Z', '2026-03-29T01:30:00Z', '2026-11-01T05:30:00Z', '2026-11-01T06:30:00Z']) {
    const t = Date.parse(iso);
    out.push(t - 1, t, t + 1);
  }
  return out;
}

/** A fixed shuffle (no flaky order): a linear congruential generator. */
function shuffled<T>(items: T[], seed: number): T[] {
  const out = [...items];
  let s = seed;
  for (let i = out.length - 1; i > 0; i--) {
    s = (s * 1_103_515_245 + 12_345) % 2_147_483_648;
    const j = s % (i + 1);
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

describe('rememberedCronStrategy', () => {
  for (const [label, startIso, changeIso] of [
    ['the European change to summer time', '2026-03-27T12:00:00Z', '2026-03-29T01:00:00Z'],
    ['the US change back to standard time', '2026-10-30T12:00:00Z', '2026-11-01T06:00:00Z'],
  ] as const) {
    it(`answers as BullMQ's strategy over ${label}, in order and shuffled`, () => {
      const all = times(startIso, changeIso);
      for (const order of [all, shuffled(all, 7)]) {
        const strategy = rememberedCronStrategy();
        for (const millis of order) {
          for (const opts of SCHEDULES) expect(strategy(millis, opts), `${opts.pattern} ${opts.tz} at ${new Date(millis).toISOString()}`).toBe(defaultRepeatStrategy(millis, opts));
        }
      }
    });
  }

  it('answers a run time itself with the run after it, as BullMQ does', () => {
    const strategy = rememberedCronStrategy();
    const opts = { pattern: '0 3 * * 0', tz: 'UTC' };
    const run = defaultRepeatStrategy(Date.parse('2026-06-01T00:00:00Z'), opts) as number;
    expect(strategy(run - 1, opts)).toBe(run);
    expect(strategy(run, opts)).toBe(defaultRepeatStrategy(run, opts));
    expect(strategy(run, opts)).toBe(run + 7 * 86_400_000);
  });

  it('answers calls within one second alike only when cron-parser starts from the same second', () => {
    const strategy = rememberedCronStrategy();
    const opts = { pattern: '* * * * * *', tz: 'UTC' }; // every second
    const t = Date.parse('2026-06-01T00:00:00Z');
    for (const millis of [t + 1, t + 500, t + 999, t + 1000, t + 1001, t + 1000, t]) expect(strategy(millis, opts), String(millis - t)).toBe(defaultRepeatStrategy(millis, opts));
  });

  it('passes any other repeat option to BullMQ unremembered', () => {
    const strategy = rememberedCronStrategy();
    const now = Date.parse('2026-06-01T00:00:00Z');
    const later = { pattern: '0 3 * * *', tz: 'UTC', startDate: now + 10 * 86_400_000 };
    expect(strategy(now, { pattern: '0 3 * * *', tz: 'UTC' })).toBe(now + 3 * 3_600_000);
    // Same pattern and zone, a start date: not the remembered answer.
    expect(strategy(now, later)).toBe(defaultRepeatStrategy(now, later));
    expect(strategy(now, later)).toBe(now + 10 * 86_400_000 + 3 * 3_600_000);
  });
});
