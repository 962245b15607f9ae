import type { TaskRecord } from '../../models/task.model.js';
import { lapsedError, leaseEvent } from '../../storage/outcomes.js';
import { WRITE_NOTHING, type ReclaimReport, type WriteScope } from '../../storage/task-queue.store.js';
import type { PostgresConnection } from './postgres-connection.js';
import { foldTaskCounts } from './postgres-task-counts.js';
import type { PostgresTaskGraph } from './postgres-task-graph.js';
import { taskFromRow, type TaskRow } from './postgres-task-row.js';
import { CLEAR_LEASE, FINAL_SQL, HELD_KEY_AT_END, LIVE_SQL } from './postgres-task-write-sql.js';
import type { PostgresWrite } from './postgres-write.js';
import type { PostgresWriter } from './postgres-writer.js';

/** Delayed tasks, as the tasks_delayed index's WHERE term spells them. */
const DELAYED_SQL = `('scheduled', 'retrying')`;
/** PostgreSQL's LIMIT for a count that may be unbounded (`LIMIT NULL` is no limit). */
const sqlLimit = (limit: number | undefined): number | null => (limit === undefined || !Number.isFinite(limit) ? null : Math.max(0, Math.floor(limit)));
/** Tasks a purge deletes per statement (each its own transaction), so it never holds many row locks for long. */
const PURGE_CHUNK = 2_000;
/** How often the leader's promoteDue also folds the count deltas (reads fold too, when they find many). */
const FOLD_EVERY_MS = 60_000;

/** A task row as an ending statement returned it: `has_dependents` says whether its end can touch any other task. */
type EndedRow = TaskRow & { has_dependents: boolean };

/** `rows` in the order of `order` (their seqs), which RETURNING does not keep. */
function inOrder<R extends TaskRow>(rows: R[], order: readonly number[]): R[] {
  const rank = new Map(order.map((seq, index) => [seq, index]));
  return rows.sort((a, b) => rank.get(a.seq)! - rank.get(b.seq)!);
}

/**
 * The maintenance leader's calls on the task queue. Each write is one transaction that locks the
 * rows it changes `FOR UPDATE SKIP LOCKED` first, so it is safe beside every other call and
 * beside itself on another instance (leadership may overlap briefly): a row another call holds
 * is left for the next run. Every statement reads through the partial index of its rows
 * (tasks_leases, tasks_delayed, tasks_expiry, tasks_finished), and changes the rows it locked by
 * their `ctid`, a TID scan whatever the table's statistics say (see PostgresTaskReserver).
 */
export class PostgresTaskMaintenance {
  private foldedAt = Date.now();

  constructor(
    private readonly connection: PostgresConnection,
    private readonly writer: PostgresWriter,
    private readonly graph: PostgresTaskGraph,
  ) {}

  reclaimLapsed(now: Date, limit: number, scope: WriteScope, maxLapses: number): Promise<ReclaimReport> {
    const at = now.getTime();
    const { tasks } = this.connection.tables;
    return this.writer.write(
      { operation: 'reclaimLapsed' },
      async (write) => {
        const lapsed = await write.query<TaskRow & { ctid: string }>(
          `SELECT ctid, * FROM ${tasks} WHERE status = 'running' AND lease_expires_at <= $1 ORDER BY lease_expires_at, seq LIMIT $2 FOR UPDATE SKIP LOCKED`,
          [at, sqlLimit(limit)],
        );
        if (lapsed.length === 0) return { tasks: [], ended: [] };
        // The events and the error name the lost attempt: the task as it was, with its worker and lease.
        const was = lapsed.map(taskFromRow);
        const errors = was.map((task) => (task.lapses + 1 >= maxLapses ? JSON.stringify(lapsedError(task, task.lapses + 1)) : null));
        // Attempts stay as they are: the lost attempt counts. A cancel request stays too, so the next holder ends the task unrun.
        const rows = await write.query<EndedRow>(
          `UPDATE ${tasks} AS t SET
            status = CASE WHEN r.error IS NOT NULL THEN 'failed' WHEN t.run_at > $1 THEN 'retrying' ELSE 'pending' END,
            completed_at = CASE WHEN r.error IS NOT NULL THEN $1 ELSE t.completed_at END,
            last_error = COALESCE(r.error, t.last_error),
            held_key = CASE WHEN r.error IS NOT NULL THEN ${HELD_KEY_AT_END} ELSE t.held_key END,
            lapses = t.lapses + 1, updated_at = $1, ${CLEAR_LEASE}
          FROM unnest($2::tid[], $3::text[]) AS r(ctid, error) WHERE t.ctid = ANY($2::tid[]) AND t.ctid = r.ctid RETURNING t.*`,
          [at, lapsed.map((row) => row.ctid), errors],
        );
        const ordered = inOrder(rows, lapsed.map((row) => row.seq));
        const reclaimed = ordered.map(taskFromRow);
        const parents: TaskRecord[] = [];
        reclaimed.forEach((task, index) => {
          write.event(leaseEvent(was[index]!, 'reclaimed', now));
          if (task.status === 'failed') {
            write.endedUnrun(task);
            if (ordered[index]!.has_dependents) parents.push(task);
          } else if (task.status === 'pending') {
            write.wake(task.queue);
          }
        });
        return { tasks: reclaimed, ended: await this.endedParents(write, parents) };
      },
      scope,
      at,
    );
  }

