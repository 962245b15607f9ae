import type { TaskRecord } from '../../models/task.model.js';
import { parentFailedError } from '../../storage/outcomes.js';
import type { PostgresTables } from './postgres-tables.js';
import { rewaitTasks, REVIVE_SET, type RewaitedRow } from './postgres-task-rewait.js';
import { taskFromRow, type TaskRow } from './postgres-task-row.js';
import { HELD_KEY_AT_END, slices, WAITING_SQL } from './postgres-task-write-sql.js';
import type { PostgresWrite } from './postgres-write.js';

/** A task that just ended, as its dependents need to know it. */
export type EndedTask = Pick<TaskRecord, 'id' | 'name' | 'status'>;

/** A row of a cascade level: the queues it woke, and a dependent it cancelled (all columns null when it cancelled none). */
type LevelRow = { woken: string[] | null } & (TaskRow | { seq: null });

/** A task a requeue brought back, and the task whose end had cancelled it. */
export interface RevivedTask {
  readonly task: TaskRecord;
  readonly cause: string;
}

/**
 * The dependents each root's end cancelled, by root id, in cascade order: a cancelled task
 * belongs to the root its `cancelledBy` chain leads to (a cascade lists parents before children).
 */
export function cascadesByRoot(rootIds: Iterable<string>, cascaded: readonly TaskRecord[]): Map<string, TaskRecord[]> {
  const rootOf = new Map<string, string>();
  for (const id of rootIds) rootOf.set(id, id);
  const byRoot = new Map<string, TaskRecord[]>();
  for (const task of cascaded) {
    const root = task.cancelledBy === undefined ? undefined : rootOf.get(task.cancelledBy);
    if (root === undefined) continue;
    rootOf.set(task.id, root);
    const list = byRoot.get(root);
    if (list === undefined) byRoot.set(root, [task]);
    else list.push(task);
  }
  return byRoot;
}

/**
 * The dependency graph: the edges from a parent id to the dependents it holds back
 * (`task_deps`, with `tasks.unmet` counting each dependent's unmet ones), what parents' ends do to
 * them, and what a parent's requeue brings back — each a statement per cascade level for all the
 * tasks of a call, whatever their number, inside the caller's transaction.
 *
 * A level reads the edges in a statement of its own, after the statement that ended its parents:
 * an enqueue holds its parents locked until it commits, so the end waited for it and this later
 * statement sees its edges; an enqueue after the end sees the parent ended. Only parents whose
 * `has_dependents` the ending statement read need a level at all (see flagParentsSql).
 */
export class PostgresTaskGraph {
  private readonly levelSql: string;

  constructor(private readonly tables: PostgresTables) {
    const { tasks, taskDeps } = tables;
    // Every unmet edge of a parent either is met by its end (success, or a dependent with
    // onParentFailure `run`) or dooms its dependent, which the first such parent cancels.
    // `freed` and `doomed` update disjoint dependents: one statement may not update a row twice.
    this.levelSql = `WITH p AS (
        SELECT * FROM unnest($1::text[], $2::text[], $3::text[]) WITH ORDINALITY AS p(id, status, error, ord)
      ),
      e AS (SELECT d.child_seq, d.run_on_failure, p.status, p.ord FROM ${taskDeps} d JOIN p ON d.parent_id = p.id WHERE NOT d.met),
      meet AS (
        UPDATE ${taskDeps} d SET met = true FROM p WHERE d.parent_id = p.id AND NOT d.met AND (p.status = 'success' OR d.run_on_failure)
      ),
      a AS (
        SELECT child_seq, count(*) FILTER (WHERE status = 'success' OR run_on_failure) AS met,
          min(ord) FILTER (WHERE status <> 'success' AND NOT run_on_failure) AS doomed_by
        FROM e GROUP BY child_seq
      ),
      freed AS (
        UPDATE ${tasks} t SET unmet = t.unmet - a.met FROM a WHERE t.seq = a.child_seq AND a.doomed_by IS NULL
        RETURNING t.queue, t.unmet, t.status, t.run_at
      ),
      doomed AS (
        UPDATE ${tasks} t SET status = 'cancelled', completed_at = $4, updated_at = $4, unmet = t.unmet - a.met,
          last_error = p.error, cancelled_by = p.id, held_key = ${HELD_KEY_AT_END}
        FROM a JOIN p ON p.ord = a.doomed_by WHERE t.seq = a.child_seq AND t.status IN ${WAITING_SQL}
        RETURNING a.doomed_by, t.*
      )
      SELECT w.woken, doomed.* FROM (
        SELECT array_agg(DISTINCT queue) AS woken FROM freed WHERE unmet = 0 AND status IN ${WAITING_SQL} AND run_at <= $4
      ) w LEFT JOIN doomed ON true ORDER BY doomed.doomed_by, doomed.seq`;
  }

