import type { EncodedValue } from './encoded-value.model.js';

/**
 * Lifecycle of a task.
 * - `pending`: due now, waiting for a worker.
 * - `scheduled`: delayed until `runAt`.
 * - `running`: held by a worker under a lease.
 * - `retrying`: failed an attempt, waiting until `runAt` for the next one.
 * - `success` / `failed` / `cancelled` / `expired`: final.
 */
export type TaskStatus =
  | 'pending'
  | 'scheduled'
  | 'running'
  | 'retrying'
  | 'success'
  | 'failed'
  | 'cancelled'
  | 'expired';

export const TASK_STATUSES: readonly TaskStatus[] = [
  'pending',
  'scheduled',
  'running',
  'retrying',
  'success',
  'failed',
  'cancelled',
  'expired',
];

/** Statuses a task can still leave: a worker may yet run it. */
export const LIVE_TASK_STATUSES: readonly TaskStatus[] = ['pending', 'scheduled', 'running', 'retrying'];

/** Statuses a worker may reserve from (once `runAt` has passed). */
export const WAITING_TASK_STATUSES: readonly TaskStatus[] = ['pending', 'scheduled', 'retrying'];

export const FINAL_TASK_STATUSES: readonly TaskStatus[] = ['success', 'failed', 'cancelled', 'expired'];

export type RetryBackoff = 'exponential' | 'fixed';

/** The error of the last failed attempt, kept on the task (dead letters keep it for good). */
export interface TaskError {
  readonly name: string;
  readonly message: string;
  readonly stack?: string;
}

/** What a dependent task does when a parent ends failed, cancelled or expired. */
export type ParentFailurePolicy = 'cancel' | 'run';

/** A task to enqueue when another ends: its name and extra args (encoded like a payload). */
export interface TaskCallback {
  task: string;
  args?: EncodedValue;
}

/** Everything a store needs to create a task. Times are absolute; durations are milliseconds. */
export interface NewTask {
  id: string;
  name: string;
  queue: string;
  priority: number;
  payload: EncodedValue;
  createdAt: Date;
  runAt: Date;
  maxRetries: number;
  retryDelayMs: number;
  retryBackoff: RetryBackoff;
  retryMaxDelayMs: number;
  timeoutMs?: number;
  ttlMs?: number;
  expiresAt?: Date;
  resultTtlMs?: number;
  storeResult: boolean;
  /** Ids of tasks that must end first: succeed (onParentFailure `cancel`) or end at all (`run`). */
  dependsOn: string[];
  onParentFailure: ParentFailurePolicy;
  /** Tasks the worker enqueues with the outcome when this one succeeds / fails for good. */
  onSuccess?: TaskCallback;
  onFailure?: TaskCallback;
  tags: string[];
  description?: string;
  scheduleId?: string;
  /** Idempotency key: while a live task holds it, enqueueing with it returns that task's id. */
  key?: string;
  /** The key keeps returning this task's id for this long after the task ended. */
  dedupeWindowMs?: number;
}

/** A task as stored, with its payload still encoded. */
export interface TaskRecord extends NewTask {
  status: TaskStatus;
  /** Attempts started so far (the first run is attempt 1). */
  attempts: number;
  /**
   * Times the task's lease lapsed and the maintenance leader reclaimed it (its worker died or froze
   * while running it). At `maintenance.maxLapses` the task ends failed, a dead letter with a
   * TaskLapsedError. `requeue` resets it.
   */
  lapses: number;
  startedAt?: Date;
  completedAt?: Date;
  updatedAt: Date;
  lastError?: TaskError;
  /** Set on a task cancelled because this parent (an id in `dependsOn`) ended failed, cancelled or expired; `requeue` of that parent revives it. */
  cancelledBy?: string;
  /** Set on a running task by `cancel()`: its worker aborts the handler and ends it cancelled. */
  cancelRequestedAt?: Date;
  /** The last value the handler reported with `ctx.progress()` (JSON data). */
  progress?: unknown;
  /** Set while a worker holds the task. */
  workerId?: string;
  leaseToken?: string;
  leaseExpiresAt?: Date;
  /**
   * Set when the stored record is damaged (a field missing or unreadable): which field and why.
   * The record shows what could be read, the damaged fields at neutral values. Workers never run
   * a damaged task: reserve sets it aside (see TaskQueueStore.reserve).
   */
  damaged?: string;
}

/**
 * A task as the service returns it: the same record with its payload decoded. A payload that
 * cannot be decoded (damaged, or written by an encoder this process lacks) does not hide the task:
 * `payload` is then undefined and `undecodable` holds the reason and the stored encoding.
 */
export type Task<P = unknown> = Omit<TaskRecord, 'payload' | 'leaseToken'> & {
  payload: P;
  undecodable?: { reason: string; raw: EncodedValue };
};
