import type { TaskRecord } from '../../models/task.model.js';
import { unrunOutcome } from '../../storage/outcomes.js';
import type { EnqueueOutcome, WriteScope } from '../../storage/task-queue.store.js';
import { newUuid } from '../../utils/uuid.js';
import type { PendingEffects, TaskBody, TaskVersion } from './kv-task-codec.js';

/** What applying entries did, for the report of the call that wrote them. */
export interface OutboxReport {
  /** Dependents ended or revived, as they are now (copies), in the order they changed. */
  changed: TaskRecord[];
  /** Outcomes of the root entry's `enqueue` tasks, in order. */
  enqueued: EnqueueOutcome[];
}

/** An entry to apply: the task it sits in, and the report its effects (and their effects) go to. */
export interface OutboxItem {
  taskId: string;
  entry: PendingEffects;
  report: OutboxReport;
  /**
   * The landed version that holds the entry, when the writer has it: clearing the entry swaps
   * from it instead of reading the record first (a stale one only costs that read after all).
   */
  written?: TaskVersion;
}

export const newReport = (): OutboxReport => ({ changed: [], enqueued: [] });

/** A new entry stamped now; `effects` says what it holds. */
export const pendingEntry = (scope: WriteScope, effects: Omit<PendingEffects, 'id' | 'at' | 'scope'>): PendingEffects => ({
  id: newUuid(),
  at: Date.now(),
  scope: { results: scope.results, events: scope.events },
  ...effects,
});

/** The entry of a task a transition ends unrun (cancelled, expired): its unrun result and event as `scope` says, and its dependents. */
export function unrunEntry(task: TaskRecord, scope: WriteScope, now: Date): PendingEffects {
  const unrun = unrunOutcome(task, now);
  return pendingEntry(scope, {
    dependents: true,
    result: scope.results ? unrun.result : undefined,
    events: scope.events ? [unrun.event] : undefined,
  });
}

/** The entry a landed write appended (transitions append theirs at the end). */
export const lastEntry = (version: TaskVersion): PendingEffects => version.body.pending!.at(-1)!;

/**
 * The entries change functions append, by task id. A change may run several times before its
 * write lands; the entry recorded last for a task is the one its landed version holds.
 */
export class EntryLog {
  private readonly entries = new Map<string, PendingEffects>();

  /** The transition of `body` to `task`, with `entry` for what lies outside the task's record. */
  append(body: TaskBody, task: TaskRecord, entry: PendingEffects): TaskBody {
    this.entries.set(task.id, entry);
    return { ...body, task, pending: [...(body.pending ?? []), entry] };
  }

  /** A change that appends nothing this time (an earlier try of it may have). */
  plain(body: TaskBody): TaskBody {
    this.entries.delete(body.task.id);
    return body;
  }

  /** The items to drain for landed versions, each reporting to `reportOf(its index)`. */
  items(landed: readonly TaskVersion[], reportOf: (index: number) => OutboxReport): OutboxItem[] {
    return landed.flatMap((version, index) => {
      const entry = this.entries.get(version.body.task.id);
      return entry ? [{ taskId: version.body.task.id, entry, report: reportOf(index), written: version }] : [];
    });
  }
}
