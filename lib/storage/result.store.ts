import type { ResultRecord } from '../models/result.model.js';
import type { Unsubscribe } from './task-queue.store.js';

/** Where task outcomes are kept. One result per task id: a later put replaces it. */
export interface ResultStore {
  put(results: readonly ResultRecord[]): Promise<void>;
  /** The result, or undefined when there is none or it expired. */
  get(taskId: string): Promise<ResultRecord | undefined>;
  /** The most recently completed result of a schedule's tasks. */
  latestForSchedule(scheduleId: string): Promise<ResultRecord | undefined>;
  delete(taskId: string): Promise<boolean>;
  /** Deletes results whose `expiresAt` has passed; returns how many. */
  purgeExpired(now?: Date): Promise<number>;
  /**
   * Calls `listener` with the task id of each result put (in this process, and in others where the
   * backend can tell). Waiting for a result subscribes here instead of polling.
   */
  onResult(listener: (taskId: string) => void): Unsubscribe;
  close(): Promise<void>;
}
