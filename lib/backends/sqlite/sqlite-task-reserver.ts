import type { LoggerService } from '@nestjs/common';
import { TASK_STATUSES, WAITING_TASK_STATUSES, type TaskRecord } from '../../models/task.model.js';
import { damagedError } from '../../storage/outcomes.js';
import type { ReserveRequest } from '../../storage/task-queue.store.js';
import { newUuid } from '../../utils/uuid.js';
import type { SqliteQueuePauses } from './sqlite-queue-pauses.js';
import type { SqliteTaskMaintenance } from './sqlite-task-maintenance.js';
import { taskColumn, taskFromRow, type TaskRow } from './sqlite-task-row.js';
import type { TaskWrite } from './sqlite-task-write.js';
import type { SqliteTaskQueries } from './sqlite-task.queries.js';

const WAITING = new Set<string>(WAITING_TASK_STATUSES);
const STATUSES = new Set<string>(TASK_STATUSES);

/**
 * How many due delayed tasks a reserve files for itself at most: the leader promotes the rest.
 * Bounded so that a reserve never turns into a long write when many tasks fall due at once.
 */
const PROMOTE_IN_RESERVE = 1_000;

/** Reserve order within a queue: priority (higher first), then runAt, then enqueue order. */
function reserveOrder(a: TaskRow, b: TaskRow): number {
  return (
    taskColumn(b, 'priority') - taskColumn(a, 'priority') ||
    taskColumn(a, 'run_at') - taskColumn(b, 'run_at') ||
    taskColumn(a, 'seq') - taskColumn(b, 'seq')
  );
}

/** What one reserve call has taken so far, across its queues. */
interface Taken {
  readonly reserved: TaskRecord[];
  /** Tasks taken whose lease lapsed before (`lapses` > 0). */
  lapsed: number;
}

/**
 * Hands tasks out under leases, inside the caller's write transaction. Reserve reads only rows
 * filed `ready` (due, unblocked, waiting), in priority order through one index, so delayed,
 * blocked and running tasks cost it nothing however many there are; a running task is never
 * ready, whatever its lease, until the leader reclaims it.
 *
 * A ready row that cannot be run as stored (an unknown status, a column that cannot be read) is
 * set aside instead (see `setAside`), logged once, its dependents left waiting; the call goes on
 * with the next rows.
 */
export class SqliteTaskReserver {
  constructor(
    private readonly sql: SqliteTaskQueries,
    private readonly pauses: SqliteQueuePauses,
    private readonly maintenance: SqliteTaskMaintenance,
    private readonly logger: LoggerService,
  ) {}

  reserve(request: ReserveRequest, write: TaskWrite): TaskRecord[] {
    // Due delayed tasks are taken now, whether or not the leader promoted them yet.
    this.maintenance.promote(write, PROMOTE_IN_RESERVE);
    const taken: Taken = { reserved: [], lapsed: 0 };
    for (const queue of request.queues) {
      if (taken.reserved.length >= request.limit) break;
      if (!this.pauses.isPaused(queue)) this.reserveFrom(queue, request, taken, write);
    }
    return taken.reserved;
  }

  /**
   * Takes the best rows of one queue until the request is full or the queue has none left. Rows
   * passed over (lapsed tasks beyond `maxLapsed`) stay ready, so a read after rows were passed or
   * set aside asks for that many more and skips the passed ones.
   */
  private reserveFrom(queue: string, request: ReserveRequest, taken: Taken, write: TaskWrite): void {
    const maxLapsed = request.maxLapsed ?? Number.POSITIVE_INFINITY;
    const lapsedFrom = request.lapsedFrom ?? 1;
    const passed = new Set<number>();
    for (;;) {
      const wanted = request.limit - taken.reserved.length + passed.size;
      const rows = this.readyRows(queue, request.names, wanted, write.now);
      for (const row of rows) {
        const seq = taskColumn(row, 'seq');
        if (passed.has(seq)) continue;
        const record = taskFromRow(row);
        if (record.damaged !== undefined || !WAITING.has(record.status)) {
          this.setAside(row, record, write);
          continue;
        }
        if (record.lapses >= lapsedFrom) {
          if (taken.lapsed >= maxLapsed) {
            passed.add(seq);
            continue;
          }
          taken.lapsed += 1;
        }
        taken.reserved.push(this.lease(row, record, request, write));
        if (taken.reserved.length >= request.limit) return;
      }
      if (rows.length < wanted) return;
    }
  }

  /** Leases a row's task; the record is built from the row as read, then given what the lease changed: no second read. */
  private lease(row: TaskRow, record: TaskRecord, request: ReserveRequest, write: TaskWrite): TaskRecord {
    const token = newUuid();
    const leaseExpiresAt = write.now + request.leaseMs;
    this.sql.lease(taskColumn(row, 'seq'), write.now, request.workerId, token, leaseExpiresAt);
    write.counts.move(record.queue, record.status, 'running');
    record.status = 'running';
    record.attempts += 1;
    record.startedAt = new Date(write.now);
    record.updatedAt = new Date(write.now);
    record.workerId = request.workerId;
    record.leaseToken = token;
    record.leaseExpiresAt = new Date(leaseExpiresAt);
    return record;
  }

  /**
   * Takes a ready row that cannot run as stored out of reserve's reach, without touching its
   * dependents, and logs it once the write committed. One with a status that is no status is only
   * unfiled (it stays as found, for someone to look at: no end would say what it was); any other
   * ends failed with a DamagedTaskError.
   */
  private setAside(row: TaskRow, record: TaskRecord, write: TaskWrite): void {
    const seq = taskColumn(row, 'seq');
    const damage = record.damaged ?? `column status holds ${JSON.stringify(record.status)}, which is not waiting, on a task filed as ready`;
    if (STATUSES.has(record.status)) {
      this.sql.setAside(seq, write.now, JSON.stringify(damagedError(damage)));
      write.counts.move(record.queue, record.status, 'failed');
    } else {
      this.sql.unfile(seq);
    }
    write.afterCommit(() =>
      this.logger.error(`Task ${record.id} (${record.name}, queue ${record.queue}) is damaged: ${damage}; it was set aside and never runs`),
    );
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
