import type { TaskRecord } from '../../models/task.model.js';
import { lapsedError, leaseEvent } from '../../storage/outcomes.js';
import { WRITE_NOTHING, type ReclaimReport, type WriteScope } from '../../storage/task-queue.store.js';
import { CHUNK_ROWS, betweenChunks } from './sqlite-chunks.js';
import type { SqliteTaskGraph } from './sqlite-task-graph.js';
import type { SqliteTaskMaintenanceQueries } from './sqlite-task-maintenance.queries.js';
import { taskColumn, taskFromRow } from './sqlite-task-row.js';
import type { SqliteTaskTransitions } from './sqlite-task-transitions.js';
import { writeTasks, type TaskOutputs, type TaskWrite } from './sqlite-task-write.js';
import type { SqliteTaskQueries } from './sqlite-task.queries.js';

/** `limit` for SQLite's LIMIT clause, where -1 means no limit. */
const sqlLimit = (limit: number | undefined): number => (limit === undefined || !Number.isFinite(limit) ? -1 : limit);

/**
 * The maintenance leader's calls on the task queue. Each is one write transaction, so it is safe
 * beside every other call and beside itself on another instance (leadership may overlap briefly);
 * a purge is one per chunk of CHUNK_ROWS tasks, so it never holds the lock long.
 */
export class SqliteTaskMaintenance {
  constructor(
    private readonly outputs: TaskOutputs,
    private readonly sql: SqliteTaskQueries,
    private readonly maintenance: SqliteTaskMaintenanceQueries,
    private readonly transitions: SqliteTaskTransitions,
    private readonly graph: SqliteTaskGraph,
  ) {}

  reclaimLapsed(now: Date, limit: number, scope: WriteScope, maxLapses: number): ReclaimReport | Promise<ReclaimReport> {
    return writeTasks(this.outputs, { operation: 'reclaimLapsed' }, scope, now.getTime(), (write) => {
      const report: ReclaimReport = { tasks: [], ended: [] };
      for (const lapsed of this.maintenance.lapsed(write.now, sqlLimit(limit))) {
        // The events and the error name the lost attempt: the task as it was, with its worker and lease.
        const was = taskFromRow(lapsed);
        const lapses = was.lapses + 1;
        if (scope.events) write.event(leaseEvent(was, 'reclaimed', now));
        const seq = taskColumn(lapsed, 'seq');
        if (lapses >= maxLapses) {
          const task = taskFromRow(this.maintenance.deadLetter(seq, write.now, JSON.stringify(lapsedError(was, lapses)))!);
          write.counts.move(task.queue, 'running', 'failed');
          write.endedUnrun(task);
          report.tasks.push(task);
          report.ended.push(...this.graph.afterEnd(task.id, task.name, 'failed', write));
          continue;
        }
        const reclaimed = this.maintenance.reclaim(seq, write.now)!;
        const task = taskFromRow(reclaimed);
        write.counts.move(task.queue, 'running', task.status);
        if (taskColumn(reclaimed, 'ready') === 1) write.wake(task.queue);
        report.tasks.push(task);
      }
      return report;
    });
  }

  /** Files due scheduled and retrying tasks as pending, waking their queues; how many. */
  promoteDue(now: Date, limit?: number): number | Promise<number> {
    return writeTasks(this.outputs, { operation: 'promoteDue' }, WRITE_NOTHING, now.getTime(), (write) => this.promote(write, limit));
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

  expireOverdue(now: Date, limit: number, scope: WriteScope): TaskRecord[] | Promise<TaskRecord[]> {
    return writeTasks(this.outputs, { operation: 'expireOverdue' }, scope, now.getTime(), (write) =>
      this.maintenance.overdue(write.now, sqlLimit(limit)).flatMap(([seq, status]) => this.transitions.expire(seq, status, write)),
    );
  }

  /** Deletes up to `limit` (all when undefined) tasks that ended before `before`, with their edges, a chunk per transaction. */
  async purgeFinished(before: Date, limit = Number.POSITIVE_INFINITY): Promise<number> {
    let purged = 0;
    for (;;) {
      const chunk = Math.min(CHUNK_ROWS, limit - purged);
      if (chunk <= 0) return purged;
      const found = await writeTasks(this.outputs, { operation: 'purgeFinished' }, WRITE_NOTHING, undefined, (write) => {
        const finished = this.maintenance.finishedBefore(before.getTime(), chunk);
        if (finished.length === 0) return 0;
        for (const [, , queue, status] of finished) write.counts.move(queue, status, undefined);
        this.maintenance.purge(
          finished.map(([seq]) => seq),
          finished.map(([, id]) => id),
        );
        return finished.length;
      });
      purged += found;
      if (found < chunk) return purged;
      await betweenChunks();
    }
  }
}
