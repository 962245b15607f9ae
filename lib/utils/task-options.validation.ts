import { InvalidTaskOptionError } from '../errors/omniq.errors.js';
import type { EnqueueOptions, TaskHandlerOptions, WorkerType } from '../interfaces/task-options.interface.js';
import { MAX_DUE_DELAY_MS } from '../config/duration.js';
import { MAX_TIMER_MS } from './timer-delay.js';

type DurationOption = 'retryDelayMs' | 'retryMaxDelayMs' | 'delayMs' | 'timeoutMs' | 'ttlMs' | 'resultTtlMs' | 'dedupeWindowMs';

/**
 * Bounds of each duration in ms. Only `timeoutMs` is waited for by a timer, which fires at once
 * past MAX_TIMER_MS; the others are stored as due times, which may lie years ahead.
 */
const DURATIONS: Readonly<Record<DurationOption, { min: 0 | 1; max: number }>> = {
  retryDelayMs: { min: 0, max: MAX_DUE_DELAY_MS },
  retryMaxDelayMs: { min: 0, max: MAX_DUE_DELAY_MS },
  delayMs: { min: 0, max: MAX_DUE_DELAY_MS },
  timeoutMs: { min: 1, max: MAX_TIMER_MS },
  ttlMs: { min: 1, max: MAX_DUE_DELAY_MS },
  resultTtlMs: { min: 1, max: MAX_DUE_DELAY_MS },
  dedupeWindowMs: { min: 1, max: MAX_DUE_DELAY_MS },
};
const MAXIMA: Readonly<Record<number, string>> = {
  [MAX_TIMER_MS]: `at most ${MAX_TIMER_MS} ms (about 24.8 days), the longest delay a Node timer waits`,
  [MAX_DUE_DELAY_MS]: `at most ${MAX_DUE_DELAY_MS} ms (100 years)`,
};
const KNOWN_OPTIONS = new Set<string>([
  ...Object.keys(DURATIONS),
  'maxRetries',
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
  'runIn',
] satisfies (keyof TaskHandlerOptions)[]);
const WORKER_TYPES = new Set<string>(['async', 'thread', 'process'] satisfies WorkerType[]);

/** `@Task()` options: only handler options, each valid. Throws InvalidTaskOptionError naming option and value. */
export function validateHandlerOptions(taskName: string, options: TaskHandlerOptions): void {
  if (typeof options !== 'object' || options === null) throw new InvalidTaskOptionError(taskName, 'options', options, 'an object of @Task() options');
  for (const [option, value] of Object.entries(options)) {
    if (!HANDLER_OPTIONS.has(option)) {
      throw new InvalidTaskOptionError(taskName, option, value, `one of the @Task() options (${[...HANDLER_OPTIONS].join(', ')}); set per-call options in enqueue()`);
    }
  }
  const { runIn, ...runOptions } = options;
  if (runIn !== undefined && !WORKER_TYPES.has(runIn)) throw new InvalidTaskOptionError(taskName, 'runIn', runIn, '"async", "thread" or "process"');
  validateTaskOptions(taskName, runOptions);
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
  for (const [option, { min, max }] of Object.entries(DURATIONS) as [DurationOption, (typeof DURATIONS)[DurationOption]][]) {
    const value = options[option];
    if (value === undefined) continue;
    if (!(Number.isSafeInteger(value) && value >= min)) fail(option, min === 0 ? 'an integer >= 0' : 'an integer > 0 (ms)');
    if (value > max) fail(option, MAXIMA[max]!);
  }
  if (options.maxRetries !== undefined && !(Number.isSafeInteger(options.maxRetries) && options.maxRetries >= 0)) fail('maxRetries', 'an integer >= 0');
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
