import type { LoggerService } from '@nestjs/common';
import { EnqueueIncompleteError, MAX_ATOMIC_ENQUEUE } from '../../errors/store.errors.js';
import { LIVE_TASK_STATUSES, type NewTask, type TaskError, type TaskRecord, type TaskStatus } from '../../models/task.model.js';
import {
  WRITE_NOTHING,
  type CancelOutcome,
  type ReclaimReport,
  type EnqueueOutcome,
  type LeaseRef,
  type Page,
  type QueueStatusCount,
  type RequeueOutcome,
  type ReserveRequest,
  type Settlement,
  type SettleReport,
  type TaskListFilter,
  type TaskQueueStore,
  type TaskSelector,
  type WriteScope,
} from '../../storage/task-queue.store.js';
import { StoreLifecycle } from '../shared/store-lifecycle.js';
import { CHUNK_ROWS, betweenChunks, yieldToLoop } from './sqlite-chunks.js';
import type { SqliteConnection } from './sqlite-connection.js';
import type { SqliteCoordination } from './sqlite-coordination.js';
import type { SqliteEventStore } from './sqlite-event.store.js';
import type { SqliteNotifier } from './sqlite-notifier.js';
import { SqliteQueuePauses } from './sqlite-queue-pauses.js';
import type { SqliteResultStore } from './sqlite-result.store.js';
import { SqliteScheduleStore } from './sqlite-schedule.store.js';
import { SqliteTaskCounts } from './sqlite-task-counts.js';
import { SqliteTaskFinder } from './sqlite-task-finder.js';
import { SqliteTaskGraph } from './sqlite-task-graph.js';
import { SqliteTaskGraphQueries } from './sqlite-task-graph.queries.js';
import { addIds } from '../shared/task-ids.js';
import { SqliteTaskInserter } from './sqlite-task-inserter.js';
import { SqliteTaskMaintenance } from './sqlite-task-maintenance.js';
import { SqliteTaskMaintenanceQueries } from './sqlite-task-maintenance.queries.js';
import { SqliteTaskReserver } from './sqlite-task-reserver.js';
import { taskColumn, taskFromRow } from './sqlite-task-row.js';
import { SqliteTaskSettler } from './sqlite-task-settler.js';
import { SqliteTaskTransitions } from './sqlite-task-transitions.js';
import type { SqliteLocks } from './sqlite-locks.js';
import type { SqliteCall } from './sqlite-storage.error.js';
import { joinTaskWrite, writeTasks, type TaskOutputs, type TaskWrite } from './sqlite-task-write.js';
import { SqliteTaskQueries } from './sqlite-task.queries.js';
import { jsonOrNull } from './sqlite-values.js';
import type { SqliteWriter } from './sqlite-writer.js';

/** What the task queue shares with the rest of its engine. */
export interface SqliteEngineParts {
  readonly writer: SqliteWriter;
  readonly notifier: SqliteNotifier;
  readonly coordination: SqliteCoordination;
  readonly results: SqliteResultStore;
  readonly events: SqliteEventStore;
  /** Where damaged tasks that reserve sets aside are reported. */
  readonly logger: LoggerService;
}

const REQUEUEABLE: readonly TaskStatus[] = ['failed', 'cancelled', 'expired'];

/**
 * The task queue in a SQLite database, shared safely by every process that opens the file.
 *
 * Every call that changes tasks is one write transaction (see SqliteWriter), batches included:
 * a settle of a thousand attempts writes the tasks, their cascades, their callback tasks, their
 * results and events, the counts and the notifications in one commit. Calls that may change any
 * number of tasks (an enqueue of more than MAX_ATOMIC_ENQUEUE, the bulk calls, the purge) write a
 * chunk per transaction instead and leave the lock free between chunks, so no call holds it long
 * enough to stall another process's heartbeats. Waiting for the lock never blocks the event loop
 * (see SqliteLocks).
 */
