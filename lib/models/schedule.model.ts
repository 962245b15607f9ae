import type { EncodedValue } from './encoded-value.model.js';

export type ScheduleKind = 'cron' | 'interval' | 'once';

/**
 * - `active`: fires at `nextRunAt`.
 * - `paused`: kept but not firing, on every instance, until resumed.
 * - `expired`: reached `maxRuns`, its end date, or its one shot.
 * - `disabled`: declared by a `@Scheduled()` that is no longer in the code.
 */
export type ScheduleStatus = 'active' | 'paused' | 'expired' | 'disabled';

/** What to do with fires that fell due while no instance was running. */
export type MissedFirePolicy = 'skip' | 'run-once';

/** Where a schedule came from: a `@Scheduled()` declaration (reconciled at bootstrap) or the runtime API. */
export type ScheduleSource = 'decorator' | 'runtime';

/** What a schedule fires and when: everything that changes when its declaration changes. */
export interface ScheduleSpec {
  kind: ScheduleKind;
  /** Cron expression (5 or 6 fields; seconds first when 6), for kind `cron`. */
  cron?: string;
  /** IANA time zone of the cron expression (default UTC). */
  tz?: string;
  /** Interval in ms, for kind `interval`. */
  everyMs?: number;
  /** The single fire time, for kind `once`. */
  at?: Date;
  taskName: string;
  queue?: string;
  priority?: number;
  payload: EncodedValue;
  maxRuns?: number;
  startAt?: Date;
  endAt?: Date;
  missed: MissedFirePolicy;
  /** May a fire start while the previous fire's task is still pending or running? */
  overlap: boolean;
}

export interface ScheduleRecord extends ScheduleSpec {
  /** The schedule's name: unique per project. */
  id: string;
  source: ScheduleSource;
  /** Fingerprint of the spec, to tell at bootstrap whether a declaration changed. */
  specHash: string;
  status: ScheduleStatus;
  /** When it fires next (undefined once expired). */
  nextRunAt?: Date;
  lastRunAt?: Date;
  runCount: number;
  /** The task the last fire enqueued. */
  lastTaskId?: string;
  createdAt: Date;
  updatedAt: Date;
  pausedAt?: Date;
}

/** A schedule as the service returns it: the payload decoded. */
export type Schedule<P = unknown> = Omit<ScheduleRecord, 'payload'> & { payload: P };
