import { InvalidTaskOptionError } from '../../errors/omniq.errors.js';
import { DuplicateTaskIdError, EnqueueIncompleteError, MAX_ATOMIC_ENQUEUE, ParentEndedError, UnknownParentError } from '../../errors/store.errors.js';
import { LIVE_TASK_STATUSES, type NewTask, type TaskRecord, type TaskStatus } from '../../models/task.model.js';
import type { EnqueueOutcome } from '../../storage/task-queue.store.js';
import { mapLimit } from './kv-concurrency.js';
import type { HolderState, IdempotencyKeys } from './kv-idempotency-keys.js';
import type { BatchJournals, Journal, JournalEntry } from './kv-journals.js';
import { DELETE } from './kv-records.js';
import { cloneTask, type TaskBody } from './kv-task-codec.js';
import type { TaskLinks } from './kv-task-records.js';
import type { KvTasks } from './kv-tasks.js';
import { ENDED_BADLY } from './kv-task-transitions.js';

const LIVE = new Set<TaskStatus>(LIVE_TASK_STATUSES);

type Insertion = { outcome: EnqueueOutcome; record?: TaskRecord } | 'id taken';
type Stored = Exclude<Insertion, 'id taken'>;

/** UTF-16 text that has no UTF-8 form: ids become record keys (or hashes of UTF-8), keys hashes. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const UNNAMEABLE = 'text without NUL characters or lone surrogates (ids and keys become file names on the file backend, record keys on NATS)';
const unnameable = (text: string): boolean => text.includes('\u0000') || LONE_SURROGATE.test(text);

/**
 * How a call's new tasks are stored: every check first, then the tasks in chunks of at most
 * MAX_ATOMIC_ENQUEUE, parents before the children that depend on them in the same call.
 *
 * Each chunk is all-or-nothing across a crash through a batch journal (see BatchJournals): a
 * process killed mid-chunk leaves either nothing of it or a journal that recovery rolls forward,
 * never a part of the chunk that a retry then trips over. Chunks rather than one journal for the
 * whole call keep each journal write short, as the contract allows (TaskQueueStore.enqueue).
 *
 * Checks read the ids and parents the call names; a failed check stores nothing. Another
 * process can still store one of the call's ids between the check and the insert (ids are
 * UUIDs, so only a caller reusing ids does that): that chunk is then given up, its tasks stored
 * by then deleted again, except one a worker already took.
 */
export class TaskInserter {
  private lastSeq = 0;

  constructor(
    private readonly tasks: KvTasks,
    private readonly keys: IdempotencyKeys,
    private readonly dependents: TaskLinks,
    private readonly journals: BatchJournals,
  ) {}

  /** Stores the call's tasks; `landed` runs after each chunk with the tasks it stored, before the next chunk. */
  async insert(tasks: readonly NewTask[], landed: (created: TaskRecord[]) => Promise<void>): Promise<EnqueueOutcome[]> {
    await this.check(tasks);
    const seqs = tasks.map(() => this.nextSeq());
    // Only the first task of the call with a given key asks for it; later ones get its answer.
    const firstWithKey = new Map<string, number>();
    const askers = new Set<number>();
    tasks.forEach((task, index) => {
      if (task.key !== undefined && firstWithKey.has(task.key)) return;
      if (task.key !== undefined) firstWithKey.set(task.key, index);
      askers.add(index);
    });
    const outcomes = new Array<EnqueueOutcome | undefined>(tasks.length);
    const order = waves(tasks, tasks.map((_, index) => index)).flat();
    for (let start = 0; start < order.length; start += MAX_ATOMIC_ENQUEUE) {
      const chunk = order.slice(start, start + MAX_ATOMIC_ENQUEUE).filter((index) => askers.has(index));
      try {
        const stored = await this.insertChunk(chunk.map((index) => ({ task: tasks[index]!, seq: seqs[index]! })));
        stored.forEach(({ outcome }, position) => (outcomes[chunk[position]!] = outcome));
        await landed(stored.flatMap(({ record }) => (record ? [record] : [])));
      } catch (error) {
        const done = outcomes.flatMap((outcome) => (outcome ? [outcome] : []));
        if (done.length === 0) throw error;
        throw new EnqueueIncompleteError(done, tasks.length, error);
      }
    }
    return tasks.map((task, index) => outcomes[index] ?? { id: outcomes[firstWithKey.get(task.key as string)!]!.id, created: false });
  }

