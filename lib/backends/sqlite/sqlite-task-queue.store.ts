import { newUuid } from '../../utils/uuid.js';
import { DuplicateTaskIdError } from '../../errors/store.errors.js';
import { FINAL_TASK_STATUSES, type NewTask, type TaskError, type TaskRecord, type TaskStatus } from '../../models/task.model.js';
import type {
  CancelOutcome,
  EnqueueOutcome,
  LeaseRef,
  Page,
  QueueStatusCount,
  ReserveRequest,
  Settlement,
  TaskListFilter,
  TaskQueueStore,
  Unsubscribe,
} from '../../storage/task-queue.store.js';
import { Listeners } from '../shared/listeners.js';
import { StoreLifecycle } from '../shared/store-lifecycle.js';
import type { SqliteConnection } from './sqlite-connection.js';
import type { SqliteDatabase, SqliteStatement } from './sqlite-database.types.js';
import { TASK_COLUMNS, insertValues, taskColumn, taskFromRow, type TaskRow } from './sqlite-task-row.js';
import { jsonOrNull } from './sqlite-values.js';
import { SqliteScheduleStore } from './sqlite-schedule.store.js';
import { SqliteTaskCounts, TaskCountChanges } from './sqlite-task-counts.js';
import { SqliteTaskQueries } from './sqlite-task.queries.js';

const DEFAULT_PAGE_SIZE = 100;
const FINAL = new Set<string>(FINAL_TASK_STATUSES);

/** Whether a parent in `status` (undefined: not stored) no longer holds its dependent back. */
const parentMet = (status: string | undefined, runOnFailure: boolean): boolean =>
  status === 'success' || (runOnFailure && status !== undefined && FINAL.has(status));

/** Reserve order within a queue: priority (higher first), then runAt, then enqueue order. */
function reserveOrder(a: TaskRow, b: TaskRow): number {
  return (
    taskColumn(b, 'priority') - taskColumn(a, 'priority') ||
    taskColumn(a, 'run_at') - taskColumn(b, 'run_at') ||
    taskColumn(a, 'seq') - taskColumn(b, 'seq')
  );
}

/**
 * The task queue in a SQLite database, shared safely by every process that opens the file.
 *
 * better-sqlite3 is synchronous, so each call runs start to finish without yielding: it is atomic
 * within this process. Each write is one transaction that takes the file's write lock before its
 * first read (`BEGIN IMMEDIATE`, or a lone write statement, which SQLite locks the same way), so a
 * reserve in another process never sees a task as free that this one is taking. Batches (enqueue,
 * settle, extendLeases) are one transaction each.
 *
 * Wake listeners hear about changes made through this store (via queueMicrotask, after the
 * commit); workers in other processes find new tasks by polling.
 */
export class SqliteTaskQueueStore implements TaskQueueStore {
  private readonly db: SqliteDatabase;
  private readonly sql: SqliteTaskQueries;
  private readonly taskCounts: SqliteTaskCounts;
  // The hot paths' transaction wrappers are built once: better-sqlite3 makes several closures per wrapper.
  private readonly insertAll: (tasks: readonly NewTask[], woken: Set<string>) => EnqueueOutcome[];
  private readonly leaseAll: (request: ReserveRequest) => TaskRecord[];
  private readonly settleAll: (settlements: readonly Settlement[], woken: Set<string>) => boolean[];
  private readonly extendAll: (leases: readonly LeaseRef[], leaseMs: number) => boolean[];
  private readonly listStatements = new Map<string, SqliteStatement<unknown[]>>();
  private readonly wakeListeners = new Listeners<string>();
  private readonly lifecycle = new StoreLifecycle('SqliteTaskQueueStore');
  readonly schedules: SqliteScheduleStore;

