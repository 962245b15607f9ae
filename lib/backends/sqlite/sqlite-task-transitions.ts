import type { TaskRecord } from '../../models/task.model.js';
import type { CancelOutcome, RequeueOutcome } from '../../storage/task-queue.store.js';
import type { SqliteResultStore } from './sqlite-result.store.js';
import type { SqliteTaskGraph } from './sqlite-task-graph.js';
import { taskColumn, taskFromRow, type TaskRow } from './sqlite-task-row.js';
import type { TaskWrite } from './sqlite-task-write.js';
import type { SqliteTaskQueries } from './sqlite-task.queries.js';
import type { SqliteWriter } from './sqlite-writer.js';

const WAITING = new Set<string>(['pending', 'scheduled', 'retrying']);

/**
 * The transitions that end a task without running it, or bring one back, each with what it does
 * to the task's dependents; called inside the caller's write transaction, on the task's row as
 * read in it.
 */
export class SqliteTaskTransitions {
  constructor(
    private readonly sql: SqliteTaskQueries,
    private readonly graph: SqliteTaskGraph,
    private readonly writer: SqliteWriter,
    private readonly results: SqliteResultStore,
  ) {}

  /** Cancels a waiting task with its dependents, or asks a running one's holder to stop (notifying `control`). */
  cancel(row: TaskRow, error: string, write: TaskWrite): CancelOutcome {
    const status = taskColumn(row, 'status');
    const seq = taskColumn(row, 'seq');
    if (WAITING.has(status)) {
      const cancelled = this.sql.cancel(seq, write.now, error);
      if (cancelled !== undefined) {
        const task = taskFromRow(cancelled);
        return { task, changed: true, ended: [task, ...this.ended(task, status, write)] };
      }
    } else if (status === 'running') {
      const asked = this.sql.requestCancellation(seq, write.now);
      if (asked !== undefined) {
        this.writer.controlMessage(`cancel:${taskColumn(row, 'id')}`);
        return { task: taskFromRow(asked), changed: true, ended: [] };
      }
    }
    // Ended already, or asked already; or, for a row read earlier in the write, changed since by a cascade.
    return { task: taskFromRow(row), changed: false, ended: [] };
  }

  /** Ends a waiting task as expired with its dependents; returns every task it ended (none when it was no longer waiting). */
  expire(seq: number, previous: string, write: TaskWrite): TaskRecord[] {
    const row = this.sql.expire(seq, write.now);
    if (row === undefined) return [];
    const task = taskFromRow(row);
    return [task, ...this.ended(task, previous, write)];
  }

  /** Sends a failed, cancelled or expired task back to pending, with the dependents its end cancelled. */
  requeue(row: TaskRow, write: TaskWrite): RequeueOutcome {
    const requeued = this.sql.requeue(taskColumn(row, 'seq'), write.now);
    if (requeued === undefined) return { task: taskFromRow(row), changed: false, revived: [] };
    const task = taskFromRow(requeued);
    write.counts.move(task.queue, taskColumn(row, 'status'), 'pending');
    if (write.scope.results) this.results.deleteRow(task.id);
    if (taskColumn(requeued, 'ready') === 1) write.wake(task.queue);
    return { task, changed: true, revived: this.graph.revive(task.id, write) };
  }

  /** Records a task this write ended unrun (it left status `previous`) and cascades its end; returns the dependents it ended. */
  private ended(task: TaskRecord, previous: string, write: TaskWrite): readonly TaskRecord[] {
    write.counts.move(task.queue, previous, task.status);
    write.endedUnrun(task);
    return this.graph.afterEnd(task.id, task.name, task.status, write);
  }
}
