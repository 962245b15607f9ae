import type { ParentFailurePolicy, RetryBackoff } from '../models/task.model.js';

/** How a task runs. Set per handler in `@Task()`, per call in `enqueue()`, or for all in `taskDefaults`. */
export interface TaskRunOptions {
  /** Queue the task goes to (default `"default"`). */
  queue?: string;
  /** Higher runs first within a queue (default 0). Integer. */
  priority?: number;
  /** Retries after the first failed attempt (default 3). */
  maxRetries?: number;
  /** Delay before the first retry, in ms (default 5,000). */
  retryDelayMs?: number;
  /** `exponential` (default): delay · 2^(attempt−1) plus up to 10% jitter; `fixed`: the same delay each time. */
  retryBackoff?: RetryBackoff;
  /** Upper bound of a retry delay, in ms (default 1 hour). */
  retryMaxDelayMs?: number;
  /** Abort the attempt after this many ms (the handler's AbortSignal fires; default none). */
  timeoutMs?: number;
  /** The task expires, unrun, if no worker started it within this many ms of enqueueing (default none). */
  ttlMs?: number;
  /** Stored results disappear after this many ms (default: kept until deleted). */
  resultTtlMs?: number;
  /** Store the handler's return value (default true). */
  storeResult?: boolean;
}

/** Options of a single `enqueue()` call. */
export interface EnqueueOptions extends TaskRunOptions {
  /** Run no earlier than this many ms from now. */
  delayMs?: number;
  /** Run no earlier than this time. */
  runAt?: Date;
  /** Idempotency key: while a task with this key is pending or running, its id is returned instead. */
  key?: string;
  tags?: string[];
  description?: string;
  /**
   * Ids of tasks that must succeed before this one becomes due: existing tasks, or tasks with an
   * `id` in the same `enqueueMany` call. The handler reads their outcomes with `ctx.parents()`.
   */
  dependsOn?: string[];
  /**
   * When a parent fails for good, is cancelled or expires: `cancel` this task (default, with the
   * parent named in its event) or `run` it anyway once every parent ended.
   */
  onParentFailure?: ParentFailurePolicy;
  /** Enqueue this task with `{ taskId, name, status, value, args }` when this one succeeds. */
  onSuccess?: CallbackOptions;
  /** Enqueue this task with `{ taskId, name, status, error, args }` when this one fails for good (or times out). */
  onFailure?: CallbackOptions;
  /** With `key`: keep returning this task's id for this long after it ended, in ms. */
  dedupeWindowMs?: number;
  /** Your own id for the task (unique), e.g. to link tasks of one `enqueueMany` call with `dependsOn`. */
  id?: string;
}

export interface CallbackOptions {
  /** Name of a registered task. */
  task: string;
  /** Extra data for the callback (encoded like a payload). */
  args?: unknown;
}

/** Where a handler runs: on the event loop (`async`), on a worker thread (`thread`) or in a child process (`process`). */
export type WorkerType = 'async' | 'thread' | 'process';

/** Options of `@Task()`. */
export interface TaskHandlerOptions extends TaskRunOptions {
  /**
   * Where this handler runs (default `worker.type`). `thread` and `process` run it on a pool member
   * that bootstrapped `worker.poolModule`, so a CPU-bound handler never blocks the event loop, and
   * a timeout or cancel terminates it.
   */
  runIn?: WorkerType;
}
