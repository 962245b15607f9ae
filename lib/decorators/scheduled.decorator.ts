import { SCHEDULED_METADATA } from '../omniq.constants.js';
import type { ScheduledOptions } from '../interfaces/scheduled-options.interface.js';

/**
 * Fires a task on a schedule: `@Scheduled({ cron: '0 3 * * *', tz: 'Europe/Berlin' })`,
 * `@Scheduled({ every: '30s' })` or `@Scheduled({ at: '2027-01-01T00:00:00Z' })`. On a `@Task()`
 * method it fires that task; alone it registers the method as a task named like the schedule.
 * Schedules are stored with the tasks and fire exactly once per tick however many instances run.
 * A method may carry several, each with its own `name`.
 */
export function Scheduled(options: ScheduledOptions): MethodDecorator {
  return (_target, _key, descriptor) => {
    const method = descriptor.value as object;
    const existing = (Reflect.getMetadata(SCHEDULED_METADATA, method) as ScheduledOptions[] | undefined) ?? [];
    Reflect.defineMetadata(SCHEDULED_METADATA, [...existing, options], method);
  };
}
