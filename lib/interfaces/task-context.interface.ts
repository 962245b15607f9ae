import type { LoggerService } from '@nestjs/common';
import type { TaskError, TaskStatus } from '../models/task.model.js';

/** A parent task's outcome, as `ctx.parents()` reports it. */
export interface ParentOutcome {
  taskId: string;
  name: string;
  /** How the parent ended; `unknown` when its record and its result were both purged (`purgeHistory`). */
  status: TaskStatus | 'unknown';
  /** The parent's stored result value (when it stored one). */
  value?: unknown;
  error?: TaskError;
}

/** The second argument of every `@Task()` handler. */
export interface TaskContext {
  readonly taskId: string;
  readonly name: string;
  readonly queue: string;
  /** 1 for the first run, 2 for the first retry, … */
  readonly attempt: number;
  readonly maxRetries: number;
  readonly scheduleId?: string;
  /**
   * Fires on timeout (reason TaskTimeoutError), cancellation (TaskCancelledError), worker
   * shutdown (WorkerShutdownError) or a lost lease (LeaseLostError). Pass it to fetch(), timers,
   * database drivers…: the worker stops waiting for the handler when it fires either way.
   */
  readonly signal: AbortSignal;
  /** A logger whose context names the task and attempt. */
  readonly logger: LoggerService;
  /** How each task in `dependsOn` ended, in that order, with its stored result value or error. */
  parents(): Promise<ParentOutcome[]>;
  /** Reports progress (a number or small JSON-able object); stored on the task and sent as an event. */
  progress(value: unknown): Promise<void>;
}
