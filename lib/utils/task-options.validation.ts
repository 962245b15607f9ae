import { InvalidTaskOptionError } from '../errors/omniq.errors.js';
import type { EnqueueOptions, TaskHandlerOptions } from '../interfaces/task-options.interface.js';

const NON_NEGATIVE_INTEGERS = ['maxRetries', 'retryDelayMs', 'retryMaxDelayMs', 'delayMs'] as const;
const POSITIVE_INTEGERS = ['timeoutMs', 'ttlMs', 'resultTtlMs', 'dedupeWindowMs'] as const;
const KNOWN_OPTIONS = new Set<string>([
  ...NON_NEGATIVE_INTEGERS,
  ...POSITIVE_INTEGERS,
  'queue',
  'priority',
  'retryBackoff',
  'storeResult',
  'runAt',
  'key',
  'tags',
  'description',
  'dependsOn',
  'onParentFailure',
  'onSuccess',
  'onFailure',
  'id',
]);

/** What `@Task()` may set: how the task runs, not what one enqueue asks for. */
const HANDLER_OPTIONS = new Set<string>([
  'queue',
  'priority',
  'maxRetries',
  'retryDelayMs',
  'retryBackoff',
  'retryMaxDelayMs',
  'timeoutMs',
  'ttlMs',
  'resultTtlMs',
  'storeResult',
] satisfies (keyof TaskHandlerOptions)[]);

/** `@Task()` options: only handler options, each valid. Throws InvalidTaskOptionError naming option and value. */
export function validateHandlerOptions(taskName: string, options: TaskHandlerOptions): void {
  if (typeof options !== 'object' || options === null) throw new InvalidTaskOptionError(taskName, 'options', options, 'an object of @Task() options');
  for (const [option, value] of Object.entries(options)) {
    if (!HANDLER_OPTIONS.has(option)) {
      throw new InvalidTaskOptionError(taskName, option, value, `one of the @Task() options (${[...HANDLER_OPTIONS].join(', ')}); set per-call options in enqueue()`);
    }
  }
  validateTaskOptions(taskName, options);
}

/** Throws InvalidTaskOptionError naming the task, the option and the value for anything off. */
export function validateTaskOptions(taskName: string, options: EnqueueOptions): void {
  for (const [option, value] of Object.entries(options)) {
    if (!KNOWN_OPTIONS.has(option)) {
      throw new InvalidTaskOptionError(taskName, option, value, `one of the known options (${[...KNOWN_OPTIONS].join(', ')})`);
    }
  }
  const fail = (option: string, expected: string): never => {
    throw new InvalidTaskOptionError(taskName, option, (options as Record<string, unknown>)[option], expected);
  };
  for (const option of NON_NEGATIVE_INTEGERS) {
    const value = options[option];
    if (value !== undefined && !(Number.isSafeInteger(value) && value >= 0)) fail(option, 'an integer >= 0');
  }
  for (const option of POSITIVE_INTEGERS) {
    const value = options[option];
    if (value !== undefined && !(Number.isSafeInteger(value) && value > 0)) fail(option, 'an integer > 0 (ms)');
  }
  if (options.priority !== undefined && !Number.isSafeInteger(options.priority)) fail('priority', 'an integer');
  if (options.queue !== undefined && (typeof options.queue !== 'string' || options.queue.length === 0)) {
    fail('queue', 'a non-empty string');
  }
  if (options.retryBackoff !== undefined && options.retryBackoff !== 'exponential' && options.retryBackoff !== 'fixed') {
    fail('retryBackoff', '"exponential" or "fixed"');
  }
  if (options.storeResult !== undefined && typeof options.storeResult !== 'boolean') fail('storeResult', 'a boolean');
  if (options.runAt !== undefined && !(options.runAt instanceof Date && !Number.isNaN(options.runAt.getTime()))) {
    fail('runAt', 'a valid Date');
  }
  if (options.runAt !== undefined && options.delayMs !== undefined) fail('runAt', 'either runAt or delayMs, not both');
  if (options.key !== undefined && (typeof options.key !== 'string' || options.key.length === 0)) fail('key', 'a non-empty string');
  if (options.description !== undefined && typeof options.description !== 'string') fail('description', 'a string');
  if (options.id !== undefined && (typeof options.id !== 'string' || options.id.length === 0)) fail('id', 'a non-empty string');
  if (options.dedupeWindowMs !== undefined && options.key === undefined) fail('dedupeWindowMs', 'a key to go with it');
  if (options.onParentFailure !== undefined && options.onParentFailure !== 'cancel' && options.onParentFailure !== 'run') {
    fail('onParentFailure', '"cancel" or "run"');
  }
  for (const callback of ['onSuccess', 'onFailure'] as const) {
    const value = options[callback];
    if (value !== undefined && (typeof value !== 'object' || value === null || typeof value.task !== 'string' || value.task === '')) {
      fail(callback, '{ task: <registered task name>, args?: <data> }');
    }
  }
  for (const list of ['tags', 'dependsOn'] as const) {
    const value = options[list];
    if (value !== undefined && !(Array.isArray(value) && value.every((v) => typeof v === 'string' && v.length > 0))) {
      fail(list, 'an array of non-empty strings');
    }
  }
}
