import type { TaskEvent } from '../../models/event.model.js';
import type { ResultRecord } from '../../models/result.model.js';
import type { TaskRecord } from '../../models/task.model.js';
import { unrunOutcome } from '../../storage/outcomes.js';
import type { WriteScope } from '../../storage/task-queue.store.js';
import type { SqliteEventStore } from './sqlite-event.store.js';
import type { SqliteResultStore } from './sqlite-result.store.js';
import type { SqliteCall } from './sqlite-storage.error.js';
import { TaskCountChanges, type SqliteTaskCounts } from './sqlite-task-counts.js';
import type { SqliteWriter } from './sqlite-writer.js';

/** Where a task-queue transition's side writes go: the engine's counts, results and events, and its notifications. */
export interface TaskOutputs {
  readonly writer: SqliteWriter;
  readonly counts: SqliteTaskCounts;
  readonly results: SqliteResultStore;
  readonly events: SqliteEventStore;
}

/**
 * What one task-queue transaction writes beside the task rows: the count changes, and the
 * results and events its WriteScope asks for, gathered while it runs and written together at its
 * end (`finish`), inside the same transaction.
 */
export class TaskWrite {
  readonly counts = new TaskCountChanges();
  private results: ResultRecord[] | undefined;
  private events: TaskEvent[] | undefined;

  constructor(
    private readonly outputs: TaskOutputs,
    readonly scope: WriteScope,
    /** The transaction's clock, in epoch ms. */
    readonly now: number,
  ) {}

  /** A result the caller handed in (a settlement's), stored when the scope says so. */
  result(result: ResultRecord): void {
    if (this.scope.results) (this.results ??= []).push(result);
  }

  /** An event the store built, stored when the scope says so. */
  event(event: TaskEvent): void {
    if (this.scope.events) (this.events ??= []).push(event);
  }

  /** Events the caller handed in (a settlement's), stored when the scope says so. */
  eventsOf(events: readonly TaskEvent[]): void {
    if (!this.scope.events) return;
    const gathered = (this.events ??= []);
    for (const event of events) gathered.push(event);
  }

  /** A task this transaction ended without running it (cancelled or expired, as stored): its event and result, as the scope says. */
  endedUnrun(task: TaskRecord): void {
    if (!this.scope.results && !this.scope.events) return;
    const { event, result } = unrunOutcome(task, new Date(this.now));
    this.event(event);
    if (result !== undefined) this.result(result);
  }

  wake(queue: string): void {
    this.outputs.writer.wakeQueue(queue);
  }

  /** Runs `effect` once the transaction committed (not at all if it rolls back). */
  afterCommit(effect: () => void): void {
    this.outputs.writer.onCommit(effect);
  }

  /** Writes what was gathered; call last, inside the transaction. */
  finish(): void {
    this.outputs.counts.apply(this.counts);
    if (this.results !== undefined) this.outputs.results.writeRows(this.results);
    if (this.events !== undefined) this.outputs.events.writeRows(this.events);
  }
}

/**
 * Runs `work` in one write transaction with a TaskWrite of its own, finished (side writes done)
 * before the commit; synchronous when the lock was free (see SqliteWriter.write). Its clock is
 * `now`, or the time the transaction got the lock.
 */
export function writeTasks<R>(
  outputs: TaskOutputs,
  call: SqliteCall,
  scope: WriteScope,
  now: number | undefined,
  work: (write: TaskWrite) => R,
): R | Promise<R> {
  return outputs.writer.write(call, () => inTaskWrite(outputs, scope, now ?? Date.now(), work));
}

/** `writeTasks` as part of the write transaction the caller is in (a schedule fire enqueueing its task). */
export function joinTaskWrite<R>(outputs: TaskOutputs, scope: WriteScope, work: (write: TaskWrite) => R): R {
  return outputs.writer.join(() => inTaskWrite(outputs, scope, Date.now(), work));
}

function inTaskWrite<R>(outputs: TaskOutputs, scope: WriteScope, now: number, work: (write: TaskWrite) => R): R {
  const write = new TaskWrite(outputs, scope, now);
  const result = work(write);
  write.finish();
  return result;
}
