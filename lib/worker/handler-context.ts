import type { LoggerService } from '@nestjs/common';
import type { ParentOutcome, TaskContext } from '../interfaces/task-context.interface.js';

/**
 * The fields every handler's `ctx` has, in the main process ({@link AttemptContext}) and in a pool
 * member alike. A class rather than a literal with getters (V8 builds a literal with accessors in
 * its runtime, ~0.5 µs per attempt): `signal` and `logger` are prototype getters of the
 * subclasses, created only when a handler reads them. Destructuring reads them; spreading `ctx`
 * (`{ ...ctx }`) copies own properties only, so it leaves those two out. The fields are passed one
 * by one so that building a context allocates nothing else.
 */
export abstract class HandlerContext implements TaskContext {
  readonly taskId: string;
  readonly name: string;
  readonly queue: string;
  readonly attempt: number;
  readonly maxRetries: number;
  readonly scheduleId: string | undefined;
  /** Own functions, so a handler may destructure them or spread `ctx` into a helper's argument. */
  readonly parents: () => Promise<ParentOutcome[]>;
  readonly progress: (value: unknown) => Promise<void>;

  constructor(
    taskId: string,
    name: string,
    queue: string,
    attempt: number,
    maxRetries: number,
    scheduleId: string | undefined,
    parents: () => Promise<ParentOutcome[]>,
    progress: (value: unknown) => Promise<void>,
  ) {
    this.taskId = taskId;
    this.name = name;
    this.queue = queue;
    this.attempt = attempt;
    this.maxRetries = maxRetries;
    this.scheduleId = scheduleId;
    this.parents = parents;
    this.progress = progress;
  }

  abstract get signal(): AbortSignal;
  abstract get logger(): LoggerService;
}
