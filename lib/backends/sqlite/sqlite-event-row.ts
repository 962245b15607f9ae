import type { TaskEvent, TaskEventType } from '../../models/event.model.js';
import { jsonOrNull, optional, textFromColumn, textValue } from './sqlite-values.js';

/** An event as `<project>_events` stores it: times in epoch ms, errors and data as JSON text. */
export interface EventRow {
  id: string;
  type: string;
  timestamp: number;
  task_id: string | null;
  task_name: string | null;
  queue: string | null;
  schedule_id: string | null;
  worker_id: string | null;
  attempt: number | null;
  duration_ms: number | null;
  message: string | Buffer | null;
  error: string | null;
  data: string | null;
}

/** The columns an event is inserted with, in the order of its values. */
export const EVENT_COLUMNS = [
  'id',
  'type',
  'timestamp',
  'task_id',
  'task_name',
  'queue',
  'schedule_id',
  'worker_id',
  'attempt',
  'duration_ms',
  'message',
  'error',
  'data',
] as const satisfies readonly (keyof EventRow)[];

export function eventRow(event: TaskEvent): EventRow {
  return {
    id: event.id,
    type: event.type,
    timestamp: event.timestamp.getTime(),
    task_id: event.taskId ?? null,
    task_name: event.taskName ?? null,
    queue: event.queue ?? null,
    schedule_id: event.scheduleId ?? null,
    worker_id: event.workerId ?? null,
    attempt: event.attempt ?? null,
    duration_ms: event.durationMs ?? null,
    message: textValue(event.message) ?? null,
    error: jsonOrNull(event.error),
    data: jsonOrNull(event.data),
  } satisfies Record<(typeof EVENT_COLUMNS)[number], unknown>;
}

export function eventFromRow(row: EventRow): TaskEvent {
  return {
    id: row.id,
    type: row.type as TaskEventType,
    timestamp: new Date(row.timestamp),
    taskId: optional(row.task_id),
    taskName: optional(row.task_name),
    queue: optional(row.queue),
    scheduleId: optional(row.schedule_id),
    workerId: optional(row.worker_id),
    attempt: optional(row.attempt),
    durationMs: optional(row.duration_ms),
    message: optional(textFromColumn(row.message)),
    error: row.error === null ? undefined : JSON.parse(row.error),
    data: row.data === null ? undefined : JSON.parse(row.data),
  } satisfies Record<keyof TaskEvent, unknown>;
}
