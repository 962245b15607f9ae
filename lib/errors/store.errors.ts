import { OmniQError } from './omniq.errors.js';

/** A store was used after `close()`: the caller kept a reference past shutdown. */
export class StoreClosedError extends OmniQError {
  override name = 'StoreClosedError';
  constructor(store: string, operation: string) {
    super(`${store}.${operation}() was called after close(); the store no longer accepts calls`);
  }
}

/** `enqueue` got a task id the store already holds (or twice in one batch); nothing was stored. */
export class DuplicateTaskIdError extends OmniQError {
  override name = 'DuplicateTaskIdError';
  constructor(readonly taskId: string) {
    super(`Task id ${taskId} is already stored; every task needs a new id`);
  }
}

/** `enqueue` got a task whose `dependsOn` names an id neither stored nor in the same call; nothing was stored. */
export class UnknownParentError extends OmniQError {
  override name = 'UnknownParentError';
  constructor(
    readonly taskId: string,
    readonly parentIds: readonly string[],
  ) {
    super(`Task ${taskId} depends on unknown task(s) ${parentIds.join(', ')}`);
  }
}

/** `enqueue` got a task that needs a parent to succeed, but that parent already ended failed, cancelled or expired; nothing was stored. */
export class ParentEndedError extends OmniQError {
  override name = 'ParentEndedError';
  constructor(
    readonly taskId: string,
    readonly parentId: string,
    readonly parentStatus: string,
  ) {
    super(`Task ${taskId} depends on task ${parentId}, which already ended ${parentStatus}`);
  }
}
