import type { TaskError, TaskRecord, TaskStatus } from '../../models/task.model.js';
import { damagedError, lapsedError, parentFailedError } from '../../storage/outcomes.js';
import type { Settlement } from '../../storage/task-queue.store.js';
import type { TaskBody, TaskVersion } from './kv-task-codec.js';

/*
 * The state changes of a task, as pure functions of its record. Records are never modified in
 * place: cached versions are shared, so every change builds a new record.
 */

export const WAITING = new Set<TaskStatus>(['pending', 'scheduled', 'retrying']);
/** Ends that cancel the dependents needing the task to succeed; also what `requeue` takes back. */
export const ENDED_BADLY = new Set<TaskStatus>(['failed', 'cancelled', 'expired']);
export const FINAL = new Set<TaskStatus>(['success', 'failed', 'cancelled', 'expired']);

export const copyDate = (date: Date): Date => new Date(date.getTime());

/** Due, not expired, waiting (running tasks come back only through reclaimLapsed), and readable. */
export function isReservable(task: TaskRecord, nowMs: number): boolean {
  return (
    WAITING.has(task.status) &&
    task.damaged === undefined &&
    task.runAt.getTime() <= nowMs &&
    (task.expiresAt === undefined || task.expiresAt.getTime() > nowMs)
  );
}

/** A damaged record reserve sets aside: any not running (a running one is its holder's until it settles or lapses). */
export const isSetAside = (task: TaskRecord): boolean => task.damaged !== undefined && task.status !== 'running' && !FINAL.has(task.status);

/** A damaged record ended, never run; `damaged` stays to say why. */
export const setAside = (task: TaskRecord, now: Date): TaskRecord => finished(task, 'failed', now, damagedError(task.damaged ?? 'unknown damage'));

/** Whether a parent in `status` (undefined: not ended, or not found) no longer holds `child` back. */
export const parentDone = (child: TaskRecord, status: TaskStatus | undefined): boolean =>
  status === 'success' || (child.onParentFailure === 'run' && status !== undefined && FINAL.has(status));

/** Whether a parent in `status` dooms `child`: it needs the parent to succeed, and it never will. */
export const parentDooms = (child: TaskRecord, status: TaskStatus | undefined): boolean =>
  child.onParentFailure === 'cancel' && status !== undefined && ENDED_BADLY.has(status);

/** Waiting and past its deadline (a running task is its holder's until it is reclaimed). */
export const isOverdue = (task: TaskRecord, nowMs: number): boolean =>
  WAITING.has(task.status) && task.expiresAt !== undefined && task.expiresAt.getTime() <= nowMs;

/** Running under a lease whose expiry passed before `nowMs`. */
export const isLapsed = (task: TaskRecord, nowMs: number): boolean =>
  task.status === 'running' && (task.leaseExpiresAt?.getTime() ?? 0) < nowMs;

export const holdsLease = (task: TaskRecord, token: string): boolean => task.status === 'running' && task.leaseToken === token;

const withoutLease = (task: TaskRecord): TaskRecord => ({ ...task, workerId: undefined, leaseToken: undefined, leaseExpiresAt: undefined });

export const finished = (task: TaskRecord, status: TaskStatus, at: Date, error?: TaskError): TaskRecord => {
  const ended: TaskRecord = { ...withoutLease(task), status, completedAt: at, updatedAt: at };
  if (error) ended.lastError = { ...error };
  return ended;
};

export function settled(task: TaskRecord, settlement: Settlement, now: Date): TaskRecord {
  const at = 'at' in settlement && settlement.at !== undefined ? copyDate(settlement.at) : now;
  switch (settlement.outcome) {
    case 'success':
      return finished(task, 'success', at);
    case 'failed':
    case 'cancelled':
      return finished(task, settlement.outcome, at, settlement.error);
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
export function cancelled(task: TaskRecord, now: Date, error: TaskError): TaskRecord | undefined {
  if (WAITING.has(task.status)) return finished(task, 'cancelled', now, error);
  if (task.status === 'running' && task.cancelRequestedAt === undefined) return { ...task, cancelRequestedAt: now, updatedAt: now };
  return undefined;
}

/** A dependent ended because `parent` ended failed, cancelled or expired. */
export const cancelledByParent = (child: TaskRecord, parent: TaskRecord, now: Date): TaskRecord => ({
  ...finished(child, 'cancelled', now, parentFailedError(parent)),
  cancelledBy: parent.id,
});

/** A reserved task: running under a new lease for `workerId`. */
export function leased(body: TaskBody, workerId: string, now: Date, leaseExpiresAt: Date, leaseToken: string): TaskBody {
  const task = body.task;
  return {
    ...body,
    task: { ...task, status: 'running', attempts: task.attempts + 1, startedAt: now, updatedAt: now, workerId, leaseToken, leaseExpiresAt },
  };
}

/**
 * A lapsed task back to waiting, attempts unchanged, one more lapse counted; its cancel request
 * stays for the next holder. At `maxLapses` it ends failed instead, a dead letter.
 */
export function reclaimed(task: TaskRecord, now: Date, maxLapses: number): TaskRecord {
  const lapses = task.lapses + 1;
  if (lapses >= maxLapses) return { ...finished(task, 'failed', now, lapsedError(task, lapses)), lapses };
  return { ...withoutLease(task), status: task.runAt.getTime() > now.getTime() ? 'retrying' : 'pending', updatedAt: now, lapses };
}

/** A failed, cancelled or expired task back to pending for a fresh set of attempts. */
export function requeued(task: TaskRecord, now: Date): TaskRecord {
  // A fresh life gets a fresh TTL; otherwise a requeued expired task would expire again at once.
  const expiresAt = task.ttlMs === undefined ? task.expiresAt : new Date(now.getTime() + task.ttlMs);
  // An old cancel request would make the next worker end the task without running it.
  const fresh = { startedAt: undefined, completedAt: undefined, cancelRequestedAt: undefined, cancelledBy: undefined };
  return { ...task, ...fresh, status: 'pending', attempts: 0, lapses: 0, runAt: now, updatedAt: now, expiresAt };
}

/**
 * A dependent its parent's end had cancelled, waiting again (for its parents, and for its own
 * runAt when that is still ahead). Its ParentFailedError was never its own, so it goes too.
 */
export function revived(task: TaskRecord, now: Date): TaskRecord {
  const back = { ...requeued(task, now), lastError: undefined };
  return task.runAt.getTime() > now.getTime() ? { ...back, status: 'scheduled', runAt: task.runAt } : back;
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
