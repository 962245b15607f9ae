import { Logger } from '@nestjs/common';
import type { Codec } from '../serialization/codec.js';
import type { TaskContext } from '../interfaces/task-context.interface.js';
import type { ResultRecord, ResultStatus } from '../models/result.model.js';
import type { TaskRecord } from '../models/task.model.js';
import type { ResultStore } from '../storage/result.store.js';
import type { Settlement, TaskQueueStore } from '../storage/task-queue.store.js';
import type { EventRecorder } from '../events/event.recorder.js';
import type { TaskRegistry } from '../task.registry.js';
import { LeaseLostError, NonRetryableError, TaskCancelledError, TaskTimeoutError, WorkerShutdownError } from '../errors/task.errors.js';
import { PayloadDecodingError, PayloadEncodingError } from '../errors/codec.errors.js';
import { MicroBatcher } from '../utils/micro-batcher.js';
import { invoke, untilAborted } from './abort.util.js';
import { retryDelayMs } from './retry-policy.js';
import { toTaskError } from './task-error.util.js';

type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };

export interface TaskRunnerDeps {
  queue: TaskQueueStore;
  results: ResultStore;
  codec: Codec;
  registry: TaskRegistry;
  recorder: EventRecorder;
  workerId: string;
  /** Told when a retry was scheduled, so the worker can wake up for it instead of waiting for a poll. */
  onRetryScheduled(retryAt: Date): void;
}

/**
 * Runs one reserved task to its end: decode, call the handler under its AbortSignal and timeout,
 * then store the result, settle the lease and record events. Results and settlements of tasks
 * finishing together go to the stores in batches.
 */
export class TaskRunner {
  private readonly logger = new Logger('OmniQWorker');
  private readonly settlements: MicroBatcher<Settlement, boolean>;
  private readonly resultWrites: MicroBatcher<ResultRecord, void>;

  constructor(private readonly deps: TaskRunnerDeps) {
    this.settlements = new MicroBatcher((items) => deps.queue.settle(items));
    this.resultWrites = new MicroBatcher((items) => deps.results.put(items));
  }

  async run(task: TaskRecord, controller: AbortController): Promise<void> {
    const startedAt = new Date();
    void this.deps.recorder.record({ ...this.eventBase(task), type: 'started' });
    this.logger.debug(`Task ${task.name} ${task.id} attempt ${task.attempts} started`);
    const outcome = await this.execute(task, controller);
    await this.finish(task, outcome, controller.signal, startedAt);
  }

  /** Resolves once every result and settlement handed to the stores so far is written. */
  async drain(): Promise<void> {
    await this.resultWrites.drain();
    await this.settlements.drain();
  }

  private async execute(task: TaskRecord, controller: AbortController): Promise<Outcome> {
    const registered = this.deps.registry.get(task.name);
    if (!registered) {
      return { ok: false, error: new NonRetryableError(`No handler for task "${task.name}" is registered in worker ${this.deps.workerId}`) };
    }
    let payload: unknown;
    try {
      payload = this.deps.codec.decode(task.payload, `payload of task ${task.name} ${task.id}`);
    } catch (error) {
      return { ok: false, error };
    }
    const timer =
      task.timeoutMs === undefined ? undefined : setTimeout(() => controller.abort(new TaskTimeoutError(task.timeoutMs!)), task.timeoutMs);
    try {
      const ctx = this.context(task, controller.signal);
      return { ok: true, value: await untilAborted(invoke(() => registered.handler(payload, ctx)), controller.signal) };
    } catch (error) {
      return { ok: false, error };
    } finally {
      clearTimeout(timer);
    }
  }

  private context(task: TaskRecord, signal: AbortSignal): TaskContext {
    return {
      taskId: task.id,
      name: task.name,
      queue: task.queue,
      attempt: task.attempts,
      maxRetries: task.maxRetries,
      scheduleId: task.scheduleId,
      signal,
      logger: new Logger(`${task.name} ${task.id} #${task.attempts}`),
      progress: async (value: unknown) => {
        await this.deps.recorder.record({ ...this.eventBase(task), type: 'progress', data: { progress: value } });
      },
    };
  }

