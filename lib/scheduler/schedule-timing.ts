import { CronTime } from 'cron';
import type { ScheduleSpec } from '../models/schedule.model.js';

/**
 * Fire times of a schedule. Cron times come from the `cron` package (the one @nestjs/schedule
 * uses), in the schedule's IANA time zone: a wall time that a daylight-saving jump skips fires
 * once just after the jump, and one that a fall-back repeats fires once.
 */
export function nextFireAfter(spec: ScheduleSpec, after: Date): Date | undefined {
  const from = spec.startAt && spec.startAt.getTime() - 1 > after.getTime() ? new Date(spec.startAt.getTime() - 1) : after;
  let next: Date | undefined;
  switch (spec.kind) {
    case 'cron':
      next = new CronTime(spec.cron!, spec.tz ?? 'UTC').getNextDateFrom(from, spec.tz ?? 'UTC').toJSDate();
      break;
    case 'interval': {
      // Ticks are anchored at startAt (or the epoch), so every instance computes the same ticks.
      const anchor = spec.startAt?.getTime() ?? 0;
      const every = spec.everyMs!;
      next = new Date(anchor + (Math.floor((from.getTime() - anchor) / every) + 1) * every);
      break;
    }
    case 'once':
      next = spec.at! > from ? spec.at : undefined;
      break;
  }
  return next && spec.endAt && next > spec.endAt ? undefined : next;
}

/** The last fire time at or before `now`, starting from a known fire `first` (for missed fires). */
export function latestFireAtOrBefore(spec: ScheduleSpec, first: Date, now: Date): Date {
  if (spec.kind === 'interval') {
    const steps = Math.floor((now.getTime() - first.getTime()) / spec.everyMs!);
    return new Date(first.getTime() + steps * spec.everyMs!);
  }
  let latest = first;
  for (let next = nextFireAfter(spec, first); next && next <= now; next = nextFireAfter(spec, next)) latest = next;
  return latest;
}
