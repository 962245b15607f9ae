import { InvalidTaskOptionError } from '../../errors/omniq.errors.js';
import { DuplicateTaskIdError, ParentEndedError, UnknownParentError } from '../../errors/store.errors.js';
import { FINAL_TASK_STATUSES, type NewTask, type TaskStatus } from '../../models/task.model.js';
import type { EnqueueOutcome } from '../../storage/task-queue.store.js';
import { idsOf } from '../shared/task-ids.js';
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

/** String.prototype.isWellFormed (Node 20), which the ES2023 lib the project compiles against does not declare yet. */
const isWellFormed = (text: string): boolean => (text as string & { isWellFormed(): boolean }).isWellFormed();

/**
 * Throws for a task whose identifying text holds a lone surrogate. SQLite keeps text as UTF-8,
 * which cannot hold one: better-sqlite3 would store U+FFFD instead, and the task would come back
 * under another id, name or queue than it was given. (Payloads and other free text keep theirs,
 * see textValue; lists are JSON, which escapes them.)
 */
function assertStorableText(task: NewTask): void {
  const fields: Array<[option: string, value: string | undefined]> = [
    ['id', task.id],
    ['name', task.name],
    ['queue', task.queue],
    ['key', task.key],
    ['scheduleId', task.scheduleId],
    ...task.dependsOn.map((id): [string, string] => ['dependsOn', id]),
  ];
  for (const [option, value] of fields) {
    if (value !== undefined && !isWellFormed(value)) {
      throw new InvalidTaskOptionError(task.name, option, value, 'well-formed text: a lone surrogate cannot be stored in SQLite, whose text is UTF-8');
    }
  }
}

/**
 * Stores new tasks inside the caller's write transaction, checking them there: the write lock is
 * held from the first check to the last insert, so no parent can end and no key can be taken in
 * between, by this process or another. A failed check throws, and the caller's transaction rolls
 * back whatever the call stored before it. A call stored in chunks is checked whole first
 * (`checkAll`, outside any write), then each chunk again as it is stored.
 */
export class SqliteTaskInserter {
  constructor(
    private readonly sql: SqliteTaskQueries,
    private readonly graph: SqliteTaskGraphQueries,
  ) {}

  /** Stores `tasks`; `inCall` holds the ids of the whole call when they are a chunk of it (see `idsOf`). */
  insert(tasks: readonly NewTask[], write: TaskWrite, inCall: ReadonlySet<string> = idsOf(tasks)): EnqueueOutcome[] {
    return tasks.map((task) => this.insertOne(task, inCall, write));
  }

  /**
   * The checks `insert` makes, for tasks `from` to `to` of a call whose ids are `inCall`, without
   * storing anything: an id already stored, a parent unknown or (for onParentFailure `cancel`)
   * ended badly. Throws the error the first failing task would make `insert` throw.
   */
  check(tasks: readonly NewTask[], from: number, to: number, inCall: ReadonlySet<string>): void {
    const range = tasks.slice(from, to);
    // One read for the range's ids: a lookup per task would cost a statement each.
    const taken = this.sql.takenIds(range.map((task) => task.id));
    for (const task of range) {
      assertStorableText(task);
      if (taken.has(task.id)) throw new DuplicateTaskIdError(task.id);
      this.parents(task, inCall, task.onParentFailure === 'run');
    }
  }

  private insertOne(task: NewTask, inCall: ReadonlySet<string>, write: TaskWrite): EnqueueOutcome {
    assertStorableText(task);
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
