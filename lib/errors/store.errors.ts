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