  /**
   * After `ended` tasks ended (their rows already final in this transaction): their edges are
   * met, the dependents left with none unmet become reservable (their queues woken when due),
   * and the waiting dependents that needed one of them to succeed end cancelled (cancelledBy,
   * a ParentFailedError, their unrun outcome), and theirs after them. Returns those, as they are
   * now, level by level.
   */
  async afterEnd(write: PostgresWrite, ended: readonly EndedTask[]): Promise<TaskRecord[]> {
    const cancelled: TaskRecord[] = [];
    for (let parents = ended; parents.length > 0; ) {
      const next: TaskRecord[] = [];
      for (const slice of slices(parents)) {
        const rows = await write.query<LevelRow>(this.levelSql, [
          slice.map((parent) => parent.id),
          slice.map((parent) => parent.status),
          slice.map((parent) => (parent.status === 'success' ? null : JSON.stringify(parentFailedError(parent)))),
          write.now,
        ]);
        for (const queue of rows[0]?.woken ?? []) write.wake(queue);
        for (const row of rows) {
          if (row.seq === null) continue;
          const task = taskFromRow(row);
          write.endedUnrun(task);
          next.push(task);
        }
      }
      for (const task of next) cancelled.push(task);
      parents = next;
    }
    return cancelled;
  }

  /**
   * After tasks `parentIds` were requeued: the dependents their ends cancelled go back to waiting
   * (blocked on them again), and the ones those cancelled, level by level. Returns them as they
   * are now, each with the task whose end had cancelled it.
   */
  async revive(write: PostgresWrite, parentIds: readonly string[]): Promise<RevivedTask[]> {
    const revived: RevivedTask[] = [];
    for (let parents = parentIds; parents.length > 0; ) {
      const level: RevivedTask[] = [];
      for (const slice of slices(parents)) {
        const rows = await rewaitTasks(write, this.tables, { match: 'c.cancelled_by = ANY($1)', status: `= 'cancelled'` }, slice, REVIVE_SET);
        const order = new Map(slice.map((id, index) => [id, index]));
        // Selected by cancelled_by, so every row has its cause.
        const causeOf = (row: RewaitedRow): number => order.get(row.cause as string)!;
        rows.sort((a, b) => causeOf(a) - causeOf(b) || a.seq - b.seq);
        for (const row of rows) level.push({ task: taskFromRow(row), cause: row.cause as string });
      }
      for (const entry of level) revived.push(entry);
      parents = level.map((entry) => entry.task.id);
    }
    return revived;
  }

  /**
   * A CTE body locking the stored ones of parents `$<param>` (a text[]), in id order: their id
   * and status. FOR NO KEY UPDATE rather than FOR SHARE, since `flagParentsSql` sets their
   * `has_dependents` in the same statement: two enqueues holding one parent FOR SHARE would
   * deadlock on that update.
   */
  lockParentsSql(param: number): string {
    return `SELECT id, status FROM ${this.tables.tasks} WHERE id = ANY($${param}::text[]) ORDER BY id FOR NO KEY UPDATE`;
  }

  /**
   * A CTE body marking the parents the CTE `parents` (see lockParentsSql) locked as having
   * dependents: a settle then looks at their edges. Under their lock, so a settle waiting on it
   * reads the mark in the row it updates.
   */
  flagParentsSql(): string {
    const { tasks } = this.tables;
    return `UPDATE ${tasks} t SET has_dependents = true FROM parents WHERE t.id = parents.id AND NOT t.has_dependents`;
  }

  /**
   * A CTE body storing the edges `$<first>`… (child id, parent id, run on failure, met: four
   * arrays) of the children CTE `inserted` (id, seq) stored; the edges of children it did not
   * store are left out.
   */
  insertEdgesSql(first: number): string {
    return `INSERT INTO ${this.tables.taskDeps} (parent_id, child_seq, run_on_failure, met)
      SELECT e.parent_id, inserted.seq, e.run_on_failure, e.met
      FROM unnest($${first}::text[], $${first + 1}::text[], $${first + 2}::boolean[], $${first + 3}::boolean[]) AS e(child_id, parent_id, run_on_failure, met)
      JOIN inserted ON inserted.id = e.child_id
      ON CONFLICT DO NOTHING`;
  }
}
