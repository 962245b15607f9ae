import type { TaskEvent, TaskEventType } from '../../models/event.model.js';
import { jsonOrNull, optional, pgText, textFromPg } from './postgres-values.js';

/** A `<project>_events` row as the driver returns it: times in epoch ms, errors and data as JSON text. */
export interface EventRow {
  seq: number;
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
  message: string | null;
  error: string | null;
  data: string | null;
}

/** The columns an event is inserted with (all but `seq`, which the table numbers), with their types, in the order of `eventValues`. */
export const EVENT_COLUMNS = {
  id: 'text',
  type: 'text',
  timestamp: 'bigint',
  task_id: 'text',
  task_name: 'text',
  queue: 'text',
  schedule_id: 'text',
  worker_id: 'text',
  attempt: 'integer',
  duration_ms: 'bigint',
  message: 'text',
  error: 'text',
  data: 'text',
} as const satisfies Record<Exclude<keyof EventRow, 'seq'>, string>;

const COLUMNS = Object.keys(EVENT_COLUMNS) as (keyof typeof EVENT_COLUMNS)[];

/** The values of an event's row, in EVENT_COLUMNS order (null for absent). */
export function eventValues(event: TaskEvent): unknown[] {
  const values: Omit<EventRow, 'seq'> = {
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
    message: pgText(event.message) ?? null,
    error: jsonOrNull(event.error),
    data: jsonOrNull(event.data),
  };
  return COLUMNS.map((column) => values[column]);
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
    message: optional(textFromPg(row.message)),
    error: row.error === null ? undefined : JSON.parse(row.error),
    data: row.data === null ? undefined : JSON.parse(row.data),
  } satisfies Record<keyof TaskEvent, unknown>;
}
