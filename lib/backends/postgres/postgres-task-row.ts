import {
  type NewTask,
  type ParentFailurePolicy,
  type RetryBackoff,
  type TaskCallback,
  type TaskRecord,
  type TaskStatus,
} from '../../models/task.model.js';
import { RowDamage, jsonColumn, statusColumn, stringListColumn } from '../shared/row-damage.js';
import { jsonOrNull, optional, pgText, textFromPg } from './postgres-values.js';

/** A `<project>_tasks` row as the driver returns it (bigint read as number, see PostgresDb). */
export interface TaskRow {
  seq: number;
  id: string;
  name: string;
  queue: string;
  priority: number;
  payload_format: string;
  payload_data: string;
  created_at: number;
  run_at: number;
  max_retries: number;
  retry_delay_ms: number;
  retry_backoff: string;
  retry_max_delay_ms: number;
  timeout_ms: number | null;
  ttl_ms: number | null;
  expires_at: number | null;
  result_ttl_ms: number | null;
  store_result: boolean;
  depends_on: string;
  on_parent_failure: string;
  on_success: string | null;
  on_failure: string | null;
  tags: string;
  description: string | null;
  schedule_id: string | null;
  idempotency_key: string | null;
  held_key: string | null;
  dedupe_window_ms: number | null;
  status: string;
  attempts: number;
  lapses: number;
  started_at: number | null;
  completed_at: number | null;
  updated_at: number;
  last_error: string | null;
  cancel_requested_at: number | null;
  cancelled_by: string | null;
  worker_id: string | null;
  lease_token: string | null;
  lease_expires_at: number | null;
  progress: string | null;
  unmet: number;
}

/** The columns a new task is inserted with, in the order of `insertValues`; the others take their defaults or NULL. */
export const TASK_INSERT_COLUMNS = [
  'id',
  'name',
  'queue',
  'priority',
  'payload_format',
  'payload_data',
  'created_at',
  'run_at',
  'max_retries',
  'retry_delay_ms',
  'retry_backoff',
  'retry_max_delay_ms',
  'timeout_ms',
  'ttl_ms',
  'expires_at',
  'result_ttl_ms',
  'store_result',
  'depends_on',
  'on_parent_failure',
  'on_success',
  'on_failure',
  'tags',
  'description',
  'schedule_id',
  'idempotency_key',
  'held_key',
  'dedupe_window_ms',
  'status',
  'updated_at',
  'unmet',
] as const satisfies readonly (keyof TaskRow)[];

/** The PostgreSQL type of each insert column, for `unnest($1::text[], $2::int[], …)` batch inserts. */
export const TASK_INSERT_TYPES: Readonly<Record<(typeof TASK_INSERT_COLUMNS)[number], string>> = {
  id: 'text',
  name: 'text',
  queue: 'text',
  priority: 'integer',
  payload_format: 'text',
  payload_data: 'text',
  created_at: 'bigint',
  run_at: 'bigint',
  max_retries: 'integer',
  retry_delay_ms: 'bigint',
  retry_backoff: 'text',
  retry_max_delay_ms: 'bigint',
  timeout_ms: 'bigint',
  ttl_ms: 'bigint',
  expires_at: 'bigint',
  result_ttl_ms: 'bigint',
  store_result: 'boolean',
  depends_on: 'text',
  on_parent_failure: 'text',
  on_success: 'text',
  on_failure: 'text',
  tags: 'text',
  description: 'text',
  schedule_id: 'text',
  idempotency_key: 'text',
  held_key: 'text',
  dedupe_window_ms: 'bigint',
  status: 'text',
  updated_at: 'bigint',
  unmet: 'integer',
};

