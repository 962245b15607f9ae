import type { SqliteDatabase, SqliteStatement } from './sqlite-database.types.js';
import type { TaskRow } from './sqlite-task-row.js';
import type { SqliteTables } from './sqlite-tables.js';
import { WAITING_SQL } from './sqlite-task-statuses.js';
import { COLUMNS, keepFreeKey } from './sqlite-task.queries.js';

/**
 * The statements of the dependency graph: edges from a parent id to the dependents it holds back
 * (`task_deps`), what a parent's end does to them, and what a parent's requeue brings back.
 */
export class SqliteTaskGraphQueries {
  private readonly insertEdge: SqliteStatement;
  private readonly selectAnyEdge: SqliteStatement<unknown[]>;
  private readonly meetEdges: SqliteStatement<unknown[]>;
  private readonly unblockTask: SqliteStatement<unknown[]>;
  private readonly selectFailing: SqliteStatement<unknown[]>;
  private readonly cancelDependent: SqliteStatement<unknown[]>;
  private readonly selectCancelledBy: SqliteStatement<unknown[]>;
  private readonly reviveTask: SqliteStatement<unknown[]>;

  constructor(db: SqliteDatabase, { tasks, taskDeps }: SqliteTables) {
    const rows = (sql: string): SqliteStatement<unknown[]> => db.prepare(sql).raw(true);
    this.insertEdge = db.prepare(`INSERT OR IGNORE INTO ${taskDeps} (parent_id, child_seq, run_on_failure, met) VALUES (?, ?, ?, ?)`);
    this.selectAnyEdge = rows(`SELECT 1 FROM ${taskDeps} WHERE parent_id = ? LIMIT 1`);
    this.meetEdges = rows(
      `UPDATE ${taskDeps} SET met = 1 WHERE parent_id = ? AND met = 0 AND (? = 'success' OR run_on_failure = 1) RETURNING child_seq`,
    );
    this.unblockTask = rows(
      `UPDATE ${tasks} SET blocked = 0, ready = status IN ${WAITING_SQL} AND run_at <= ?
        WHERE seq = ? AND blocked = 1 AND NOT EXISTS (SELECT 1 FROM ${taskDeps} WHERE child_seq = ? AND met = 0) RETURNING queue, ready`,
    );
    this.selectFailing = rows(
      `SELECT task.seq, task.status FROM ${taskDeps} AS edge JOIN ${tasks} AS task ON task.seq = edge.child_seq
        WHERE edge.parent_id = ? AND edge.run_on_failure = 0 AND edge.met = 0 AND task.status IN ${WAITING_SQL} ORDER BY task.seq`,
    );
    this.cancelDependent = rows(
      `UPDATE ${tasks} SET status = 'cancelled', completed_at = ?, updated_at = ?, last_error = ?, cancelled_by = ?, ready = 0
        WHERE seq = ? AND status IN ${WAITING_SQL} RETURNING ${COLUMNS}`,
    );
    this.selectCancelledBy = rows(
      `SELECT seq FROM ${tasks} WHERE cancelled_by IS NOT NULL AND cancelled_by = ? AND status = 'cancelled' ORDER BY seq`,
    );
    // Blocked again on whichever of its parents have not ended as it needs (the requeued one at least).
    const unmet = `EXISTS (SELECT 1 FROM ${taskDeps} WHERE child_seq = ${tasks}.seq AND met = 0)`;
    this.reviveTask = rows(
      `UPDATE ${tasks} SET status = CASE WHEN run_at > ? THEN 'scheduled' ELSE 'pending' END, updated_at = ?, completed_at = NULL, last_error = NULL, cancelled_by = NULL,
        expires_at = CASE WHEN ttl_ms IS NULL THEN expires_at ELSE ? + ttl_ms END,
        blocked = ${unmet}, ready = NOT ${unmet} AND run_at <= ?, ${keepFreeKey(tasks)}
        WHERE seq = ? AND status = 'cancelled' RETURNING ${COLUMNS}`,
    );
  }

  /** Records that task `childSeq` lists `parentId` in its dependsOn, and whether that is already met. */
  insertDependency(parentId: string, childSeq: number | bigint, runOnFailure: boolean, met: boolean): void {
    this.insertEdge.run(parentId, childSeq, runOnFailure ? 1 : 0, met ? 1 : 0);
  }

  /**
   * Whether any task lists `parentId` in its dependsOn. Most tasks have no dependents, and this
   * read costs a tenth of an UPDATE that finds nothing to change.
   */
  hasDependents(parentId: string): boolean {
    return this.selectAnyEdge.get(parentId) !== undefined;
  }

  /** Marks met the edges that `parentId` ending with `status` satisfies; returns those dependents' seqs. */
  meetDependencies(parentId: string, status: string): number[] {
    return this.meetEdges.all(parentId, status).map((row) => row[0] as number);
  }

  /** Clears a task's blocked flag once no edge is left unmet; returns its queue when it is now due. */
  unblock(seq: number, now: number): string | undefined {
    const row = this.unblockTask.get(now, seq, seq);
    return row?.[1] === 1 ? (row[0] as string) : undefined;
  }

  /** The waiting dependents that needed `parentId` to succeed: their seq and status. */
  failingDependents(parentId: string): Array<[seq: number, status: string]> {
    return this.selectFailing.all(parentId) as Array<[number, string]>;
  }

  /** Ends a waiting dependent cancelled because of `parentId`; its row, or undefined when it was no longer waiting. */
  cancelDependentOf(parentId: string, seq: number, now: number, error: string): TaskRow | undefined {
    return this.cancelDependent.get(now, now, error, parentId, seq);
  }

  /** The tasks that `parentId`'s end cancelled and that are still cancelled. */
  cancelledBy(parentId: string): number[] {
    return this.selectCancelledBy.all(parentId).map((row) => row[0] as number);
  }

  /** Sends a cascade-cancelled task back to waiting; its row, or undefined when it was no longer cancelled. */
  revive(seq: number, now: number): TaskRow | undefined {
    return this.reviveTask.get(now, now, now, now, seq);
  }
}
