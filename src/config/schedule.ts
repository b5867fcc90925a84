import { CronExpressionParser } from 'cron-parser';

/** The value of `schedule` that turns scheduled rotation off. */
export const SCHEDULE_OFF = 'off';

/**
 * The next time a cron schedule fires after `from`, in its time zone; null when the schedule is
 * "off". Uses cron-parser, the parser BullMQ's Job Schedulers use, so both agree.
 */
export function nextRun(schedule: string, timezone: string, from: Date = new Date()): Date | null {
  if (schedule === SCHEDULE_OFF) return null;
  return CronExpressionParser.parse(schedule, { tz: timezone, currentDate: from }).next().toDate();
}
