import type { ResultRecord, ResultStatus } from '../../models/result.model.js';
import type { ResultStore } from '../../storage/result.store.js';
import { StoreLifecycle } from '../shared/store-lifecycle.js';
import { CHUNK_ROWS, betweenChunks } from './sqlite-chunks.js';
import type { SqliteConnection } from './sqlite-connection.js';
import type { SqliteStatement } from './sqlite-database.types.js';
import type { SqliteLocks } from './sqlite-locks.js';
import type { SqliteNotifier } from './sqlite-notifier.js';
import type { SqliteWriter } from './sqlite-writer.js';
import { BOUND, jsonOrNull, optional, optionalDate, textFromColumn, textValue } from './sqlite-values.js';

interface ResultRow {
  task_id: string;
  task_name: string;
  queue: string;
  status: string;
  value_format: string | null;
  value_data: string | Buffer | null;
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

const COLUMNS = [
  'task_id',
  'task_name',
  'queue',
  'status',
  'value_format',
  'value_data',
  'error',
  'created_at',
  'started_at',
  'completed_at',
  'duration_ms',
  'worker_id',
  'attempts',
  'schedule_id',
  'expires_at',
] as const satisfies readonly (keyof ResultRow)[];

/** The values of a result's row, in COLUMNS order: bound by position, as better-sqlite3 binds named parameters several times slower. */
function resultValues(result: ResultRecord): unknown[] {
  const values: Record<keyof ResultRow, unknown> = {
    task_id: result.taskId,
    task_name: result.taskName,
    queue: result.queue,
    status: result.status,
    value_format: result.value?.format,
    value_data: textValue(result.value?.data),
    error: jsonOrNull(result.error),
    created_at: result.createdAt.getTime(),
    started_at: result.startedAt?.getTime(),
    completed_at: result.completedAt.getTime(),
    duration_ms: result.durationMs,
    worker_id: result.workerId,
    attempts: result.attempts,
    schedule_id: result.scheduleId,
    expires_at: result.expiresAt?.getTime(),
  };
  return COLUMNS.map((column) => values[column]);
}

function resultFromRow(row: ResultRow): ResultRecord {
  return {
    taskId: row.task_id,
    taskName: row.task_name,
    queue: row.queue,
    status: row.status as ResultStatus,
    value: row.value_format === null ? undefined : { format: row.value_format, data: textFromColumn(row.value_data) ?? '' },
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

/**
 * Task results in `<project>_results`, one row per task id. A put of many results is one
 * transaction; the engine's task queue also writes results here inside its own transitions
 * (`writeRows`). Every result stored notifies `result` with its task id, in every process on the
 * file (see SqliteNotifier). Purges delete a chunk of CHUNK_ROWS results per transaction, so they
 * never hold the write lock long.
 */
export class SqliteResultStore implements ResultStore {
  private readonly upsert: SqliteStatement;
  private readonly select: SqliteStatement<ResultRow>;
  private readonly latest: SqliteStatement<ResultRow>;
  private readonly remove: SqliteStatement;
  private readonly purgeExpiredChunk: SqliteStatement;
  private readonly purgeCompletedChunk: SqliteStatement;
  private readonly locks: SqliteLocks;
  private readonly lifecycle = new StoreLifecycle('SqliteResultStore');

  constructor(
    connection: SqliteConnection,
    private readonly writer: SqliteWriter,
    readonly notifier: SqliteNotifier,
    private readonly release: () => Promise<void>,
  ) {
    const { db, tables } = connection;
    this.locks = connection.locks;
    const live = '(expires_at IS NULL OR expires_at > ?)';
    this.upsert = db.prepare(
      `INSERT OR REPLACE INTO ${tables.results} (${COLUMNS.join(', ')}) VALUES (${COLUMNS.map(() => '?').join(', ')})`,
    );
    this.select = db.prepare(`SELECT * FROM ${tables.results} WHERE task_id = ? AND ${live}`);
    this.latest = db.prepare(
      `SELECT * FROM ${tables.results} WHERE schedule_id IS NOT NULL AND schedule_id = ? AND ${live}
        ORDER BY completed_at DESC LIMIT 1`,
    );
    this.remove = db.prepare(`DELETE FROM ${tables.results} WHERE task_id = ?`);
    const chunk = (where: string, order: string): SqliteStatement =>
      db.prepare(`DELETE FROM ${tables.results} WHERE rowid IN (SELECT rowid FROM ${tables.results} WHERE ${where} ORDER BY ${order} LIMIT ${BOUND})`);
    this.purgeExpiredChunk = chunk('expires_at IS NOT NULL AND expires_at <= ?', 'expires_at');
    this.purgeCompletedChunk = chunk('completed_at < ?', 'completed_at');
  }

  async put(results: readonly ResultRecord[]): Promise<void> {
    this.lifecycle.assertOpen('put');
    if (results.length === 0) return;
    await this.writer.write({ operation: 'put results', tasks: results.map((result) => ({ id: result.taskId })) }, () =>
      this.writeRows(results),
    );
  }

  async get(taskId: string): Promise<ResultRecord | undefined> {
    this.lifecycle.assertOpen('get');
    const row = await this.locks.run({ operation: 'get result', tasks: [{ id: taskId }] }, () => this.select.get(taskId, Date.now()));
    return row && resultFromRow(row);
  }

  async latestForSchedule(scheduleId: string): Promise<ResultRecord | undefined> {
    this.lifecycle.assertOpen('latestForSchedule');
    const row = await this.locks.run({ operation: `latestForSchedule("${scheduleId}")` }, () => this.latest.get(scheduleId, Date.now()));
    return row && resultFromRow(row);
  }

  async delete(taskId: string): Promise<boolean> {
    this.lifecycle.assertOpen('delete');
    return this.writer.write({ operation: 'delete result', tasks: [{ id: taskId }] }, () => this.deleteRow(taskId));
  }

  async purgeExpired(now: Date, limit?: number): Promise<number> {
    this.lifecycle.assertOpen('purgeExpired');
    return this.purgeInChunks('purgeExpired', this.purgeExpiredChunk, now.getTime(), limit);
  }

  async purgeCompletedBefore(before: Date, limit?: number): Promise<number> {
    this.lifecycle.assertOpen('purgeCompletedBefore');
    return this.purgeInChunks('purgeCompletedBefore', this.purgeCompletedChunk, before.getTime(), limit);
  }

  /** Stores results inside the caller's write, announcing each. */
  writeRows(results: readonly ResultRecord[]): void {
    for (const result of results) {
      this.upsert.run(resultValues(result));
      this.writer.resultStored(result.taskId);
    }
  }

  /** Deletes a result inside the caller's write. */
  deleteRow(taskId: string): boolean {
    return this.remove.run(taskId).changes > 0;
  }

  /** Runs a chunked DELETE (bound: the time, the chunk size) until it deleted `limit` rows or found fewer than a chunk. */
  private async purgeInChunks(operation: string, statement: SqliteStatement, at: number, limit = Number.POSITIVE_INFINITY): Promise<number> {
    let purged = 0;
    for (;;) {
      const chunk = Math.min(CHUNK_ROWS, limit - purged);
      if (chunk <= 0) return purged;
      const deleted = await this.writer.write({ operation }, () => statement.run(at, chunk).changes);
      purged += deleted;
      if (deleted < chunk) return purged;
      await betweenChunks();
    }
  }

  async close(): Promise<void> {
    if (!this.lifecycle.close()) return;
    await this.release();
  }
}
