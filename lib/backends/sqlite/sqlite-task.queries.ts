import type { SqliteDatabase, SqliteStatement } from './sqlite-database.types.js';
import { TASK_COLUMNS, TASK_INSERT_COLUMNS, type TaskRow } from './sqlite-task-row.js';
import type { SqliteTables } from './sqlite-tables.js';
import { FINAL_SQL, LIVE_SQL, REQUEUEABLE_SQL, WAITING_SQL } from './sqlite-task-statuses.js';

const COLUMNS = TASK_COLUMNS.join(', ');
const CLEAR_LEASE = 'worker_id = NULL, lease_token = NULL, lease_expires_at = NULL';
/** A lease holder's statement applies only while its token is the task's live lease: binds id, token. */
const HELD = `id = ? AND status = 'running' AND lease_token = ?`;
/**
 * A ready row must still be due at this reserve's `now`, which may differ from when it was flagged:
 * binds now, now, now, limit.
 */
const RESERVABLE = `run_at <= ? AND (status <> 'running' OR lease_expires_at <= ?) AND (expires_at IS NULL OR expires_at > ?)
  ORDER BY priority DESC, run_at, seq LIMIT ?`;

/**
 * Every statement of the task queue, prepared once per store, behind typed methods that bind the
 * `?` parameters in order: better-sqlite3 binds named parameters several times slower, and these
 * run once per task. Rows come back raw (arrays in TASK_COLUMNS order). WHERE clauses repeat the
 * partial indexes' terms (see the initial migration) so SQLite uses those indexes.
 */
export class SqliteTaskQueries {
  private readonly insertTask: SqliteStatement;
  private readonly insertEdge: SqliteStatement;
  private readonly selectId: SqliteStatement<unknown[]>;
  private readonly selectKeyHolder: SqliteStatement<unknown[]>;
  private readonly selectStatus: SqliteStatement<unknown[]>;
  private readonly flagDue: SqliteStatement;
  private readonly flagLapsed: SqliteStatement;
  private readonly selectReadyByName: SqliteStatement<unknown[]>;
  private readonly selectReadyNames: SqliteStatement<unknown[]>;
  private readonly leaseTask: SqliteStatement;
  private readonly finishTask: SqliteStatement<unknown[]>;
  private readonly retryTask: SqliteStatement<unknown[]>;
  private readonly releaseTask: SqliteStatement<unknown[]>;
  private readonly meetEdges: SqliteStatement<unknown[]>;
  private readonly unblockTask: SqliteStatement<unknown[]>;
  private readonly extendTaskLease: SqliteStatement;
  private readonly updateProgress: SqliteStatement;
  private readonly selectOverdue: SqliteStatement<unknown[]>;
  private readonly expireTask: SqliteStatement<unknown[]>;
  private readonly cancelTask: SqliteStatement<unknown[]>;
  private readonly requestCancel: SqliteStatement<unknown[]>;
  private readonly selectCancelRequested: SqliteStatement<unknown[]>;
  private readonly selectDependents: SqliteStatement<unknown[]>;
  private readonly requeueTask: SqliteStatement<unknown[]>;
  private readonly selectTask: SqliteStatement<unknown[]>;
  private readonly countFinished: SqliteStatement<unknown[]>;
  private readonly purgeEdges: SqliteStatement;
  private readonly purgeTasks: SqliteStatement;