  /**
   * Finishes the chunks of processes that died mid-enqueue (see BatchJournals): rolls committed
   * ones forward and aborted ones back. Returns the tasks it stored, and those of the journal the
   * dead writer had stored already: none of them was reported to anyone.
   */
  async recover(): Promise<TaskRecord[]> {
    const created: TaskRecord[] = [];
    for (const journal of await this.journals.abandoned()) {
      if (journal.aborted) {
        await this.rollBack(journal.entries);
        await this.journals.end(journal);
        continue;
      }
      try {
        for (const { record } of await this.apply(journal)) if (record) created.push(record);
      } catch (error) {
        // Another task took one of its ids: given up, as its writer would have.
        if (!(error instanceof DuplicateTaskIdError)) throw error;
      }
    }
    return created;
  }

  private async insertChunk(entries: JournalEntry[]): Promise<Stored[]> {
    if (entries.length === 0) return [];
    if (entries.length > 1) return this.apply(await this.journals.begin(entries));
    // One task is one record, created atomically: it needs no journal (the hot path).
    const insertion = await this.insertOne(entries[0]!.task, entries[0]!.seq);
    if (insertion === 'id taken') throw new DuplicateTaskIdError(entries[0]!.task.id);
    return [insertion];
  }

  /**
   * Stores every task of a committed journal not stored yet, parents first, and deletes the
   * journal; gives the whole chunk up when another task holds one of its ids.
   */
  private async apply(journal: Journal): Promise<Stored[]> {
    const { entries } = journal;
    const stored = new Array<Stored>(entries.length);
    try {
      for (const wave of waves(entries.map(({ task }) => task), entries.map((_, index) => index))) {
        await this.journals.keepFresh(journal);
        let taken: string | undefined;
        await mapLimit(wave, this.tasks.concurrency, async (index) => {
          const insertion = await this.insertOne(entries[index]!.task, entries[index]!.seq);
          if (insertion === 'id taken') taken ??= entries[index]!.task.id;
          else stored[index] = insertion;
        });
        if (taken !== undefined) throw new DuplicateTaskIdError(taken);
      }
    } catch (error) {
      await this.giveUp(journal);
      throw error;
    }
    await this.journals.end(journal);
    return stored;
  }

  /** Undoes a chunk: marked aborted first, so that recovery finishes the rollback after a crash. */
  private async giveUp(journal: Journal): Promise<void> {
    try {
      await this.journals.abort(journal);
      await this.rollBack(journal.entries);
      await this.journals.end(journal);
    } catch {
      // The disk refuses even this (full, read-only): the chunk's error, thrown next, is the one to report.
    }
  }

  /** Makes a requeued task hold its key again, unless another live task took it meanwhile. */
  async reclaimKey(task: TaskRecord): Promise<void> {
    if (task.key !== undefined) await this.keys.claim(task.key, task.id, (id) => this.holderState(id));
  }

  private async check(tasks: readonly NewTask[]): Promise<void> {
    const inBatch = new Set<string>();
    for (const task of tasks) {
      if (unnameable(task.id)) throw new InvalidTaskOptionError(task.name, 'id', task.id, UNNAMEABLE);
      if (task.key !== undefined && unnameable(task.key)) throw new InvalidTaskOptionError(task.name, 'key', task.key, UNNAMEABLE);
      if (inBatch.has(task.id)) throw new DuplicateTaskIdError(task.id);
      inBatch.add(task.id);
    }
    const stored = await mapLimit(tasks, this.tasks.concurrency, (task) => this.tasks.exists(task.id));
    const duplicate = stored.indexOf(true);
    if (duplicate >= 0) throw new DuplicateTaskIdError(tasks[duplicate]!.id);

    const outside = [...new Set(tasks.flatMap((task) => task.dependsOn.filter((id) => !inBatch.has(id))))];
    const statuses = new Map<string, TaskStatus>();
    await mapLimit(outside, this.tasks.concurrency, async (id) => {
      const status = (await this.tasks.read(id))?.body.task.status;
      if (status !== undefined) statuses.set(id, status);
    });
    for (const task of tasks) {
      const unknown = task.dependsOn.filter((id) => !inBatch.has(id) && !statuses.has(id));
      if (unknown.length > 0) throw new UnknownParentError(task.id, unknown);
      if (task.onParentFailure !== 'cancel') continue;
      const ended = task.dependsOn.find((id) => ENDED_BADLY.has(statuses.get(id) as TaskStatus));
      if (ended !== undefined) throw new ParentEndedError(task.id, ended, statuses.get(ended)!);
    }
  }

