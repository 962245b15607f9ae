import type { Codec } from '../serialization/codec.js';
import type { LoggingConfig } from '../config/omniq-config.js';
import { createLogger, type OmniQLogger } from '../config/omniq-logger.js';
import type { ResultRecord, ResultStatus } from '../models/result.model.js';
import type { TaskEvent, TaskEventType } from '../models/event.model.js';
import type { NewTask, TaskError, TaskRecord } from '../models/task.model.js';
import type { TaskQueueStore, WriteScope } from '../storage/task-queue.store.js';
import { completeEvent, type EventRecorder } from '../events/event.recorder.js';
import type { RegisteredTask, TaskRegistry } from '../task.registry.js';
import type { WorkflowHooks } from '../workflows/workflow-hooks.js';
import type { StoreOutcomes } from '../workflows/store-outcomes.js';
import type { TaskSubmitter } from '../workflows/task.submitter.js';
import { LeaseLostError, NonRetryableError, TaskCancelledError, TaskTimeoutError, WorkerShutdownError } from '../errors/task.errors.js';
import { PayloadDecodingError, PayloadEncodingError } from '../errors/codec.errors.js';
import { PARENT_RESULT } from '../serialization/parent-result.js';
import { leaseEvent } from '../storage/outcomes.js';
import { describeError } from '../utils/describe-error.js';
import type { Attempt } from './attempt.js';
import { AttemptContext } from './attempt-context.js';
import { attemptEvent, type AttemptEventDetail } from './attempt-event.js';
import type { AttemptEnd, AttemptInstrumentation } from './attempt-instrumentation.js';
import { CompletionWriter, type Completion } from './completion-writer.js';
import type { AttemptControl, TaskExecutor } from './task-executor.js';
import type { TaskExecutors } from './task-executors.js';
import { retryDelayMs } from './retry-policy.js';
import { toTaskError } from './task-error.util.js';
import { timerDelay } from '../utils/timer-delay.js';

type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };

/** What a {@link TaskRunner} tells its worker about an attempt. */
export interface AttemptProgress {
  /** Called once the handler returned, threw or was stopped: the end is still to be written. */
  returned(): void;
  /** Called once the attempt's outcome is fully recorded, or with the error that stopped recording it. */
  done(failed: boolean, error?: unknown): void;
}

type AttemptDone = AttemptProgress['done'];

export interface TaskRunnerDeps {
  queue: TaskQueueStore;
  /** What the queue's settlements write themselves (see CompletionWriter). */
  scope: WriteScope;
  outcomes: StoreOutcomes;
  submitter: TaskSubmitter;
  codec: Codec;
  registry: TaskRegistry;
  recorder: EventRecorder;
  hooks: WorkflowHooks;
  executors: TaskExecutors;
  instrumentation: readonly AttemptInstrumentation[];
  workerId: string;
  logging: LoggingConfig;
  /** Told when a retry was scheduled, so the worker can wake up for it instead of waiting for a poll. */
  onRetryScheduled(retryAt: Date): void;
}

/**
 * Runs one reserved task to its end: decode, hand the handler to the executor under its
 * AbortSignal and timeout, then record the outcome — settlement, result, events and callback
 * task in one atomic step of the queue — through a {@link CompletionWriter}.
 *
 * The common case — a handler that returns or resolves, with no callback — allocates one promise
 * of its own, which joins the outcome with the start event's write; the completion write reports
 * back through a callback. Every other ending (failure, retry, cancel, shutdown) is rare and
 * written plainly with async/await.
 */
export class TaskRunner {
  private readonly logger: OmniQLogger;
  private readonly completions: CompletionWriter;

  constructor(private readonly deps: TaskRunnerDeps) {
    this.logger = createLogger('OmniQWorker', deps.logging);
    this.completions = new CompletionWriter(deps.queue, deps.scope, deps.outcomes, deps.submitter, this.logger);
  }

