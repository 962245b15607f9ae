import {
  type NewTask,
  type ParentFailurePolicy,
  type RetryBackoff,
  type TaskCallback,
  type TaskRecord,
  type TaskStatus,
} from '../../models/task.model.js';
import { RowDamage, jsonColumn, quoteDamaged, statusColumn, stringListColumn } from '../shared/row-damage.js';
import { jsonOrNull, optional, textFromColumn, textValue } from './sqlite-values.js';

/** The types of `<project>_tasks` columns: times in epoch ms, lists and errors as JSON text. */
interface TaskColumnTypes {
  seq: number;
  id: string;
  name: string;
  queue: string;
  priority: number;
  payload_format: string;
  /** Text, or a BLOB of UTF-16 code units (see textValue). */
  payload_data: string | Buffer;
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
  store_result: number;
  depends_on: string;
  on_parent_failure: string;
  on_success: string | null;
  on_failure: string | null;
  tags: string;
  description: string | Buffer | null;
  schedule_id: string | null;
  idempotency_key: string | null;
  dedupe_window_ms: number | null;
  status: string;
  attempts: number;
  started_at: number | null;
  completed_at: number | null;
  updated_at: number;
  last_error: string | null;
  cancel_requested_at: number | null;
  worker_id: string | null;
  lease_token: string | null;
  lease_expires_at: number | null;
  progress: string | null;
  ready: number;
  blocked: number;
  cancelled_by: string | null;
  lapses: number;
}

type TaskColumn = keyof TaskColumnTypes;

/** The columns of a task's definition, plus its status and attempts: both lists below hold them, in this order. */
const TASK_DEFINITION_COLUMNS = [
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
  'dedupe_window_ms',
  'status',
  'attempts',
] as const satisfies readonly TaskColumn[];

/** The columns queries read, in the order of a raw row. */
export const TASK_COLUMNS = [
  'seq',
  ...TASK_DEFINITION_COLUMNS,
  'started_at',
  'completed_at',
  'updated_at',
  'last_error',
  'cancel_requested_at',
  'worker_id',
  'lease_token',
  'lease_expires_at',
  'progress',
  'ready',
  'cancelled_by',
  'lapses',
] as const satisfies readonly TaskColumn[];

/** The columns a new task's row is inserted with, in the order of its values; the others start out NULL. */
export const TASK_INSERT_COLUMNS = [...TASK_DEFINITION_COLUMNS, 'updated_at', 'ready', 'blocked'] as const satisfies readonly TaskColumn[];

/**
 * A task row as better-sqlite3's raw mode returns it: values in TASK_COLUMNS order. Reserve reads
 * many rows of 34 columns, and raw arrays cost a fraction of what keyed objects do.
 */
export type TaskRow = readonly unknown[];

const POSITION = Object.fromEntries(TASK_COLUMNS.map((column, i) => [column, i])) as Record<(typeof TASK_COLUMNS)[number], number>;

export const taskColumn = <C extends (typeof TASK_COLUMNS)[number]>(row: TaskRow, column: C): TaskColumnTypes[C] =>
  row[POSITION[column]] as TaskColumnTypes[C];

function time(row: TaskRow, column: 'created_at' | 'run_at' | 'updated_at', damage: RowDamage): Date {
  const ms: unknown = taskColumn(row, column);
  if (typeof ms === 'number' && Number.isFinite(ms)) return new Date(ms);
  damage.note(column, `holds no time (${quoteDamaged(ms)})`);
  return new Date(0);
}

function optionalTime(
  row: TaskRow,
  column: 'expires_at' | 'started_at' | 'completed_at' | 'cancel_requested_at' | 'lease_expires_at',
  damage: RowDamage,
): Date | undefined {
  const ms: unknown = taskColumn(row, column);
  if (ms === null) return undefined;
  if (typeof ms === 'number' && Number.isFinite(ms)) return new Date(ms);
  damage.note(column, `holds no time (${quoteDamaged(ms)})`);
  return undefined;
}

/**
 * A fresh record built from a row; nothing in it is shared with the row or other records. A row
 * with columns that cannot be read still makes a record, with `damaged` saying which and why.
 */
