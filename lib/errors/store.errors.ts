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

/**
 * Tasks a long `enqueue` call stores in one atomic chunk at most (see TaskQueueStore.enqueue): no
 * write holds the storage long enough to stall other processes' heartbeats.
 */
export const MAX_ATOMIC_ENQUEUE = 2_000;

/**
 * A chunked `enqueue` stopped part-way: the chunks before it are stored (`stored`, their outcomes
 * in input order), the failing chunk and those after it are not. `cause` says why.
 */
export class EnqueueIncompleteError extends OmniQError {
  override name = 'EnqueueIncompleteError';
  constructor(
    readonly stored: readonly { id: string; created: boolean }[],
    readonly total: number,
    cause: unknown,
  ) {
    super(
      `enqueue stored ${stored.length} of ${total} tasks, then failed: ${cause instanceof Error ? cause.message : String(cause)}; ` +
        'the stored ones stay (their outcomes are in .stored), the others were not stored',
      { cause },
    );
  }
}
