import { DuplicateTaskIdError, ParentEndedError, UnknownParentError } from '../../errors/store.errors.js';
import { FINAL_TASK_STATUSES, type NewTask, type TaskStatus } from '../../models/task.model.js';
import type { EnqueueOutcome } from '../../storage/task-queue.store.js';
import type { SqliteTaskGraphQueries } from './sqlite-task-graph.queries.js';
import { insertValues } from './sqlite-task-row.js';
import type { TaskWrite } from './sqlite-task-write.js';
import type { SqliteTaskQueries } from './sqlite-task.queries.js';

interface Parent {
  readonly id: string;
  readonly met: boolean;
}

const FINAL = new Set<string>(FINAL_TASK_STATUSES);
const ENDED_BADLY = new Set<string>(['failed', 'cancelled', 'expired']);
const NO_PARENTS: readonly Parent[] = Object.freeze([]);

/** Whether a parent in `status` (undefined: not stored yet, it comes in the same call) no longer holds its dependent back. */
const parentMet = (status: string | undefined, runOnFailure: boolean): boolean =>
  status === 'success' || (runOnFailure && status !== undefined && FINAL.has(status));

/** Whether an error is SQLite's for a row breaking a UNIQUE constraint (read by shape: instanceof fails across realms). */
const isUniqueViolation = (error: unknown): boolean => (error as { code?: unknown } | null)?.code === 'SQLITE_CONSTRAINT_UNIQUE';

/**
 * Stores new tasks inside the caller's write transaction, checking them there: the write lock is
 * held from the first check to the last insert, so no parent can end and no key can be taken in
 * between, by this process or another. A failed check throws, and the caller's transaction rolls
 * back whatever the call stored before it.
 */
export class SqliteTaskInserter {
  constructor(
    private readonly sql: SqliteTaskQueries,
    private readonly graph: SqliteTaskGraphQueries,
  ) {}

  insert(tasks: readonly NewTask[], write: TaskWrite): EnqueueOutcome[] {
    const inCall = new Set<string>();
    for (const task of tasks) {
      if (inCall.has(task.id)) throw new DuplicateTaskIdError(task.id);
      inCall.add(task.id);
    }
    return tasks.map((task) => this.insertOne(task, inCall, write));
  }

  private insertOne(task: NewTask, inCall: ReadonlySet<string>, write: TaskWrite): EnqueueOutcome {
    const holder = task.key === undefined ? undefined : this.sql.keyHolder(task.key, write.now);
    if (holder !== undefined) {
      // Not stored, but an id already taken is still the caller's mistake.
      if (this.sql.idTaken(task.id)) throw new DuplicateTaskIdError(task.id);
      return { id: holder, created: false };
    }
    const runOnFailure = task.onParentFailure === 'run';
    const parents = this.parents(task, inCall, runOnFailure);
    const blocked = parents.some((parent) => !parent.met);
    const ready = !blocked && task.runAt.getTime() <= write.now;
    const status: TaskStatus = task.runAt.getTime() > task.createdAt.getTime() ? 'scheduled' : 'pending';
    let seq: number | bigint;
    try {
      seq = this.sql.insert(insertValues(task, status, ready, blocked));
    } catch (error) {
      // The id column is the only unique one: checking the constraint costs nothing, a lookup first would cost one per task.
      if (isUniqueViolation(error)) throw new DuplicateTaskIdError(task.id);
      throw error;
    }
    for (const parent of parents) this.graph.insertDependency(parent.id, seq, runOnFailure, parent.met);
    write.counts.move(task.queue, undefined, status);
    if (ready) write.wake(task.queue);
    return { id: task.id, created: true };
  }

  /** The task's distinct parents and whether each is met; throws when one is unknown or, for onParentFailure `cancel`, ended badly. */
  private parents(task: NewTask, inCall: ReadonlySet<string>, runOnFailure: boolean): readonly Parent[] {
    if (task.dependsOn.length === 0) return NO_PARENTS;
    const unknown: string[] = [];
    const parents = [...new Set(task.dependsOn)].map((id): Parent => {
      const status = this.sql.status(id);
      if (status === undefined && !inCall.has(id)) unknown.push(id);
      if (!runOnFailure && status !== undefined && ENDED_BADLY.has(status)) throw new ParentEndedError(task.id, id, status);
      return { id, met: parentMet(status, runOnFailure) };
    });
    if (unknown.length > 0) throw new UnknownParentError(task.id, unknown);
    return parents;
  }
}
