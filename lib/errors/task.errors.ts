/**
 * Throw from a handler to fail the task for good: no retry is attempted, whatever `maxRetries`
 * says (bad input, a missing record, anything a later attempt cannot fix).
 */
export class NonRetryableError extends Error {
  override readonly name = 'NonRetryableError';
}

/** The reason the task's AbortSignal fired when its `timeoutMs` passed. */
export class TaskTimeoutError extends Error {
  override readonly name = 'TaskTimeoutError';
  constructor(readonly timeoutMs: number) {
    super(`Task timed out after ${timeoutMs} ms`);
  }
}

/** The reason the task's AbortSignal fired when the worker shut down before it finished. */
export class WorkerShutdownError extends Error {
  override readonly name = 'WorkerShutdownError';
  constructor() {
    super('Worker shut down before the task finished; its lease was released for another worker');
  }
}

/** The reason the task's AbortSignal fired when its lease could not be kept (another worker may run it). */
export class LeaseLostError extends Error {
  override readonly name = 'LeaseLostError';
  constructor(taskId: string) {
    super(`Lease on task ${taskId} was lost; another worker may run it`);
  }
}

/** The reason the task's AbortSignal fired when the task was cancelled. */
export class TaskCancelledError extends Error {
  override readonly name = 'TaskCancelledError';
  constructor(taskId: string) {
    super(`Task ${taskId} was cancelled`);
  }
}

/**
 * A thread or process pool member ended while it ran the task: it exited, crashed, ran out of
 * memory, or could not bootstrap its module. Only that task fails (and is retried if it may be).
 */
export class PoolMemberError extends Error {
  override readonly name = 'PoolMemberError';
}
