import { formatValue } from '../utils/format-value.js';

/** Base class of the errors OmniQ's API throws for bad input or an impossible request. */
export class OmniQError extends Error {
  override name = 'OmniQError';
}

export class UnknownTaskError extends OmniQError {
  override name = 'UnknownTaskError';
  /** @param where what named the task, when not the caller directly (e.g. `Task "report" option onSuccess`). */
  constructor(name: string, known: readonly string[], where?: string) {
    super(
      `${where ? `${where}: unknown` : 'Unknown'} task "${name}". Registered tasks: ${known.length ? known.map((n) => `"${n}"`).join(', ') : '(none)'}. ` +
        'Register it with @Task() on a provider method, or set allowUnregisteredTasks: true when only remote workers run it.',
    );
  }
}

export class InvalidTaskOptionError extends OmniQError {
  override name = 'InvalidTaskOptionError';
  constructor(taskName: string, option: string, value: unknown, expected: string) {
    super(`Task "${taskName}": option ${option} = ${formatValue(value)} is invalid; expected ${expected}`);
  }
}

/** A query method (`listTasks`, `getEvents`) got an option it cannot honour; nothing was read. */
export class InvalidQueryError extends OmniQError {
  override name = 'InvalidQueryError';
  constructor(method: string, option: string, value: unknown, expected: string) {
    super(`${method}(): option ${option} = ${formatValue(value)} is invalid; expected ${expected}`);
  }
}

export class TaskDefinitionError extends OmniQError {
  override name = 'TaskDefinitionError';
}

export class WaitForResultTimeoutError extends OmniQError {
  override name = 'WaitForResultTimeoutError';
  constructor(taskId: string, timeoutMs: number) {
    super(`No result for task ${taskId} within ${timeoutMs} ms`);
  }
}

export class NoResultError extends OmniQError {
  override name = 'NoResultError';
}

export class OmniQShutdownError extends OmniQError {
  override name = 'OmniQShutdownError';
  constructor(what: string) {
    super(`${what}: OmniQ is shutting down`);
  }
}


export class ScheduleDefinitionError extends OmniQError {
  override name = 'ScheduleDefinitionError';
}

export class UnknownScheduleError extends OmniQError {
  override name = 'UnknownScheduleError';
  constructor(id: string) {
    super(`Unknown schedule "${id}"`);
  }
}
