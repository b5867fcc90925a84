import { defaultRepeatStrategy, type RepeatOptions, type RepeatStrategy } from 'bullmq';

/**
 * BullMQ's cron strategy (`defaultRepeatStrategy`: the first run of `pattern` in `tz` after
 * `millis`), remembering its last answer per pattern and time zone, for the control queue's
 * `settings.repeatStrategy`. BullMQ asks it once per scheduler upsert, and a fleet shares a few
 * schedules: parsing each cron again with its time zone (cron-parser, luxon) was a third of the
 * CPU of a schedule sync (bench/schedules-sync, 10,000 credentials).
 *
 * Exact, and not by reasoning about schedules: cron-parser starts its search from the next whole
 * second after `millis` (or from `millis` itself, a run there excluded, when it is a whole second),
 * so every `millis` of one such start gets the same answer from it. The answer is remembered for
 * its start only; a start differing in anything is computed afresh. (Remembering an answer for the
 * whole interval up to the next run is not exact: around a daylight-saving change cron-parser's
 * answer depends on where its search began.) Repeat options other than a bare `{pattern, tz}` (a
 * start date, a count, `immediately`), and a `millis` that is not a whole number (BullMQ passes
 * `Date.now()`), go straight to BullMQ's strategy.
 */
export function rememberedCronStrategy(): RepeatStrategy {
  const remembered = new Map<string, { second: number; whole: boolean; next: number | undefined }>();
  return (millis, opts) => {
    if (!Number.isInteger(millis) || !isBareCron(opts)) return defaultRepeatStrategy(millis, opts);
    const key = `${opts.tz ?? ''}\u0000${opts.pattern}`;
    const second = Math.ceil(millis / 1000);
    const whole = millis % 1000 === 0;
    const last = remembered.get(key);
    if (last && last.second === second && last.whole === whole) return last.next;
    const next = defaultRepeatStrategy(millis, opts);
    remembered.set(key, { second, whole, next });
    return next;
  };
}

function isBareCron(opts: RepeatOptions): opts is RepeatOptions & { pattern: string } {
  return typeof opts.pattern === 'string' && Object.entries(opts).every(([key, value]) => value === undefined || key === 'pattern' || key === 'tz');
}