  /** Stores one task; a write the storage refuses (a full or read-only disk) rejects naming the record and the task. */
  private async insertOne(task: NewTask, seq: number): Promise<Insertion> {
    try {
      return await this.storeOne(task, seq);
    } catch (error) {
      throw this.tasks.records.writeError(error, task.id);
    }
  }

  private async storeOne(task: NewTask, seq: number): Promise<Insertion> {
    if (task.key !== undefined) {
      const holder = await this.keys.claim(task.key, task.id, (id) => this.holderState(id));
      if (holder !== task.id) return { outcome: { id: holder, created: false } };
    }
    const record = cloneTask({
      ...task,
      status: task.runAt.getTime() > task.createdAt.getTime() ? 'scheduled' : 'pending',
      attempts: 0,
      lapses: 0,
      updatedAt: task.createdAt,
    });
    // Linked first, so that no stored task is missing from its parents' dependents. A link left
    // by a lost race for the id names the winner, whose record decides whether it counts.
    await this.dependents.link(task.id, task.dependsOn);
    if (await this.tasks.create(record, seq)) return { outcome: { id: task.id, created: true }, record };
    // Stored from the same journal already (by its recoverer, or by its writer come back): ours.
    const existing = (await this.tasks.readOrReport(task.id))?.body;
    return existing?.seq === seq ? { outcome: { id: task.id, created: true }, record: existing.task } : 'id taken';
  }

  /** Deletes the tasks of a chunk given up, unless a worker or a cancel already changed one. */
  private async rollBack(entries: readonly JournalEntry[]): Promise<void> {
    await mapLimit(entries, this.tasks.concurrency, async ({ task, seq }) => {
      const untouched = (body: TaskBody): boolean =>
        body.seq === seq && body.task.attempts === 0 && body.task.updatedAt.getTime() === task.createdAt.getTime() && !body.pending;
      const outcome = await this.tasks.mutate(task.id, (body) => (untouched(body) ? DELETE : undefined), { onBusy: 'wait' });
      if (outcome.kind !== 'deleted') return;
      if (task.key !== undefined) await this.keys.release(task.key, task.id);
      await this.dependents.unlink(task.id, task.dependsOn);
    });
  }

  /**
   * Read from the holder's own record, so every process judges a key alike: an ended task keeps
   * holding it until its completedAt plus its dedupe window.
   */
  private async holderState(id: string): Promise<HolderState> {
    const task = (await this.tasks.readOrReport(id))?.body.task;
    if (task === undefined) return 'missing';
    if (LIVE.has(task.status)) return 'holds';
    const { completedAt, dedupeWindowMs } = task;
    if (completedAt === undefined || dedupeWindowMs === undefined) return 'released';
    return completedAt.getTime() + dedupeWindowMs > Date.now() ? 'holds' : 'released';
  }

  /** Enqueue order, also across processes: microseconds since the epoch, strictly increasing here. */
  private nextSeq(): number {
    this.lastSeq = Math.max(this.lastSeq + 1, Date.now() * 1000);
    return this.lastSeq;
  }
}

/**
 * The batch's tasks to store (`indices`), in waves: a task comes in a wave after those of its
 * parents in the batch. Tasks in a cycle (which the core rejects before) come last.
 */
function waves(tasks: readonly NewTask[], indices: readonly number[]): number[][] {
  const indexOf = new Map(indices.map((index) => [tasks[index]!.id, index]));
  const blockers = new Map<number, number>();
  const children = new Map<number, number[]>();
  for (const index of indices) {
    let count = 0;
    for (const parentId of new Set(tasks[index]!.dependsOn)) {
      const parent = indexOf.get(parentId);
      if (parent === undefined || parent === index) continue;
      count += 1;
      const siblings = children.get(parent);
      if (siblings === undefined) children.set(parent, [index]);
      else siblings.push(index);
    }
    blockers.set(index, count);
  }
  const result: number[][] = [];
  const placed = new Set<number>();
  for (let wave = indices.filter((index) => blockers.get(index) === 0); wave.length > 0; ) {
    result.push(wave);
    const next: number[] = [];
    for (const index of wave) {
      placed.add(index);
      for (const child of children.get(index) ?? []) {
        const left = blockers.get(child)! - 1;
        blockers.set(child, left);
        if (left === 0) next.push(child);
      }
    }
    wave = next.sort((a, b) => a - b);
  }
  const cyclic = indices.filter((index) => !placed.has(index));
  if (cyclic.length > 0) result.push(cyclic);
  return result;
}
