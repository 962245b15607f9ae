import type { TaskRecord } from '../../models/task.model.js';
import { leaseEvent } from '../../storage/outcomes.js';
import { WRITE_NOTHING, type WriteScope } from '../../storage/task-queue.store.js';
import type { SqliteTaskMaintenanceQueries } from './sqlite-task-maintenance.queries.js';
import { taskColumn, taskFromRow } from './sqlite-task-row.js';
import type { SqliteTaskTransitions } from './sqlite-task-transitions.js';
import { writeTasks, type TaskOutputs, type TaskWrite } from './sqlite-task-write.js';
import type { SqliteTaskQueries } from './sqlite-task.queries.js';

/** `limit` for SQLite's LIMIT clause, where -1 means no limit. */
const sqlLimit = (limit: number | undefined): number => (limit === undefined || !Number.isFinite(limit) ? -1 : limit);

/**
 * The maintenance leader's calls on the task queue. Each is one write transaction, so it is safe
 * beside every other call and beside itself on another instance (leadership may overlap briefly).
 */
export class SqliteTaskMaintenance {
  constructor(
    private readonly outputs: TaskOutputs,
    private readonly sql: SqliteTaskQueries,
    private readonly maintenance: SqliteTaskMaintenanceQueries,
    private readonly transitions: SqliteTaskTransitions,
  ) {}

  reclaimLapsed(now: Date, limit: number, scope: WriteScope): TaskRecord[] {
    return this.transaction(scope, now, (write) =>
      this.maintenance.lapsed(write.now, sqlLimit(limit)).map((lapsed) => {
        const reclaimed = this.maintenance.reclaim(taskColumn(lapsed, 'seq'), write.now)!;
        const task = taskFromRow(reclaimed);
        write.counts.move(task.queue, 'running', task.status);
        // The event names the lost attempt: the task as it was, with its worker and lease.
        if (scope.events) write.event(leaseEvent(taskFromRow(lapsed), 'reclaimed', now));
        if (taskColumn(reclaimed, 'ready') === 1) write.wake(task.queue);
        return task;
      }),
    );
  }

  /** Files due scheduled and retrying tasks as pending, waking their queues; how many. */
  promoteDue(now: Date, limit?: number): number {
    return this.transaction(undefined, now, (write) => this.promote(write, limit));
  }

  /** Inside a write: promotes up to `limit` due tasks (all when undefined). */
  promote(write: TaskWrite, limit?: number): number {
    const due = this.sql.due(write.now, sqlLimit(limit));
    for (const [seq, queue, status] of due) {
      this.sql.promote(seq, write.now);
      write.counts.move(queue, status, 'pending');
      write.wake(queue);
    }
    return due.length;
  }

  nextDueAt(): Date | undefined {
    const soonest = this.maintenance.nextDue();
    return soonest === null ? undefined : new Date(soonest);
  }

  expireOverdue(now: Date, limit: number, scope: WriteScope): TaskRecord[] {
    return this.transaction(scope, now, (write) =>
      this.maintenance.overdue(write.now, sqlLimit(limit)).flatMap(([seq, status]) => this.transitions.expire(seq, status, write)),
    );
  }

  purgeFinished(before: Date, limit?: number): number {
    return this.transaction(undefined, new Date(), (write) => {
      const finished = this.maintenance.finishedBefore(before.getTime(), sqlLimit(limit));
      if (finished.length === 0) return 0;
      for (const [, , queue, status] of finished) write.counts.move(queue, status, undefined);
      return this.maintenance.purge(
        finished.map(([seq]) => seq),
        finished.map(([, id]) => id),
      );
    });
  }

  private transaction<R>(scope: WriteScope | undefined, now: Date, work: (write: TaskWrite) => R): R {
    return writeTasks(this.outputs, scope ?? WRITE_NOTHING, now.getTime(), work);
  }
}
