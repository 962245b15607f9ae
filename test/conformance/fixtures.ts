import { randomUUID } from 'node:crypto';
import type { TaskEvent } from '../../lib/models/event.model.js';
import type { ResultRecord } from '../../lib/models/result.model.js';
import type { NewTask, TaskError } from '../../lib/models/task.model.js';
import type { ReserveRequest, Unsubscribe } from '../../lib/storage/task-queue.store.js';

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

/**
 * A fresh store for each test, closed after it. Returns the accessor tests use; a factory must
 * hand out an empty store.
 */
export function useFreshStore<S extends { close(): Promise<void> }>(factory: () => Promise<S>): () => S {
  let store: S | undefined;
  beforeEach(async () => {
    store = await factory();
  });
  afterEach(async () => {
    await store?.close();
    store = undefined;
  });
  return () => {
    if (store === undefined) throw new Error('the store is only available inside a test');
    return store;
  };
}

/**
 * Resolves with the first value a listener registered through `subscribe` receives that passes
 * `accept`, then unsubscribes. Notifications may be asynchronous in remote backends, so tests
 * await this instead of checking right after the call.
 */
export function nextNotification<T>(
  subscribe: (listener: (value: T) => void) => Unsubscribe,
  accept: (value: T) => boolean = () => true,
): Promise<T> {
  return new Promise((resolve) => {
    const unsubscribe = subscribe((value) => {
      if (!accept(value)) return;
      unsubscribe();
      resolve(value);
    });
  });
}

export const ids = (records: readonly { id: string }[]): string[] => records.map((record) => record.id);
