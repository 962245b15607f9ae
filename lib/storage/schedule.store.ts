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
 * What `saveSchedule` expects to find, so that instances reconciling their declarations at the
 * same time never undo each other's fires: no schedule with the id, or one still in the state it
 * was read in (the fields a fire or a change moves).
 */
export type ScheduleExpectation =
  | { absent: true }
  | { absent?: false; specHash: string; status: ScheduleStatus; runCount: number; nextRunAt?: Date };

/** The expectation that a schedule is still as `read`. */
export function expectSchedule(read: ScheduleRecord): ScheduleExpectation {
  return { specHash: read.specHash, status: read.status, runCount: read.runCount, nextRunAt: read.nextRunAt };
}

/** Whether a stored schedule (undefined: none) meets an expectation. */
export function meetsExpectation(stored: ScheduleRecord | undefined, expected: ScheduleExpectation): boolean {
  if (expected.absent) return stored === undefined;
  return (
    stored !== undefined &&
    stored.specHash === expected.specHash &&
    stored.status === expected.status &&
    stored.runCount === expected.runCount &&
    stored.nextRunAt?.getTime() === expected.nextRunAt?.getTime()
  );
}

/**
 * Schedules, kept by the task-queue backend so firing a schedule and enqueueing its task are one
 * atomic step. Records are copies: mutating one never changes the store.
 */
export interface ScheduleStore {
  /**
   * Creates or replaces the schedule with this id. With `expected`, only when the stored one (or
   * its absence) still meets it, atomically; returns whether it was saved.
   */
  saveSchedule(schedule: ScheduleRecord, expected?: ScheduleExpectation): Promise<boolean>;
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
