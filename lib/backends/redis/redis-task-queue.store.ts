import type { LoggerService } from '@nestjs/common';
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
import type { RedisConnection } from './redis-connection.js';
import type { RedisCoordination } from './redis-coordination.js';
import type { RedisEventStore } from './redis-event.store.js';
import type { RedisNotifier } from './redis-notifier.js';
import type { RedisResultStore } from './redis-result.store.js';
import type { RedisScheduleStore } from './redis-schedule.store.js';
import { RedisTaskInserter } from './redis-task-inserter.js';
import { RedisTaskMaintenance } from './redis-task-maintenance.js';
import { RedisTaskQueries } from './redis-task-queries.js';
import { RedisTaskReserver } from './redis-task-reserver.js';
import { RedisTaskSettler } from './redis-task-settler.js';
import { RedisTaskTransitions } from './redis-task-transitions.js';

/** What the task queue shares with the rest of its engine. */
export interface RedisEngineParts {
  readonly notifier: RedisNotifier;
  readonly coordination: RedisCoordination;
  readonly results: RedisResultStore;
  readonly events: RedisEventStore;
  readonly schedules: RedisScheduleStore;
  /** Where damaged tasks that reserve sets aside are reported. */
  readonly logger: LoggerService;
}

/**
 * The task queue in one project's keys of a Redis server or cluster, shared safely by every
 * process on them.
 *
 * Every call that changes tasks is one Lua script, batches included: a reserve of a hundred tasks
 * or a settle of a thousand attempts (their cascades, callback tasks, results, events and
 * wake-ups) is one atomic step and one round trip; notifications are published inside the script
 * that makes the change. Nothing scans keys: waiting tasks sit in sorted sets by order of
 * reservation, running ones by lease expiry, delayed ones by due time, expiring ones by deadline,
 * final ones by completion, and every task by status and enqueue order (for lists and bulk calls).
 * Calls that may change any number of tasks (an enqueue of more than MAX_ATOMIC_ENQUEUE, purges
 * without a limit) run a script per chunk. Key layout: redis-task.lua.ts and redis-task-record.ts.
 */
export class RedisTaskQueueStore implements TaskQueueStore {
  readonly notifier: RedisNotifier;
  readonly coordination: RedisCoordination;
  readonly colocated: { readonly results: RedisResultStore; readonly events: RedisEventStore };
  readonly schedules: RedisScheduleStore;
  private readonly inserter: RedisTaskInserter;
  private readonly reserver: RedisTaskReserver;
  private readonly settler: RedisTaskSettler;
  private readonly transitions: RedisTaskTransitions;
  private readonly maintenance: RedisTaskMaintenance;
  private readonly queries: RedisTaskQueries;
  private readonly lifecycle = new StoreLifecycle('RedisTaskQueueStore');

  constructor(
    connection: RedisConnection,
    engine: RedisEngineParts,
    private readonly release: () => Promise<void>,
  ) {
    this.notifier = engine.notifier;
    this.coordination = engine.coordination;
    this.colocated = { results: engine.results, events: engine.events };
    this.schedules = engine.schedules;
    this.inserter = new RedisTaskInserter(connection);
    this.reserver = new RedisTaskReserver(connection, engine.logger);
    this.settler = new RedisTaskSettler(connection);
    this.transitions = new RedisTaskTransitions(connection);
    this.maintenance = new RedisTaskMaintenance(connection);
    this.queries = new RedisTaskQueries(connection);
  }

  enqueue(tasks: readonly NewTask[]): Promise<EnqueueOutcome[]> {
    return this.call('enqueue', () => this.inserter.enqueue(tasks, () => this.lifecycle.assertOpen('enqueue')));
  }

  reserve(request: ReserveRequest): Promise<TaskRecord[]> {
    return this.call('reserve', () => this.reserver.reserve(request));
  }

  settle(settlements: readonly Settlement[], scope: WriteScope): Promise<SettleReport[]> {
    return this.call('settle', async () => (settlements.length === 0 ? [] : this.settler.settle(settlements, scope)));
  }

