import type { EncodedValue } from '../models/encoded-value.model.js';
import type { ScheduleStore } from './schedule.store.js';
import type { NewTask, TaskError, TaskRecord, TaskStatus } from '../models/task.model.js';

export type Unsubscribe = () => void;

export interface EnqueueOutcome {
  id: string;
  /** False when an idempotency key matched a live task: `id` is that task's id. */
  created: boolean;
}

/** What `cancel` did to a task. */
export interface CancelOutcome {
  /** The task as it is now. */
  task: TaskRecord;
  /**
   * True when this call cancelled it or requested its cancellation; false when it had already
   * ended or its cancellation had already been requested (by this process or another).
   */
  changed: boolean;
}

export interface ReserveRequest {
  /** Queues in priority order: every due task of queues[0] comes before any of queues[1]. */
  queues: readonly string[];
  workerId: string;
  limit: number;
  leaseMs: number;
  /** Only tasks with these names (the handlers this worker has). Omitted: any name. */
  names?: readonly string[];
  now?: Date;
}

/** The end of an attempt, reported with the lease token the task was reserved with. */
export type Settlement =
  | { id: string; token: string; outcome: 'success'; at?: Date }
  | { id: string; token: string; outcome: 'failed'; error: TaskError; at?: Date }
  | { id: string; token: string; outcome: 'retry'; error: TaskError; retryAt: Date }
  | { id: string; token: string; outcome: 'cancelled'; error?: TaskError; at?: Date }
  /** Give the task back without counting the attempt (shutdown): it is due again at once. */
  | { id: string; token: string; outcome: 'release' };

export interface LeaseRef {
  id: string;
  token: string;
}

export interface TaskListFilter {
  queue?: string;
  status?: TaskStatus | readonly TaskStatus[];
  name?: string;
  offset?: number;
  limit?: number;
}

export interface Page<T> {
  items: T[];
  total: number;
  offset: number;
  limit: number;
}

export interface QueueStatusCount {
  queue: string;
  status: TaskStatus;
  count: number;
}

/**
 * The task queue contract every backend keeps.
 *
 * Leases: `reserve` hands each task out with a fresh token and `leaseExpiresAt`. Every later call
 * about that attempt names the token; a stale token (the lease expired and the task may run
 * elsewhere) is rejected. A running task whose lease expired is reservable again: at-least-once
 * delivery after a crash.
 */
export interface TaskQueueStore {
  /**
   * Stores new tasks in one go. A task whose `key` is held by a live task (pending, scheduled,
   * running, retrying), or by a task that ended less than its `dedupeWindowMs` ago, is not stored;
   * its outcome names the holder instead. Results are in input order. An id that exists already
   * rejects the whole call with DuplicateTaskIdError.
   */
  enqueue(tasks: readonly NewTask[]): Promise<EnqueueOutcome[]>;

  /**
   * Up to `limit` tasks that are due (`runAt` <= now, status pending/scheduled/retrying, or running
   * with an expired lease), not expired (`expiresAt` unset or in the future), and whose
   * dependencies all succeeded (with onParentFailure `run`: all ended, whatever the outcome); ordered by queue order, then priority (higher first), then
   * `runAt`, then enqueue order. Each is marked running with attempts + 1, `startedAt` = now,
   * the worker id and a new lease token. Never hands a task to two holders of a live lease.
   */
  reserve(request: ReserveRequest): Promise<TaskRecord[]>;

  /**
   * Ends attempts. Each entry whose token is no longer the task's live lease token is left
   * untouched and reported `false`. Results are in input order.
   */
  settle(settlements: readonly Settlement[]): Promise<boolean[]>;

  /** Pushes each live lease's expiry to now + leaseMs. Returns, in order, which were still held. */
  extendLeases(leases: readonly LeaseRef[], leaseMs: number): Promise<boolean[]>;

  /**
   * Stores the handler's latest progress report (JSON data) on the task it holds. False, and no
   * change, for a stale token.
   */
  setProgress(id: string, token: string, progress: unknown): Promise<boolean>;

  /**
   * Marks waiting tasks whose `expiresAt` has passed as expired and returns them (so the caller
   * can record events and results). Running tasks are not touched.
   */
  expireOverdue(now?: Date, limit?: number): Promise<TaskRecord[]>;

  /**
   * Cancels a waiting task (pending, scheduled, retrying). On a running task it sets
   * `cancelRequestedAt` (once) and leaves the lease alone: the holder stops the handler and settles
   * `cancelled`, and a worker that reserves it after a crash ends it without running it. Returns
   * the task and whether this call changed it (so two processes cancelling one task at once can
   * tell which did), or undefined for an unknown id.
   */
  cancel(id: string, error?: TaskError): Promise<CancelOutcome | undefined>;

  /** Which of these tasks are running with a cancel request (the workers holding them poll this). */
  cancelRequested(ids: readonly string[]): Promise<string[]>;

  /** Waiting tasks that list `id` in their `dependsOn`, in enqueue order. */
  dependentsOf(id: string): Promise<TaskRecord[]>;

  /**
   * Sends a failed, cancelled or expired task back to pending with attempts reset, due at once.
   * Returns the updated record, the unchanged record when it was not in such a status, or
   * undefined for an unknown id.
   */
  requeue(id: string): Promise<TaskRecord | undefined>;

  get(id: string): Promise<TaskRecord | undefined>;

  /** Tasks matching the filter, oldest first (enqueue order), with the total before paging. */
  list(filter?: TaskListFilter): Promise<Page<TaskRecord>>;

  /** How many tasks each queue holds per status (only non-zero rows). */
  counts(): Promise<QueueStatusCount[]>;

  /** Deletes final tasks (success, failed, cancelled, expired) completed before `before`. */
  purgeFinished(before: Date): Promise<number>;

  /**
   * Calls `listener` when tasks may have become due (enqueue, requeue, release, retry). Workers
   * use it to start new work in milliseconds; polling is only the fallback.
   */
  onWake(listener: (queue: string) => void): Unsubscribe;

  /** The schedules this backend keeps beside its tasks (absent: the backend cannot run schedules). */
  readonly schedules?: ScheduleStore;

  close(): Promise<void>;
}

export type { EncodedValue };
