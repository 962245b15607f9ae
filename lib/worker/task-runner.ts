import { Logger } from '@nestjs/common';
import type { Codec } from '../serialization/codec.js';
import type { LoggingConfig } from '../config/omniq-config.js';
import { createLogger, type OmniQLogger } from '../config/omniq-logger.js';
import type { ResultRecord, ResultStatus } from '../models/result.model.js';
import type { TaskError, TaskRecord } from '../models/task.model.js';
import type { ResultStore } from '../storage/result.store.js';
import type { TaskQueueStore } from '../storage/task-queue.store.js';
import type { EventRecorder, NewEvent } from '../events/event.recorder.js';
import type { TaskEventType } from '../models/event.model.js';
import type { RegisteredTask, TaskRegistry } from '../task.registry.js';
import type { WorkflowHooks } from '../workflows/workflow-hooks.js';
import { LeaseLostError, NonRetryableError, TaskCancelledError, TaskTimeoutError, WorkerShutdownError } from '../errors/task.errors.js';
import { PayloadDecodingError, PayloadEncodingError } from '../errors/codec.errors.js';
import { PARENT_RESULT } from '../serialization/parent-result.js';
import type { Attempt } from './attempt.js';
import { AttemptContext } from './attempt-context.js';
import { attemptEvent, type AttemptEventDetail } from './attempt-event.js';
import { CompletionWriter, type Completion } from './completion-writer.js';
import { retryDelayMs } from './retry-policy.js';
import { toTaskError } from './task-error.util.js';

type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };

/** Called once an attempt's outcome is fully recorded, or with the error that stopped recording it. */
type AttemptDone = (failed: boolean, error?: unknown) => void;

interface TaskRunnerDeps {
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
 * then record the outcome (event, result, settlement) through a {@link CompletionWriter}.
 *
 * The common case — a handler that returns or resolves, with no callbacks to enqueue — allocates
 * no promise of its own: a synchronous handler's outcome is known at once and the write reports
 * back through a callback. Every other ending (failure, retry, cancel, shutdown) is rare and
 * written plainly with async/await.
 */
export class TaskRunner {
  private readonly logger: OmniQLogger;
  private readonly completions: CompletionWriter;

  constructor(private readonly deps: TaskRunnerDeps) {
    this.logger = createLogger('OmniQWorker', deps.logging);
    this.completions = new CompletionWriter(deps.recorder, deps.results, deps.queue, this.logger);
  }

  /** Runs the attempt; `done` is called exactly once, when its outcome is recorded. */
  run(task: TaskRecord, attempt: Attempt, done: AttemptDone): void {
    const startedAt = new Date();
    void this.deps.recorder.record(this.event(task, 'started', { timestamp: startedAt }));
    if (Logger.isLevelEnabled('debug')) this.logger.debug(`Task ${task.name} ${task.id} attempt ${task.attempts} started`);
    // Cancelled while its holder crashed: the cancel request outlived the lease, so it does not run.
    if (task.cancelRequestedAt) attempt.stop(new TaskCancelledError(task.id));
    const outcome = this.execute(task, attempt);
    if (outcome instanceof Promise) void outcome.then((settled) => this.finish(task, settled, attempt, startedAt, done));
    else this.finish(task, outcome, attempt, startedAt, done);
  }

  /** Resolves once every completion handed to the stores so far is written. */
  drain(): Promise<void> {
    return this.completions.drain();
  }

  /** The handler's outcome: at once for a synchronous handler, else a promise that never rejects. */
  private execute(task: TaskRecord, attempt: Attempt): Outcome | Promise<Outcome> {
    const registered = this.deps.registry.get(task.name);
    if (!registered) {
      return { ok: false, error: new NonRetryableError(`No handler for task "${task.name}" is registered in worker ${this.deps.workerId}`) };
    }
    let payload: unknown;
    try {
      payload = this.deps.codec.decode(task.payload);
    } catch (error) {
      return { ok: false, error: describeDecodingError(error, task) };
    }
    if (payload !== PARENT_RESULT) return this.call(registered, task, attempt, payload);
    return this.deps.hooks.parentResult(task).then(
      (parentValue) => this.call(registered, task, attempt, parentValue),
      (error: unknown): Outcome => ({ ok: false, error }),
    );
  }

  private call(registered: RegisteredTask, task: TaskRecord, attempt: Attempt, payload: unknown): Outcome | Promise<Outcome> {
    // Stopped before it started (cancelled while a crashed holder had it): the handler never runs.
    if (attempt.isStopped) return { ok: false, error: attempt.stopReason };
    const calledAt = Date.now();
    let returned: unknown;
    let thenable: boolean;
    try {
      returned = registered.handler(payload, new AttemptContext(task, attempt, this.deps));
      thenable = isThenable(returned);
    } catch (error) {
      return { ok: false, error };
    }
    if (!thenable) return attempt.isStopped ? { ok: false, error: attempt.stopReason } : { ok: true, value: returned };
    // The timeout counts from the call: a handler's synchronous start is part of its time.
    const timer =
      task.timeoutMs === undefined
        ? undefined
        : setTimeout(() => attempt.stop(new TaskTimeoutError(task.timeoutMs!)), Math.max(0, task.timeoutMs - (Date.now() - calledAt)));
    return attempt.race(Promise.resolve(returned)).then(
      (value): Outcome => {
        clearTimeout(timer);
        return { ok: true, value };
      },
      (error: unknown): Outcome => {
        clearTimeout(timer);
        return { ok: false, error };
      },
    );
  }

