import { Inject, Injectable } from '@nestjs/common';
import type { Observable } from 'rxjs';
import { OMNIQ_CODEC, OMNIQ_EVENT_STORE, OMNIQ_RESULT_STORE, OMNIQ_TASK_QUEUE } from './omniq.constants.js';
import type { Codec } from './serialization/codec.js';
import type { EnqueueOptions } from './interfaces/task-options.interface.js';
import type { TaskEvent } from './models/event.model.js';
import type { ResultRecord, TaskResult } from './models/result.model.js';
import type { Task, TaskRecord, TaskStatus } from './models/task.model.js';
import type { EventQuery, EventStore } from './storage/event.store.js';
import type { ResultStore } from './storage/result.store.js';
import type { Page, TaskListFilter, TaskQueueStore, TaskSelector } from './storage/task-queue.store.js';
import type { TaskId, TaskPayload, TaskResultValue } from './types/task-map.types.js';
import { newUuid } from './utils/uuid.js';
import { OmniQError } from './errors/omniq.errors.js';
import { PARENT_RESULT } from './serialization/parent-result.js';
import { TaskSubmitter } from './workflows/task.submitter.js';
import { TaskAdmin } from './admin/task.admin.js';
import { OmniQStores } from './omniq-stores.js';
import { StoreOutcomes } from './workflows/store-outcomes.js';
import { GROUP_TASK, type GroupResult } from './workflows/group.task.js';
import { ResultWaiter, type WaitForResultOptions } from './result.waiter.js';
import { OmniQScheduler } from './scheduler/omniq.scheduler.js';
import type { Schedule, ScheduleRecord } from './models/schedule.model.js';
import type { CreateScheduleOptions } from './interfaces/scheduled-options.interface.js';
import { validateEventQuery, validatePurgeCutoff, validateTaskListFilter, validateWaitOptions } from './utils/query.validation.js';

export interface EnqueueItem<N extends string = string> {
  name: N;
  payload: TaskPayload<N>;
  options?: EnqueueOptions;
}

/** A step of `chain()`: without `payload`, it receives the previous step's result. */
export interface ChainStep {
  name: string;
  payload?: unknown;
  options?: EnqueueOptions;
}

/** Rows one purge call deletes: small enough that no write holds the storage long. */
const PURGE_BATCH = 1_000;

export type QueueStats = Record<string, Partial<Record<TaskStatus, number>>>;

/** The runtime API: enqueue work, follow it, and manage it. Inject it anywhere. */
@Injectable()
export class OmniQService {
  constructor(
    @Inject(OMNIQ_TASK_QUEUE) private readonly queue: TaskQueueStore,
    @Inject(OMNIQ_RESULT_STORE) private readonly results: ResultStore,
    @Inject(OMNIQ_EVENT_STORE) private readonly events: EventStore,
    @Inject(OMNIQ_CODEC) private readonly codec: Codec,
    private readonly waiter: ResultWaiter,
    private readonly scheduler: OmniQScheduler,
    private readonly submitter: TaskSubmitter,
    private readonly admin: TaskAdmin,
    private readonly stores: OmniQStores,
    private readonly outcomes: StoreOutcomes,
  ) {}

  /** Enqueues one task and returns its id (or, with a live idempotency `key`, the existing task's id). */
  async enqueue<N extends string>(
    name: N,
    payload: TaskPayload<N>,
    options: EnqueueOptions = {},
  ): Promise<TaskId<TaskResultValue<N>>> {
    const [id] = await this.enqueueMany([{ name, payload, options }]);
    return id as TaskId<TaskResultValue<N>>;
  }

  /**
   * Enqueues several tasks in one store round trip. Every item is validated and encoded first:
   * one bad item rejects the call and nothing is enqueued.
   */
  async enqueueMany(items: readonly EnqueueItem[]): Promise<TaskId[]> {
    return this.submitter.submit(items);
  }

  /**
   * Enqueues steps that run one after another, each once the previous one succeeded. A step
   * without a payload receives the previous step's result as its payload. A failing step cancels
   * the rest. Returns the step ids: wait for the last one's result.
   */
  async chain(steps: readonly ChainStep[]): Promise<TaskId[]> {
    if (steps.length === 0) throw new OmniQError('chain() needs at least one step');
    const ids = steps.map((step) => step.options?.id ?? newUuid());
    return this.submitter.submit(
      steps.map((step, i) => ({
        name: step.name,
        payload: i > 0 && !('payload' in step) ? PARENT_RESULT : step.payload,
        options: { ...step.options, id: ids[i], dependsOn: i > 0 ? [ids[i - 1]!, ...(step.options?.dependsOn ?? [])] : step.options?.dependsOn },
      })),
    );
  }