  constructor(
    private readonly connection: SqliteConnection,
    private readonly release: () => Promise<void>,
  ) {
    this.db = connection.db;
    this.sql = new SqliteTaskQueries(connection.db, connection.tables);
    this.taskCounts = new SqliteTaskCounts(connection.db, connection.tables);
    this.insertAll = this.db.transaction(this.insertTasks.bind(this)).immediate;
    this.leaseAll = this.db.transaction(this.leaseTasks.bind(this)).immediate;
    this.settleAll = this.db.transaction(this.settleTasks.bind(this)).immediate;
    this.extendAll = this.db.transaction(this.extendTaskLeases.bind(this)).immediate;
    this.schedules = new SqliteScheduleStore(connection, {
      insertTasks: (tasks, woken) => this.insertTasks(tasks, woken),
      wake: (queues) => this.wake(queues),
      assertOpen: (operation) => this.lifecycle.assertOpen(operation),
    });
  }

  async enqueue(tasks: readonly NewTask[]): Promise<EnqueueOutcome[]> {
    this.lifecycle.assertOpen('enqueue');
    const woken = new Set<string>();
    const outcomes = this.insertAll(tasks, woken);
    this.wake(woken);
    return outcomes;
  }

  async reserve(request: ReserveRequest): Promise<TaskRecord[]> {
    this.lifecycle.assertOpen('reserve');
    return this.leaseAll(request);
  }

  async settle(settlements: readonly Settlement[]): Promise<boolean[]> {
    this.lifecycle.assertOpen('settle');
    const woken = new Set<string>();
    const results = this.settleAll(settlements, woken);
    this.wake(woken);
    return results;
  }

  async extendLeases(leases: readonly LeaseRef[], leaseMs: number): Promise<boolean[]> {
    this.lifecycle.assertOpen('extendLeases');
    return this.extendAll(leases, leaseMs);
  }

  async setProgress(id: string, token: string, progress: unknown): Promise<boolean> {
    this.lifecycle.assertOpen('setProgress');
    return this.sql.setProgress(id, token, jsonOrNull(progress), Date.now());
  }

  async expireOverdue(now?: Date, limit = Number.POSITIVE_INFINITY): Promise<TaskRecord[]> {
    this.lifecycle.assertOpen('expireOverdue');
    const at = (now ?? new Date()).getTime();
    const woken = new Set<string>();
    const rows = this.db
      .transaction(() => {
        const nowMs = Date.now();
        const changes = new TaskCountChanges();
        const expired = this.sql.overdue(at, Number.isFinite(limit) ? limit : -1).map(([seq, status]) => {
          const row = this.sql.expire(seq, at);
          changes.move(taskColumn(row, 'queue'), status, 'expired');
          this.resolveDependents(taskColumn(row, 'id'), 'expired', nowMs, woken);
          return row;
        });
        this.taskCounts.apply(changes);
        return expired;
      })
      .immediate();
    this.wake(woken);
    return rows.map(taskFromRow);
  }

  async cancel(id: string, error?: TaskError): Promise<CancelOutcome | undefined> {
    this.lifecycle.assertOpen('cancel');
    const woken = new Set<string>();
    const outcome = this.db
      .transaction(() => {
        const nowMs = Date.now();
        const status = this.sql.status(id);
        const changed = status === 'running' ? this.sql.requestCancellation(id, nowMs) : this.sql.cancel(id, nowMs, jsonOrNull(error));
        if (changed === undefined) {
          const row = this.sql.get(id);
          return row && { row, changed: false };
        }
        if (status !== 'running') {
          this.countMove(taskColumn(changed, 'queue'), status, 'cancelled');
          this.resolveDependents(id, 'cancelled', nowMs, woken);
        }
        return { row: changed, changed: true };
      })
      .immediate();
    this.wake(woken);
    return outcome && { task: taskFromRow(outcome.row), changed: outcome.changed };
  }

  async cancelRequested(ids: readonly string[]): Promise<string[]> {
    this.lifecycle.assertOpen('cancelRequested');
    return this.sql.cancelRequested(ids);
  }

  async dependentsOf(id: string): Promise<TaskRecord[]> {
    this.lifecycle.assertOpen('dependentsOf');
    return this.sql.dependents(id).map(taskFromRow);
  }

  async requeue(id: string): Promise<TaskRecord | undefined> {
    this.lifecycle.assertOpen('requeue');
    const requeued = this.db
      .transaction(() => {
        const status = this.sql.status(id);
        const row = this.sql.requeue(id, Date.now());
        if (row !== undefined) this.countMove(taskColumn(row, 'queue'), status, 'pending');
        return row;
      })
      .immediate();
    if (requeued === undefined) return this.get(id);
    if (taskColumn(requeued, 'ready') === 1) this.wake([taskColumn(requeued, 'queue')]);
    return taskFromRow(requeued);
  }