  constructor(db: SqliteDatabase, { tasks, taskDeps }: SqliteTables) {
    const rows = (sql: string): SqliteStatement<unknown[]> => db.prepare(sql).raw(true);
    this.insertTask = db.prepare(
      `INSERT INTO ${tasks} (${TASK_INSERT_COLUMNS.join(', ')}) VALUES (${TASK_INSERT_COLUMNS.map(() => '?').join(', ')})`,
    );
    this.insertEdge = db.prepare(`INSERT OR IGNORE INTO ${taskDeps} (parent_id, child_seq, run_on_failure, met) VALUES (?, ?, ?, ?)`);
    this.selectId = rows(`SELECT 1 FROM ${tasks} WHERE id = ?`);
    this.selectKeyHolder = rows(
      `SELECT id FROM ${tasks} WHERE idempotency_key IS NOT NULL AND idempotency_key = ?
        AND (status IN ${LIVE_SQL} OR completed_at + dedupe_window_ms > ?) ORDER BY status IN ${LIVE_SQL} DESC, seq DESC LIMIT 1`,
    );
    this.selectStatus = rows(`SELECT status FROM ${tasks} WHERE id = ?`);
    this.flagDue = db.prepare(`UPDATE ${tasks} SET ready = 1 WHERE ready = 0 AND blocked = 0 AND status IN ${WAITING_SQL} AND run_at <= ?`);
    this.flagLapsed = db.prepare(`UPDATE ${tasks} SET ready = 1 WHERE ready = 0 AND status = 'running' AND lease_expires_at <= ?`);
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
    // An error given replaces lastError; none keeps the last attempt's.
    this.finishTask = rows(
      `UPDATE ${tasks} SET status = ?, completed_at = ?, updated_at = ?, last_error = COALESCE(?, last_error), ${CLEAR_LEASE},
        ready = 0 WHERE ${HELD} RETURNING queue`,
    );
    this.retryTask = rows(
      `UPDATE ${tasks} SET status = 'retrying', run_at = ?, updated_at = ?, last_error = ?, ${CLEAR_LEASE}, ready = ?
        WHERE ${HELD} RETURNING queue`,
    );
    this.releaseTask = rows(
      `UPDATE ${tasks} SET status = 'pending', run_at = ?, updated_at = ?, attempts = attempts - 1, ${CLEAR_LEASE}, ready = 1
        WHERE ${HELD} RETURNING queue`,
    );
    this.meetEdges = rows(
      `UPDATE ${taskDeps} SET met = 1 WHERE parent_id = ? AND met = 0 AND (? = 'success' OR run_on_failure = 1) RETURNING child_seq`,
    );
    this.unblockTask = rows(
      `UPDATE ${tasks} SET blocked = 0, ready = status IN ${WAITING_SQL} AND run_at <= ?
        WHERE seq = ? AND blocked = 1 AND NOT EXISTS (SELECT 1 FROM ${taskDeps} WHERE child_seq = ? AND met = 0) RETURNING queue, ready`,
    );
    this.selectDependents = rows(
      `SELECT ${COLUMNS} FROM ${tasks} WHERE seq IN (SELECT child_seq FROM ${taskDeps} WHERE parent_id = ?) AND status IN ${WAITING_SQL}
        ORDER BY seq`,
    );
    this.extendTaskLease = db.prepare(`UPDATE ${tasks} SET lease_expires_at = ?, updated_at = ?, ready = 0 WHERE ${HELD}`);
    this.updateProgress = db.prepare(`UPDATE ${tasks} SET progress = ?, updated_at = ? WHERE ${HELD}`);
    // A running task whose lease lapsed counts as waiting: without that it could never expire.
    this.selectOverdue = rows(
      `SELECT seq, status FROM ${tasks} WHERE expires_at IS NOT NULL AND status IN ${LIVE_SQL} AND expires_at <= ?
        AND (status <> 'running' OR lease_expires_at <= ?) ORDER BY expires_at LIMIT ?`,
    );
    this.expireTask = rows(
      `UPDATE ${tasks} SET status = 'expired', completed_at = ?, updated_at = ?, ${CLEAR_LEASE}, ready = 0 WHERE seq = ?
        RETURNING ${COLUMNS}`,
    );
    this.cancelTask = rows(
      `UPDATE ${tasks} SET status = 'cancelled', completed_at = ?, updated_at = ?, last_error = COALESCE(?, last_error), ready = 0
        WHERE id = ? AND status IN ${WAITING_SQL} RETURNING ${COLUMNS}`,
    );
    this.requestCancel = rows(
      `UPDATE ${tasks} SET cancel_requested_at = ?, updated_at = ? WHERE id = ? AND status = 'running' AND cancel_requested_at IS NULL
        RETURNING ${COLUMNS}`,
    );
    this.selectCancelRequested = rows(
      `SELECT id FROM ${tasks} WHERE id IN (SELECT value FROM json_each(?)) AND status = 'running' AND cancel_requested_at IS NOT NULL`,
    );
    // A fresh life gets a fresh TTL; otherwise a requeued expired task would expire again at once.
    this.requeueTask = rows(
      `UPDATE ${tasks} SET status = 'pending', attempts = 0, run_at = ?, updated_at = ?, started_at = NULL, completed_at = NULL,
        cancel_requested_at = NULL, expires_at = CASE WHEN ttl_ms IS NULL THEN expires_at ELSE ? + ttl_ms END, ready = 1 - blocked
        WHERE id = ? AND status IN ${REQUEUEABLE_SQL} RETURNING ${COLUMNS}`,
    );
    this.selectTask = rows(`SELECT ${COLUMNS} FROM ${tasks} WHERE id = ?`);
    const finishedBefore = `SELECT seq FROM ${tasks} WHERE status IN ${FINAL_SQL} AND completed_at < ?`;
    this.countFinished = rows(
      `SELECT queue, status, COUNT(*) FROM ${tasks} WHERE status IN ${FINAL_SQL} AND completed_at < ? GROUP BY queue, status`,
    );
    this.purgeEdges = db.prepare(
      `DELETE FROM ${taskDeps} WHERE child_seq IN (${finishedBefore})
        OR parent_id IN (SELECT id FROM ${tasks} WHERE status IN ${FINAL_SQL} AND completed_at < ?)`,
    );
    this.purgeTasks = db.prepare(`DELETE FROM ${tasks} WHERE seq IN (${finishedBefore})`);
  }

  /** Stores a new task's row (values in TASK_INSERT_COLUMNS order); returns its seq. */
  insert(values: unknown[]): number | bigint {
    return this.insertTask.run(values).lastInsertRowid;
  }

  /** Records that task `childSeq` lists `parentId` in its dependsOn, and whether that is already met. */
  insertDependency(parentId: string, childSeq: number | bigint, runOnFailure: boolean, met: boolean): void {
    this.insertEdge.run(parentId, childSeq, runOnFailure ? 1 : 0, met ? 1 : 0);
  }