export function taskFromRow(row: TaskRow): TaskRecord {
  const damage = new RowDamage();
  const record: TaskRecord = {
    id: taskColumn(row, 'id'),
    name: taskColumn(row, 'name'),
    queue: taskColumn(row, 'queue'),
    priority: taskColumn(row, 'priority'),
    payload: { format: taskColumn(row, 'payload_format'), data: textFromColumn(taskColumn(row, 'payload_data')) },
    createdAt: time(row, 'created_at', damage),
    runAt: time(row, 'run_at', damage),
    maxRetries: taskColumn(row, 'max_retries'),
    retryDelayMs: taskColumn(row, 'retry_delay_ms'),
    retryBackoff: taskColumn(row, 'retry_backoff') as RetryBackoff,
    retryMaxDelayMs: taskColumn(row, 'retry_max_delay_ms'),
    timeoutMs: optional(taskColumn(row, 'timeout_ms')),
    ttlMs: optional(taskColumn(row, 'ttl_ms')),
    expiresAt: optionalTime(row, 'expires_at', damage),
    resultTtlMs: optional(taskColumn(row, 'result_ttl_ms')),
    storeResult: taskColumn(row, 'store_result') === 1,
    dependsOn: stringListColumn(taskColumn(row, 'depends_on'), 'depends_on', damage),
    onParentFailure: taskColumn(row, 'on_parent_failure') as ParentFailurePolicy,
    onSuccess: jsonColumn(taskColumn(row, 'on_success'), 'on_success', damage) as TaskCallback | undefined,
    onFailure: jsonColumn(taskColumn(row, 'on_failure'), 'on_failure', damage) as TaskCallback | undefined,
    tags: stringListColumn(taskColumn(row, 'tags'), 'tags', damage),
    description: optional(textFromColumn(taskColumn(row, 'description'))),
    scheduleId: optional(taskColumn(row, 'schedule_id')),
    key: optional(taskColumn(row, 'idempotency_key')),
    dedupeWindowMs: optional(taskColumn(row, 'dedupe_window_ms')),
    status: statusColumn(taskColumn(row, 'status'), damage),
    attempts: taskColumn(row, 'attempts'),
    lapses: taskColumn(row, 'lapses'),
    startedAt: optionalTime(row, 'started_at', damage),
    completedAt: optionalTime(row, 'completed_at', damage),
    updatedAt: time(row, 'updated_at', damage),
    lastError: jsonColumn(taskColumn(row, 'last_error'), 'last_error', damage) as TaskRecord['lastError'],
    cancelledBy: optional(taskColumn(row, 'cancelled_by')),
    cancelRequestedAt: optionalTime(row, 'cancel_requested_at', damage),
    progress: jsonColumn(taskColumn(row, 'progress'), 'progress', damage),
    workerId: optional(taskColumn(row, 'worker_id')),
    leaseToken: optional(taskColumn(row, 'lease_token')),
    leaseExpiresAt: optionalTime(row, 'lease_expires_at', damage),
    damaged: undefined,
  } satisfies Record<keyof TaskRecord, unknown>;
  if (damage.notes === undefined) delete record.damaged;
  else record.damaged = damage.notes.join('; ');
  return record;
}

/** The values of a new task's row, in TASK_INSERT_COLUMNS order (undefined binds as NULL). */
export function insertValues(task: NewTask, status: TaskStatus, ready: boolean, blocked: boolean): unknown[] {
  const values: Record<(typeof TASK_INSERT_COLUMNS)[number], unknown> = {
    id: task.id,
    name: task.name,
    queue: task.queue,
    priority: task.priority,
    payload_format: task.payload.format,
    payload_data: textValue(task.payload.data),
    created_at: task.createdAt.getTime(),
    run_at: task.runAt.getTime(),
    max_retries: task.maxRetries,
    retry_delay_ms: task.retryDelayMs,
    retry_backoff: task.retryBackoff,
    retry_max_delay_ms: task.retryMaxDelayMs,
    timeout_ms: task.timeoutMs,
    ttl_ms: task.ttlMs,
    expires_at: task.expiresAt?.getTime(),
    result_ttl_ms: task.resultTtlMs,
    store_result: task.storeResult ? 1 : 0,
    depends_on: JSON.stringify(task.dependsOn),
    on_parent_failure: task.onParentFailure,
    on_success: jsonOrNull(task.onSuccess),
    on_failure: jsonOrNull(task.onFailure),
    tags: JSON.stringify(task.tags),
    description: textValue(task.description),
    schedule_id: task.scheduleId,
    idempotency_key: task.key,
    dedupe_window_ms: task.dedupeWindowMs,
    status,
    attempts: 0,
    updated_at: task.createdAt.getTime(),
    ready: ready ? 1 : 0,
    blocked: blocked ? 1 : 0,
  };
  // Bound by position: better-sqlite3 binds named parameters several times slower.
  return TASK_INSERT_COLUMNS.map((column) => values[column]);
}
