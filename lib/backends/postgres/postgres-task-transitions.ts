import type { TaskError, TaskRecord } from '../../models/task.model.js';
import type { CancelOutcome, RequeueOutcome, WriteScope } from '../../storage/task-queue.store.js';
import type { PostgresConnection } from './postgres-connection.js';
import { cascadesByRoot, type PostgresTaskGraph } from './postgres-task-graph.js';
import { REQUEUE_SET, rewaitTasks } from './postgres-task-rewait.js';
import { taskFromRow, type TaskRow } from './postgres-task-row.js';
import { HELD_KEY_AT_END, REQUEUEABLE_SQL, WAITING_SQL } from './postgres-task-write-sql.js';
import type { PostgresWrite } from './postgres-write.js';
import type { PostgresWriter } from './postgres-writer.js';

/** A CancelOutcome or RequeueOutcome of a task the call changed. */
type Changed<O> = O & { changed: true };

/**
 * The transitions that end a task without running it, or bring one back, each with what it does
 * to the task's dependents: for one task in a transaction of its own (`cancel`, `requeue`), or
 * for many inside the caller's (`cancelMany`, `requeueMany`, which the bulk calls use), each a
 * statement for all the tasks plus one per cascade level.
 */
export class PostgresTaskTransitions {
  private readonly cancelSql: string;
  private readonly getSql: string;

  constructor(
    private readonly connection: PostgresConnection,
    private readonly writer: PostgresWriter,
    private readonly graph: PostgresTaskGraph,
  ) {
    const { tasks } = connection.tables;
    // A waiting task ends cancelled; a running one is asked to stop, once (SET reads the row as it was).
    const running = `t.status = 'running'`;
    this.cancelSql = `UPDATE ${tasks} t SET
        status = CASE WHEN ${running} THEN t.status ELSE 'cancelled' END,
        completed_at = CASE WHEN ${running} THEN t.completed_at ELSE $2 END,
        last_error = CASE WHEN ${running} THEN t.last_error ELSE $3 END,
        held_key = CASE WHEN ${running} THEN t.held_key ELSE ${HELD_KEY_AT_END} END,
        cancel_requested_at = CASE WHEN ${running} THEN $2 ELSE t.cancel_requested_at END,
        updated_at = $2
      WHERE t.id = ANY($1::text[]) AND (t.status IN ${WAITING_SQL} OR (${running} AND t.cancel_requested_at IS NULL))
      RETURNING t.*`;
    this.getSql = `SELECT * FROM ${tasks} WHERE id = $1`;
  }

  /** Cancels a waiting task with its dependents, or asks a running one's holder to stop; undefined for an unknown id. */
  cancel(id: string, error: TaskError, scope: WriteScope): Promise<CancelOutcome | undefined> {
    return this.writer.write(
      { operation: 'cancel', tasks: [{ id }] },
      async (write) => (await this.cancelMany(write, [id], JSON.stringify(error)))[0] ?? this.unchanged(write, id, (task) => ({ task, changed: false, ended: [] })),
      scope,
    );
  }

  /** Sends a failed, cancelled or expired task back to pending with the dependents its end cancelled; undefined for an unknown id. */
  requeue(id: string, scope: WriteScope): Promise<RequeueOutcome | undefined> {
    return this.writer.write(
      { operation: 'requeue', tasks: [{ id }] },
      async (write) => (await this.requeueMany(write, [id]))[0] ?? this.unchanged(write, id, (task) => ({ task, changed: false, revived: [] })),
      scope,
    );
  }

  /**
   * Inside the caller's transaction: cancels the waiting tasks among `ids` (error: the JSON of
   * their TaskError), each with its dependents, and asks the running ones not asked yet to stop
   * (`cancel:<id>` on `control`). Returns the outcomes of the tasks it changed, oldest first; the
   * others (ended, or asked already) it leaves as they are.
   */
  async cancelMany(write: PostgresWrite, ids: readonly string[], error: string): Promise<Changed<CancelOutcome>[]> {
    const rows = await write.query<TaskRow>(this.cancelSql, [ids, write.now, error]);
    if (rows.length === 0) return [];
    const outcomes = rows.sort((a, b) => a.seq - b.seq).map((row): Changed<CancelOutcome> => {
      const task = taskFromRow(row);
      if (task.status === 'running') {
        write.control(`cancel:${task.id}`);
        return { task, changed: true, ended: [] };
      }
      write.endedUnrun(task);
      return { task, changed: true, ended: [task] };
    });
    const ended = outcomes.filter((outcome) => outcome.ended.length > 0).map((outcome) => outcome.task);
    if (ended.length === 0) return outcomes;
    const cascades = cascadesByRoot(
      ended.map((task) => task.id),
      await this.graph.afterEnd(write, ended),
    );
    for (const outcome of outcomes) for (const task of cascades.get(outcome.task.id) ?? []) outcome.ended.push(task);
    return outcomes;
  }

  /**
   * Inside the caller's transaction: requeues the failed, cancelled and expired tasks among
   * `ids`, with the dependents their ends cancelled, deleting the results of all of them when the
   * scope says `results`. Returns the outcomes of the tasks it requeued, oldest first.
   */
  async requeueMany(write: PostgresWrite, ids: readonly string[]): Promise<Changed<RequeueOutcome>[]> {
    const rows = await rewaitTasks(write, this.connection.tables, { match: 'c.id = ANY($1)', status: `IN ${REQUEUEABLE_SQL}` }, ids, REQUEUE_SET);
    if (rows.length === 0) return [];
    const outcomes = rows.sort((a, b) => a.seq - b.seq).map((row): Changed<RequeueOutcome> => ({ task: taskFromRow(row), changed: true, revived: [] }));
    const requeued = outcomes.map((outcome) => outcome.task.id);
    const revived = await this.graph.revive(write, requeued);
    const rootOf = new Map(requeued.map((id) => [id, id]));
    const byId = new Map(outcomes.map((outcome) => [outcome.task.id, outcome]));
    for (const { task, cause } of revived) {
      const root = rootOf.get(cause)!;
      rootOf.set(task.id, root);
      byId.get(root)!.revived.push(task);
    }
    if (write.scope.results) {
      await write.query(`DELETE FROM ${this.connection.tables.results} WHERE task_id = ANY($1::text[])`, [[...rootOf.keys()]]);
    }
    return outcomes;
  }

  /** The outcome of a call that changed nothing: the task as it is, or undefined for an unknown id. */
  private async unchanged<O>(write: PostgresWrite, id: string, outcome: (task: TaskRecord) => O): Promise<O | undefined> {
    const [row] = await write.query<TaskRow>(this.getSql, [id]);
    return row && outcome(taskFromRow(row));
  }
}
