import type { MissedFirePolicy } from '../models/schedule.model.js';

/** When and how a schedule fires: exactly one of `cron`, `every` or `at`. */
export interface ScheduledOptions {
  /**
   * Cron expression: 5 fields, or 6 with seconds first (`CronExpression` values from
   * @nestjs/schedule work too).
   */
  cron?: string;
  /** IANA time zone of `cron` (default UTC). */
  tz?: string;
  /** Fixed interval: ms, or a duration such as `'30s'`, `'5m'`. Ticks are aligned to `startAt` (or the epoch). */
  every?: number | string;
  /** A single fire at this time. */
  at?: Date | string;
  /** The schedule's unique name (default: the task name). */
  name?: string;
  queue?: string;
  priority?: number;
  /** Payload of every task the schedule enqueues. */
  payload?: unknown;
  /** Expire after this many fires. */
  maxRuns?: number;
  /** No fire before this time. */
  startAt?: Date | string;
  /** No fire after this time; the schedule then expires. */
  endAt?: Date | string;
  /**
   * Fires that fell due while no instance ran (more than the scheduler's `missedGraceMs` ago):
   * `skip` them (default) or `run-once` for the latest of them.
   */
  missed?: MissedFirePolicy;
  /**
   * Fire even while the previous fire's task is still pending or running (default false: that fire
   * is skipped, with a warning). A previous task still running under a lapsed lease (its worker
   * died or froze) does not block: it is cancelled, superseded by the new fire.
   */
  overlap?: boolean;
}

/** A schedule created at runtime: the task it fires, and when. */
export interface CreateScheduleOptions extends ScheduledOptions {
  /** Name of a registered task. */
  task: string;
}
