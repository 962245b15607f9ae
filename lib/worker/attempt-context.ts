import type { LoggingConfig } from '../config/omniq-config.js';
import { createLogger, type OmniQLogger } from '../config/omniq-logger.js';
import type { EventRecorder } from '../events/event.recorder.js';
import type { TaskRecord } from '../models/task.model.js';
import type { TaskQueueStore } from '../storage/task-queue.store.js';
import type { WorkflowHooks } from '../workflows/workflow-hooks.js';
import type { Attempt } from './attempt.js';
import { attemptEvent } from './attempt-event.js';
import { HandlerContext } from './handler-context.js';

/** What a handler's context reaches through `progress()`, `parents()` and `logger`. */
export interface ContextServices {
  queue: TaskQueueStore;
  recorder: EventRecorder;
  hooks: WorkflowHooks;
  workerId: string;
  logging: LoggingConfig;
}

/** The `ctx` a handler on the event loop receives: the attempt's signal, and progress stored by this process. */
export class AttemptContext extends HandlerContext {
  readonly #task: TaskRecord;
  readonly #run: Attempt;
  readonly #services: ContextServices;
  #logger: OmniQLogger | undefined;

  constructor(task: TaskRecord, run: Attempt, services: ContextServices) {
    super(
      task.id,
      task.name,
      task.queue,
      task.attempts,
      task.maxRetries,
      task.scheduleId,
      () => services.hooks.parents(task),
      (value) => this.#report(value),
    );
    this.#task = task;
    this.#run = run;
    this.#services = services;
  }

  get signal(): AbortSignal {
    return this.#run.signal;
  }

  get logger(): OmniQLogger {
    return (this.#logger ??= createLogger(`${this.name} ${this.taskId} #${this.attempt}`, this.#services.logging, this.name));
  }

  async #report(value: unknown): Promise<void> {
    const progress = toJsonData(value);
    const { queue, recorder, workerId } = this.#services;
    if (!(await queue.setProgress(this.taskId, this.#task.leaseToken!, progress))) return;
    await recorder.record(attemptEvent(this.#task, workerId, 'progress', { data: { progress } }));
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
