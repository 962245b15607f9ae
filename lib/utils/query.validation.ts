import { InvalidQueryError } from '../errors/omniq.errors.js';
import { TASK_EVENT_TYPES } from '../models/event.model.js';
import { TASK_STATUSES } from '../models/task.model.js';
import type { EventQuery } from '../storage/event.store.js';
import type { TaskListFilter, TaskSelector } from '../storage/task-queue.store.js';
import type { WaitForResultOptions } from '../result.waiter.js';
import { MAX_TIMER_MS } from './timer-delay.js';

type Check = (value: unknown) => boolean;

const nonEmptyString: Check = (v) => typeof v === 'string' && v.length > 0;
const integerAtLeast =
  (min: number): Check =>
  (v) =>
    Number.isSafeInteger(v) && (v as number) >= min;
const validDate: Check = (v) => v instanceof Date && !Number.isNaN(v.getTime());
const oneOf =
  (allowed: readonly string[]): Check =>
  (v) =>
    typeof v === 'string' && allowed.includes(v);

interface Rule {
  check: Check;
  expected: string;
}

const STATUS: Rule = { check: oneOf(TASK_STATUSES), expected: `a task status (${TASK_STATUSES.join(', ')}) or an array of them` };

const SELECTOR_RULES: Readonly<Record<keyof TaskSelector, Rule>> = {
  queue: { check: nonEmptyString, expected: 'a queue name' },
  name: { check: nonEmptyString, expected: 'a task name' },
  status: { check: (v) => STATUS.check(v) || (Array.isArray(v) && v.length > 0 && v.every(STATUS.check)), expected: STATUS.expected },
};

const TASK_LIST_RULES: Readonly<Record<keyof TaskListFilter, Rule>> = {
  ...SELECTOR_RULES,
  after: { check: nonEmptyString, expected: "a cursor (a page's nextCursor)" },
  offset: { check: integerAtLeast(0), expected: 'an integer >= 0' },
  // 0 asks for the total alone.
  limit: { check: integerAtLeast(0), expected: 'an integer >= 0' },
};

const EVENT_QUERY_RULES: Readonly<Record<keyof EventQuery, Rule>> = {
  taskId: { check: nonEmptyString, expected: 'a task id' },
  scheduleId: { check: nonEmptyString, expected: 'a schedule id' },
  queue: { check: nonEmptyString, expected: 'a queue name' },
  types: {
    check: (v) => Array.isArray(v) && v.length > 0 && v.every(oneOf(TASK_EVENT_TYPES)),
    expected: `an array of event types (${TASK_EVENT_TYPES.join(', ')})`,
  },
  since: { check: validDate, expected: 'a valid Date' },
  until: { check: validDate, expected: 'a valid Date' },
  limit: { check: integerAtLeast(1), expected: 'an integer >= 1' },
  order: { check: oneOf(['asc', 'desc']), expected: '"asc" or "desc"' },
};

const WAIT_RULES: Readonly<Record<keyof WaitForResultOptions, Rule>> = {
  // Waited for by a timer, which fires at once past MAX_TIMER_MS.
  timeoutMs: {
    check: (v) => integerAtLeast(0)(v) && (v as number) <= MAX_TIMER_MS,
    expected: `an integer from 0 to ${MAX_TIMER_MS} ms (about 24.8 days, the longest delay a Node timer waits)`,
  },
  signal: { check: (v) => v instanceof AbortSignal, expected: 'an AbortSignal' },
};

/**
 * Checks a query against its rules, so that a typo (`status: 'faild'`, `since: '2026-01-01'`)
 * fails naming the option instead of quietly matching nothing, and so that every backend sees
 * only queries they all answer the same way.
 */
function validate(method: string, query: object, rules: Readonly<Record<string, Rule>>): void {
  if (typeof query !== 'object' || query === null) throw new InvalidQueryError(method, 'query', query, 'an object of options');
  for (const [option, value] of Object.entries(query)) {
    const rule = rules[option];
    if (!rule) throw new InvalidQueryError(method, option, value, `one of ${Object.keys(rules).join(', ')}`);
    if (value !== undefined && !rule.check(value)) throw new InvalidQueryError(method, option, value, rule.expected);
  }
}

/** @param method the public method the filter came through, for the message. */
export function validateTaskListFilter(filter: TaskListFilter, method = 'listTasks'): void {
  validate(method, filter, TASK_LIST_RULES);
}

/** A bulk call's selector; `method` names the call in the message. */
export function validateTaskSelector(selector: TaskSelector, method: string): void {
  validate(method, selector, SELECTOR_RULES);
}

/** A queue name given to a queue method. */
export function validateQueueName(queue: unknown, method: string): void {
  if (!nonEmptyString(queue)) throw new InvalidQueryError(method, 'queue', queue, 'a queue name');
}

export function validateEventQuery(query: EventQuery): void {
  validate('getEvents', query, EVENT_QUERY_RULES);
}

/** `waitForResult()` options: a typo (`timeout`) or a timeout no timer can wait for fails at once. */
export function validateWaitOptions(options: WaitForResultOptions): void {
  validate('waitForResult', options, WAIT_RULES);
}

export function validatePurgeCutoff(before: Date): void {
  if (!validDate(before)) throw new InvalidQueryError('purgeHistory', 'before', before, 'a valid Date');
}