  async get(id: string): Promise<TaskRecord | undefined> {
    this.lifecycle.assertOpen('get');
    const row = this.sql.get(id);
    return row && taskFromRow(row);
  }

  async list(filter: TaskListFilter = {}): Promise<Page<TaskRecord>> {
    this.lifecycle.assertOpen('list');
    const offset = filter.offset ?? 0;
    const limit = filter.limit ?? DEFAULT_PAGE_SIZE;
    const statuses = typeof filter.status === 'string' ? [filter.status] : filter.status;
    const terms: string[] = [];
    const params: unknown[] = [];
    const filterBy = (term: string, value: unknown): void => {
      terms.push(term);
      params.push(value);
    };
    if (filter.queue !== undefined) filterBy('queue = ?', filter.queue);
    if (filter.name !== undefined) filterBy('name = ?', filter.name);
    if (statuses !== undefined) filterBy('status IN (SELECT value FROM json_each(?))', JSON.stringify(statuses));
    const where = terms.length > 0 ? `WHERE ${terms.join(' AND ')}` : '';
    const { tasks, taskCounts } = this.connection.tables;
    // Without a name filter, the kept counts (same queue and status columns) give the total without a scan.
    const count =
      filter.name === undefined ? `SELECT COALESCE(SUM(count), 0) FROM ${taskCounts} ${where}` : `SELECT COUNT(*) FROM ${tasks} ${where}`;
    // One read transaction, so the page and the total agree.
    return this.db.transaction(() => {
      const [total] = this.listStatement(count).get(...params) as [number];
      const page = `SELECT ${TASK_COLUMNS.join(', ')} FROM ${tasks} ${where} ORDER BY seq LIMIT ? OFFSET ?`;
      const items = this.listStatement(page).all(...params, limit, offset).map(taskFromRow);
      return { items, total, offset, limit };
    })();
  }

  async counts(): Promise<QueueStatusCount[]> {
    this.lifecycle.assertOpen('counts');
    return this.taskCounts.all().map(([queue, status, count]) => ({ queue, status: status as TaskStatus, count }));
  }

  async purgeFinished(before: Date): Promise<number> {
    this.lifecycle.assertOpen('purgeFinished');
    return this.db
      .transaction(() => {
        const changes = new TaskCountChanges();
        for (const [queue, status, count] of this.sql.finishedBefore(before.getTime())) changes.move(queue, status, undefined, count);
        this.taskCounts.apply(changes);
        return this.sql.purgeFinished(before.getTime());
      })
      .immediate();
  }

  onWake(listener: (queue: string) => void): Unsubscribe {
    this.lifecycle.assertOpen('onWake');
    return this.wakeListeners.add(listener);
  }

  async close(): Promise<void> {
    if (!this.lifecycle.close()) return;
    this.wakeListeners.clear();
    await this.release();
  }

  private insertTasks(tasks: readonly NewTask[], woken: Set<string>): EnqueueOutcome[] {
    const ids = new Set<string>();
    for (const task of tasks) {
      if (ids.has(task.id) || this.sql.idTaken(task.id)) throw new DuplicateTaskIdError(task.id);
      ids.add(task.id);
    }
    const nowMs = Date.now();
    const changes = new TaskCountChanges();
    const outcomes = tasks.map((task): EnqueueOutcome => {
      const holder = task.key === undefined ? undefined : this.sql.keyHolder(task.key, nowMs);
      if (holder !== undefined) return { id: holder, created: false };
      const runOnFailure = task.onParentFailure === 'run';
      const parents = [...new Set(task.dependsOn)].map((id) => ({ id, met: parentMet(this.sql.status(id), runOnFailure) }));
      const blocked = parents.some((parent) => !parent.met);
      const ready = !blocked && task.runAt.getTime() <= nowMs;
      const status: TaskStatus = task.runAt.getTime() > task.createdAt.getTime() ? 'scheduled' : 'pending';
      const seq = this.sql.insert(insertValues(task, status, ready, blocked));
      for (const parent of parents) this.sql.insertDependency(parent.id, seq, runOnFailure, parent.met);
      changes.move(task.queue, undefined, status);
      if (ready) woken.add(task.queue);
      return { id: task.id, created: true };
    });
    this.taskCounts.apply(changes);
    return outcomes;
  }

