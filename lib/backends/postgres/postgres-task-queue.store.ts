import type { LoggerService } from '@nestjs/common';
import { MAX_ATOMIC_ENQUEUE } from '../../errors/store.errors.js';
import type { NewTask, TaskError, TaskRecord } from '../../models/task.model.js';
import type {
  CancelOutcome,
  EnqueueOutcome,
  LeaseRef,
  Page,
  QueueStatusCount,
  ReclaimReport,
  RequeueOutcome,
  ReserveRequest,
  Settlement,
  SettleReport,
  TaskListFilter,
  TaskQueueStore,
  TaskSelector,
  WriteScope,
} from '../../storage/task-queue.store.js';
import { StoreLifecycle } from '../shared/store-lifecycle.js';
import type { PostgresConnection } from './postgres-connection.js';
import type { PostgresCoordination } from './postgres-coordination.js';
import type { PostgresEventStore } from './postgres-event.store.js';
import type { PostgresNotifier } from './postgres-notifier.js';
import { PostgresQueuePauses } from './postgres-queue-pauses.js';
import type { PostgresResultStore } from './postgres-result.store.js';
import { PostgresScheduleStore } from './postgres-schedule.store.js';
import { PostgresTaskBulk } from './postgres-task-bulk.js';
import { PostgresTaskGraph } from './postgres-task-graph.js';
import { PostgresTaskInserter } from './postgres-task-inserter.js';
import { PostgresTaskMaintenance } from './postgres-task-maintenance.js';
import { PostgresTaskQueries } from './postgres-task-queries.js';
import { PostgresTaskReserver } from './postgres-task-reserver.js';
import { PostgresTaskSettler } from './postgres-task-settler.js';
import { PostgresTaskTransitions } from './postgres-task-transitions.js';
import type { PostgresWriter } from './postgres-writer.js';

/** What the task queue shares with the rest of its engine. */
export interface PostgresEngineParts {
  readonly writer: PostgresWriter;
  readonly notifier: PostgresNotifier;
  readonly coordination: PostgresCoordination;
  readonly results: PostgresResultStore;
  readonly events: PostgresEventStore;
  /** Where damaged tasks that reserve sets aside are reported. */
  readonly logger: LoggerService;
}

/**
 * The task queue in a PostgreSQL schema, shared safely by every process on it.
 *
 * Every call that changes tasks is one transaction, batches included: a settle of a thousand
 * attempts writes the tasks, their cascades, their callback tasks, their results and events in
 * one commit, in a handful of statements whatever the batch size. Reserve claims with one
 * `FOR UPDATE SKIP LOCKED` statement. Calls that may change any number of tasks (an enqueue of
 * more than MAX_ATOMIC_ENQUEUE, the bulk calls, the purge) write a chunk per transaction.
 */
export class PostgresTaskQueueStore implements TaskQueueStore {
  private readonly inserter: PostgresTaskInserter;
  private readonly settler: PostgresTaskSettler;
  private readonly transitions: PostgresTaskTransitions;
  private readonly bulk: PostgresTaskBulk;
  private readonly reserver: PostgresTaskReserver;
  private readonly maintenance: PostgresTaskMaintenance;
  private readonly queries: PostgresTaskQueries;
  private readonly pauses: PostgresQueuePauses;
  private readonly lifecycle = new StoreLifecycle('PostgresTaskQueueStore');
  readonly notifier: PostgresNotifier;
  readonly coordination: PostgresCoordination;
  readonly colocated: { readonly results: PostgresResultStore; readonly events: PostgresEventStore };
  readonly schedules: PostgresScheduleStore;

  constructor(
    connection: PostgresConnection,
    engine: PostgresEngineParts,
    private readonly release: () => Promise<void>,
  ) {
    const { writer } = engine;
    const graph = new PostgresTaskGraph(connection.tables);
    this.inserter = new PostgresTaskInserter(connection, writer, graph);
    this.settler = new PostgresTaskSettler(connection, writer, graph, this.inserter);
    this.transitions = new PostgresTaskTransitions(connection, writer, graph);
    this.bulk = new PostgresTaskBulk(connection, writer, this.transitions);
    this.pauses = new PostgresQueuePauses(connection, writer);
    this.reserver = new PostgresTaskReserver(connection, writer, engine.logger);
    this.maintenance = new PostgresTaskMaintenance(connection, writer, graph);
    this.queries = new PostgresTaskQueries(connection);
    this.notifier = engine.notifier;
    this.coordination = engine.coordination;
    this.colocated = { results: engine.results, events: engine.events };
    this.schedules = new PostgresScheduleStore(connection, writer, {
      insertTasks: (write, tasks) => this.inserter.insert(write, tasks),
      assertOpen: (operation) => this.lifecycle.assertOpen(operation),
    });
  }

