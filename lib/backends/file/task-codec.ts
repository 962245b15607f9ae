import { createHash } from 'node:crypto';
import type { TaskEvent } from '../../models/event.model.js';
import type { ResultRecord } from '../../models/result.model.js';
import { LIVE_TASK_STATUSES, TASK_STATUSES, type NewTask, type TaskRecord, type TaskStatus } from '../../models/task.model.js';
import type { WriteScope } from '../../storage/task-queue.store.js';
import type { Versioned } from './versioned-files.js';

/**
 * Effects of a transition that live outside the task's own file, written into the file with the
 * transition (the outbox) and applied after it (see Outbox). Each is idempotent, so applying an
 * entry twice (a crashed applier's entry recovered) does no harm.
 */
export interface PendingEffects {
  /** Unique: an applier clears exactly its own entry. */
  id: string;
  /** When it was written or last taken over (epoch ms): older than RECOVER_AFTER_MS means its applier died. */
  at: number;
  /** What the tasks this entry's `dependents` step changes write (the transition's scope). */
  scope: WriteScope;
  /**
   * Bring the task's dependents in line with its state: cancel the waiting ones that needed it
   * to succeed when it ended failed, cancelled or expired; revive those its end had cancelled
   * when it is no longer so (a requeue).
   */
  dependents?: true;
  /** Tasks to store (the outbox of a settlement); fixed ids, so an existing id means done. */
  enqueue?: NewTask[];
  result?: ResultRecord;
  /** Delete the task's stored result (a requeue with scope.results). */
  deleteResult?: true;
  /** Events with fixed ids: the event store ignores an id it already holds. */
  events?: TaskEvent[];
}

/** What a task file holds besides the record: `seq` is the enqueue order (the FIFO tie-break). */
export interface TaskBody {
  seq: number;
  task: TaskRecord;
  /** Effects still to apply, oldest first. */
  pending?: PendingEffects[];
  /**
   * The scope of the transition that ended the task failed, cancelled or expired: a dependent
   * stored after its cascade ran is cancelled with it, as the cascade would have.
   */
  endScope?: WriteScope;
}

export type TaskVersion = Versioned<TaskBody>;

export const TASK_FORMAT = 'omniq.task/1';
const LIVE = new Set<TaskStatus>(LIVE_TASK_STATUSES);
const STATUSES = new Set<string>(TASK_STATUSES);
const DATE_FIELDS = ['createdAt', 'runAt', 'expiresAt', 'startedAt', 'completedAt', 'updatedAt', 'leaseExpiresAt', 'cancelRequestedAt'] as const;
export const NEW_TASK_DATES = ['createdAt', 'runAt', 'expiresAt'];
export const RESULT_DATES = ['createdAt', 'startedAt', 'completedAt', 'expiresAt'];
const SAFE_NAME = /^[A-Za-z0-9-]{1,100}$/;

export const isLive = (version: TaskVersion | undefined): boolean => version !== undefined && LIVE.has(version.body.task.status);

export const hasPending = (version: TaskVersion | undefined): boolean => (version?.body.pending?.length ?? 0) > 0;

/**
 * The file name stem for an id: the id itself when it is a plain name (UUIDs are), else a hash,
 * marked with a leading `_` that plain names cannot have, so the two never collide.
 */
export function fileKey(id: string): string {
  return SAFE_NAME.test(id) ? id : `_${createHash('sha256').update(id).digest('hex')}`;
}

/** Parses a JSON date field in place; throws on anything that is not a valid date. */
export function reviveDates(record: Record<string, unknown>, fields: readonly string[]): void {
  for (const field of fields) {
    const value = record[field];
    if (value === undefined || value === null) {
      delete record[field];
      continue;
    }
    const date = new Date(value as string);
    if (typeof value !== 'string' || Number.isNaN(date.getTime())) throw new Error(`${field} is not a date`);
    record[field] = date;
  }
}

export function reviveTaskBody(body: Record<string, unknown>): TaskBody {
  if (typeof body.seq !== 'number') throw new Error('no enqueue sequence in the file');
  const revived: TaskBody = { seq: body.seq, task: reviveTask(body.task) };
  if (Array.isArray(body.pending) && body.pending.length > 0) revived.pending = body.pending.map(revivePending);
  if (isScope(body.endScope)) revived.endScope = body.endScope;
  return revived;
}

function reviveTask(parsed: unknown): TaskRecord {
  const task = parsed as Record<string, unknown> | null | undefined;
  if (typeof task !== 'object' || task === null) throw new Error('no task in the file');
  if (typeof task.id !== 'string' || typeof task.queue !== 'string' || !STATUSES.has(task.status as string)) {
    throw new Error('the task lacks an id, queue or valid status');
  }
  reviveDates(task, DATE_FIELDS);
  // Files written before the policy existed meant the only rule there was: parents must succeed.
  task.onParentFailure ??= 'cancel';
  return task as unknown as TaskRecord;
}

const isScope = (value: unknown): value is WriteScope =>
  typeof value === 'object' &&
  value !== null &&
  typeof (value as WriteScope).results === 'boolean' &&
  typeof (value as WriteScope).events === 'boolean';

function revivePending(parsed: unknown): PendingEffects {
  const entry = parsed as Record<string, unknown> | null;
  if (typeof entry !== 'object' || entry === null || typeof entry.id !== 'string' || typeof entry.at !== 'number' || !isScope(entry.scope)) {
    throw new Error('a pending effect lacks an id, time or scope');
  }
  for (const task of (entry.enqueue as Record<string, unknown>[] | undefined) ?? []) reviveDates(task, NEW_TASK_DATES);
  if (entry.result !== undefined) reviveDates(entry.result as Record<string, unknown>, RESULT_DATES);
  for (const event of (entry.events as Record<string, unknown>[] | undefined) ?? []) reviveDates(event, ['timestamp']);
  return entry as unknown as PendingEffects;
}

/**
 * A deep copy made the way the file stores it (JSON), so it is exactly what a later read
 * returns. structuredClone would be faster, but under jest it makes Dates of another realm.
 */
export function cloneTask(task: TaskRecord): TaskRecord {
  return reviveTask(JSON.parse(JSON.stringify(task)));
}