export class SqliteTaskQueueStore implements TaskQueueStore {
  private readonly sql: SqliteTaskQueries;
  private readonly writer: SqliteWriter;
  private readonly locks: SqliteLocks;
  private readonly outputs: TaskOutputs;
  private readonly taskCounts: SqliteTaskCounts;
  private readonly pauses: SqliteQueuePauses;
  private readonly finder: SqliteTaskFinder;
  private readonly graph: SqliteTaskGraph;
  private readonly inserter: SqliteTaskInserter;
  private readonly transitions: SqliteTaskTransitions;
  private readonly maintenance: SqliteTaskMaintenance;
  private readonly reserver: SqliteTaskReserver;
  private readonly settler: SqliteTaskSettler;
  private readonly lifecycle = new StoreLifecycle('SqliteTaskQueueStore');
  readonly notifier: SqliteNotifier;
  readonly coordination: SqliteCoordination;
  readonly colocated: { readonly results: SqliteResultStore; readonly events: SqliteEventStore };
  readonly schedules: SqliteScheduleStore;

  constructor(
    connection: SqliteConnection,
    engine: SqliteEngineParts,
    private readonly release: () => Promise<void>,
  ) {
    const { db, tables } = connection;
    this.writer = engine.writer;
    this.locks = connection.locks;
    this.sql = new SqliteTaskQueries(db, tables);
    const graphSql = new SqliteTaskGraphQueries(db, tables);
    this.taskCounts = new SqliteTaskCounts(db, tables);
    this.outputs = { writer: engine.writer, counts: this.taskCounts, results: engine.results, events: engine.events };
    this.pauses = new SqliteQueuePauses(db, tables);
    this.finder = new SqliteTaskFinder(db, tables);
    this.graph = new SqliteTaskGraph(graphSql, engine.results);
    this.inserter = new SqliteTaskInserter(this.sql, graphSql);
    this.transitions = new SqliteTaskTransitions(this.sql, this.graph, engine.writer, engine.results);
    this.maintenance = new SqliteTaskMaintenance(
      this.outputs,
      this.sql,
      new SqliteTaskMaintenanceQueries(db, tables),
      this.transitions,
      this.graph,
    );
    this.reserver = new SqliteTaskReserver(this.sql, this.pauses, this.maintenance, engine.logger);
    this.settler = new SqliteTaskSettler(this.sql, this.graph, this.inserter);
    this.notifier = engine.notifier;
    this.coordination = engine.coordination;
    this.colocated = { results: engine.results, events: engine.events };
    this.schedules = new SqliteScheduleStore(connection, engine.writer, {
      insertTasks: (tasks) => joinTaskWrite(this.outputs, WRITE_NOTHING, (write) => this.inserter.insert(tasks, write)),
      assertOpen: (operation) => this.lifecycle.assertOpen(operation),
    });
  }

  async enqueue(tasks: readonly NewTask[]): Promise<EnqueueOutcome[]> {
    this.lifecycle.assertOpen('enqueue');
    if (tasks.length === 0) return [];
    if (tasks.length > MAX_ATOMIC_ENQUEUE) return this.enqueueInChunks(tasks);
    return this.write({ operation: 'enqueue', tasks }, WRITE_NOTHING, (write) => this.inserter.insert(tasks, write));
  }

  async reserve(request: ReserveRequest): Promise<TaskRecord[]> {
    this.lifecycle.assertOpen('reserve');
    return this.write({ operation: 'reserve' }, WRITE_NOTHING, (write) => this.reserver.reserve(request, write), request.now);
  }

  async settle(settlements: readonly Settlement[], scope: WriteScope): Promise<SettleReport[]> {
    this.lifecycle.assertOpen('settle');
    if (settlements.length === 0) return [];
    return this.write({ operation: 'settle', tasks: settlements }, scope, (write) =>
      settlements.map((settlement) => this.settler.settle(settlement, write)),
    );
  }

  async extendLeases(leases: readonly LeaseRef[], leaseMs: number): Promise<boolean[]> {
    this.lifecycle.assertOpen('extendLeases');
    return this.writer.write({ operation: 'extendLeases', tasks: leases }, () => {
      const now = Date.now();
      return leases.map(({ id, token }) => this.sql.extendLease(id, token, now + leaseMs, now));
    });
  }

  async setProgress(id: string, token: string, progress: unknown): Promise<boolean> {
    this.lifecycle.assertOpen('setProgress');
    const json = jsonOrNull(progress);
    return this.locks.run({ operation: 'setProgress', tasks: [{ id }] }, () => this.sql.setProgress(id, token, json, Date.now()));
  }