  async enqueue(tasks: readonly NewTask[]): Promise<EnqueueOutcome[]> {
    this.lifecycle.assertOpen('enqueue');
    if (tasks.length === 0) return [];
    if (tasks.length > MAX_ATOMIC_ENQUEUE) return this.inserter.enqueueInChunks(tasks, () => this.lifecycle.assertOpen('enqueue'));
    return this.inserter.enqueue(tasks);
  }

  async reserve(request: ReserveRequest): Promise<TaskRecord[]> {
    this.lifecycle.assertOpen('reserve');
    return this.reserver.reserve(request);
  }

  async settle(settlements: readonly Settlement[], scope: WriteScope): Promise<SettleReport[]> {
    this.lifecycle.assertOpen('settle');
    if (settlements.length === 0) return [];
    return this.settler.settle(settlements, scope);
  }

  async extendLeases(leases: readonly LeaseRef[], leaseMs: number): Promise<boolean[]> {
    this.lifecycle.assertOpen('extendLeases');
    if (leases.length === 0) return [];
    return this.queries.extendLeases(leases, leaseMs);
  }

  async setProgress(id: string, token: string, progress: unknown): Promise<boolean> {
    this.lifecycle.assertOpen('setProgress');
    return this.queries.setProgress(id, token, progress);
  }

  async cancel(id: string, error: TaskError, scope: WriteScope): Promise<CancelOutcome | undefined> {
    this.lifecycle.assertOpen('cancel');
    return this.transitions.cancel(id, error, scope);
  }

  async cancelRequested(ids: readonly string[]): Promise<string[]> {
    this.lifecycle.assertOpen('cancelRequested');
    return ids.length === 0 ? [] : this.queries.cancelRequested(ids);
  }

  async requeue(id: string, scope: WriteScope): Promise<RequeueOutcome | undefined> {
    this.lifecycle.assertOpen('requeue');
    return this.transitions.requeue(id, scope);
  }

  async requeueWhere(selector: TaskSelector, limit: number, scope: WriteScope): Promise<TaskRecord[]> {
    this.lifecycle.assertOpen('requeueWhere');
    return this.bulk.requeueWhere(selector, limit, scope);
  }

  async cancelWhere(selector: TaskSelector, error: TaskError, limit: number, scope: WriteScope): Promise<{ changed: number; ended: TaskRecord[] }> {
    this.lifecycle.assertOpen('cancelWhere');
    return this.bulk.cancelWhere(selector, error, limit, scope);
  }

  async get(id: string): Promise<TaskRecord | undefined> {
    this.lifecycle.assertOpen('get');
    return (await this.queries.getMany([id]))[0];
  }

  async getMany(ids: readonly string[]): Promise<(TaskRecord | undefined)[]> {
    this.lifecycle.assertOpen('getMany');
    return ids.length === 0 ? [] : this.queries.getMany(ids);
  }

  async list(filter: TaskListFilter = {}): Promise<Page<TaskRecord>> {
    this.lifecycle.assertOpen('list');
    return this.queries.list(filter);
  }

  async counts(): Promise<QueueStatusCount[]> {
    this.lifecycle.assertOpen('counts');
    return this.queries.counts();
  }

  async pauseQueue(queue: string): Promise<boolean> {
    this.lifecycle.assertOpen('pauseQueue');
    return this.pauses.pause(queue);
  }

  async resumeQueue(queue: string): Promise<boolean> {
    this.lifecycle.assertOpen('resumeQueue');
    return this.pauses.resume(queue);
  }

  async pausedQueues(): Promise<string[]> {
    this.lifecycle.assertOpen('pausedQueues');
    return this.pauses.all();
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
    return this.maintenance.nextDueAt();
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
}
