import type { TaskEvent, TaskEventType } from '../../models/event.model.js';
import type { ResultRecord, ResultStatus } from '../../models/result.model.js';

/**
 * The JSON forms of events and results as the server backends keep them (Redis: an event in the
 * `e` field of a stream entry, a result in its `result:<taskId>` string, decoded by no Lua script
 * but for an event's `taskId` and `scheduleId`; NATS: an event as the payload of its stream
 * message, a result as the value of its KV key): times in epoch ms, absent fields omitted.
 */

/** A stored record that is not the JSON this file writes (a manual edit, another program). */
export class RecordDamageError extends Error {
  override name = 'RecordDamageError';
}

const time = (date: Date | undefined): number | undefined => date?.getTime();
const dateOf = (ms: unknown): Date | undefined => (typeof ms === 'number' ? new Date(ms) : undefined);

function parsed(text: string, what: string, where: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new RecordDamageError(`${where} holds no valid JSON ${what}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new RecordDamageError(`${where} holds no JSON object (${what})`);
  return value as Record<string, unknown>;
}

function required<T>(record: Record<string, unknown>, field: string, type: 'string' | 'number', where: string): T {
  const value = record[field];
  if (typeof value !== type) throw new RecordDamageError(`${where}: field ${field} is missing or not a ${type}`);
  return value as T;
}

export function eventToJson(event: TaskEvent): string {
  return JSON.stringify({
    id: event.id,
    type: event.type,
    timestamp: event.timestamp.getTime(),
    taskId: event.taskId,
    taskName: event.taskName,
    queue: event.queue,
    scheduleId: event.scheduleId,
    workerId: event.workerId,
    attempt: event.attempt,
    durationMs: event.durationMs,
    message: event.message,
    error: event.error,
    data: event.data,
  });
}

/** `where` names the stored entry in the error a damaged one throws (RecordDamageError). */
export function eventFromJson(text: string, where = 'a stored event'): TaskEvent {
  const stored = parsed(text, 'event', where);
  const event: TaskEvent = {
    id: required(stored, 'id', 'string', where),
    type: required<TaskEventType>(stored, 'type', 'string', where),
    timestamp: new Date(required<number>(stored, 'timestamp', 'number', where)),
  };
  for (const field of ['taskId', 'taskName', 'queue', 'scheduleId', 'workerId', 'message'] as const) {
    if (typeof stored[field] === 'string') event[field] = stored[field];
  }
  if (typeof stored.attempt === 'number') event.attempt = stored.attempt;
  if (typeof stored.durationMs === 'number') event.durationMs = stored.durationMs;
  if (stored.error !== undefined) event.error = stored.error as TaskEvent['error'];
  if (stored.data !== undefined) event.data = stored.data as TaskEvent['data'];
  return event;
}

export function resultToJson(result: ResultRecord): string {
  return JSON.stringify({
    taskId: result.taskId,
    taskName: result.taskName,
    queue: result.queue,
    status: result.status,
    value: result.value && { format: result.value.format, data: result.value.data },
    error: result.error,
    createdAt: result.createdAt.getTime(),
    startedAt: time(result.startedAt),
    completedAt: result.completedAt.getTime(),
    durationMs: result.durationMs,
    workerId: result.workerId,
    attempts: result.attempts,
    scheduleId: result.scheduleId,
    expiresAt: time(result.expiresAt),
  });
}

/** `where` names the stored key in the error a damaged one throws (RecordDamageError). */
export function resultFromJson(text: string, where = 'a stored result'): ResultRecord {
  const stored = parsed(text, 'result', where);
  const result: ResultRecord = {
    taskId: required(stored, 'taskId', 'string', where),
    taskName: required(stored, 'taskName', 'string', where),
    queue: required(stored, 'queue', 'string', where),
    status: required<ResultStatus>(stored, 'status', 'string', where),
    createdAt: new Date(required<number>(stored, 'createdAt', 'number', where)),
    completedAt: new Date(required<number>(stored, 'completedAt', 'number', where)),
    attempts: required(stored, 'attempts', 'number', where),
  };
  const value = stored.value as { format?: unknown; data?: unknown } | undefined;
  if (value !== undefined) {
    if (typeof value?.format !== 'string' || typeof value.data !== 'string') throw new RecordDamageError(`${where}: field value is not {format, data}`);
    result.value = { format: value.format, data: value.data };
  }
  if (stored.error !== undefined) result.error = stored.error as ResultRecord['error'];
  const startedAt = dateOf(stored.startedAt);
  if (startedAt) result.startedAt = startedAt;
  if (typeof stored.durationMs === 'number') result.durationMs = stored.durationMs;
  if (typeof stored.workerId === 'string') result.workerId = stored.workerId;
  if (typeof stored.scheduleId === 'string') result.scheduleId = stored.scheduleId;
  const expiresAt = dateOf(stored.expiresAt);
  if (expiresAt) result.expiresAt = expiresAt;
  return result;
}