  /**
   * Enqueues tasks that run independently, plus one collector task that waits for all of them.
   * Returns the collector's id: its result is `{ members: [{ taskId, name, status, value | error }] }`
   * in the order given, whatever each member's outcome.
   */
  async group(members: readonly EnqueueItem[], options: Pick<EnqueueOptions, 'queue' | 'priority'> = {}): Promise<TaskId<GroupResult>> {
    if (members.length === 0) throw new OmniQError('group() needs at least one member');
    const ids = members.map((member) => member.options?.id ?? newUuid());
    const collector = { name: GROUP_TASK, payload: null, options: { ...options, dependsOn: ids, onParentFailure: 'run' as const } };
    const submitted = await this.submitter.submit([...members.map((m, i) => ({ ...m, options: { ...m.options, id: ids[i] } })), collector]);
    return submitted[submitted.length - 1]! as TaskId<GroupResult>;
  }

  /** The tasks with these ids, in order, payloads decoded (undefined for an unknown id), in one store round trip. */
  async getTasks<P = unknown>(ids: readonly string[]): Promise<(Task<P> | undefined)[]> {
    return (await this.queue.getMany(ids)).map((record) => record && this.decodeTask<P>(record));
  }

  /** The task with its payload decoded, or undefined for an unknown id. */
  async getTask<P = unknown>(id: string): Promise<Task<P> | undefined> {
    const record = await this.queue.get(id);
    return record && this.decodeTask<P>(record);
  }

  /** Tasks by queue / status / name, oldest first, with paging: `offset`, or `after` a page's `nextCursor` (stable while tasks come and go). */
  async listTasks(filter: TaskListFilter = {}): Promise<Page<Task>> {
    validateTaskListFilter(filter);
    return this.page(filter);
  }

  private async page(filter: TaskListFilter): Promise<Page<Task>> {
    const page = await this.queue.list(filter);
    return { ...page, items: page.items.map((r) => this.decodeTask(r)) };
  }

  /** The stored result with its value decoded, or undefined while there is none. */
  async getResult<R = unknown>(id: TaskId<R> | string): Promise<TaskResult<R> | undefined> {
    const record = await this.results.get(id);
    return record && this.decodeResult<R>(record);
  }

  /**
   * Resolves with the task's result once it is stored (success, failure, timeout, cancellation or
   * expiry: check `status`). Rejects for an unknown task, a task that ended without storing a
   * result, or when `timeoutMs` passes first.
   */
  async waitForResult<R>(id: TaskId<R>, options: WaitForResultOptions = {}): Promise<TaskResult<R>> {
    validateWaitOptions(options);
    return this.decodeResult<R>(await this.waiter.wait(id, options));
  }

  /**
   * Cancels a task. A waiting one never runs; a running one has its AbortSignal fired (with
   * TaskCancelledError) by the worker holding it, in whatever process, within milliseconds where
   * the store notifies across processes (else within that worker's poll interval). Either way it
   * ends `cancelled`, with a cancelled result, and the dependents that needed it are cancelled in
   * the same step. Returns false for an unknown or already finished task, or one whose
   * cancellation was already requested.
   */
  cancel(id: string): Promise<boolean> {
    return this.admin.cancel(id);
  }

  /** `cancel()` for every live task matching the selector (queue, status, name); returns how many it cancelled or asked to stop. */
  cancelWhere(selector: TaskSelector): Promise<number> {
    return this.admin.cancelWhere(selector);
  }

  /**
   * Sends a failed, cancelled or expired task back to the queue with its attempts reset, and with
   * it the dependents its end had cancelled. Their old results are deleted so `waitForResult`
   * waits for the new outcomes. Returns false otherwise.
   */
  retry(id: string): Promise<boolean> {
    return this.admin.retry(id);
  }

  /** `retry()` for every failed, cancelled or expired task matching the selector; returns how many. */
  retryWhere(selector: TaskSelector): Promise<number> {
    return this.admin.retryWhere(selector);
  }

  /** Every failed task of a queue (dead letters), oldest first, with error and stack in `lastError`. */
  async listDeadLetters(queue: string, page: Pick<TaskListFilter, 'offset' | 'limit' | 'after'> = {}): Promise<Page<Task>> {
    const filter: TaskListFilter = { ...page, queue, status: 'failed' };
    validateTaskListFilter(filter, 'listDeadLetters');
    return this.page(filter);
  }

  /** Sends every failed task of a queue back, attempts reset. Returns how many. */
  retryAll(queue: string): Promise<number> {
    return this.admin.retryWhere({ queue, status: 'failed' });
  }

  /**
   * Stops workers everywhere from starting tasks of this queue until `resumeQueue()`; stored, so
   * it holds on every instance and across restarts. Running tasks go on. Records `queue_paused`.
   * Returns false when it was paused already.
   */
  pauseQueue(queue: string): Promise<boolean> {
    return this.admin.pauseQueue(queue);
  }

  /** Lets workers start the queue's tasks again (at once, everywhere). Records `queue_resumed`. False when it was not paused. */
  resumeQueue(queue: string): Promise<boolean> {
    return this.admin.resumeQueue(queue);
  }

  /** The paused queues. */
  pausedQueues(): Promise<string[]> {
    return this.admin.pausedQueues();
  }

  /** Stored events matching the query, oldest first unless `order: 'desc'`. */
  async getEvents(query: EventQuery = {}): Promise<TaskEvent[]> {
    validateEventQuery(query);
    return this.events.query(query);
  }

