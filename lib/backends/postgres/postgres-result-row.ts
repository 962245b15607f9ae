import type { ResultRecord, ResultStatus } from '../../models/result.model.js';
import { jsonOrNull, optional, optionalDate, pgText, textFromPg } from './postgres-values.js';

/** A `<project>_results` row as the driver returns it (bigint read as number). */
export interface ResultRow {
  task_id: string;
  task_name: string;
  queue: string;
  status: string;
  value_format: string | null;
  value_data: string | null;
  error: string | null;
  created_at: number;
  started_at: number | null;
  completed_at: number;
  duration_ms: number | null;
  worker_id: string | null;
  attempts: number;
  schedule_id: string | null;
  expires_at: number | null;
}

/** Every column with its type, in the order of `resultValues`, for `unnest` upserts. */
export const RESULT_COLUMNS = {
  task_id: 'text',
  task_name: 'text',
  queue: 'text',
  status: 'text',
  value_format: 'text',
  value_data: 'text',
  error: 'text',
  created_at: 'bigint',
  started_at: 'bigint',
  completed_at: 'bigint',
  duration_ms: 'bigint',
  worker_id: 'text',
  attempts: 'integer',
  schedule_id: 'text',
  expires_at: 'bigint',
} as const satisfies Record<keyof ResultRow, string>;

const COLUMNS = Object.keys(RESULT_COLUMNS) as (keyof ResultRow)[];

/** The values of a result's row, in RESULT_COLUMNS order (null for absent). */
export function resultValues(result: ResultRecord): unknown[] {
  const values: ResultRow = {
    task_id: result.taskId,
    task_name: result.taskName,
    queue: result.queue,
    status: result.status,
    value_format: result.value?.format ?? null,
    value_data: result.value === undefined ? null : pgText(result.value.data),
    error: jsonOrNull(result.error),
    created_at: result.createdAt.getTime(),
    started_at: result.startedAt?.getTime() ?? null,
    completed_at: result.completedAt.getTime(),
    duration_ms: result.durationMs ?? null,
    worker_id: result.workerId ?? null,
    attempts: result.attempts,
    schedule_id: result.scheduleId ?? null,
    expires_at: result.expiresAt?.getTime() ?? null,
  };
  return COLUMNS.map((column) => values[column]);
}

export function resultFromRow(row: ResultRow): ResultRecord {
  return {
    taskId: row.task_id,
    taskName: row.task_name,
    queue: row.queue,
    status: row.status as ResultStatus,
    value: row.value_format === null ? undefined : { format: row.value_format, data: textFromPg(row.value_data) ?? '' },
    error: row.error === null ? undefined : JSON.parse(row.error),
    createdAt: new Date(row.created_at),
    startedAt: optionalDate(row.started_at),
    completedAt: new Date(row.completed_at),
    durationMs: optional(row.duration_ms),
    workerId: optional(row.worker_id),
    attempts: row.attempts,
    scheduleId: optional(row.schedule_id),
    expiresAt: optionalDate(row.expires_at),
  } satisfies Record<keyof ResultRecord, unknown>;
}
