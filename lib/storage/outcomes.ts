import type { TaskEvent } from '../models/event.model.js';
import type { ResultRecord } from '../models/result.model.js';
import type { TaskError, TaskRecord } from '../models/task.model.js';
import { newUuid } from '../utils/uuid.js';

/** The error a dependent is cancelled with when `parent` ended failed, cancelled or expired. */
export function parentFailedError(parent: Pick<TaskRecord, 'id' | 'name' | 'status'>): TaskError {
  return { name: 'ParentFailedError', message: `Parent task ${parent.id} (${parent.name}) ended ${parent.status}` };
}

/**
 * The error of a task the maintenance leader ended as a dead letter: its lease lapsed for the
 * `lapses`-th time, the most `maintenance.maxLapses` allows. `task` is the task as it was, so the
 * message names the worker that held it.
 */
export function lapsedError(task: Pick<TaskRecord, 'workerId' | 'attempts'>, lapses: number): TaskError {
  const holder = task.workerId ? ` (worker ${task.workerId})` : '';
  return {
    name: 'TaskLapsedError',
    message:
      `The lease of attempt ${task.attempts}${holder} lapsed: the task's worker died or froze while running it, ` +
      `${lapses} time(s), the most maintenance.maxLapses allows; it ends as a dead letter (a poison task)`,
  };
}

/** The error of a task that ended unrun, when it has none of its own. */
function unrunError(task: TaskRecord): TaskError {
  if (task.lastError) return task.lastError;
  return task.status === 'expired'
    ? { name: 'TaskExpiredError', message: `Task expired unrun (ttl ${task.ttlMs} ms)` }
    : { name: 'TaskCancelledError', message: 'Task cancelled' };
}

/**
 * The event and, when the task stores results, the result of a task that ended without a
 * handler outcome (status `cancelled` or `expired`, as stored; or `failed`, a dead letter the
 * leader ended after its lease lapsed too often): what every engine writes for the tasks a
 * cancel, an expiry, a cascade or a last lapse ends, and what the core writes when the engine
 * could not.
 */
export function unrunOutcome(task: TaskRecord, now: Date = new Date()): { event: TaskEvent; result?: ResultRecord } {
  const status = task.status === 'expired' ? 'expired' : task.status === 'failed' ? 'failed' : 'cancelled';
  const error = unrunError(task);
  const event: TaskEvent = {
    id: newUuid(),
    type: status,
    timestamp: now,
    taskId: task.id,
    taskName: task.name,
    queue: task.queue,
    scheduleId: task.scheduleId,
    error,
  };
  if (!task.storeResult) return { event };
  const result: ResultRecord = {
    taskId: task.id,
    taskName: task.name,
    queue: task.queue,
    status,
    error,
    createdAt: task.createdAt,
    completedAt: task.completedAt ?? now,
    attempts: task.attempts,
    scheduleId: task.scheduleId,
    expiresAt: task.resultTtlMs === undefined ? undefined : new Date(now.getTime() + task.resultTtlMs),
  };
  return { event, result };
}

/**
 * The event of a task whose lease ended without an outcome: `reclaimed` by the maintenance leader
 * after its holder stopped renewing it (pass `task` as it was before the reclaim, so `workerId`
 * names the lost holder), or `released` by its holder at shutdown.
 */
export function leaseEvent(task: TaskRecord, type: 'reclaimed' | 'released', now: Date = new Date()): TaskEvent {
  return {
    id: newUuid(),
    type,
    timestamp: now,
    taskId: task.id,
    taskName: task.name,
    queue: task.queue,
    scheduleId: task.scheduleId,
    workerId: task.workerId,
    attempt: task.attempts,
    message:
      type === 'reclaimed'
        ? `Lease${task.workerId ? ` of worker ${task.workerId}` : ''} of attempt ${task.attempts} lapsed${task.leaseExpiresAt ? ` at ${task.leaseExpiresAt.toISOString()}` : ''}; the task is waiting again`
        : 'Released at worker shutdown; the attempt does not count',
  };
}

/**
 * The error a store sets aside a damaged record with (see TaskQueueStore.reserve): `damage` says
 * which field and why, as in TaskRecord.damaged.
 */
export function damagedError(damage: string): TaskError {
  return { name: 'DamagedTaskError', message: `The stored task is damaged (${damage}); it was set aside and never run` };
}
