import type { SqliteDatabase, SqliteStatement } from './sqlite-database.types.js';
import { TASK_COLUMNS, TASK_INSERT_COLUMNS, type TaskRow } from './sqlite-task-row.js';
import type { SqliteTables } from './sqlite-tables.js';
import { LIVE_SQL, REQUEUEABLE_SQL, WAITING_SQL } from './sqlite-task-statuses.js';
import { BOUND } from './sqlite-values.js';

export const COLUMNS = TASK_COLUMNS.join(', ');
export const CLEAR_LEASE = 'worker_id = NULL, lease_token = NULL, lease_expires_at = NULL';
/** A lease holder's statement applies only while its token is the task's lease, lapsed or not (until a reclaim): binds id, token. */
const HELD = `id = ? AND status = 'running' AND lease_token = ?`;
/**
 * A ready row must still be due, and not expired, at this reserve's `now`: binds now, now, limit.
 * A `run_at` that is no number (a damaged row) is read too, so that reserve sets the row aside
 * instead of passing over it forever; run_at is no range term of the index scan, so this costs
 * nothing.
 */
const RESERVABLE = `(run_at <= ? OR typeof(run_at) <> 'integer') AND (expires_at IS NULL OR expires_at > ?)
  ORDER BY priority DESC, run_at, seq LIMIT ${BOUND}`;

/**
 * The statement that keeps an idempotency key on a task coming back to life (requeued, revived)
 * only while no other live task holds it: a key is held by at most one live task.
 */
export const keepFreeKey = (tasks: string): string =>
  `idempotency_key = CASE WHEN idempotency_key IS NOT NULL AND EXISTS (
    SELECT 1 FROM ${tasks} AS other WHERE other.idempotency_key IS NOT NULL AND other.idempotency_key = ${tasks}.idempotency_key
      AND other.status IN ${LIVE_SQL} AND other.seq <> ${tasks}.seq) THEN NULL ELSE idempotency_key END`;

/**
 * The statements of a task's life (enqueue, reserve, the lease holder's calls, cancel, requeue,
 * reads), prepared once per engine, behind typed methods that bind the `?` parameters in order:
 * better-sqlite3 binds named parameters several times slower, and these run once per task. Rows
 * come back raw (arrays in TASK_COLUMNS order). WHERE clauses repeat the partial indexes' terms
 * (see the initial migration) so SQLite uses those indexes.
 */
export class SqliteTaskQueries {
  private readonly insertTask: SqliteStatement;
  private readonly selectId: SqliteStatement<unknown[]>;
  private readonly selectTaken: SqliteStatement<unknown[]>;
  private readonly selectKeyHolder: SqliteStatement<unknown[]>;
  private readonly selectStatus: SqliteStatement<unknown[]>;
  private readonly selectDue: SqliteStatement<unknown[]>;
  private readonly promoteTask: SqliteStatement;
  private readonly selectReadyByName: SqliteStatement<unknown[]>;
  private readonly selectReadyNames: SqliteStatement<unknown[]>;
  private readonly leaseTask: SqliteStatement;
  private readonly setAsideTask: SqliteStatement;
  private readonly unfileTask: SqliteStatement;
  private readonly finishTask: SqliteStatement<unknown[]>;
  private readonly retryTask: SqliteStatement<unknown[]>;
  private readonly releaseTask: SqliteStatement<unknown[]>;
  private readonly extendTaskLease: SqliteStatement;
  private readonly updateProgress: SqliteStatement;
  private readonly cancelTask: SqliteStatement<unknown[]>;
  private readonly expireTask: SqliteStatement<unknown[]>;
  private readonly requestCancel: SqliteStatement<unknown[]>;
  private readonly selectCancelRequested: SqliteStatement<unknown[]>;
  private readonly requeueTask: SqliteStatement<unknown[]>;
  private readonly selectTask: SqliteStatement<unknown[]>;
  private readonly selectMany: SqliteStatement<unknown[]>;

