import { createHash } from 'node:crypto';
import type { TaskEvent } from '../../models/event.model.js';
import type { ResultRecord } from '../../models/result.model.js';
import { LIVE_TASK_STATUSES, TASK_STATUSES, type NewTask, type TaskRecord, type TaskStatus } from '../../models/task.model.js';
import type { WriteScope } from '../../storage/task-queue.store.js';
import type { Versioned } from './kv-records.js';

/**
 * Effects of a transition that live outside the task's own record, written into the record with the
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

/** What a task's record holds besides the task: `seq` is the enqueue order (the FIFO tie-break). */
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
 * The record key (a file name stem, a KV key token) for an id: the id itself when it is a plain
 * name (UUIDs are), else a hash, marked with a leading `_` that plain names cannot have, so the
 * two never collide.
 */
export function recordKey(id: string): string {
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

/**
 * The body of a task record. A record whose fields are missing or of the wrong type still reads
 * (see reviveTask); only a body with no task id at all is unreadable, and throws.
 */
export function reviveTaskBody(body: Record<string, unknown>): TaskBody {
  const damage: string[] = [];
  const seq = typeof body.seq === 'number' ? body.seq : (damage.push('field seq (the enqueue order) is missing'), 0);
  const revived: TaskBody = { seq, task: reviveTask(body.task, damage) };
  if (Array.isArray(body.pending) && body.pending.length > 0) {
    try {
      revived.pending = body.pending.map(revivePending);
    } catch (error) {
      // Effects that cannot be read cannot be applied: the record says so instead.
      damage.push(`field pending is unreadable (${(error as Error).message})`);
    }
  }
  if (isScope(body.endScope)) revived.endScope = body.endScope;
  noteDamage(revived.task, damage);
  return revived;
}

type Fields = Record<string, unknown>;

const isStringArray = (value: unknown): value is string[] => Array.isArray(value) && value.every((item) => typeof item === 'string');
const isEncoded = (value: unknown): boolean =>
  typeof value === 'object' && value !== null && typeof (value as Fields).format === 'string' && typeof (value as Fields).data === 'string';
const isTaskError = (value: unknown): boolean =>
  typeof value === 'object' && value !== null && typeof (value as Fields).name === 'string' && typeof (value as Fields).message === 'string';
const isCallback = (value: unknown): boolean =>
  typeof value === 'object' && value !== null && typeof (value as Fields).task === 'string' && ((value as Fields).args === undefined || isEncoded((value as Fields).args));

/** What each field must hold, the value it reads as when it does not, and whether it may be absent. */
const FIELD_RULES: ReadonlyArray<[field: string, valid: (value: unknown) => boolean, neutral: unknown, optional: boolean]> = [
  ['name', (value) => typeof value === 'string', '', false],
  ['queue', (value) => typeof value === 'string', '', false],
  ['priority', Number.isFinite, 0, false],
  ['payload', isEncoded, undefined, false],
  ['maxRetries', Number.isFinite, 0, false],
  ['retryDelayMs', Number.isFinite, 0, false],
  ['retryBackoff', (value) => value === 'exponential' || value === 'fixed', 'fixed', false],
  ['retryMaxDelayMs', Number.isFinite, 0, false],
  ['storeResult', (value) => typeof value === 'boolean', false, false],
  ['dependsOn', isStringArray, [], false],
  ['tags', isStringArray, [], false],
  ['attempts', Number.isFinite, 0, false],
  ['onParentFailure', (value) => value === 'cancel' || value === 'run', 'cancel', false],
  ['timeoutMs', Number.isFinite, undefined, true],
  ['ttlMs', Number.isFinite, undefined, true],
  ['resultTtlMs', Number.isFinite, undefined, true],
  ['dedupeWindowMs', Number.isFinite, undefined, true],
  ['onSuccess', isCallback, undefined, true],
  ['onFailure', isCallback, undefined, true],
  ['lastError', isTaskError, undefined, true],
  ['description', (value) => typeof value === 'string', undefined, true],
  ['scheduleId', (value) => typeof value === 'string', undefined, true],
  ['key', (value) => typeof value === 'string', undefined, true],
  ['cancelledBy', (value) => typeof value === 'string', undefined, true],
  ['workerId', (value) => typeof value === 'string', undefined, true],
  ['leaseToken', (value) => typeof value === 'string', undefined, true],
  ['damaged', (value) => typeof value === 'string', undefined, true],
];
const REQUIRED_DATES = new Set(['createdAt', 'runAt', 'updatedAt']);
const EPOCH = 0;

/**
 * The task of a stored record. A field that is missing or holds the wrong type reads at a neutral
 * value (empty, zero, the epoch, undefined) and is named in `damaged`, so one bad record shows
 * up flagged instead of failing every read (reserve sets it aside). Throws only without an id.
 */
function reviveTask(parsed: unknown, damage: string[]): TaskRecord {
  const task = parsed as Fields | null | undefined;
  if (typeof task !== 'object' || task === null) throw new Error('no task in the file');
  if (typeof task.id !== 'string') throw new Error('the task has no id');
  // Records written before these fields existed meant what the defaults say.
  task.onParentFailure ??= 'cancel';
  task.lapses ??= 0;
  if (!Number.isFinite(task.lapses)) {
    damage.push(describeBad('lapses', task.lapses));
    task.lapses = 0;
  }
  if (!STATUSES.has(task.status as string)) {
    damage.push(describeBad('status', task.status));
    task.status = 'pending';
  }
  for (const [field, valid, neutral, optional] of FIELD_RULES) {
    const value = task[field];
    if ((optional && (value === undefined || value === null)) || valid(value)) continue;
    damage.push(describeBad(field, value));
    if (neutral === undefined) delete task[field];
    else task[field] = Array.isArray(neutral) ? [] : neutral;
  }
  for (const field of DATE_FIELDS) {
    try {
      reviveDates(task, [field]);
    } catch {
      damage.push(describeBad(field, task[field]));
      delete task[field];
    }
    if (task[field] === undefined && REQUIRED_DATES.has(field)) {
      if (!damage.some((entry) => entry.startsWith(`field ${field} `))) damage.push(`field ${field} is missing`);
      task[field] = new Date(EPOCH);
    }
  }
  return task as unknown as TaskRecord;
}

/** Flags the record with what was found wrong; one flagged before (set aside) keeps saying why. */
function noteDamage(task: TaskRecord, damage: readonly string[]): void {
  if (damage.length > 0 && task.damaged === undefined) task.damaged = damage.join('; ');
}

function describeBad(field: string, value: unknown): string {
  if (value === undefined || value === null) return `field ${field} is missing`;
  const shown = typeof value === 'string' ? JSON.stringify(value.slice(0, 40)) : Array.isArray(value) ? 'an array' : typeof value;
  return `field ${field} holds ${shown}, not a valid value`;
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
 * A deep copy made the way the record stores it (JSON), so it is exactly what a later read
 * returns. structuredClone would be faster, but under jest it makes Dates of another realm.
 */
export function cloneTask(task: TaskRecord): TaskRecord {
  const damage: string[] = [];
  const copy = reviveTask(JSON.parse(JSON.stringify(task)), damage);
  noteDamage(copy, damage);
  return copy;
}