  /**
   * Files due scheduled and retrying tasks (unblocked ones: a blocked task waits for its parents
   * whatever its time) as pending and wakes their queues: how idle workers in every process hear
   * of delayed tasks. Also folds the count deltas now and then, as the leader calls this every run.
   */
  async promoteDue(now: Date, limit: number): Promise<number> {
    const at = now.getTime();
    const { tasks } = this.connection.tables;
    const promoted = await this.writer.write(
      { operation: 'promoteDue' },
      async (write) => {
        const rows = await write.query<{ queue: string }>(
          `WITH due AS (
            SELECT ctid FROM ${tasks} WHERE status IN ${DELAYED_SQL} AND run_at <= $1 AND unmet = 0
            ORDER BY run_at LIMIT $2 FOR UPDATE SKIP LOCKED
          )
          UPDATE ${tasks} AS t SET status = 'pending', updated_at = $1 WHERE t.ctid = ANY(ARRAY(SELECT ctid FROM due)) RETURNING t.queue`,
          [at, sqlLimit(limit)],
        );
        for (const { queue } of rows) write.wake(queue);
        return rows.length;
      },
      WRITE_NOTHING,
      at,
    );
    if (Date.now() - this.foldedAt >= FOLD_EVERY_MS) {
      this.foldedAt = Date.now();
      await foldTaskCounts(this.connection);
    }
    return promoted;
  }

  async nextDueAt(): Promise<Date | undefined> {
    const [row] = await this.connection.db.query<{ soonest: number | null }>(
      `SELECT min(run_at) AS soonest FROM ${this.connection.tables.tasks} WHERE status IN ${DELAYED_SQL} AND unmet = 0`,
      [],
      { operation: 'nextDueAt' },
    );
    return row?.soonest == null ? undefined : new Date(row.soonest);
  }

  /** Ends waiting tasks whose expiresAt passed as expired, with their cascades, in one transaction: the expired tasks, then the dependents they cancelled. */
  expireOverdue(now: Date, limit: number, scope: WriteScope): Promise<TaskRecord[]> {
    const at = now.getTime();
    const { tasks } = this.connection.tables;
    return this.writer.write(
      { operation: 'expireOverdue' },
      async (write) => {
        const rows = await write.query<EndedRow>(
          `WITH overdue AS (
            SELECT ctid FROM ${tasks} WHERE expires_at IS NOT NULL AND status IN ${LIVE_SQL} AND expires_at <= $1 AND status <> 'running'
            ORDER BY expires_at, seq LIMIT $2 FOR UPDATE SKIP LOCKED
          )
          UPDATE ${tasks} AS t SET status = 'expired', completed_at = $1, updated_at = $1, held_key = ${HELD_KEY_AT_END}
          WHERE t.ctid = ANY(ARRAY(SELECT ctid FROM overdue)) RETURNING t.*`,
          [at, sqlLimit(limit)],
        );
        if (rows.length === 0) return [];
        rows.sort((a, b) => a.expires_at! - b.expires_at! || a.seq - b.seq);
        const expired = rows.map(taskFromRow);
        for (const task of expired) write.endedUnrun(task);
        return [...expired, ...(await this.endedParents(write, expired.filter((_, index) => rows[index]!.has_dependents)))];
      },
      scope,
      at,
    );
  }

  /**
   * The cascade of tasks this transaction ended that have dependents. The ending statement read
   * `has_dependents` from the row it locked, so a dependent enqueued before it is counted, and
   * one enqueued after it sees its parent ended.
   */
  private async endedParents(write: PostgresWrite, parents: readonly TaskRecord[]): Promise<TaskRecord[]> {
    return parents.length === 0 ? [] : this.graph.afterEnd(write, parents);
  }

  /**
   * Deletes up to `limit` (all when undefined) final tasks completed before `before`, oldest
   * first, with their dependency edges either way, a chunk per statement; then folds the count
   * deltas the deletes appended.
   */
  async purgeFinished(before: Date, limit = Number.POSITIVE_INFINITY): Promise<number> {
    const { tasks, taskDeps } = this.connection.tables;
    let purged = 0;
    for (;;) {
      const chunk = Math.min(PURGE_CHUNK, limit - purged);
      if (chunk <= 0) break;
      const [row] = await this.connection.db.query<{ purged: number }>(
        `WITH doomed AS (
          SELECT ctid FROM ${tasks} WHERE status IN ${FINAL_SQL} AND completed_at < $1 ORDER BY completed_at LIMIT $2 FOR UPDATE SKIP LOCKED
        ), gone AS (
          DELETE FROM ${tasks} AS t WHERE t.ctid = ANY(ARRAY(SELECT ctid FROM doomed)) RETURNING t.seq, t.id
        ), child_edges AS (
          DELETE FROM ${taskDeps} WHERE child_seq IN (SELECT seq FROM gone)
        ), parent_edges AS (
          DELETE FROM ${taskDeps} WHERE parent_id IN (SELECT id FROM gone)
        )
        SELECT count(*) AS purged FROM gone`,
        [before.getTime(), chunk],
        { operation: 'purgeFinished' },
      );
      const found = row?.purged ?? 0;
      purged += found;
      if (found < chunk) break;
    }
    if (purged > 0) {
      this.foldedAt = Date.now();
      await foldTaskCounts(this.connection);
    }
    return purged;
  }
}
