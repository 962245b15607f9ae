import type { TaskContext } from '../interfaces/task-context.interface.js';
import type { TaskRecord } from '../models/task.model.js';
import type { RegisteredTask } from '../task.registry.js';

/** What an executor that runs handlers elsewhere is told about the attempt, and tells it back. */
export interface AttemptControl {
  /** Call when the handler begins (the task's timeout counts from here). */
  started(): void;
  /** `listener` runs once the attempt is stopped (timeout, cancel, lost lease, shutdown), with the reason; at once if it already is. */
  onStop(listener: (reason: unknown) => void): void;
}

/**
 * Where a handler is invoked. The worker hands every attempt to its executor, which returns the
 * handler's return value (a value or a promise) or throws what the handler threw. The in-process
 * executor calls the method on its provider; the pool executors run it on a thread or process.
 */
export interface TaskExecutor {
  /**
   * True when the handler starts later than the call (a pool member may still be bootstrapping):
   * the executor then calls `control.started()` when it does, and the task's timeout counts from
   * there. Otherwise the timeout counts from the call.
   */
  readonly startsLater: boolean;
  execute(task: RegisteredTask, payload: unknown, ctx: TaskContext, record: TaskRecord, control: AttemptControl): unknown;
}

/** Calls the handler on the event loop of this process, on the provider instance that declared it. */
export class InProcessExecutor implements TaskExecutor {
  readonly startsLater = false;

  execute(task: RegisteredTask, payload: unknown, ctx: TaskContext): unknown {
    return task.handler(payload, ctx);
  }
}
