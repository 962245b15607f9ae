import type { ResultRecord } from '../models/result.model.js';
import type { Notifier } from './notifier.js';

/** Where task outcomes are kept. One result per task id: a later put replaces it. Records are copies. */
export interface ResultStore {
  put(results: readonly ResultRecord[]): Promise<void>;
  /** The result, or undefined when there is none or it expired. */
  get(taskId: string): Promise<ResultRecord | undefined>;
  /** The most recently completed result of a schedule's tasks. */
  latestForSchedule(scheduleId: string): Promise<ResultRecord | undefined>;
  delete(taskId: string): Promise<boolean>;
  /** Deletes up to `limit` (default: all) results whose `expiresAt` has passed; returns how many. */
  purgeExpired(now: Date, limit?: number): Promise<number>;
  /**
   * Deletes up to `limit` (default: all) results whose `completedAt` is before `before`, whatever
   * their `expiresAt`; returns how many. `purgeHistory` calls it so the stores stay bounded.
   */
  purgeCompletedBefore(before: Date, limit?: number): Promise<number>;
  /**
   * Where `result` notifications (the task id of each result stored, by `put` or by a task-queue
   * transition of the same engine) are heard. Waiting for a result listens here instead of
   * polling; the core polls only when `notifier.crossProcess` is false.
   */
  readonly notifier: Notifier;
  close(): Promise<void>;
}