  async cancel(id: string, error: TaskError, scope: WriteScope): Promise<CancelOutcome | undefined> {
    this.lifecycle.assertOpen('cancel');
    return this.write({ operation: 'cancel', tasks: [{ id }] }, scope, (write) => {
      const row = this.sql.get(id);
      return row && this.transitions.cancel(row, JSON.stringify(error), write);
    });
  }

  async cancelRequested(ids: readonly string[]): Promise<string[]> {
    this.lifecycle.assertOpen('cancelRequested');
    return ids.length === 0 ? [] : this.read('cancelRequested', () => this.sql.cancelRequested(ids));
  }

  async requeue(id: string, scope: WriteScope): Promise<RequeueOutcome | undefined> {
    this.lifecycle.assertOpen('requeue');
    return this.write({ operation: 'requeue', tasks: [{ id }] }, scope, (write) => {
      const row = this.sql.get(id);
      return row && this.transitions.requeue(row, write);
    });
  }

  async requeueWhere(selector: TaskSelector, limit: number, scope: WriteScope): Promise<TaskRecord[]> {
    this.lifecycle.assertOpen('requeueWhere');
    const requeued: TaskRecord[] = [];
    await this.inRounds('requeueWhere', limit, () => requeued.length, scope, (wanted, write) => {
      const rows = this.finder.select(selector, REQUEUEABLE, wanted, false);
      for (const row of rows) {
        const outcome = this.transitions.requeue(row, write);
        if (outcome.changed) requeued.push(outcome.task);
      }
      return rows.length;
    });
    return requeued;
  }

  async cancelWhere(
    selector: TaskSelector,
    error: TaskError,
    limit: number,
    scope: WriteScope,
  ): Promise<{ changed: number; ended: TaskRecord[] }> {
    this.lifecycle.assertOpen('cancelWhere');
    const reason = JSON.stringify(error);
    const ended: TaskRecord[] = [];
    let changed = 0;
    await this.inRounds('cancelWhere', limit, () => changed, scope, (wanted, write) => {
      const rows = this.finder.select(selector, LIVE_TASK_STATUSES, wanted, true);
      for (const row of rows) {
        const outcome = this.transitions.cancel(row, reason, write);
        if (!outcome.changed) continue;
        changed += 1;
        ended.push(...outcome.ended);
      }
      return rows.length;
    });
    return { changed, ended };
  }

  async get(id: string): Promise<TaskRecord | undefined> {
    this.lifecycle.assertOpen('get');
    const row = await this.read('get', () => this.sql.get(id));
    return row && taskFromRow(row);
  }

  async getMany(ids: readonly string[]): Promise<(TaskRecord | undefined)[]> {
    this.lifecycle.assertOpen('getMany');
    if (ids.length === 0) return [];
    const rows = new Map((await this.read('getMany', () => this.sql.many(ids))).map((row) => [taskColumn(row, 'id'), row]));
    return ids.map((id) => {
      const row = rows.get(id);
      return row && taskFromRow(row);
    });
  }

  async list(filter: TaskListFilter = {}): Promise<Page<TaskRecord>> {
    this.lifecycle.assertOpen('list');
    return this.read('list', () => this.finder.list(filter));
  }

  async counts(): Promise<QueueStatusCount[]> {
    this.lifecycle.assertOpen('counts');
    return (await this.read('counts', () => this.taskCounts.all())).map(([queue, status, count]) => ({ queue, status: status as TaskStatus, count }));
  }

  async pauseQueue(queue: string): Promise<boolean> {
    this.lifecycle.assertOpen('pauseQueue');
    return this.writer.write({ operation: `pauseQueue("${queue}")` }, () => {
      const paused = this.pauses.pause(queue, Date.now());
      if (paused) this.writer.controlMessage(`pause:${queue}`);
      return paused;
    });
  }

  async resumeQueue(queue: string): Promise<boolean> {
    this.lifecycle.assertOpen('resumeQueue');
    return this.writer.write({ operation: `resumeQueue("${queue}")` }, () => {
      const resumed = this.pauses.resume(queue);
      if (resumed) {
        this.writer.controlMessage(`resume:${queue}`);
        this.writer.wakeQueue(queue);
      }
      return resumed;
    });
  }