  idTaken(id: string): boolean {
    return this.selectId.get(id) !== undefined;
  }

  /** The id of the task holding an idempotency key: live (the newest), else ended within its dedupe window. */
  keyHolder(key: string, now: number): string | undefined {
    return this.selectKeyHolder.get(key, now)?.[0] as string | undefined;
  }

  status(id: string): string | undefined {
    return this.selectStatus.get(id)?.[0] as string | undefined;
  }

  /** Files for reserve the waiting tasks that came due and the running ones whose lease lapsed. */
  flagReady(now: number): void {
    this.flagDue.run(now);
    this.flagLapsed.run(now);
  }

  /** The best `limit` reservable rows of one task name in a queue. */
  ready(queue: string, name: string, now: number, limit: number): TaskRow[] {
    return this.selectReadyByName.all(queue, name, now, now, now, limit);
  }

  /** The names of a queue's ready tasks. */
  readyNames(queue: string): string[] {
    return this.selectReadyNames.all(queue, queue).map(([name]) => name as string);
  }

  lease(seq: number, now: number, workerId: string, token: string, leaseExpiresAt: number): void {
    this.leaseTask.run(now, now, workerId, token, leaseExpiresAt, seq);
  }

  /** Ends an attempt as success, failed or cancelled; the task's queue, or undefined for a stale token. */
  finish(id: string, token: string, status: string, at: number, error: string | null): string | undefined {
    return this.finishTask.get(status, at, at, error, id, token)?.[0] as string | undefined;
  }

  /** The task's queue and whether it is due at once, or undefined for a stale token. */
  retry(id: string, token: string, retryAt: number, now: number, error: string): { queue: string; ready: boolean } | undefined {
    const ready = retryAt <= now ? 1 : 0;
    const row = this.retryTask.get(retryAt, now, error, ready, id, token);
    return row && { queue: row[0] as string, ready: ready === 1 };
  }

  /** The released task's queue, or undefined for a stale token. */
  release(id: string, token: string, now: number): string | undefined {
    return this.releaseTask.get(now, now, id, token)?.[0] as string | undefined;
  }

  /** Marks met the edges that `parentId` ending with `status` satisfies; returns those dependents' seqs. */
  meetDependencies(parentId: string, status: string): number[] {
    return this.meetEdges.all(parentId, status).map((row) => row[0] as number);
  }

  /** Clears a task's blocked flag once no edge is left; returns its queue when it is now due. */
  unblock(seq: number, now: number): string | undefined {
    const row = this.unblockTask.get(now, seq, seq);
    return row?.[1] === 1 ? (row[0] as string) : undefined;
  }

  extendLease(id: string, token: string, leaseExpiresAt: number, now: number): boolean {
    return this.extendTaskLease.run(leaseExpiresAt, now, id, token).changes > 0;
  }

  setProgress(id: string, token: string, progress: string | null, now: number): boolean {
    return this.updateProgress.run(progress, now, id, token).changes > 0;
  }

  /** Up to `limit` overdue waiting tasks (-1: all), soonest deadline first: their seq and status. */
  overdue(now: number, limit: number): Array<[seq: number, status: string]> {
    return this.selectOverdue.all(now, now, limit) as Array<[number, string]>;
  }

  /** Marks a task expired; returns its row. */
  expire(seq: number, now: number): TaskRow {
    return this.expireTask.get(now, now, seq) as TaskRow;
  }

  /** The cancelled task's row, or undefined when it was not waiting. */
  cancel(id: string, now: number, error: string | null): TaskRow | undefined {
    return this.cancelTask.get(now, now, error, id);
  }

  /** Sets a running task's cancel request, once; its row, or undefined when it was not running or already asked. */
  requestCancellation(id: string, now: number): TaskRow | undefined {
    return this.requestCancel.get(now, now, id);
  }

  /** Which of `ids` are running with a cancel request. */
  cancelRequested(ids: readonly string[]): string[] {
    return this.selectCancelRequested.all(JSON.stringify(ids)).map(([id]) => id as string);
  }

  /** The waiting tasks that list `parentId` in their dependsOn, in enqueue order. */
  dependents(parentId: string): TaskRow[] {
    return this.selectDependents.all(parentId);
  }

  /** The requeued task's row, or undefined when it was not failed, cancelled or expired. */
  requeue(id: string, now: number): TaskRow | undefined {
    return this.requeueTask.get(now, now, now, id);
  }

  get(id: string): TaskRow | undefined {
    return this.selectTask.get(id);
  }

  /** How many final tasks per queue and status completed before `before`. */
  finishedBefore(before: number): Array<[queue: string, status: string, count: number]> {
    return this.countFinished.all(before) as Array<[string, string, number]>;
  }

  /** Deletes final tasks completed before `before`, with their dependency edges either way; returns how many. */
  purgeFinished(before: number): number {
    this.purgeEdges.run(before, before);
    return this.purgeTasks.run(before).changes;
  }
}
