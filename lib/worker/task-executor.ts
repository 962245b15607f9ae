import type { TaskContext } from '../interfaces/task-context.interface.js';
import type { RegisteredTask } from '../task.registry.js';

/**
 * Where a handler is invoked. The worker hands every attempt to its executor, which returns the
 * handler's return value (a value or a promise) or throws what the handler threw. The in-process
 * executor calls the method on its provider; executors that run handlers on thread or process
 * pools plug in here.
 */
export interface TaskExecutor {
  execute(task: RegisteredTask, payload: unknown, ctx: TaskContext): unknown;
}

/** Calls the handler on the event loop of this process, on the provider instance that declared it. */
export class InProcessExecutor implements TaskExecutor {
  execute(task: RegisteredTask, payload: unknown, ctx: TaskContext): unknown {
    return task.handler(payload, ctx);
  }
}