/** The values of a new task's row, in TASK_INSERT_COLUMNS order (null for absent). */
export function insertValues(task: NewTask, status: TaskStatus, unmet: number): unknown[] {
  const values: Record<(typeof TASK_INSERT_COLUMNS)[number], unknown> = {
    id: task.id,
    name: task.name,
    queue: task.queue,
    priority: task.priority,
    payload_format: task.payload.format,
    payload_data: pgText(task.payload.data),
    created_at: task.createdAt.getTime(),
    run_at: task.runAt.getTime(),
    max_retries: task.maxRetries,
    retry_delay_ms: task.retryDelayMs,
    retry_backoff: task.retryBackoff,
    retry_max_delay_ms: task.retryMaxDelayMs,
    timeout_ms: task.timeoutMs ?? null,
    ttl_ms: task.ttlMs ?? null,
    expires_at: task.expiresAt?.getTime() ?? null,
    result_ttl_ms: task.resultTtlMs ?? null,
    store_result: task.storeResult,
    depends_on: JSON.stringify(task.dependsOn),
    on_parent_failure: task.onParentFailure,
    on_success: jsonOrNull(task.onSuccess),
    on_failure: jsonOrNull(task.onFailure),
    tags: JSON.stringify(task.tags),
    description: pgText(task.description) ?? null,
    schedule_id: task.scheduleId ?? null,
    idempotency_key: task.key ?? null,
    held_key: task.key ?? null,
    dedupe_window_ms: task.dedupeWindowMs ?? null,
    status,
    updated_at: task.createdAt.getTime(),
    unmet,
  };
  return TASK_INSERT_COLUMNS.map((column) => values[column]);
}

const date = (ms: number | null): Date | undefined => (ms === null ? undefined : new Date(ms));

/**
 * A fresh record built from a row. A row with columns that cannot be read still makes a record,
 * with `damaged` saying which and why. (The column types keep times and numbers readable; text
 * columns holding JSON are what a manual edit can break.)
 */
export function taskFromRow(row: TaskRow): TaskRecord {
  const damage = new RowDamage();
  const record: TaskRecord = {
    id: row.id,
    name: row.name,
    queue: row.queue,
    priority: row.priority,
    payload: { format: row.payload_format, data: textFromPg(row.payload_data) },
    createdAt: new Date(row.created_at),
    runAt: new Date(row.run_at),
    maxRetries: row.max_retries,
    retryDelayMs: row.retry_delay_ms,
    retryBackoff: row.retry_backoff as RetryBackoff,
    retryMaxDelayMs: row.retry_max_delay_ms,
    timeoutMs: optional(row.timeout_ms),
    ttlMs: optional(row.ttl_ms),
    expiresAt: date(row.expires_at),
    resultTtlMs: optional(row.result_ttl_ms),
    storeResult: row.store_result,
    dependsOn: stringListColumn(row.depends_on, 'depends_on', damage),
    onParentFailure: row.on_parent_failure as ParentFailurePolicy,
    onSuccess: jsonColumn(row.on_success, 'on_success', damage) as TaskCallback | undefined,
    onFailure: jsonColumn(row.on_failure, 'on_failure', damage) as TaskCallback | undefined,
    tags: stringListColumn(row.tags, 'tags', damage),
    description: optional(textFromPg(row.description)),
    scheduleId: optional(row.schedule_id),
    key: optional(row.idempotency_key),
    dedupeWindowMs: optional(row.dedupe_window_ms),
    status: statusColumn(row.status, damage),
    attempts: row.attempts,
    lapses: row.lapses,
    startedAt: date(row.started_at),
    completedAt: date(row.completed_at),
    updatedAt: new Date(row.updated_at),
    lastError: jsonColumn(row.last_error, 'last_error', damage) as TaskRecord['lastError'],
    cancelledBy: optional(row.cancelled_by),
    cancelRequestedAt: date(row.cancel_requested_at),
    progress: jsonColumn(row.progress, 'progress', damage),
    workerId: optional(row.worker_id),
    leaseToken: optional(row.lease_token),
    leaseExpiresAt: date(row.lease_expires_at),
    damaged: undefined,
  } satisfies Record<keyof TaskRecord, unknown>;
  if (damage.notes === undefined) delete record.damaged;
  else record.damaged = damage.notes.join('; ');
  return record;
}