  /** Every event recorded from now on. */
  get events$(): Observable<TaskEvent> {
    return this.events.stream();
  }

  /** Task counts per queue and status. */
  async stats(): Promise<QueueStats> {
    const stats: QueueStats = {};
    for (const { queue, status, count } of await this.queue.counts()) (stats[queue] ??= {})[status] = count;
    return stats;
  }

  /**
   * Marks waiting tasks past their TTL as expired (with their cascades) and deletes results past
   * their result TTL. The elected maintenance leader does both as it runs; call this where none runs.
   */
  async purgeExpired(): Promise<{ expiredTasks: number; purgedResults: number }> {
    const now = new Date();
    let expiredTasks = 0;
    for (;;) {
      const ended = await this.queue.expireOverdue(now, 1_000, this.stores.scope);
      await this.outcomes.endedUnrun(ended);
      const expired = ended.filter((task) => task.status === 'expired').length;
      expiredTasks += expired;
      if (expired < 1_000) break;
    }
    return { expiredTasks, purgedResults: await this.results.purgeExpired(now) };
  }

  /**
   * Deletes history older than `before`: tasks that ended (success, failed, cancelled, expired)
   * before it, results of tasks completed before it (whatever their `resultTtlMs`), and events
   * recorded before it. Waiting and running tasks are never touched, nor their results. Stores keep
   * everything until this is called (results until their `resultTtlMs`), e.g. from a nightly
   * `@Scheduled()` task: calling it regularly keeps every store bounded. Tasks and results go in
   * batches, so no store call holds the storage for long. Returns how many of each it deleted.
   */
  async purgeHistory(before: Date): Promise<{ tasks: number; results: number; events: number }> {
    validatePurgeCutoff(before);
    const tasks = await inBatches((limit) => this.queue.purgeFinished(before, limit));
    const results = await inBatches((limit) => this.results.purgeCompletedBefore(before, limit));
    return { tasks, results, events: await this.events.purgeOlderThan(before) };
  }

  /**
   * Creates a schedule that fires a registered task (or updates the schedule with this name).
   * Stored with the tasks: every instance sees it, and each tick fires exactly once.
   */
  async createSchedule(name: string, options: CreateScheduleOptions): Promise<Schedule> {
    return this.decodeSchedule(await this.scheduler.create(name, options));
  }

  async listSchedules(): Promise<Schedule[]> {
    return (await this.scheduler.list()).map((s) => this.decodeSchedule(s));
  }

  async getSchedule(id: string): Promise<Schedule | undefined> {
    const found = await this.scheduler.get(id);
    return found && this.decodeSchedule(found);
  }

  /** Stops the schedule on every instance, across restarts, until resumed. */
  async pauseSchedule(id: string): Promise<Schedule> {
    return this.decodeSchedule(await this.scheduler.pause(id));
  }

  /** Resumes a paused schedule from its next fire time (fires that fell due while paused are skipped). */
  async resumeSchedule(id: string): Promise<Schedule> {
    return this.decodeSchedule(await this.scheduler.resume(id));
  }

  /** Deletes a schedule. A `@Scheduled()` one comes back at the next bootstrap that declares it. */
  removeSchedule(id: string): Promise<boolean> {
    return this.scheduler.remove(id);
  }

  /** Enqueues the schedule's task now; its timing is unchanged. Returns the task id. */
  async triggerSchedule(id: string): Promise<TaskId> {
    return this.scheduler.trigger(id);
  }

  /** The most recent result of any task the schedule enqueued. */
  async getScheduleResult<R = unknown>(id: string): Promise<TaskResult<R> | undefined> {
    const record = await this.results.latestForSchedule(id);
    return record && this.decodeResult<R>(record);
  }

  private decodeSchedule(record: ScheduleRecord): Schedule {
    const { payload, ...rest } = record;
    return { ...rest, payload: this.codec.decode(payload, `payload of schedule ${record.id}`) };
  }

  /**
   * A payload that cannot be decoded (damaged, or another codec's format) leaves the task visible,
   * flagged with the reason and the stored encoding: one bad record must not hide a whole page.
   * Nothing is logged: a listing may be read again and again.
   */
  private decodeTask<P>(record: TaskRecord): Task<P> {
    const { payload, leaseToken: _lease, ...rest } = record;
    try {
      return { ...rest, payload: this.codec.decode(payload, `payload of task ${record.id}`) as P };
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      return { ...rest, payload: undefined as P, undecodable: { reason, raw: { format: payload.format, data: payload.data } } };
    }
  }

  private decodeResult<R>(record: ResultRecord): TaskResult<R> {
    const { value, ...rest } = record;
    return value === undefined ? rest : { ...rest, value: this.codec.decode(value, `result of task ${record.taskId}`) as R };
  }
}

/** Calls `purge` with PURGE_BATCH until a call deletes fewer; returns how many in all. */
async function inBatches(purge: (limit: number) => Promise<number>): Promise<number> {
  let total = 0;
  for (;;) {
    const purged = await purge(PURGE_BATCH);
    total += purged;
    if (purged < PURGE_BATCH) return total;
  }
}
