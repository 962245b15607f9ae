import type { TaskRecord } from '../../models/task.model.js';
import { IO_CONCURRENCY } from './kv-concurrency.js';
import { CorruptRecordError, type Change, type MutateOptions, type MutateOutcome } from './kv-records.js';
import type { TaskBody, TaskVersion } from './kv-task-codec.js';
import type { TaskIndex, TaskRecords } from './kv-task-records.js';
import { holdsLease } from './kv-task-transitions.js';

/** What `operation` resolves to; undefined when it meets an unreadable task record, which is reported. */
export async function unlessCorrupt<T>(records: Pick<TaskRecords, 'reportCorrupt'>, operation: Promise<T>): Promise<T | undefined> {
  try {
    return await operation;
  } catch (error) {
    if (!(error instanceof CorruptRecordError)) throw error;
    records.reportCorrupt(error);
    return undefined;
  }
}

/**
 * What `operation` resolves to; undefined when it meets a stored task that is no record at all (a
 * `damage` error that is not `foreign`), once `moveAside` has taken that one out of the queue.
 */
export async function unlessMovedAside<T, E extends CorruptRecordError>(
  operation: Promise<T>,
  damage: abstract new (...args: never[]) => E,
  moveAside: (error: E) => Promise<void>,
): Promise<T | undefined> {
  try {
    return await operation;
  } catch (error) {
    if (!(error instanceof damage) || error.foreign) throw error;
    await moveAside(error);
    return undefined;
  }
}

/** Like `read`, but an unreadable record is reported and counts as missing. */
export const readOrReport = (records: TaskRecords, id: string): Promise<TaskVersion | undefined> => unlessCorrupt(records, records.read(id));

/**
 * The engine's access to the task records: the storage's own operations, plus the ways the
 * engine writes tasks it found in the index (claims) or holds the lease of.
 */
export class KvTasks {
  readonly index: TaskIndex;
  /** The last holder write queued per task, settled either way (see mutateHeld). */
  private readonly heldWrites = new Map<string, Promise<void>>();

  constructor(
    readonly records: TaskRecords,
    /** How many operations one engine call keeps in flight (KvStorage.ioConcurrency). */
    readonly concurrency = IO_CONCURRENCY,
  ) {
    this.index = records.index;
  }

  create(task: TaskRecord, seq: number): Promise<boolean> {
    return this.records.create(task, seq);
  }

  exists(id: string): Promise<boolean> {
    return this.records.exists(id);
  }

  /** The current version; throws CorruptRecordError for a record of another format. */
  read(id: string): Promise<TaskVersion | undefined> {
    return this.records.read(id);
  }

  readOrReport(id: string): Promise<TaskVersion | undefined> {
    return readOrReport(this.records, id);
  }

  mutate(id: string, change: Change<TaskBody>, options: MutateOptions<TaskBody>): Promise<MutateOutcome<TaskBody>> {
    return this.records.mutate(id, change, options);
  }

  /**
   * Changes a task only while `token` is its live lease; the written version, else undefined.
   * The holder's writes of one task (settle, heartbeat, progress) come from this process and run
   * here one after another, in call order: racing, a heartbeat of a big task, quicker to compute
   * than its settle, could land again and again while the settle's compare-and-swap kept failing.
   */
  async mutateHeld(id: string, token: string, change: (body: TaskBody) => TaskBody): Promise<TaskVersion | undefined> {
    const write = (this.heldWrites.get(id) ?? Promise.resolve()).then(() => this.writeHeld(id, token, change));
    const done = write.then(
      () => undefined,
      () => undefined,
    );
    this.heldWrites.set(id, done);
    try {
      return await write;
    } finally {
      if (this.heldWrites.get(id) === done) this.heldWrites.delete(id);
    }
  }

  private async writeHeld(id: string, token: string, change: (body: TaskBody) => TaskBody): Promise<TaskVersion | undefined> {
    // A damaged record cannot prove the token: the lease counts as lost.
    const outcome = await unlessCorrupt(this.records, this.records.mutate(id, (body) => (holdsLease(body.task, token) ? change(body) : undefined), { onBusy: 'wait' }));
    return outcome?.kind === 'written' ? outcome.after : undefined;
  }

  /**
   * Applies `change` to a version found in the index, giving up if another writer holds the
   * task (it is that writer's now) or its record is damaged; the written version, else undefined.
   */
  async claim(version: TaskVersion, change: Change<TaskBody>): Promise<TaskVersion | undefined> {
    const outcome = await unlessCorrupt(this.records, this.records.mutate(version.body.task.id, change, { onBusy: 'skip', known: version }));
    return outcome?.kind === 'written' ? outcome.after : undefined;
  }

  /** Claims `candidates` in order, `concurrency` at a time, until `limit` writes landed; those, in order. */
  async claimUpTo(candidates: readonly TaskVersion[], limit: number, change: Change<TaskBody>): Promise<TaskVersion[]> {
    const landed: TaskVersion[] = [];
    for (let next = 0; landed.length < limit && next < candidates.length; ) {
      const batch = candidates.slice(next, next + Math.min(limit - landed.length, this.concurrency));
      next += batch.length;
      for (const version of await Promise.all(batch.map((candidate) => this.claim(candidate, change)))) if (version) landed.push(version);
    }
    return landed;
  }

  reportSetAside(task: TaskRecord): void {
    this.records.reportSetAside(task);
  }
}