  private leaseTasks(request: ReserveRequest): TaskRecord[] {
    const nowMs = (request.now ?? new Date()).getTime();
    const leaseExpiresAt = nowMs + request.leaseMs;
    this.sql.flagReady(nowMs);
    const changes = new TaskCountChanges();
    const reserved: TaskRecord[] = [];
    for (const queue of request.queues) {
      const limit = request.limit - reserved.length;
      if (limit <= 0) break;
      for (const row of this.readyRows(queue, request.names, limit, nowMs)) {
        const token = newUuid();
        this.sql.lease(taskColumn(row, 'seq'), nowMs, request.workerId, token, leaseExpiresAt);
        const record = taskFromRow(row);
        changes.move(queue, record.status, 'running');
        record.status = 'running';
        record.attempts += 1;
        record.startedAt = new Date(nowMs);
        record.updatedAt = new Date(nowMs);
        record.workerId = request.workerId;
        record.leaseToken = token;
        record.leaseExpiresAt = new Date(leaseExpiresAt);
        reserved.push(record);
      }
    }
    this.taskCounts.apply(changes);
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

  private settleTasks(settlements: readonly Settlement[], woken: Set<string>): boolean[] {
    const nowMs = Date.now();
    const changes = new TaskCountChanges();
    const results = settlements.map((settlement) => {
      const { id, token } = settlement;
      switch (settlement.outcome) {
        case 'success':
        case 'failed':
        case 'cancelled': {
          const error = settlement.outcome === 'success' ? null : jsonOrNull(settlement.error);
          const queue = this.sql.finish(id, token, settlement.outcome, settlement.at?.getTime() ?? nowMs, error);
          if (queue === undefined) return false;
          changes.move(queue, 'running', settlement.outcome);
          this.resolveDependents(id, settlement.outcome, nowMs, woken);
          return true;
        }
        case 'retry': {
          const retried = this.sql.retry(id, token, settlement.retryAt.getTime(), nowMs, JSON.stringify(settlement.error));
          if (retried === undefined) return false;
          changes.move(retried.queue, 'running', 'retrying');
          if (retried.ready) woken.add(retried.queue);
          return true;
        }
        case 'release': {
          const queue = this.sql.release(id, token, nowMs);
          if (queue === undefined) return false;
          changes.move(queue, 'running', 'pending');
          woken.add(queue);
          return true;
        }
      }
    });
    this.taskCounts.apply(changes);
    return results;
  }

  /**
   * After `parentId` ended with `status`: frees the dependents it was the last unmet parent of
   * (on success; on any end for onParentFailure `run`); those now due are woken. Dependents that
   * need a success stay blocked after a failure, for the worker to cancel (see dependentsOf).
   */
  private resolveDependents(parentId: string, status: TaskStatus, nowMs: number, woken: Set<string>): void {
    for (const childSeq of this.sql.meetDependencies(parentId, status)) {
      const queue = this.sql.unblock(childSeq, nowMs);
      if (queue !== undefined) woken.add(queue);
    }
  }

  private extendTaskLeases(leases: readonly LeaseRef[], leaseMs: number): boolean[] {
    const nowMs = Date.now();
    return leases.map(({ id, token }) => this.sql.extendLease(id, token, nowMs + leaseMs, nowMs));
  }

  /** Records one task's status change in `task_counts`; call inside the transaction that made it. */
  private countMove(queue: string, from: string | undefined, to: string): void {
    const changes = new TaskCountChanges();
    changes.move(queue, from, to);
    this.taskCounts.apply(changes);
  }

  private listStatement(sql: string): SqliteStatement<unknown[]> {
    let statement = this.listStatements.get(sql);
    if (statement === undefined) this.listStatements.set(sql, (statement = this.db.prepare(sql).raw(true)));
    return statement;
  }

  private wake(queues: Iterable<string>): void {
    this.wakeListeners.notifyAll(queues);
  }
}