  extendLeases(leases: readonly LeaseRef[], leaseMs: number): Promise<boolean[]> {
    return this.call('extendLeases', async () => (leases.length === 0 ? [] : this.queries.extendLeases(leases, leaseMs)));
  }

  setProgress(id: string, token: string, progress: unknown): Promise<boolean> {
    return this.call('setProgress', () => this.queries.setProgress(id, token, progress));
  }

  cancel(id: string, error: TaskError, scope: WriteScope): Promise<CancelOutcome | undefined> {
    return this.call('cancel', () => this.transitions.cancel(id, error, scope));
  }

  cancelRequested(ids: readonly string[]): Promise<string[]> {
    return this.call('cancelRequested', async () => (ids.length === 0 ? [] : this.queries.cancelRequested(ids)));
  }

  requeue(id: string, scope: WriteScope): Promise<RequeueOutcome | undefined> {
    return this.call('requeue', () => this.transitions.requeue(id, scope));
  }

  requeueWhere(selector: TaskSelector, limit: number, scope: WriteScope): Promise<TaskRecord[]> {
    return this.call('requeueWhere', () => this.transitions.requeueWhere(selector, limit, scope));
  }

  cancelWhere(selector: TaskSelector, error: TaskError, limit: number, scope: WriteScope): Promise<{ changed: number; ended: TaskRecord[] }> {
    return this.call('cancelWhere', () => this.transitions.cancelWhere(selector, error, limit, scope));
  }

  get(id: string): Promise<TaskRecord | undefined> {
    return this.call('get', async () => (await this.queries.getMany([id]))[0]);
  }

  getMany(ids: readonly string[]): Promise<(TaskRecord | undefined)[]> {
    return this.call('getMany', async () => (ids.length === 0 ? [] : this.queries.getMany(ids)));
  }

  list(filter: TaskListFilter = {}): Promise<Page<TaskRecord>> {
    return this.call('list', () => this.queries.list(filter));
  }

  counts(): Promise<QueueStatusCount[]> {
    return this.call('counts', () => this.queries.counts());
  }

  pauseQueue(queue: string): Promise<boolean> {
    return this.call('pauseQueue', () => this.queries.pauseQueue(queue));
  }

  resumeQueue(queue: string): Promise<boolean> {
    return this.call('resumeQueue', () => this.queries.resumeQueue(queue));
  }

  pausedQueues(): Promise<string[]> {
    return this.call('pausedQueues', () => this.queries.pausedQueues());
  }

  reclaimLapsed(now: Date, limit: number, scope: WriteScope, maxLapses: number): Promise<ReclaimReport> {
    return this.call('reclaimLapsed', () => this.maintenance.reclaimLapsed(now, limit, scope, maxLapses));
  }

  promoteDue(now: Date, limit: number): Promise<number> {
    return this.call('promoteDue', () => this.maintenance.promoteDue(now, limit));
  }

  nextDueAt(): Promise<Date | undefined> {
    return this.call('nextDueAt', () => this.maintenance.nextDueAt());
  }

  expireOverdue(now: Date, limit: number, scope: WriteScope): Promise<TaskRecord[]> {
    return this.call('expireOverdue', () => this.maintenance.expireOverdue(now, limit, scope));
  }

  purgeFinished(before: Date, limit = Number.POSITIVE_INFINITY): Promise<number> {
    return this.call('purgeFinished', () => this.maintenance.purgeFinished(before, limit));
  }

  async close(): Promise<void> {
    if (!this.lifecycle.close()) return;
    // They belong to the task queue: calls on them after its close reject with StoreClosedError.
    this.coordination.close();
    this.schedules.close();
    await this.release();
  }

  /** Runs a call of the open store; one that fails because the store closed meanwhile rejects with StoreClosedError. */
  private async call<R>(operation: string, run: () => Promise<R>): Promise<R> {
    this.lifecycle.assertOpen(operation);
    return this.lifecycle.whileOpen(operation, run);
  }
}
