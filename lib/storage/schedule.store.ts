import type { NewTask } from '../models/task.model.js';
import type { ScheduleRecord, ScheduleStatus } from '../models/schedule.model.js';
import type { EnqueueOutcome } from './task-queue.store.js';

/** The state a fire moves a schedule to. */
export interface ScheduleAdvance {
  nextRunAt?: Date;
  status: ScheduleStatus;
  runCount: number;
  lastRunAt?: Date;
}

export type FireOutcome =
  /** Another instance fired (or changed) the schedule first: nothing was done. */
  | { claimed: false }
  /** The schedule advanced; `enqueued` names the task, absent when the fire was skipped. */
  | { claimed: true; enqueued?: EnqueueOutcome };

/**
 * Schedules, kept by the task-queue backend so firing a schedule and enqueueing its task are one
 * atomic step. Records are copies: mutating one never changes the store.
 */
export interface ScheduleStore {
  /** Creates or replaces the schedule with this id. */
  saveSchedule(schedule: ScheduleRecord): Promise<void>;
  getSchedule(id: string): Promise<ScheduleRecord | undefined>;
  /** Every schedule, by id. */
  listSchedules(): Promise<ScheduleRecord[]>;
  deleteSchedule(id: string): Promise<boolean>;
  /**
   * Sets the status (and the next fire time, which is cleared when omitted) unless the schedule
   * already has that status. Returns the updated record, the unchanged one, or undefined.
   */
  setScheduleStatus(id: string, status: ScheduleStatus, nextRunAt?: Date): Promise<ScheduleRecord | undefined>;
  /** Active schedules whose `nextRunAt` <= now, soonest first. */
  dueSchedules(now: Date, limit: number): Promise<ScheduleRecord[]>;
  /** The soonest `nextRunAt` of any active schedule, for sleeping until then. */
  nextDueAt(): Promise<Date | undefined>;
  /**
   * Compare-and-set: when the schedule is active and its `nextRunAt` still equals
   * `expectedNextRunAt`, moves it to `advance` and enqueues `task` (if given; `lastTaskId` becomes
   * its id) in the same atomic step. Otherwise changes nothing and reports `claimed: false`, so of
   * any number of racing instances exactly one fires each tick.
   */
  fireSchedule(id: string, expectedNextRunAt: Date, advance: ScheduleAdvance, task?: NewTask): Promise<FireOutcome>;
}