  /** Runs the attempt; `returned` and then `done` are called exactly once each. */
  run(task: TaskRecord, attempt: Attempt, { returned, done }: AttemptProgress): void {
    const startedAt = new Date();
    // The attempt's end is written once its start was: on a server backend the two go through
    // different connections, and an end written first would come before its start in the task's
    // timeline whenever both fall in one millisecond. (The promise is its batch's, and never rejects.)
    const startRecorded = this.deps.recorder.record(this.event(task, 'started', { timestamp: startedAt }));
    this.started(task);
    // Cancelled while its holder crashed: the cancel request outlived the lease, so it does not run.
    if (task.cancelRequestedAt) attempt.stop(new TaskCancelledError(task.id));
    const outcome = this.execute(task, attempt);
    if (outcome instanceof Promise) void outcome.then(returned);
    else returned();
    void Promise.all([outcome, startRecorded]).then(([settled]) => this.finish(task, settled, attempt, startedAt, done));
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
    let timer: NodeJS.Timeout | undefined;
    // The timeout counts from the call (a handler's synchronous start is part of its time), or,
    // on a pool, from when a member began the handler.
    const arm = (from: number): void => {
      if (task.timeoutMs !== undefined && timer === undefined && !attempt.isStopped) {
        timer = setTimeout(() => attempt.stop(new TaskTimeoutError(task.timeoutMs!)), timerDelay(task.timeoutMs - (Date.now() - from)));
      }
    };
    const calledAt = Date.now();
    let executor: TaskExecutor;
    let returned: unknown;
    let thenable: boolean;
    try {
      executor = this.deps.executors.for(registered);
      const ctx = new AttemptContext(task, attempt, this.deps);
      returned = executor.startsLater
        ? executor.execute(registered, payload, ctx, task, { started: () => arm(Date.now()), onStop: (listener) => attempt.onStop(listener) })
        : executor.execute(registered, payload, ctx, task, INLINE);
      thenable = isThenable(returned);
    } catch (error) {
      return { ok: false, error };
    }
    if (!thenable) return attempt.isStopped ? { ok: false, error: attempt.stopReason } : { ok: true, value: returned };
    if (!executor.startsLater) arm(calledAt);
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
    const completion = this.completion(task, 'completed', 'success', startedAt, { value }, outcome.value);
    const durationMs = completion.events![0]!.durationMs!;
    this.completions.write(completion, (held, failed, error) => {
      if (failed) return done(true, error);
      this.ended(task, held ? { outcome: 'success', durationMs } : { outcome: 'lease_lost', durationMs });
      done(false);
    });
  }

  private settleAsync(work: Promise<void>, done: AttemptDone): void {
    work.then(
      () => done(false),
      (error: unknown) => done(true, error),
    );
  }

  private async endUnsuccessful(task: TaskRecord, cause: unknown, reason: unknown, startedAt: Date): Promise<void> {
    const durationMs = Date.now() - startedAt.getTime();
    if (reason instanceof WorkerShutdownError) {
      const held = await this.completions.writeAsync({
        settlement: { id: task.id, token: task.leaseToken!, outcome: 'release' },
        events: [leaseEvent(task, 'released')],
      });
      return this.ended(task, { outcome: held ? 'released' : 'lease_lost', durationMs });
    }
    if (reason instanceof LeaseLostError) return this.ended(task, { outcome: 'lease_lost', durationMs });
    if (reason instanceof TaskCancelledError) {
      const error = toTaskError(reason);
      const held = await this.completions.writeAsync(this.completion(task, 'cancelled', 'cancelled', startedAt, { error }));
      return this.ended(task, held ? { outcome: 'cancelled', durationMs, error } : { outcome: 'lease_lost', durationMs });
    }
    await this.fail(task, cause, startedAt);
  }