  constructor(db: SqliteDatabase, { tasks }: SqliteTables) {
    const rows = (sql: string): SqliteStatement<unknown[]> => db.prepare(sql).raw(true);
    this.insertTask = db.prepare(
      `INSERT INTO ${tasks} (${TASK_INSERT_COLUMNS.join(', ')}) VALUES (${TASK_INSERT_COLUMNS.map(() => '?').join(', ')})`,
    );
    this.selectId = rows(`SELECT 1 FROM ${tasks} WHERE id = ?`);
    this.selectTaken = rows(`SELECT id FROM ${tasks} WHERE id IN (SELECT value FROM json_each(?))`);
    this.selectKeyHolder = rows(
      `SELECT id FROM ${tasks} WHERE idempotency_key IS NOT NULL AND idempotency_key = ?
        AND (status IN ${LIVE_SQL} OR completed_at + dedupe_window_ms > ?) ORDER BY status IN ${LIVE_SQL} DESC, seq DESC LIMIT 1`,
    );
    this.selectStatus = rows(`SELECT status FROM ${tasks} WHERE id = ?`);
    this.selectDue = rows(
      `SELECT seq, queue, status FROM ${tasks} WHERE ready = 0 AND blocked = 0 AND status IN ${WAITING_SQL} AND run_at <= ?
        ORDER BY run_at LIMIT ${BOUND}`,
    );
    this.promoteTask = db.prepare(`UPDATE ${tasks} SET status = 'pending', ready = 1, updated_at = ? WHERE seq = ?`);
    this.selectReadyByName = rows(`SELECT ${COLUMNS} FROM ${tasks} WHERE ready = 1 AND queue = ? AND name = ? AND ${RESERVABLE}`);
    // One index seek per distinct name (SQLite has no loose index scan of its own).
    this.selectReadyNames = rows(
      `WITH RECURSIVE ready_names(name) AS (
        SELECT MIN(name) FROM ${tasks} WHERE ready = 1 AND queue = ?
        UNION ALL
        SELECT (SELECT MIN(name) FROM ${tasks} WHERE ready = 1 AND queue = ? AND name > ready_names.name)
          FROM ready_names WHERE name IS NOT NULL
      ) SELECT name FROM ready_names WHERE name IS NOT NULL`,
    );
    this.leaseTask = db.prepare(
      `UPDATE ${tasks} SET status = 'running', attempts = attempts + 1, started_at = ?, updated_at = ?, worker_id = ?,
        lease_token = ?, lease_expires_at = ?, ready = 0 WHERE seq = ?`,
    );
    this.setAsideTask = db.prepare(
      `UPDATE ${tasks} SET status = 'failed', completed_at = ?, updated_at = ?, last_error = ?, ready = 0, ${CLEAR_LEASE} WHERE seq = ?`,
    );
    this.unfileTask = db.prepare(`UPDATE ${tasks} SET ready = 0 WHERE seq = ?`);
    // An error given replaces lastError; none keeps the last attempt's. A running row is never ready, so
    // `ready` is left out of the SET: naming it would make SQLite revisit the ready index for every task.
    this.finishTask = rows(
      `UPDATE ${tasks} SET status = ?, completed_at = ?, updated_at = ?, last_error = COALESCE(?, last_error), ${CLEAR_LEASE}
        WHERE ${HELD} RETURNING queue, name`,
    );
    this.retryTask = rows(
      `UPDATE ${tasks} SET status = 'retrying', run_at = ?, updated_at = ?, last_error = ?, ${CLEAR_LEASE}, ready = ?
        WHERE ${HELD} RETURNING queue`,
    );
    this.releaseTask = rows(
      `UPDATE ${tasks} SET status = 'pending', run_at = ?, updated_at = ?, attempts = attempts - 1, ${CLEAR_LEASE}, ready = 1
        WHERE ${HELD} RETURNING queue`,
    );
    this.extendTaskLease = db.prepare(`UPDATE ${tasks} SET lease_expires_at = ?, updated_at = ? WHERE ${HELD}`);
    this.updateProgress = db.prepare(`UPDATE ${tasks} SET progress = ?, updated_at = ? WHERE ${HELD}`);
    this.cancelTask = rows(
      `UPDATE ${tasks} SET status = 'cancelled', completed_at = ?, updated_at = ?, last_error = ?, ready = 0
        WHERE seq = ? AND status IN ${WAITING_SQL} RETURNING ${COLUMNS}`,
    );
    this.expireTask = rows(
      `UPDATE ${tasks} SET status = 'expired', completed_at = ?, updated_at = ?, ready = 0 WHERE seq = ? AND status IN ${WAITING_SQL}
        RETURNING ${COLUMNS}`,
    );
    this.requestCancel = rows(
      `UPDATE ${tasks} SET cancel_requested_at = ?, updated_at = ? WHERE seq = ? AND status = 'running' AND cancel_requested_at IS NULL
        RETURNING ${COLUMNS}`,
    );
    this.selectCancelRequested = rows(
      `SELECT id FROM ${tasks} WHERE id IN (SELECT value FROM json_each(?)) AND status = 'running' AND cancel_requested_at IS NOT NULL`,
    );
    // A fresh life gets a fresh TTL; otherwise a requeued expired task would expire again at once.
    this.requeueTask = rows(
      `UPDATE ${tasks} SET status = 'pending', attempts = 0, lapses = 0, run_at = ?, updated_at = ?, started_at = NULL, completed_at = NULL,
        cancel_requested_at = NULL, cancelled_by = NULL, expires_at = CASE WHEN ttl_ms IS NULL THEN expires_at ELSE ? + ttl_ms END,
        ready = 1 - blocked, ${keepFreeKey(tasks)}
        WHERE seq = ? AND status IN ${REQUEUEABLE_SQL} RETURNING ${COLUMNS}`,
    );
    this.selectTask = rows(`SELECT ${COLUMNS} FROM ${tasks} WHERE id = ?`);
    this.selectMany = rows(`SELECT ${COLUMNS} FROM ${tasks} WHERE id IN (SELECT value FROM json_each(?))`);
  }