  private finish(task: TaskRecord, outcome: Outcome, attempt: Attempt, startedAt: Date, done: AttemptDone): void {
    if (!outcome.ok) return this.settleAsync(this.endUnsuccessful(task, outcome.error, attempt.stopReason, startedAt), done);
    let value;
    try {
      value = task.storeResult ? this.deps.codec.encode(outcome.value, 'result') : undefined;
    } catch (error) {
      return this.settleAsync(this.fail(task, error, startedAt), done);
    }
    const completion = this.completion(task, 'completed', 'success', startedAt, { value });
    if (Logger.isLevelEnabled('debug')) this.logger.debug(`Task ${task.name} ${task.id} succeeded in ${completion.event!.durationMs} ms`);
    this.completions.write(completion, (held, failed, error) => {
      if (failed) return done(true, error);
      if (!held) this.leaseLost(task, 'success');
      if (!held || !task.onSuccess) return done(false);
      this.settleAsync(this.deps.hooks.ended(task, 'success', { value: outcome.value }), done);
    });
  }

  private settleAsync(work: Promise<void>, done: AttemptDone): void {
    work.then(
      () => done(false),
      (error: unknown) => done(true, error),
    );
  }

  private async endUnsuccessful(task: TaskRecord, cause: unknown, reason: unknown, startedAt: Date): Promise<void> {
    if (reason instanceof WorkerShutdownError) {
      await this.write(task, { settlement: { id: task.id, token: task.leaseToken!, outcome: 'release' } });
      this.logger.warn(`Task ${task.name} ${task.id} aborted by shutdown; released for another worker`);
      return;
    }
    if (reason instanceof LeaseLostError) {
      this.logger.warn(`Task ${task.name} ${task.id}: ${reason.message}; its outcome is not recorded here`);
      return;
    }
    if (reason instanceof TaskCancelledError) return this.conclude(task, 'cancelled', 'cancelled', startedAt, toTaskError(reason));
    await this.fail(task, cause, startedAt);
  }

  private async fail(task: TaskRecord, cause: unknown, startedAt: Date): Promise<void> {
    const error = toTaskError(cause);
    const timedOut = cause instanceof TaskTimeoutError;
    const durationMs = Date.now() - startedAt.getTime();
    if (timedOut) await this.deps.recorder.record(this.event(task, 'timeout', { durationMs, error }));
    if (isRetryable(cause) && task.attempts <= task.maxRetries) {
      const delay = retryDelayMs(task);
      const retryAt = new Date(Date.now() + delay);
      const retried = await this.write(task, {
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
    await this.conclude(task, 'failed', timedOut ? 'timeout' : 'failed', startedAt, error);
  }

  /** Ends the task for good without success: its event, its result when it stores one, the settlement, then its callbacks. */
  private async conclude(task: TaskRecord, event: 'failed' | 'cancelled', status: ResultStatus, startedAt: Date, error: TaskError): Promise<void> {
    if (await this.write(task, this.completion(task, event, status, startedAt, { error }))) await this.deps.hooks.ended(task, status, { error });
  }

  /** Writes a completion; false (logged) when the lease was lost meanwhile and another worker may hold the task. */
  private async write(task: TaskRecord, completion: Completion): Promise<boolean> {
    const held = await this.completions.writeAsync(completion);
    if (!held) this.leaseLost(task, completion.settlement.outcome);
    return held;
  }

  private leaseLost(task: TaskRecord, outcome: string): void {
    this.logger.warn(`Task ${task.name} ${task.id}: lease lost before its ${outcome} was recorded`);
  }

  /** The final event, result and settlement of an attempt, all stamped with one completion time. */
  private completion(
    task: TaskRecord,
    event: 'completed' | 'failed' | 'cancelled',
    status: ResultStatus,
    startedAt: Date,
    detail: Pick<ResultRecord, 'value' | 'error'>,
  ): Completion {
    const completedAt = new Date();
    const durationMs = completedAt.getTime() - startedAt.getTime();
    const token = task.leaseToken!;
    return {
      event: this.event(task, event, { durationMs, error: detail.error, timestamp: completedAt }),
      result: task.storeResult ? this.result(task, status, startedAt, completedAt, durationMs, detail) : undefined,
      settlement:
        status === 'success'
          ? { id: task.id, token, outcome: 'success' }
          : status === 'cancelled'
            ? { id: task.id, token, outcome: 'cancelled', error: detail.error }
            : { id: task.id, token, outcome: 'failed', error: detail.error! },
    };
  }

  private result(
    task: TaskRecord,
    status: ResultStatus,
    startedAt: Date,
    completedAt: Date,
    durationMs: number,
    detail: Pick<ResultRecord, 'value' | 'error'>,
  ): ResultRecord {
    return {
      taskId: task.id,
      taskName: task.name,
      queue: task.queue,
      status,
      value: detail.value,
      error: detail.error,
      createdAt: task.createdAt,
      startedAt,
      completedAt,
      durationMs,
      workerId: this.deps.workerId,
      attempts: task.attempts,
      scheduleId: task.scheduleId,
      expiresAt: task.resultTtlMs === undefined ? undefined : new Date(completedAt.getTime() + task.resultTtlMs),
    };
  }

  private event(task: TaskRecord, type: TaskEventType, detail?: AttemptEventDetail): NewEvent {
    return attemptEvent(task, this.deps.workerId, type, detail);
  }
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as PromiseLike<unknown> | null)?.then === 'function';
}

/** The decoding error names the task; built only when decoding failed, not for every payload. */
function describeDecodingError(error: unknown, task: TaskRecord): unknown {
  return error instanceof PayloadDecodingError ? new PayloadDecodingError(`payload of task ${task.name} ${task.id}`, error.reason) : error;
}

function isRetryable(error: unknown): boolean {
  return !(error instanceof NonRetryableError || error instanceof PayloadDecodingError || error instanceof PayloadEncodingError);
}
