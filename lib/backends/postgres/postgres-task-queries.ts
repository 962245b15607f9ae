import { TASK_STATUSES, type TaskRecord, type TaskStatus } from '../../models/task.model.js';
import type { LeaseRef, Page, QueueStatusCount, TaskListFilter } from '../../storage/task-queue.store.js';
import type { PostgresConnection } from './postgres-connection.js';
import { FOLD_ABOVE_ROWS, foldTaskCounts } from './postgres-task-counts.js';
import { listStatement } from './postgres-task-list.js';
import { taskFromRow, type TaskRow } from './postgres-task-row.js';
import { slices } from './postgres-task-write-sql.js';
import { jsonOrNull } from './postgres-values.js';

const DEFAULT_PAGE_SIZE = 100;
const STATUSES = new Set<string>(TASK_STATUSES);

/** A page row: the total and how many delta rows it summed, then the task's columns (all null when the page is empty). */
type PageRow = { page_total: number; page_deltas: number } & { [K in keyof TaskRow]: TaskRow[K] | null };

/**
 * The task queue's reads and the lease holder's small writes. Totals and counts never count the
 * tasks: they sum the `task_counts` deltas the table's triggers append (a few rows per group
 * once folded), so a page costs the same with a million finished tasks in the table. A read
 * that finds many unfolded deltas folds them.
 */
export class PostgresTaskQueries {
  /** Every call here is one statement (autocommitted) or a plain transaction: none notifies, so no writer. */
  constructor(private readonly connection: PostgresConnection) {}

  /**
   * Pushes live leases to now + leaseMs, a statement per chunk, in a transaction so that a
   * deadlock with the holder's own settle (both lock the same rows) runs it again.
   */
  async extendLeases(leases: readonly LeaseRef[], leaseMs: number): Promise<boolean[]> {
    const now = Date.now();
    const key = (id: string, token: string | null): string => `${id}\u0000${token}`;
    const held = new Set<string>();
    for (const chunk of slices(leases)) {
      const rows = await this.connection.db.transaction({ operation: 'extendLeases', tasks: chunk }, (tx) =>
        tx.query<{ id: string; lease_token: string | null }>(
          `UPDATE ${this.connection.tables.tasks} AS t SET lease_expires_at = $1, updated_at = $2
          FROM unnest($3::text[], $4::text[]) AS l(id, token)
          WHERE t.id = ANY($3::text[]) AND t.id = l.id AND t.status = 'running' AND t.lease_token = l.token RETURNING t.id, t.lease_token`,
          [now + leaseMs, now, chunk.map((lease) => lease.id), chunk.map((lease) => lease.token)],
        ),
      );
      for (const row of rows) held.add(key(row.id, row.lease_token));
    }
    return leases.map((lease) => held.has(key(lease.id, lease.token)));
  }

  async setProgress(id: string, token: string, progress: unknown): Promise<boolean> {
    const rows = await this.connection.db.query(
      `UPDATE ${this.connection.tables.tasks} SET progress = $1, updated_at = $2 WHERE id = $3 AND status = 'running' AND lease_token = $4 RETURNING seq`,
      [jsonOrNull(progress), Date.now(), id, token],
      { operation: 'setProgress', tasks: [{ id }] },
    );
    return rows.length > 0;
  }

  async cancelRequested(ids: readonly string[]): Promise<string[]> {
    const requested = new Set<string>();
    for (const chunk of slices(ids)) {
      const rows = await this.connection.db.query<{ id: string }>(
        `SELECT id FROM ${this.connection.tables.tasks} WHERE id = ANY($1::text[]) AND status = 'running' AND cancel_requested_at IS NOT NULL`,
        [chunk],
        { operation: 'cancelRequested' },
      );
      for (const { id } of rows) requested.add(id);
    }
    return ids.filter((id) => requested.has(id));
  }

  async getMany(ids: readonly string[]): Promise<(TaskRecord | undefined)[]> {
    const found = new Map<string, TaskRecord>();
    for (const chunk of slices([...new Set(ids)])) {
      const rows = await this.connection.db.query<TaskRow>(`SELECT * FROM ${this.connection.tables.tasks} WHERE id = ANY($1::text[])`, [chunk], {
        operation: 'getMany',
      });
      for (const row of rows) found.set(row.id, taskFromRow(row));
    }
    return ids.map((id) => found.get(id));
  }

  async list(filter: TaskListFilter): Promise<Page<TaskRecord>> {
    const offset = filter.offset ?? 0;
    const limit = filter.limit ?? DEFAULT_PAGE_SIZE;
    const statement = listStatement(this.connection.tables, filter, offset, limit);
    if (statement === undefined) return { items: [], total: 0, offset, limit };
    const rows = await this.connection.db.query<PageRow>(statement.sql, statement.params, { operation: 'list' });
    const [first] = rows;
    const found = first === undefined || first.seq === null ? [] : (rows as unknown as TaskRow[]);
    const page: Page<TaskRecord> = { items: found.slice(0, limit).map(taskFromRow), total: first?.page_total ?? 0, offset, limit };
    if (found.length > limit && limit > 0) page.nextCursor = String(found[limit - 1]!.seq);
    if ((first?.page_deltas ?? 0) > FOLD_ABOVE_ROWS) await foldTaskCounts(this.connection);
    return page;
  }

  /** Per queue and status, the tasks there are (non-zero groups of known statuses: a record with a status that is no status shows as damaged in reads instead). */
  async counts(): Promise<QueueStatusCount[]> {
    const rows = await this.connection.db.query<{ queue: string; status: string; count: number; deltas: number }>(
      `SELECT queue, status, sum(delta) AS count, count(*) AS deltas FROM ${this.connection.tables.taskCounts} GROUP BY queue, status ORDER BY queue, status`,
      [],
      { operation: 'counts' },
    );
    if (rows.reduce((sum, row) => sum + row.deltas, 0) > FOLD_ABOVE_ROWS) await foldTaskCounts(this.connection);
    return rows.filter((row) => row.count > 0 && STATUSES.has(row.status)).map(({ queue, status, count }) => ({ queue, status: status as TaskStatus, count }));
  }
}
