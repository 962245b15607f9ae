import { createHash } from 'node:crypto';
import { LIVE_TASK_STATUSES, TASK_STATUSES, type TaskRecord, type TaskStatus } from '../../models/task.model.js';
import type { Versioned } from './versioned-files.js';

/** What a task file holds besides the record: `seq` is the enqueue order (the FIFO tie-break). */
export interface TaskBody {
  seq: number;
  task: TaskRecord;
}

export type TaskVersion = Versioned<TaskBody>;

export const TASK_FORMAT = 'omniq.task/1';
const LIVE = new Set<TaskStatus>(LIVE_TASK_STATUSES);
const STATUSES = new Set<string>(TASK_STATUSES);
const DATE_FIELDS = ['createdAt', 'runAt', 'expiresAt', 'startedAt', 'completedAt', 'updatedAt', 'leaseExpiresAt', 'cancelRequestedAt'] as const;
const SAFE_NAME = /^[A-Za-z0-9-]{1,100}$/;

export const isLive = (version: TaskVersion | undefined): boolean => version !== undefined && LIVE.has(version.body.task.status);

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
  return { seq: body.seq, task: reviveTask(body.task) };
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

/**
 * A deep copy made the way the file stores it (JSON), so it is exactly what a later read
 * returns. structuredClone would be faster, but under jest it makes Dates of another realm.
 */
export function cloneTask(task: TaskRecord): TaskRecord {
  return reviveTask(JSON.parse(JSON.stringify(task)));
}
