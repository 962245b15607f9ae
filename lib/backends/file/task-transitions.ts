import type { TaskError, TaskRecord, TaskStatus } from '../../models/task.model.js';
import type { Settlement } from '../../storage/task-queue.store.js';
import type { TaskBody, TaskVersion } from './task-codec.js';

/*
 * The state changes of a task, as pure functions of its record. Records are never modified in
 * place: cached versions are shared, so every change builds a new record.
 */

export const WAITING = new Set<TaskStatus>(['pending', 'scheduled', 'retrying']);
export const REQUEUEABLE = new Set<TaskStatus>(['failed', 'cancelled', 'expired']);
export const FINAL = new Set<TaskStatus>(['success', 'failed', 'cancelled', 'expired']);

export const copyDate = (date: Date): Date => new Date(date.getTime());

export function isReservable(task: TaskRecord, nowMs: number): boolean {
  const due = WAITING.has(task.status)
    ? task.runAt.getTime() <= nowMs
    : task.status === 'running' && (task.leaseExpiresAt?.getTime() ?? 0) <= nowMs;
  return due && (task.expiresAt === undefined || task.expiresAt.getTime() > nowMs);
}

/** Whether a parent in `status` (undefined: not ended, or not found) no longer holds `child` back. */
export const parentDone = (child: TaskRecord, status: TaskStatus | undefined): boolean =>
  status === 'success' || (child.onParentFailure === 'run' && status !== undefined && FINAL.has(status));

/** Waiting (or running under a lapsed lease) and past its deadline. */
export function isOverdue(task: TaskRecord, nowMs: number): boolean {
  if (task.expiresAt === undefined || task.expiresAt.getTime() > nowMs) return false;
  return WAITING.has(task.status) || (task.status === 'running' && (task.leaseExpiresAt?.getTime() ?? 0) <= nowMs);
}

export const holdsLease = (task: TaskRecord, token: string): boolean => task.status === 'running' && task.leaseToken === token;

const withoutLease = (task: TaskRecord): TaskRecord => ({ ...task, workerId: undefined, leaseToken: undefined, leaseExpiresAt: undefined });

export const finished = (task: TaskRecord, status: TaskStatus, at: Date): TaskRecord => ({
  ...withoutLease(task),
  status,
  completedAt: at,
  updatedAt: at,
});

export function settled(task: TaskRecord, settlement: Settlement, now: Date): TaskRecord {
  const at = 'at' in settlement && settlement.at !== undefined ? copyDate(settlement.at) : now;
  switch (settlement.outcome) {
    case 'success':
      return finished(task, 'success', at);
    case 'failed':
      return { ...finished(task, 'failed', at), lastError: { ...settlement.error } };
    case 'cancelled':
      return settlement.error ? { ...finished(task, 'cancelled', at), lastError: { ...settlement.error } } : finished(task, 'cancelled', at);
    case 'retry':
      return { ...withoutLease(task), status: 'retrying', runAt: copyDate(settlement.retryAt), updatedAt: now, lastError: { ...settlement.error } };
    case 'release':
      return { ...withoutLease(task), status: 'pending', runAt: now, updatedAt: now, attempts: task.attempts - 1 };
  }
}

/**
 * What `cancel` does: ends a waiting task; asks the holder of a running one to stop, recording
 * when it was first asked and leaving the lease alone (the holder settles it cancelled); leaves
 * a final task as it is (undefined: no write).
 */
export function cancelled(task: TaskRecord, now: Date, error: TaskError | undefined): TaskRecord | undefined {
  if (WAITING.has(task.status)) return error ? { ...finished(task, 'cancelled', now), lastError: { ...error } } : finished(task, 'cancelled', now);
  if (task.status === 'running' && task.cancelRequestedAt === undefined) return { ...task, cancelRequestedAt: now, updatedAt: now };
  return undefined;
}

/** A reserved task: running under a new lease for `workerId`. */
export function leased(body: TaskBody, workerId: string, now: Date, leaseExpiresAt: Date, leaseToken: string): TaskBody {
  const task = body.task;
  return {
    seq: body.seq,
    task: { ...task, status: 'running', attempts: task.attempts + 1, startedAt: now, updatedAt: now, workerId, leaseToken, leaseExpiresAt },
  };
}

/** A failed, cancelled or expired task back to pending for a fresh set of attempts. */
export function requeued(task: TaskRecord, now: Date): TaskRecord {
  // A fresh life gets a fresh TTL; otherwise a requeued expired task would expire again at once.
  const expiresAt = task.ttlMs === undefined ? task.expiresAt : new Date(now.getTime() + task.ttlMs);
  // An old cancel request would make the next worker end the task without running it.
  const fresh = { startedAt: undefined, completedAt: undefined, cancelRequestedAt: undefined };
  return { ...task, ...fresh, status: 'pending', attempts: 0, runAt: now, updatedAt: now, expiresAt };
}

/** Reserve order: queue order, then priority (higher first), then runAt, then enqueue order. */
export function reserveOrder(a: TaskVersion, b: TaskVersion, queueRank: Map<string, number>): number {
  const x = a.body.task;
  const y = b.body.task;
  return (
    (queueRank.get(x.queue) as number) - (queueRank.get(y.queue) as number) ||
    y.priority - x.priority ||
    x.runAt.getTime() - y.runAt.getTime() ||
    a.body.seq - b.body.seq
  );
}