  private async fail(task: TaskRecord, cause: unknown, startedAt: Date): Promise<void> {
    const error = toTaskError(cause);
    const timedOut = cause instanceof TaskTimeoutError;
    const durationMs = Date.now() - startedAt.getTime();
    const timeout = timedOut ? [this.event(task, 'timeout', { durationMs, error })] : [];
    if (isRetryable(cause) && task.attempts <= task.maxRetries) {
      const delay = retryDelayMs(task);
      const retryAt = new Date(Date.now() + delay);
      const held = await this.completions.writeAsync({
        settlement: { id: task.id, token: task.leaseToken!, outcome: 'retry', error, retryAt },
        events: [...timeout, this.event(task, 'retry', { durationMs, error, data: { retryAt: retryAt.toISOString(), delayMs: delay } })],
      });
      if (held) this.deps.onRetryScheduled(retryAt);
      return this.ended(task, held ? { outcome: 'retry', durationMs, error, retryInMs: delay } : { outcome: 'lease_lost', durationMs });
    }
    const completion = this.completion(task, 'failed', timedOut ? 'timeout' : 'failed', startedAt, { error });
    completion.events!.unshift(...timeout);
    const held = await this.completions.writeAsync(completion);
    this.ended(task, held ? { outcome: timedOut ? 'timeout' : 'failed', durationMs, error } : { outcome: 'lease_lost', durationMs });
  }

  // Instrumentation must never break an attempt: a throw is logged and ignored.
  private started(task: TaskRecord): void {
    for (const observer of this.deps.instrumentation) {
      try {
        observer.attemptStarted(task);
      } catch (error) {
        this.logger.error(`Attempt instrumentation threw: ${describeError(error)}`);
      }
    }
  }

  private ended(task: TaskRecord, end: AttemptEnd): void {
    for (const observer of this.deps.instrumentation) {
      try {
        observer.attemptEnded(task, end);
      } catch (error) {
        this.logger.error(`Attempt instrumentation threw: ${describeError(error)}`);
      }
    }
  }

  /** The final settlement, result, event and callback task of an attempt, all stamped with one completion time. */
  private completion(
    task: TaskRecord,
    event: 'completed' | 'failed' | 'cancelled',
    status: ResultStatus,
    startedAt: Date,
    detail: Pick<ResultRecord, 'value' | 'error'>,
    value?: unknown,
  ): Completion {
    const completedAt = new Date();
    const durationMs = completedAt.getTime() - startedAt.getTime();
    const token = task.leaseToken!;
    const callback = this.callback(task, status, value, detail.error);
    const completion: Completion = {
      events: [this.event(task, event, { durationMs, error: detail.error, timestamp: completedAt })],
      result: task.storeResult ? this.result(task, status, startedAt, completedAt, durationMs, detail) : undefined,
      settlement:
        status === 'success'
          ? { id: task.id, token, outcome: 'success' }
          : status === 'cancelled'
            ? { id: task.id, token, outcome: 'cancelled', error: detail.error }
            : { id: task.id, token, outcome: 'failed', error: detail.error! },
    };
    if (callback) completion.settlement.enqueue = [callback];
    return completion;
  }

  /** The callback task to store with the settlement; one that cannot be built is logged and left out (the task's own outcome still counts). */
  private callback(task: TaskRecord, status: ResultStatus, value: unknown, error: TaskError | undefined): NewTask | undefined {
    if (task.onSuccess === undefined && task.onFailure === undefined) return undefined;
    try {
      return this.deps.hooks.callback(task, status, { value, error });
    } catch (thrown) {
      this.logger.error(`Task ${task.name} ${task.id}: could not build its callback: ${describeError(thrown)}`);
      return undefined;
    }
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

  private event(task: TaskRecord, type: TaskEventType, detail?: AttemptEventDetail): TaskEvent {
    return completeEvent(attemptEvent(task, this.deps.workerId, type, detail));
  }
}

/** In process, the handler starts at the call and the attempt's signal reaches it: nothing to tell. */
const INLINE: AttemptControl = { started: () => undefined, onStop: () => undefined };

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
