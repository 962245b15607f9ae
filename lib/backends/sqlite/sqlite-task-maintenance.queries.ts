import type { SqliteDatabase, SqliteStatement } from './sqlite-database.types.js';
import type { TaskRow } from './sqlite-task-row.js';
import type { SqliteTables } from './sqlite-tables.js';
import { FINAL_SQL, LIVE_SQL, WAITING_SQL } from './sqlite-task-statuses.js';
import { CLEAR_LEASE, COLUMNS } from './sqlite-task.queries.js';
import { BOUND } from './sqlite-values.js';

/** The statements of the maintenance leader's calls: reclaim, expiry, purge, and when the next task falls due. */
export class SqliteTaskMaintenanceQueries {
  private readonly selectLapsed: SqliteStatement<unknown[]>;
  private readonly reclaimTask: SqliteStatement<unknown[]>;
  private readonly deadLetterTask: SqliteStatement<unknown[]>;
  private readonly selectNextDue: SqliteStatement<unknown[]>;
  private readonly selectOverdue: SqliteStatement<unknown[]>;
  private readonly selectFinished: SqliteStatement<unknown[]>;
  private readonly deleteChildEdges: SqliteStatement;
  private readonly deleteParentEdges: SqliteStatement;
  private readonly deleteTasks: SqliteStatement;

  constructor(db: SqliteDatabase, { tasks, taskDeps }: SqliteTables) {
    const rows = (sql: string): SqliteStatement<unknown[]> => db.prepare(sql).raw(true);
    this.selectLapsed = rows(
      `SELECT ${COLUMNS} FROM ${tasks} WHERE ready = 0 AND status = 'running' AND lease_expires_at <= ? ORDER BY lease_expires_at LIMIT ${BOUND}`,
    );
    // Attempts stay as they are: the lost attempt counts. A cancel request stays too, so the next holder ends the task unrun.
    this.reclaimTask = rows(
      `UPDATE ${tasks} SET status = CASE WHEN run_at > ? THEN 'retrying' ELSE 'pending' END, ready = run_at <= ?, updated_at = ?,
        lapses = lapses + 1, ${CLEAR_LEASE} WHERE seq = ? AND status = 'running' RETURNING ${COLUMNS}`,
    );
    this.deadLetterTask = rows(
      `UPDATE ${tasks} SET status = 'failed', completed_at = ?, updated_at = ?, last_error = ?, lapses = lapses + 1, ready = 0,
        ${CLEAR_LEASE} WHERE seq = ? AND status = 'running' RETURNING ${COLUMNS}`,
    );
    this.selectNextDue = rows(`SELECT MIN(run_at) FROM ${tasks} WHERE ready = 0 AND blocked = 0 AND status IN ${WAITING_SQL}`);
    this.selectOverdue = rows(
      `SELECT seq, status FROM ${tasks} WHERE expires_at IS NOT NULL AND status IN ${LIVE_SQL} AND expires_at <= ? AND status <> 'running'
        ORDER BY expires_at LIMIT ${BOUND}`,
    );
    this.selectFinished = rows(
      `SELECT seq, id, queue, status FROM ${tasks} WHERE status IN ${FINAL_SQL} AND completed_at < ? ORDER BY completed_at LIMIT ${BOUND}`,
    );
    const each = 'SELECT value FROM json_each(?)';
    this.deleteChildEdges = db.prepare(`DELETE FROM ${taskDeps} WHERE child_seq IN (${each})`);
    this.deleteParentEdges = db.prepare(`DELETE FROM ${taskDeps} WHERE parent_id IN (${each})`);
    this.deleteTasks = db.prepare(`DELETE FROM ${tasks} WHERE seq IN (${each})`);
  }

  /** Up to `limit` running tasks whose lease expired by `now`, the longest lapsed first. */
  lapsed(now: number, limit: number): TaskRow[] {
    return this.selectLapsed.all(now, limit);
  }

  /** Sends a running task back to waiting without its lease; its row as it is now. */
  reclaim(seq: number, now: number): TaskRow | undefined {
    return this.reclaimTask.get(now, now, now, seq);
  }

  /** Ends a running task failed with `error`, its last lapse counted; its row as it is now. */
  deadLetter(seq: number, now: number, error: string): TaskRow | undefined {
    return this.deadLetterTask.get(now, now, error, seq);
  }

  nextDue(): number | null {
    return (this.selectNextDue.get() as [number | null])[0];
  }

  /** Up to `limit` waiting tasks whose `expiresAt` passed by `now`, soonest deadline first: their seq and status. */
  overdue(now: number, limit: number): Array<[seq: number, status: string]> {
    return this.selectOverdue.all(now, limit) as Array<[number, string]>;
  }

  /** Up to `limit` (-1: all) final tasks completed before `before`, oldest first. */
  finishedBefore(before: number, limit: number): Array<[seq: number, id: string, queue: string, status: string]> {
    return this.selectFinished.all(before, limit) as Array<[number, string, string, string]>;
  }

  /** Deletes tasks with their dependency edges either way. */
  purge(seqs: readonly number[], ids: readonly string[]): number {
    this.deleteChildEdges.run(JSON.stringify(seqs));
    this.deleteParentEdges.run(JSON.stringify(ids));
    return this.deleteTasks.run(JSON.stringify(seqs)).changes;
  }
}
