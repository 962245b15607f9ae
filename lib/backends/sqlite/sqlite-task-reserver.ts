import type { TaskRecord } from '../../models/task.model.js';
import type { ReserveRequest } from '../../storage/task-queue.store.js';
import { newUuid } from '../../utils/uuid.js';
import type { SqliteQueuePauses } from './sqlite-queue-pauses.js';
import type { SqliteTaskMaintenance } from './sqlite-task-maintenance.js';
import { taskColumn, taskFromRow, type TaskRow } from './sqlite-task-row.js';
import type { TaskWrite } from './sqlite-task-write.js';
import type { SqliteTaskQueries } from './sqlite-task.queries.js';

/** Reserve order within a queue: priority (higher first), then runAt, then enqueue order. */
function reserveOrder(a: TaskRow, b: TaskRow): number {
  return (
    taskColumn(b, 'priority') - taskColumn(a, 'priority') ||
    taskColumn(a, 'run_at') - taskColumn(b, 'run_at') ||
    taskColumn(a, 'seq') - taskColumn(b, 'seq')
  );
}

/**
 * Hands tasks out under leases, inside the caller's write transaction. Reserve reads only rows
 * filed `ready` (due, unblocked, waiting), in priority order through one index, so delayed,
 * blocked and running tasks cost it nothing however many there are; a running task is never
 * ready, whatever its lease, until the leader reclaims it.
 */
export class SqliteTaskReserver {
  constructor(
    private readonly sql: SqliteTaskQueries,
    private readonly pauses: SqliteQueuePauses,
    private readonly maintenance: SqliteTaskMaintenance,
  ) {}

  reserve(request: ReserveRequest, write: TaskWrite): TaskRecord[] {
    const leaseExpiresAt = write.now + request.leaseMs;
    // Due delayed tasks are taken now, whether or not the leader promoted them yet.
    this.maintenance.promote(write);
    const reserved: TaskRecord[] = [];
    for (const queue of request.queues) {
      const limit = request.limit - reserved.length;
      if (limit <= 0) break;
      if (this.pauses.isPaused(queue)) continue;
      for (const row of this.readyRows(queue, request.names, limit, write.now)) {
        const token = newUuid();
        this.sql.lease(taskColumn(row, 'seq'), write.now, request.workerId, token, leaseExpiresAt);
        // The record is built from the row as read, then given what the lease changed: no second read.
        const record = taskFromRow(row);
        write.counts.move(queue, record.status, 'running');
        record.status = 'running';
        record.attempts += 1;
        record.startedAt = new Date(write.now);
        record.updatedAt = new Date(write.now);
        record.workerId = request.workerId;
        record.leaseToken = token;
        record.leaseExpiresAt = new Date(leaseExpiresAt);
        reserved.push(record);
      }
    }
    return reserved;
  }

  /**
   * The best `limit` reservable rows of one queue. Each task name is read from its own index range
   * and the heads merged, so tasks of names the worker does not run are never scanned past.
   */
  private readyRows(queue: string, names: readonly string[] | undefined, limit: number, now: number): TaskRow[] {
    const wanted = names === undefined ? this.sql.readyNames(queue) : [...new Set(names)];
    const rows = wanted.flatMap((name) => this.sql.ready(queue, name, now, limit));
    return wanted.length > 1 ? rows.sort(reserveOrder).slice(0, limit) : rows;
  }
}
