import { randomUUID } from 'node:crypto';
import type { TaskEvent } from '../models/event.model.js';
import type { ResultRecord } from '../models/result.model.js';
import type { ScheduleRecord } from '../models/schedule.model.js';
import type { NewTask, TaskError } from '../models/task.model.js';
import type { QueueStatusCount, ReserveRequest, WriteScope } from '../storage/task-queue.store.js';

/** A due task in queue `default` with an empty payload; `runAt` defaults to `createdAt`. */
export function newTask(overrides: Partial<NewTask> = {}): NewTask {
  const createdAt = overrides.createdAt ?? new Date();
  return {
    id: randomUUID(),
    name: 'conformance.task',
    queue: 'default',
    priority: 0,
    payload: { format: 'omniq-json/1', data: '{}' },
    createdAt,
    runAt: createdAt,
    maxRetries: 3,
    retryDelayMs: 1000,
    retryBackoff: 'exponential',
    retryMaxDelayMs: 60_000,
    storeResult: true,
    dependsOn: [],
    onParentFailure: 'cancel',
    tags: [],
    ...overrides,
  };
}

export function newResult(overrides: Partial<ResultRecord> = {}): ResultRecord {
  const completedAt = overrides.completedAt ?? new Date();
  return {
    taskId: randomUUID(),
    taskName: 'conformance.task',
    queue: 'default',
    status: 'success',
    value: { format: 'omniq-json/1', data: '{"ok":true}' },
    createdAt: new Date(completedAt.getTime() - 1000),
    startedAt: new Date(completedAt.getTime() - 500),
    completedAt,
    durationMs: 500,
    workerId: 'worker-1',
    attempts: 1,
    ...overrides,
  };
}

export function newEvent(overrides: Partial<TaskEvent> = {}): TaskEvent {
  return {
    id: randomUUID(),
    type: 'enqueued',
    timestamp: new Date(),
    taskId: randomUUID(),
    taskName: 'conformance.task',
    queue: 'default',
    ...overrides,
  };
}

/** An active interval schedule due in a second. */
export function newSchedule(overrides: Partial<ScheduleRecord> = {}): ScheduleRecord {
  const now = new Date();
  return {
    id: `schedule-${randomUUID()}`,
    kind: 'interval',
    everyMs: 1_000,
    taskName: 'conformance.task',
    payload: { format: 'omniq-json/1', data: '{}' },
    missed: 'skip',
    overlap: false,
    source: 'runtime',
    specHash: 'hash-1',
    status: 'active',
    nextRunAt: new Date(now.getTime() + 1_000),
    runCount: 0,
    createdAt: now,
    updatedAt: now,
    ...overrides,
  };
}

export function reserveRequest(overrides: Partial<ReserveRequest> = {}): ReserveRequest {
  return { queues: ['default'], workerId: 'worker-1', limit: 10, leaseMs: 30_000, ...overrides };
}

export function taskError(message = 'boom'): TaskError {
  return { name: 'Error', message, stack: `Error: ${message}\n    at conformance` };
}

/**
 * Times as offsets from one instant taken when the test starts, so tests pass explicit `now`
 * values instead of waiting for time to pass.
 */
export function testClock(): (offsetMs?: number) => Date {
  const base = Date.now();
  return (offsetMs = 0) => new Date(base + offsetMs);
}

/** The scope of an engine that writes results and events in the task's own step. */
export const WRITE_ALL: WriteScope = Object.freeze({ results: true, events: true });

export const ids = (records: readonly { id: string }[]): string[] => records.map((record) => record.id);

/** Counts as a `queue/status → count` map, so a comparison ignores row order. */
export function countMap(counts: readonly QueueStatusCount[]): Record<string, number> {
  return Object.fromEntries(counts.map((row) => [`${row.queue}/${row.status}`, row.count]));
}

/** The ids that occur more than once, to name them when a task was handed out twice. */
export function duplicates(values: readonly string[]): string[] {
  const seen = new Set<string>();
  const twice = new Set<string>();
  for (const value of values) (seen.has(value) ? twice : seen).add(value);
  return [...twice];
}

/**
 * `'equal'`, or where two texts first differ (lengths and code units): comparing megabyte
 * payloads with toEqual would print them whole.
 */
export function textDifference(actual: string | undefined, expected: string): string {
  if (actual === expected) return 'equal';
  if (actual === undefined) return `missing (expected ${expected.length} code units)`;
  let at = 0;
  while (at < actual.length && at < expected.length && actual.charCodeAt(at) === expected.charCodeAt(at)) at += 1;
  const unit = (text: string): string => (at < text.length ? `0x${text.charCodeAt(at).toString(16)}` : 'end');
  return `lengths ${actual.length} / ${expected.length}, first difference at code unit ${at}: got ${unit(actual)}, expected ${unit(expected)}`;
}

/** A `maxLapses` no test reaches: reclaimLapsed sends every lapsed task back. */
export const NO_LAPSE_LIMIT = Number.MAX_SAFE_INTEGER;
