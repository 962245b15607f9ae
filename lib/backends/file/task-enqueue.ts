import { DuplicateTaskIdError, ParentEndedError, UnknownParentError } from '../../errors/store.errors.js';
import { LIVE_TASK_STATUSES, type NewTask, type TaskRecord, type TaskStatus } from '../../models/task.model.js';
import type { EnqueueOutcome } from '../../storage/task-queue.store.js';
import { IO_CONCURRENCY, mapLimit } from './concurrency.js';
import type { HolderState, IdempotencyKeys } from './idempotency-keys.js';
import { cloneTask } from './task-codec.js';
import type { TaskDependents } from './task-dependents.js';
import type { TaskFiles } from './task-files.js';
import { ENDED_BADLY } from './task-transitions.js';
import { DELETE } from './versioned-files.js';

const LIVE = new Set<TaskStatus>(LIVE_TASK_STATUSES);

export interface Inserted {
  outcomes: EnqueueOutcome[];
  /** The tasks stored, as stored. */
  created: TaskRecord[];
}

type Insertion = { outcome: EnqueueOutcome; record?: TaskRecord } | 'id taken';

/**
 * How a batch of new tasks is stored: every check first, then the tasks, parents before the
 * children that depend on them in the same batch.
 *
 * Checks read the ids and parents the batch names; a failed check stores nothing. Another
 * process can still store one of the batch's ids between the check and the insert (ids are
 * UUIDs, so only a caller reusing ids does that): the tasks of the batch stored by then are
 * deleted again, except one a worker already took. A process killed mid-batch leaves a part of
 * it stored, but never a task whose parent in the batch is missing.
 */
export class TaskInserter {
  private lastSeq = 0;

  constructor(
    private readonly files: TaskFiles,
    private readonly keys: IdempotencyKeys,
    private readonly dependents: TaskDependents,
  ) {}

  async insert(tasks: readonly NewTask[]): Promise<Inserted> {
    await this.check(tasks);
    const seqs = tasks.map(() => this.nextSeq());
    // Only the first task of the batch with a given key asks for it; later ones get its answer.
    const firstWithKey = new Map<string, number>();
    const askers = tasks.flatMap((task, index) => {
      if (task.key === undefined) return [index];
      if (firstWithKey.has(task.key)) return [];
      firstWithKey.set(task.key, index);
      return [index];
    });
    const outcomes = new Array<EnqueueOutcome>(tasks.length);
    const created: TaskRecord[] = [];
    try {
      for (const wave of waves(tasks, askers)) {
        let taken: string | undefined;
        await mapLimit(wave, IO_CONCURRENCY, async (index) => {
          const insertion = await this.insertOne(tasks[index]!, seqs[index]!);
          if (insertion === 'id taken') {
            taken ??= tasks[index]!.id;
            return;
          }
          outcomes[index] = insertion.outcome;
          if (insertion.record) created.push(insertion.record);
        });
        if (taken !== undefined) throw new DuplicateTaskIdError(taken);
      }
    } catch (error) {
      await this.rollBack(created);
      throw error;
    }
    tasks.forEach((task, index) => {
      outcomes[index] ??= { id: outcomes[firstWithKey.get(task.key as string) as number]!.id, created: false };
    });
    return { outcomes, created };
  }

  /** Makes a requeued task hold its key again, unless another live task took it meanwhile. */
  async reclaimKey(task: TaskRecord): Promise<void> {
    if (task.key !== undefined) await this.keys.claim(task.key, task.id, (id) => this.holderState(id));
  }

  private async check(tasks: readonly NewTask[]): Promise<void> {
    const inBatch = new Set<string>();
    for (const task of tasks) {
      if (inBatch.has(task.id)) throw new DuplicateTaskIdError(task.id);
      inBatch.add(task.id);
    }
    const stored = await mapLimit(tasks, IO_CONCURRENCY, (task) => this.files.exists(task.id));
    const duplicate = stored.indexOf(true);
    if (duplicate >= 0) throw new DuplicateTaskIdError(tasks[duplicate]!.id);

    const outside = [...new Set(tasks.flatMap((task) => task.dependsOn.filter((id) => !inBatch.has(id))))];
    const statuses = new Map<string, TaskStatus>();
    await mapLimit(outside, IO_CONCURRENCY, async (id) => {
      const status = (await this.files.read(id))?.body.task.status;
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

  private async insertOne(task: NewTask, seq: number): Promise<Insertion> {
    if (task.key !== undefined) {
      const holder = await this.keys.claim(task.key, task.id, (id) => this.holderState(id));
      if (holder !== task.id) return { outcome: { id: holder, created: false } };
    }
    const record = cloneTask({
      ...task,
      status: task.runAt.getTime() > task.createdAt.getTime() ? 'scheduled' : 'pending',
      attempts: 0,
      updatedAt: task.createdAt,
    });
    // Linked first, so that no stored task is missing from its parents' dependents. A link left
    // by a lost race for the id names the winner, whose record decides whether it counts.
    await this.dependents.link(task.id, task.dependsOn);
    if (!(await this.files.create(record, seq))) return 'id taken';
    return { outcome: { id: task.id, created: true }, record };
  }

  /** Deletes the tasks a failed batch stored, unless a worker already changed one. */
  private async rollBack(created: readonly TaskRecord[]): Promise<void> {
    await mapLimit(created, IO_CONCURRENCY, async (record) => {
      const untouched = (task: TaskRecord): boolean => task.status === record.status && task.attempts === 0 && task.updatedAt.getTime() === record.updatedAt.getTime();
      const outcome = await this.files.mutate(record.id, (body) => (untouched(body.task) && !body.pending ? DELETE : undefined), { onBusy: 'wait' });
      if (outcome.kind !== 'deleted') return;
      if (record.key !== undefined) await this.keys.release(record.key, record.id);
      await this.dependents.unlink(record.id, record.dependsOn);
    });
  }

  /**
   * Read from the holder's own file, so every process judges a key alike: an ended task keeps
   * holding it until its completedAt plus its dedupe window.
   */
  private async holderState(id: string): Promise<HolderState> {
    const task = (await this.files.readOrReport(id))?.body.task;
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
