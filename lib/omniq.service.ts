import { Inject, Injectable } from '@nestjs/common';
import type { Observable } from 'rxjs';
import { OMNIQ_CODEC, OMNIQ_CONFIG, OMNIQ_EVENT_STORE, OMNIQ_RESULT_STORE, OMNIQ_TASK_QUEUE } from './omniq.constants.js';
import type { OmniQConfig } from './config/omniq-config.js';
import type { Codec } from './serialization/codec.js';
import type { EnqueueOptions } from './interfaces/task-options.interface.js';
import type { TaskEvent } from './models/event.model.js';
import type { ResultRecord, TaskResult } from './models/result.model.js';
import { WAITING_TASK_STATUSES, type Task, type TaskRecord, type TaskStatus } from './models/task.model.js';
import type { EventQuery, EventStore } from './storage/event.store.js';
import type { ResultStore } from './storage/result.store.js';
import type { Page, TaskListFilter, TaskQueueStore } from './storage/task-queue.store.js';
import type { TaskId, TaskPayload, TaskResultValue } from './types/task-map.types.js';
import { UnknownTaskError } from './errors/omniq.errors.js';
import { PayloadEncodingError } from './errors/codec.errors.js';
import type { EncodedValue } from './models/encoded-value.model.js';
import { EventRecorder } from './events/event.recorder.js';
import { TaskRegistry } from './task.registry.js';
import { validateTaskOptions } from './utils/task-options.validation.js';
import { buildNewTask } from './utils/new-task.builder.js';
import { ResultWaiter, type WaitForResultOptions } from './result.waiter.js';
import { recordFinalOutcome } from './events/final-outcome.js';
import { OmniQScheduler } from './scheduler/omniq.scheduler.js';
import type { Schedule, ScheduleRecord } from './models/schedule.model.js';
import type { CreateScheduleOptions } from './interfaces/scheduled-options.interface.js';

export interface EnqueueItem<N extends string = string> {
  name: N;
  payload: TaskPayload<N>;
  options?: EnqueueOptions;
}

export type QueueStats = Record<string, Partial<Record<TaskStatus, number>>>;

/** The runtime API: enqueue work, follow it, and manage it. Inject it anywhere. */
@Injectable()
export class OmniQService {
  constructor(
    @Inject(OMNIQ_TASK_QUEUE) private readonly queue: TaskQueueStore,
    @Inject(OMNIQ_RESULT_STORE) private readonly results: ResultStore,
    @Inject(OMNIQ_EVENT_STORE) private readonly events: EventStore,
    @Inject(OMNIQ_CONFIG) private readonly config: OmniQConfig,
    @Inject(OMNIQ_CODEC) private readonly codec: Codec,
    private readonly registry: TaskRegistry,
    private readonly recorder: EventRecorder,
    private readonly waiter: ResultWaiter,
    private readonly scheduler: OmniQScheduler,
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
    const now = new Date();
    const tasks = items.map(({ name, payload, options = {} }) => {
      const registered = this.registry.get(name);
      if (!registered && !this.config.allowUnregisteredTasks) throw new UnknownTaskError(name, this.registry.names());
      validateTaskOptions(name, options);
      const encoded = this.encodePayload(name, payload);
      return buildNewTask(name, encoded, this.config.taskDefaults, registered?.options ?? {}, options, now);
    });
    const outcomes = await this.queue.enqueue(tasks);
    await Promise.all(
      outcomes.map((outcome, i) => {
        const task = tasks[i]!;
        return outcome.created
          ? this.recorder.record({ type: 'enqueued', taskId: task.id, taskName: task.name, queue: task.queue, scheduleId: task.scheduleId })
          : undefined;
      }),
    );
    return outcomes.map((o) => o.id);
  }

  /** The task with its payload decoded, or undefined for an unknown id. */
  async getTask<P = unknown>(id: string): Promise<Task<P> | undefined> {
    const record = await this.queue.get(id);
    return record && this.decodeTask<P>(record);
  }

  /** Tasks by queue / status / name, oldest first, with paging. */
  async listTasks(filter: TaskListFilter = {}): Promise<Page<Task>> {
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
  waitForResult<R>(id: TaskId<R>, options: WaitForResultOptions = {}): Promise<TaskResult<R>> {
    return this.waiter.wait(id, options).then((record) => this.decodeResult<R>(record));
  }

  /**
   * Cancels a task that has not started (pending, scheduled, retrying): it never runs and its
   * result has status `cancelled`. Returns false when the task had already started or ended.
   */
  async cancel(id: string): Promise<boolean> {
    const before = await this.queue.get(id);
    if (!before || !WAITING_TASK_STATUSES.includes(before.status)) return false;
    const after = await this.queue.cancel(id, { name: 'TaskCancelledError', message: 'Cancelled by request' });
    if (!after || after.status !== 'cancelled') return false;
    await recordFinalOutcome(this.results, this.recorder, after, 'cancelled');
    return true;
  }

  /**
   * Sends a failed, cancelled or expired task back to the queue with its attempts reset. Its old
   * result is deleted so `waitForResult` waits for the new outcome. Returns false otherwise.
   */
  async retry(id: string): Promise<boolean> {
    const before = await this.queue.get(id);
    if (!before || !['failed', 'cancelled', 'expired'].includes(before.status)) return false;
    await this.results.delete(id);
    const after = await this.queue.requeue(id);
    if (!after || after.status !== 'pending') return false;
    await this.recorder.record({ type: 'enqueued', taskId: id, taskName: after.name, queue: after.queue, message: 'Retried by request' });
    return true;
  }

  getEvents(query: EventQuery = {}): Promise<TaskEvent[]> {
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
   * Marks waiting tasks past their TTL as expired and deletes results past their result TTL
   * (the worker does both on its own as it runs; call this where no worker runs).
   */
  async purgeExpired(): Promise<{ expiredTasks: number; purgedResults: number }> {
    const expired = await this.queue.expireOverdue(new Date());
    await Promise.all(expired.map((task) => recordFinalOutcome(this.results, this.recorder, task, 'expired')));
    return { expiredTasks: expired.length, purgedResults: await this.results.purgeExpired(new Date()) };
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

  private encodePayload(name: string, payload: unknown): EncodedValue {
    try {
      return this.codec.encode(payload, 'payload');
    } catch (error) {
      if (error instanceof PayloadEncodingError) error.message = `Task "${name}": ${error.message}`;
      throw error;
    }
  }

  private decodeTask<P>(record: TaskRecord): Task<P> {
    const { payload, leaseToken: _lease, ...rest } = record;
    return { ...rest, payload: this.codec.decode(payload, `payload of task ${record.id}`) as P };
  }

  private decodeResult<R>(record: ResultRecord): TaskResult<R> {
    const { value, ...rest } = record;
    return value === undefined ? rest : { ...rest, value: this.codec.decode(value, `result of task ${record.taskId}`) as R };
  }
}
