import type { TaskRecord, TaskStatus } from '../../models/task.model.js';
import type { CorruptRecordError, Change, MutateOptions, MutateOutcome } from './kv-records.js';
import type { TaskBody, TaskVersion } from './kv-task-codec.js';

/*
 * What the key-value task engine needs of its storage for tasks: the task records with their
 * compare-and-swap, an index to find them by, links from parents to dependents. A folder keeps
 * them as files and markers (see TaskFiles), a NATS engine as keys of a KV bucket and an
 * in-memory index fed by a watch of it.
 */

/** What listing and counting need of a task, kept for final tasks instead of the whole record. */
export interface TaskSummary {
  /** The task's record key (see recordKey): breaks ties of `seq` between processes, in cursors too. */
  key: string;
  id: string;
  queue: string;
  name: string;
  status: TaskStatus;
  seq: number;
  gen: number;
  completedAtMs: number | undefined;
}

/** The summary of a task's version stored under `key`. */
export const summarize = (key: string, { gen, body: { seq, task } }: TaskVersion): TaskSummary => ({
  key,
  id: task.id,
  queue: task.queue,
  name: task.name,
  status: task.status,
  seq,
  gen,
  completedAtMs: task.completedAt?.getTime(),
});

/**
 * This process's view of every task: full versions of the live ones (pending, scheduled,
 * running, retrying) for reserve and maintenance, summaries of the final ones for list, counts
 * and purge. Between refreshes it may be stale in any way (a task ended, requeued, deleted or
 * created by another process meanwhile): every write made from it is a compare-and-swap that
 * fails on a stale version, and callers that need the truth read the record.
 */
export interface TaskIndex {
  /**
   * Catches up with the live tasks: once it resolves, every task write that landed (in any
   * process) before the call began is reflected in versions(), liveVersion() and isLive().
   * Concurrent calls may share one catch-up, as long as that one began after each call did.
   */
  refreshLive(): Promise<void>;
  /** Like refreshLive, for every task (summaries() and finalStatus() too). */
  refreshAll(): Promise<void>;
  /** The indexed live tasks (damaged records left out); callers must not modify them. */
  versions(): TaskVersion[];
  liveVersion(id: string): TaskVersion | undefined;
  /** Every indexed task (damaged records left out), each once at its newest known version. */
  summaries(): TaskSummary[];
  /** Whether the task was live when last seen. */
  isLive(id: string): boolean;
  /**
   * The final status this process last saw the task in, if any. Success is final for good, so
   * never stale; the other final statuses hold until a requeue, which makes the task live again.
   */
  finalStatus(id: string): TaskStatus | undefined;
}

/**
 * The task records of one project, by task id. Atomicity is per task (KvRecords); a write this
 * process lands is in its index at once.
 *
 * Damaged records: a record that is no task record at all is taken out of the queue by the
 * implementation (kept for inspection where it can be), logged once, and reads and mutates as
 * missing. A record of another format throws CorruptRecordError with `foreign` set. A record
 * with a bad field reads flagged (`task.damaged`, see reviveTaskBody).
 */
export interface TaskRecords {
  readonly index: TaskIndex;
  /** Stores a new task at the enqueue order `seq`; false when a task with its id exists. */
  create(task: TaskRecord, seq: number): Promise<boolean>;
  /** Whether a record is stored under the task's id, readable or not. */
  exists(id: string): Promise<boolean>;
  /** The current version; undefined when missing. */
  read(id: string): Promise<TaskVersion | undefined>;
  /**
   * Changes one task by compare-and-swap (see KvRecords.mutate). Without `known` it may start
   * from the index's version, which the swap verifies like any cached read.
   */
  mutate(id: string, change: Change<TaskBody>, options: MutateOptions<TaskBody>): Promise<MutateOutcome<TaskBody>>;
  /**
   * The tasks whose current version holds pending effects (an outbox, see Outbox), each read
   * during the call: none that held some when the call began and still does is missed. Cheap
   * when there are none: recovery and the result and event stores' reads call it often.
   */
  withPending(): Promise<TaskVersion[]>;
  /** False only when the task's record holds no pending effects (true may be stale). */
  mayHavePending(id: string): Promise<boolean>;
  /** Logs an unreadable task record once per process, however often it is met. */
  reportCorrupt(error: CorruptRecordError): void;
  /** Logs, once per process, a damaged record that reserve set aside (ended failed). */
  reportSetAside(task: TaskRecord): void;
  /**
   * The error to throw for a failed write made to store task `taskId` (its record, key or
   * links): the storage may wrap its own errors to name the record. Other errors as they are.
   */
  writeError(error: unknown, taskId: string): unknown;
}

/** Links from each parent to the tasks that list it in `dependsOn`. */
export interface TaskLinks {
  /** Links `childId` under each of its parents; called before the child is stored (and may be again). */
  link(childId: string, parentIds: readonly string[]): Promise<void>;
  /** Removes the links of a deleted task. */
  unlink(childId: string, parentIds: readonly string[]): Promise<void>;
  /**
   * The tasks that list `parentId` in dependsOn, whatever their status, in `seq` order, each at
   * a version read during the call. Every child whose link was made before the call began is
   * there if it is stored and readable. A link whose child is missing is skipped (and may be
   * dropped once older than CLAIM_STALE_MS: an enqueue that died half-way left it).
   */
  children(parentId: string): Promise<TaskVersion[]>;
}

/**
 * What TaskLinks.children returns of the versions its links led to: a link can outlive its
 * child, whose id a new task then took, so the record decides; in `seq` order.
 */
export const dependentsOf = (parentId: string, linked: readonly (TaskVersion | undefined)[]): TaskVersion[] =>
  linked
    .filter((version): version is TaskVersion => version?.body.task.dependsOn.includes(parentId) ?? false)
    .sort((a, b) => a.body.seq - b.body.seq);
