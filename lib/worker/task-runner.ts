import { Logger } from '@nestjs/common';
import type { Codec } from '../serialization/codec.js';
import type { LoggingConfig } from '../config/omniq-config.js';
import { createLogger, type OmniQLogger } from '../config/omniq-logger.js';
import type { TaskContext } from '../interfaces/task-context.interface.js';
import type { ResultRecord, ResultStatus } from '../models/result.model.js';
import type { TaskRecord } from '../models/task.model.js';
import type { ResultStore } from '../storage/result.store.js';
import type { Settlement, TaskQueueStore } from '../storage/task-queue.store.js';
import type { EventRecorder, NewEvent } from '../events/event.recorder.js';
import type { TaskEventType } from '../models/event.model.js';
import type { TaskRegistry } from '../task.registry.js';
import type { WorkflowHooks } from '../workflows/workflow-hooks.js';
import { LeaseLostError, NonRetryableError, TaskCancelledError, TaskTimeoutError, WorkerShutdownError } from '../errors/task.errors.js';
import { PayloadDecodingError, PayloadEncodingError } from '../errors/codec.errors.js';
import { MicroBatcher } from '../utils/micro-batcher.js';
import { invoke } from './invoke.util.js';
import { PARENT_RESULT } from '../serialization/parent-result.js';
import type { Attempt } from './attempt.js';
import { retryDelayMs } from './retry-policy.js';
import { toTaskError } from './task-error.util.js';

type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };

/**
 * How one attempt ends, written in an order that loses nothing and reads consistently: the event
 * first (once `waitForResult` resolves the timeline is complete), then the result (a crash after
 * it only means the task runs again), then the lease settlement.
 */
interface Completion {
  event?: NewEvent;
  result?: ResultRecord;
  settlement: Settlement;
}

export interface TaskRunnerDeps {
  queue: TaskQueueStore;
  results: ResultStore;
  codec: Codec;
  registry: TaskRegistry;
  recorder: EventRecorder;
  hooks: WorkflowHooks;
  workerId: string;
  logging: LoggingConfig;
  /** Told when a retry was scheduled, so the worker can wake up for it instead of waiting for a poll. */
  onRetryScheduled(retryAt: Date): void;
}

/**
 * Runs one reserved task to its end: decode, call the handler under its AbortSignal and timeout,
 * then store the result, settle the lease and record events. Results and settlements of tasks
 * finishing together go to the stores in batches.
 */
export class TaskRunner {
  private readonly logger: OmniQLogger;
  /** Attempts ending together share one write per store: events, then results, then settlements. */
  private readonly completions: MicroBatcher<Completion, boolean>;

  constructor(private readonly deps: TaskRunnerDeps) {
    this.logger = createLogger('OmniQWorker', deps.logging);
    this.completions = new MicroBatcher(async (items) => {
      await deps.recorder.recordNow(items.flatMap((c) => (c.event ? [c.event] : [])));
      const results = items.flatMap((c) => (c.result ? [c.result] : []));
      if (results.length > 0) await deps.results.put(results);
      return deps.queue.settle(items.map((c) => c.settlement));
    });
  }

  async run(task: TaskRecord, attempt: Attempt): Promise<void> {
    const startedAt = new Date();
    void this.deps.recorder.record(this.event(task, 'started'));
    if (Logger.isLevelEnabled('debug')) this.logger.debug(`Task ${task.name} ${task.id} attempt ${task.attempts} started`);
    // Cancelled while its holder crashed: the cancel request outlived the lease, so it does not run.
    if (task.cancelRequestedAt) attempt.stop(new TaskCancelledError(task.id));
    const outcome = await this.execute(task, attempt);
    await this.finish(task, outcome, attempt.stopReason, startedAt);
  }

  /** Resolves once every result and settlement handed to the stores so far is written. */
  drain(): Promise<void> {
    return this.completions.drain();
  }

  private async execute(task: TaskRecord, attempt: Attempt): Promise<Outcome> {
    const registered = this.deps.registry.get(task.name);
    if (!registered) {
      return { ok: false, error: new NonRetryableError(`No handler for task "${task.name}" is registered in worker ${this.deps.workerId}`) };
    }
    let payload: unknown;
    try {
      payload = this.deps.codec.decode(task.payload, `payload of task ${task.name} ${task.id}`);
      if (payload === PARENT_RESULT) payload = await this.deps.hooks.parentResult(task);
    } catch (error) {
      return { ok: false, error };
    }
    // Stopped before it started (cancelled while a crashed holder had it): the handler never runs.
    if (attempt.isStopped) return { ok: false, error: attempt.stopReason };
    const timer = task.timeoutMs === undefined ? undefined : setTimeout(() => attempt.stop(new TaskTimeoutError(task.timeoutMs!)), task.timeoutMs);
    try {
      const ctx = this.context(task, attempt);
      return { ok: true, value: await attempt.race(invoke(() => registered.handler(payload, ctx))) };
    } catch (error) {
      return { ok: false, error };
    } finally {
      clearTimeout(timer);
    }
  }

