import type { TaskRecord, TaskStatus } from '../../models/task.model.js';
import { parentFailedError } from '../../storage/outcomes.js';
import type { SqliteResultStore } from './sqlite-result.store.js';
import type { SqliteTaskGraphQueries } from './sqlite-task-graph.queries.js';
import { taskFromRow } from './sqlite-task-row.js';
import type { TaskWrite } from './sqlite-task-write.js';

/** A task that just ended, as its dependents need to know it. */
interface EndedParent {
  readonly id: string;
  readonly name: string;
  readonly status: TaskStatus;
}

export const NO_TASKS: readonly TaskRecord[] = Object.freeze([]);

/**
 * What a task's end does to the tasks that depend on it, and what its requeue undoes, inside the
 * transaction of that end or requeue.
 */
export class SqliteTaskGraph {
  constructor(
    private readonly sql: SqliteTaskGraphQueries,
    private readonly results: SqliteResultStore,
  ) {}

  /**
   * After task `id` ended with `status`: the dependents it was the last unmet parent of become
   * reservable (on success; on any end for onParentFailure `run`), and on a failure, cancellation
   * or expiry the dependents that needed it to succeed end cancelled, and theirs after them.
   * Returns the tasks it cancelled, in the order it cancelled them.
   */
  afterEnd(id: string, name: string, status: TaskStatus, write: TaskWrite): readonly TaskRecord[] {
    if (!this.sql.hasDependents(id)) return NO_TASKS;
    this.release(id, status, write);
    if (status === 'success') return NO_TASKS;
    const cancelled: TaskRecord[] = [];
    // Breadth first, with the list as its queue: a chain of thousands never deepens the stack.
    const parents: EndedParent[] = [{ id, name, status }];
    for (let i = 0; i < parents.length; i++) {
      const parent = parents[i]!;
      const error = JSON.stringify(parentFailedError(parent));
      for (const [seq, previous] of this.sql.failingDependents(parent.id)) {
        const row = this.sql.cancelDependentOf(parent.id, seq, write.now, error);
        if (row === undefined) continue;
        const task = taskFromRow(row);
        write.counts.move(task.queue, previous, 'cancelled');
        write.endedUnrun(task);
        cancelled.push(task);
        if (!this.sql.hasDependents(task.id)) continue;
        this.release(task.id, 'cancelled', write);
        parents.push(task);
      }
    }
    return cancelled.length === 0 ? NO_TASKS : cancelled;
  }

  /**
   * After task `id` was requeued: the dependents its end cancelled go back to waiting, blocked on
   * it again, and so do the ones their own ends cancelled. With the scope's results, their stored
   * results are deleted. Returns them as they are now.
   */
  revive(id: string, write: TaskWrite): TaskRecord[] {
    const revived: TaskRecord[] = [];
    const parents = [id];
    for (let i = 0; i < parents.length; i++) {
      for (const seq of this.sql.cancelledBy(parents[i]!)) {
        const row = this.sql.revive(seq, write.now);
        if (row === undefined) continue;
        const task = taskFromRow(row);
        write.counts.move(task.queue, 'cancelled', task.status);
        if (write.scope.results) this.results.deleteRow(task.id);
        revived.push(task);
        parents.push(task.id);
      }
    }
    return revived;
  }

  /** Marks met the edges the end satisfies and frees the dependents left with none unmet; those now due are woken. */
  private release(id: string, status: TaskStatus, write: TaskWrite): void {
    for (const childSeq of this.sql.meetDependencies(id, status)) {
      const queue = this.sql.unblock(childSeq, write.now);
      if (queue !== undefined) write.wake(queue);
    }
  }
}