  private async finish(task: TaskRecord, outcome: Outcome, signal: AbortSignal, startedAt: Date): Promise<void> {
    const durationMs = Date.now() - startedAt.getTime();
    if (outcome.ok) {
      let value;
      try {
        value = task.storeResult ? this.deps.codec.encode(outcome.value, 'result') : undefined;
      } catch (error) {
        return this.fail(task, error, startedAt, durationMs);
      }
      this.logger.debug(`Task ${task.name} ${task.id} succeeded in ${durationMs} ms`);
      return this.conclude(task, 'completed', 'success', startedAt, durationMs, { value });
    }
    const reason: unknown = signal.aborted ? signal.reason : undefined;
    if (reason instanceof WorkerShutdownError) {
      await this.settle({ id: task.id, token: task.leaseToken!, outcome: 'release' }, task);
      this.logger.warn(`Task ${task.name} ${task.id} aborted by shutdown; released for another worker`);
      return;
    }
    if (reason instanceof LeaseLostError) {
      this.logger.warn(`Task ${task.name} ${task.id}: ${reason.message}; its outcome is not recorded here`);
      return;
    }
    if (reason instanceof TaskCancelledError) {
      return this.conclude(task, 'cancelled', 'cancelled', startedAt, durationMs, { error: toTaskError(reason) });
    }
    await this.fail(task, outcome.error, startedAt, durationMs);
  }

  private async fail(task: TaskRecord, cause: unknown, startedAt: Date, durationMs: number): Promise<void> {
    const error = toTaskError(cause);
    const timedOut = cause instanceof TaskTimeoutError;
    if (timedOut) await this.deps.recorder.record({ ...this.eventBase(task), type: 'timeout', durationMs, error });
    if (isRetryable(cause) && task.attempts <= task.maxRetries) {
      const delay = retryDelayMs(task);
      const retryAt = new Date(Date.now() + delay);
      if (!(await this.settle({ id: task.id, token: task.leaseToken!, outcome: 'retry', error, retryAt }, task))) return;
      this.deps.onRetryScheduled(retryAt);
      this.logger.debug(`Task ${task.name} ${task.id} attempt ${task.attempts} failed (${error.message}); retry in ${delay} ms`);
      await this.deps.recorder.record({ ...this.eventBase(task), type: 'retry', durationMs, error, data: { retryAt: retryAt.toISOString(), delayMs: delay } });
      return;
    }
    this.logger.log(`Task ${task.name} ${task.id} failed for good after ${task.attempts} attempt(s): ${error.message}`);
    await this.conclude(task, 'failed', timedOut ? 'timeout' : 'failed', startedAt, durationMs, { error });
  }

  /**
   * Ends a task for good, in an order that loses nothing and reads consistently: the event first
   * (so once `waitForResult` resolves the timeline is complete), then the result (a crash after it
   * only means the task runs again), then the lease settlement.
   */
  private async conclude(
    task: TaskRecord,
    event: 'completed' | 'failed' | 'cancelled',
    status: ResultStatus,
    startedAt: Date,
    durationMs: number,
    detail: Pick<ResultRecord, 'value' | 'error'>,
  ): Promise<void> {
    await this.deps.recorder.record({ ...this.eventBase(task), type: event, durationMs, error: detail.error });
    if (task.storeResult) await this.resultWrites.push(this.result(task, status, startedAt, detail));
    const settlement: Settlement =
      status === 'success'
        ? { id: task.id, token: task.leaseToken!, outcome: 'success' }
        : status === 'cancelled'
          ? { id: task.id, token: task.leaseToken!, outcome: 'cancelled', error: detail.error }
          : { id: task.id, token: task.leaseToken!, outcome: 'failed', error: detail.error! };
    await this.settle(settlement, task);
  }

  /** Settles the lease; false (logged) when it was lost meanwhile and another worker may hold the task. */
  private async settle(settlement: Settlement, task: TaskRecord): Promise<boolean> {
    const held = await this.settlements.push(settlement);
    if (!held) this.logger.warn(`Task ${task.name} ${task.id}: lease lost before its ${settlement.outcome} was recorded`);
    return held;
  }


  private result(task: TaskRecord, status: ResultStatus, startedAt: Date, extra: Pick<ResultRecord, 'value' | 'error'>): ResultRecord {
    const completedAt = new Date();
    return {
      taskId: task.id,
      taskName: task.name,
      queue: task.queue,
      status,
      ...extra,
      createdAt: task.createdAt,
      startedAt,
      completedAt,
      durationMs: completedAt.getTime() - startedAt.getTime(),
      workerId: this.deps.workerId,
      attempts: task.attempts,
      scheduleId: task.scheduleId,
      expiresAt: task.resultTtlMs === undefined ? undefined : new Date(completedAt.getTime() + task.resultTtlMs),
    };
  }

  private eventBase(task: TaskRecord) {
    return { taskId: task.id, taskName: task.name, queue: task.queue, scheduleId: task.scheduleId, workerId: this.deps.workerId, attempt: task.attempts };
  }
}

function isRetryable(error: unknown): boolean {
  return !(error instanceof NonRetryableError || error instanceof PayloadDecodingError || error instanceof PayloadEncodingError);
}