  private context(task: TaskRecord, attempt: Attempt): TaskContext {
    const { logging } = this.deps;
    let logger: OmniQLogger | undefined;
    return {
      taskId: task.id,
      name: task.name,
      queue: task.queue,
      attempt: task.attempts,
      maxRetries: task.maxRetries,
      scheduleId: task.scheduleId,
      get signal() {
        return attempt.signal;
      },
      get logger() {
        return (logger ??= createLogger(`${task.name} ${task.id} #${task.attempts}`, logging, task.name));
      },
      parents: () => this.deps.hooks.parents(task),
      progress: async (value: unknown) => {
        const progress = toJsonData(value);
        if (!(await this.deps.queue.setProgress(task.id, task.leaseToken!, progress))) return;
        await this.deps.recorder.record(this.event(task, 'progress', { data: { progress } }));
      },
    };
  }

  private async finish(task: TaskRecord, outcome: Outcome, reason: unknown, startedAt: Date): Promise<void> {
    const durationMs = Date.now() - startedAt.getTime();
    if (outcome.ok) {
      let value;
      try {
        value = task.storeResult ? this.deps.codec.encode(outcome.value, 'result') : undefined;
      } catch (error) {
        return this.fail(task, error, startedAt, durationMs);
      }
      if (Logger.isLevelEnabled('debug')) this.logger.debug(`Task ${task.name} ${task.id} succeeded in ${durationMs} ms`);
      return this.conclude(task, 'completed', 'success', startedAt, durationMs, { value }, outcome.value);
    }
    if (reason instanceof WorkerShutdownError) {
      await this.settle(task, { settlement: { id: task.id, token: task.leaseToken!, outcome: 'release' } });
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
    if (timedOut) await this.deps.recorder.record(this.event(task, 'timeout', { durationMs, error }));
    if (isRetryable(cause) && task.attempts <= task.maxRetries) {
      const delay = retryDelayMs(task);
      const retryAt = new Date(Date.now() + delay);
      const retried = await this.settle(task, {
        event: this.event(task, 'retry', { durationMs, error, data: { retryAt: retryAt.toISOString(), delayMs: delay } }),
        settlement: { id: task.id, token: task.leaseToken!, outcome: 'retry', error, retryAt },
      });
      if (retried) this.deps.onRetryScheduled(retryAt);
      if (Logger.isLevelEnabled('debug')) {
        this.logger.debug(`Task ${task.name} ${task.id} attempt ${task.attempts} failed (${error.message}); retry in ${delay} ms`);
      }
      return;
    }
    this.logger.log(`Task ${task.name} ${task.id} failed for good after ${task.attempts} attempt(s): ${error.message}`);
    await this.conclude(task, 'failed', timedOut ? 'timeout' : 'failed', startedAt, durationMs, { error });
  }

  /** Ends the task for good: its event, its result when it stores one, and the settlement. */
  private async conclude(
    task: TaskRecord,
    event: 'completed' | 'failed' | 'cancelled',
    status: ResultStatus,
    startedAt: Date,
    durationMs: number,
    detail: Pick<ResultRecord, 'value' | 'error'>,
    value?: unknown,
  ): Promise<void> {
    const token = task.leaseToken!;
    const held = await this.settle(task, {
      event: this.event(task, event, { durationMs, error: detail.error }),
      result: task.storeResult ? this.result(task, status, startedAt, detail) : undefined,
      settlement:
        status === 'success'
          ? { id: task.id, token, outcome: 'success' }
          : status === 'cancelled'
            ? { id: task.id, token, outcome: 'cancelled', error: detail.error }
            : { id: task.id, token, outcome: 'failed', error: detail.error! },
    });
    if (held && (status !== 'success' || task.onSuccess)) await this.deps.hooks.ended(task, status, { value, error: detail.error });
  }

  /** Writes the completion; false (logged) when the lease was lost meanwhile and another worker may hold the task. */
  private async settle(task: TaskRecord, completion: Completion): Promise<boolean> {
    const held = await this.completions.push(completion);
    if (!held) this.logger.warn(`Task ${task.name} ${task.id}: lease lost before its ${completion.settlement.outcome} was recorded`);
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

  /** An event about this attempt (one literal: spreading a base object costs on this hot path). */
  private event(task: TaskRecord, type: TaskEventType, extra: Pick<NewEvent, 'durationMs' | 'error' | 'data'> = {}): NewEvent {
    return {
      type,
      taskId: task.id,
      taskName: task.name,
      queue: task.queue,
      scheduleId: task.scheduleId,
      workerId: this.deps.workerId,
      attempt: task.attempts,
      durationMs: extra.durationMs,
      error: extra.error,
      data: extra.data,
    };
  }
}

/** Progress is stored as plain JSON: reject what JSON cannot hold instead of storing something else. */
function toJsonData(value: unknown): unknown {
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch (error) {
    throw new TypeError(`ctx.progress(): the value cannot be stored as JSON (${(error as Error).message})`);
  }
  if (text === undefined) throw new TypeError(`ctx.progress(): ${typeof value} is not JSON data; report a number, string, array or plain object`);
  return JSON.parse(text) as unknown;
}

function isRetryable(error: unknown): boolean {
  return !(error instanceof NonRetryableError || error instanceof PayloadDecodingError || error instanceof PayloadEncodingError);
}