  async pausedQueues(): Promise<string[]> {
    this.lifecycle.assertOpen('pausedQueues');
    return this.read('pausedQueues', () => this.pauses.all());
  }

  async reclaimLapsed(now: Date, limit: number, scope: WriteScope, maxLapses: number): Promise<ReclaimReport> {
    this.lifecycle.assertOpen('reclaimLapsed');
    return this.maintenance.reclaimLapsed(now, limit, scope, maxLapses);
  }

  async promoteDue(now: Date, limit: number): Promise<number> {
    this.lifecycle.assertOpen('promoteDue');
    return this.maintenance.promoteDue(now, limit);
  }

  async nextDueAt(): Promise<Date | undefined> {
    this.lifecycle.assertOpen('nextDueAt');
    return this.read('nextDueAt', () => this.maintenance.nextDueAt());
  }

  async expireOverdue(now: Date, limit: number, scope: WriteScope): Promise<TaskRecord[]> {
    this.lifecycle.assertOpen('expireOverdue');
    return this.maintenance.expireOverdue(now, limit, scope);
  }

  async purgeFinished(before: Date, limit?: number): Promise<number> {
    this.lifecycle.assertOpen('purgeFinished');
    return this.maintenance.purgeFinished(before, limit);
  }

  async close(): Promise<void> {
    if (!this.lifecycle.close()) return;
    await this.release();
  }

  private write<R>(call: SqliteCall, scope: WriteScope, work: (write: TaskWrite) => R, now?: Date): R | Promise<R> {
    return writeTasks(this.outputs, call, scope, now?.getTime(), work);
  }

  /** A read, waiting between timers in the rare case that SQLite reports the file busy. */
  private read<R>(operation: string, work: () => R): R | Promise<R> {
    return this.locks.run({ operation }, work);
  }

  /**
   * An enqueue of more than MAX_ATOMIC_ENQUEUE tasks: checked whole first, then stored a chunk per
   * transaction, in order; each pass goes a chunk at a time so that this process's event loop
   * runs on. A chunk that fails after others were stored rejects with EnqueueIncompleteError.
   */
  private async enqueueInChunks(tasks: readonly NewTask[]): Promise<EnqueueOutcome[]> {
    const inCall = new Set<string>();
    const ranges: Array<[from: number, to: number]> = [];
    for (let from = 0; from < tasks.length; from += MAX_ATOMIC_ENQUEUE) ranges.push([from, Math.min(tasks.length, from + MAX_ATOMIC_ENQUEUE)]);
    for (const [from, to] of ranges) {
      addIds(tasks, from, to, inCall);
      await yieldToLoop();
    }
    for (const [from, to] of ranges) {
      await this.read('enqueue', () => this.inserter.check(tasks, from, to, inCall));
      await yieldToLoop();
    }
    const outcomes: EnqueueOutcome[] = [];
    for (const [from, to] of ranges) {
      const chunk = tasks.slice(from, to);
      try {
        if (from > 0) await betweenChunks();
        this.lifecycle.assertOpen('enqueue');
        const stored = await this.write({ operation: 'enqueue', tasks: chunk }, WRITE_NOTHING, (write) => this.inserter.insert(chunk, write, inCall));
        for (const outcome of stored) outcomes.push(outcome);
      } catch (error) {
        // Nothing stored yet: the call failed as a whole, as an atomic one would.
        if (outcomes.length === 0) throw error;
        throw new EnqueueIncompleteError(outcomes, tasks.length, error);
      }
    }
    return outcomes;
  }

  /**
   * Runs rounds of a bulk call, a transaction each of at most CHUNK_ROWS candidates, until it
   * changed `limit` tasks or no candidates are left. A round's candidates may include tasks an
   * earlier candidate's cascade already changed, which the next round reads afresh. `round`
   * returns how many candidates it found.
   */
  private async inRounds(
    operation: string,
    limit: number,
    changed: () => number,
    scope: WriteScope,
    round: (wanted: number, write: TaskWrite) => number,
  ): Promise<void> {
    for (let wanted = Math.min(CHUNK_ROWS, limit); wanted > 0; wanted = Math.min(CHUNK_ROWS, limit - changed())) {
      if ((await this.write({ operation }, scope, (write) => round(wanted, write))) < wanted) return;
      if (limit - changed() > 0) await betweenChunks();
    }
  }
}