  /** Stores a new task's row (values in TASK_INSERT_COLUMNS order); returns its seq. Throws SQLITE_CONSTRAINT_UNIQUE for a stored id. */
  insert(values: unknown[]): number | bigint {
    return this.insertTask.run(values).lastInsertRowid;
  }

  idTaken(id: string): boolean {
    return this.selectId.get(id) !== undefined;
  }

  /** Which of `ids` are stored. */
  takenIds(ids: readonly string[]): Set<string> {
    return new Set(this.selectTaken.all(JSON.stringify(ids)).map(([id]) => id as string));
  }

  /** The id of the task holding an idempotency key: live (the newest), else ended within its dedupe window. */
  keyHolder(key: string, now: number): string | undefined {
    return this.selectKeyHolder.get(key, now)?.[0] as string | undefined;
  }

  status(id: string): string | undefined {
    return this.selectStatus.get(id)?.[0] as string | undefined;
  }

  /** Up to `limit` (-1: all) unblocked waiting tasks not yet filed for reserve whose time came, soonest first. */
  due(now: number, limit: number): Array<[seq: number, queue: string, status: string]> {
    return this.selectDue.all(now, limit) as Array<[number, string, string]>;
  }

  /** Files a due task for reserve, as pending. */
  promote(seq: number, now: number): void {
    this.promoteTask.run(now, seq);
  }

  /** The best `limit` reservable rows of one task name in a queue. */
  ready(queue: string, name: string, now: number, limit: number): TaskRow[] {
    return this.selectReadyByName.all(queue, name, now, now, limit);
  }

  /** The names of a queue's ready tasks. */
  readyNames(queue: string): string[] {
    return this.selectReadyNames.all(queue, queue).map(([name]) => name as string);
  }

  lease(seq: number, now: number, workerId: string, token: string, leaseExpiresAt: number): void {
    this.leaseTask.run(now, now, workerId, token, leaseExpiresAt, seq);
  }

  /** Ends a row that cannot run as stored failed with `error` (see SqliteTaskReserver); its dependents are left as they are. */
  setAside(seq: number, now: number, error: string): void {
    this.setAsideTask.run(now, now, error, seq);
  }

  /** Takes a row out of the reserve index, changing nothing else. */
  unfile(seq: number): void {
    this.unfileTask.run(seq);
  }

  /** Ends an attempt as success, failed or cancelled; the task's queue and name, or undefined for a stale token. */
  finish(id: string, token: string, status: string, at: number, error: string | null): unknown[] | undefined {
    return this.finishTask.get(status, at, at, error, id, token);
  }

  /** The task's queue, or undefined for a stale token. */
  retry(id: string, token: string, retryAt: number, now: number, error: string): string | undefined {
    return this.retryTask.get(retryAt, now, error, retryAt <= now ? 1 : 0, id, token)?.[0] as string | undefined;
  }

  /** The released task's queue, or undefined for a stale token. */
  release(id: string, token: string, now: number): string | undefined {
    return this.releaseTask.get(now, now, id, token)?.[0] as string | undefined;
  }

  extendLease(id: string, token: string, leaseExpiresAt: number, now: number): boolean {
    return this.extendTaskLease.run(leaseExpiresAt, now, id, token).changes > 0;
  }

  setProgress(id: string, token: string, progress: string | null, now: number): boolean {
    return this.updateProgress.run(progress, now, id, token).changes > 0;
  }

  /** The cancelled task's row, or undefined when it was not waiting. */
  cancel(seq: number, now: number, error: string): TaskRow | undefined {
    return this.cancelTask.get(now, now, error, seq);
  }

  /** The expired task's row, or undefined when it was not waiting. */
  expire(seq: number, now: number): TaskRow | undefined {
    return this.expireTask.get(now, now, seq);
  }

  /** Sets a running task's cancel request, once; its row, or undefined when it was not running or already asked. */
  requestCancellation(seq: number, now: number): TaskRow | undefined {
    return this.requestCancel.get(now, now, seq);
  }

  /** Which of `ids` are running with a cancel request. */
  cancelRequested(ids: readonly string[]): string[] {
    return this.selectCancelRequested.all(JSON.stringify(ids)).map(([id]) => id as string);
  }

  /** The requeued task's row, or undefined when it was not failed, cancelled or expired. */
  requeue(seq: number, now: number): TaskRow | undefined {
    return this.requeueTask.get(now, now, now, seq);
  }

  get(id: string): TaskRow | undefined {
    return this.selectTask.get(id);
  }

  /** The rows of the stored tasks among `ids`, in no particular order. */
  many(ids: readonly string[]): TaskRow[] {
    return this.selectMany.all(JSON.stringify(ids));
  }
}
