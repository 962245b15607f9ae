import type { LoggingConfig } from '../config/omniq-config.js';
import { createLogger, type OmniQLogger } from '../config/omniq-logger.js';
import type { EventRecorder } from '../events/event.recorder.js';
import type { ParentOutcome, TaskContext } from '../interfaces/task-context.interface.js';
import type { TaskRecord } from '../models/task.model.js';
import type { TaskQueueStore } from '../storage/task-queue.store.js';
import type { WorkflowHooks } from '../workflows/workflow-hooks.js';
import type { Attempt } from './attempt.js';
import { attemptEvent } from './attempt-event.js';

/** What a handler's context reaches through `progress()`, `parents()` and `logger`. */
export interface ContextServices {
  queue: TaskQueueStore;
  recorder: EventRecorder;
  hooks: WorkflowHooks;
  workerId: string;
  logging: LoggingConfig;
}

/**
 * The `ctx` a handler receives. A class rather than a literal with getters (V8 builds a literal
 * with accessors in its runtime, ~0.5 µs per attempt): `signal` and `logger` are prototype
 * getters, created only when a handler reads them. Destructuring reads them; spreading `ctx`
 * (`{ ...ctx }`) copies own properties only, so it leaves those two out.
 */
export class AttemptContext implements TaskContext {
  readonly taskId: string;
  readonly name: string;
  readonly queue: string;
  readonly attempt: number;
  readonly maxRetries: number;
  readonly scheduleId: string | undefined;
  /** Own functions, so a handler may destructure them or spread `ctx` into a helper's argument. */
  readonly parents: () => Promise<ParentOutcome[]>;
  readonly progress: (value: unknown) => Promise<void>;
  readonly #task: TaskRecord;
  readonly #run: Attempt;
  readonly #services: ContextServices;
  #logger: OmniQLogger | undefined;

  constructor(task: TaskRecord, run: Attempt, services: ContextServices) {
    this.taskId = task.id;
    this.name = task.name;
    this.queue = task.queue;
    this.attempt = task.attempts;
    this.maxRetries = task.maxRetries;
    this.scheduleId = task.scheduleId;
    this.#task = task;
    this.#run = run;
    this.#services = services;
    this.parents = () => services.hooks.parents(task);
    this.progress = (value) => this.#report(value);
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
