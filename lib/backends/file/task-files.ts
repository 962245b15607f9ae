import { randomUUID } from 'node:crypto';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { LoggerService } from '@nestjs/common';
import type { TaskRecord } from '../../models/task.model.js';
import { IO_CONCURRENCY, mapLimit } from '../kv/kv-concurrency.js';
import { CLAIM_STALE_MS, type Change, type CorruptRecordError, type MutateOptions, type MutateOutcome } from '../kv/kv-records.js';
import { hasPending, isLive, recordKey, reviveTaskBody, TASK_FORMAT, type TaskBody, type TaskVersion } from '../kv/kv-task-codec.js';
import type { TaskRecords } from '../kv/kv-task-records.js';
import { unlessCorrupt, unlessMovedAside } from '../kv/kv-tasks.js';
import { isErrno, isOlderThan, listNames, pathExists, unlinkQuietly } from './atomic-write.js';
import { asWriteError, CorruptFileError } from './file-store.errors.js';
import { listMarkers, TaskIndex } from './task-index.js';
import { VersionedFiles } from './versioned-files.js';

/**
 * The task records of one project as files (see TaskRecords), and the markers that index them.
 *
 * Layout under the project folder:
 * - `tasks/<key>.json`: the record (the truth), written through VersionedFiles.
 * - `task-claims/<key>~<gen>`: claims of writes in flight (see VersionedFiles).
 * - `live/<key>~<gen>`: a marker per live task (pending, scheduled, running, retrying).
 * - `done/<key>~<gen>`: a marker per final task (success, failed, cancelled, expired).
 * - `pending/<key>~<gen>`: a marker per task whose file holds effects still to apply (an
 *   outbox, see Outbox), so recovery finds them without reading every task.
 * - `damaged/`: task files that were no record at all (not JSON, no envelope), moved out of the
 *   queue by the first reader that met one, kept for inspection. A record with a bad field is not
 *   moved: it reads flagged (`damaged`) and reserve sets it aside.
 *
 * A marker is an empty file named with the generation its task was last written at. Listing
 * `live/` finds every task a reserve may want without opening final tasks, and the generation in
 * a name tells a process whether its cached copy is current, so only files that changed are read
 * again (see TaskIndex).
 *
 * Marker upkeep keeps "every live task has a live marker" true at every instant, crash or not:
 * a live marker is created before a task becomes live (enqueue, requeue) and moved to `done/`
 * (or removed) only after it stopped being live. In between, a marker may lag behind its file's
 * generation or outlive a task after a crash; readers treat markers as hints, read the file, and
 * repair or delete markers that are provably stale. Pending markers follow the same rule: one
 * exists before a version with pending effects lands, and goes only once a version without them
 * did.
 */
export class TaskFiles implements TaskRecords {
  private readonly records: VersionedFiles<TaskBody>;
  readonly index: TaskIndex;
  private readonly liveDir: string;
  private readonly doneDir: string;
  private readonly pendingDir: string;
  private readonly damagedDir: string;
  private readonly reportedCorrupt = new Set<string>();

  private constructor(
    root: string,
    private readonly logger: LoggerService,
  ) {
    this.liveDir = join(root, 'live');
    this.doneDir = join(root, 'done');
    this.pendingDir = join(root, 'pending');
    this.damagedDir = join(root, 'damaged');
    this.records = new VersionedFiles<TaskBody>(join(root, 'tasks'), join(root, 'task-claims'), { format: TASK_FORMAT, revive: reviveTaskBody }, {
      beforeCommit: (key, before, after) => this.beforeCommit(key, before, after),
      abandoned: (key, before, after) => this.abandoned(key, before, after),
      afterCommit: (key, before, after) => this.afterCommit(key, before, after),
    });
    this.index = new TaskIndex(this.liveDir, this.doneDir, (key) => this.readKey(key), (error) => this.reportCorrupt(error));
  }

  static async open(root: string, logger: LoggerService): Promise<TaskFiles> {
    for (const dir of ['tasks', 'task-claims', 'live', 'done', 'pending', 'damaged']) await mkdir(join(root, dir), { recursive: true });
    return new TaskFiles(root, logger);
  }

  async create(task: TaskRecord, seq: number): Promise<boolean> {
    const key = recordKey(task.id);
    // The marker must exist before the task: a crash in between leaves a marker without a task
    // (cleaned up later), never a live task that no listing finds. It is written while the task
    // file is being staged, and awaited before the task appears.
    const marker = writeFile(join(this.liveDir, `${key}~0`), '');
    marker.catch(() => undefined); // awaited below unless staging fails first
    const created = await this.writing(key, task.id, () => this.records.create(key, { seq, task }, () => marker));
    if (created === undefined) return false;
    this.index.note(key, created);
    return true;
  }

  async exists(id: string): Promise<boolean> {
    return pathExists(this.records.pathOf(recordKey(id)));
  }

  read(id: string): Promise<TaskVersion | undefined> {
    return this.readKey(recordKey(id));
  }

  /** Like read, by the file key that marker and link names carry. A file that is no record at all is moved aside (see quarantine). */
  readKey(key: string): Promise<TaskVersion | undefined> {
    return unlessMovedAside(this.records.read(key), CorruptFileError, (error) => this.quarantine(key, error));
  }

  /** Changes one task (see VersionedFiles.mutate) and keeps this process's index in step (in the commit hooks). */
  async mutate(id: string, change: Change<TaskBody>, options: MutateOptions<TaskBody>): Promise<MutateOutcome<TaskBody>> {
    const key = recordKey(id);
    const mutated = this.writing(key, id, () => this.records.mutate(key, change, { ...options, known: options.known ?? this.index.liveVersion(id) }));
    return (await unlessMovedAside(mutated, CorruptFileError, (error) => this.quarantine(key, error))) ?? { kind: 'missing' };
  }

  reportCorrupt(error: CorruptRecordError): void {
    if (this.reportedCorrupt.has(error.location)) return;
    this.reportedCorrupt.add(error.location);
    this.logger.error(`Skipping a damaged task file: ${error.message}`);
  }

  reportSetAside(task: TaskRecord): void {
    const path = this.records.pathOf(recordKey(task.id));
    if (this.reportedCorrupt.has(path)) return;
    this.reportedCorrupt.add(path);
    this.logger.error(`Task ${task.id} (${path}) is damaged: ${task.damaged}; it was set aside (ended failed) and will not run`);
  }

  /**
   * Moves a task file that is no record at all into `damaged/`: nothing can read it, and a
   * rewrite would lose what a person may still recover from it. Every reader that meets it does
   * this (writes are atomic renames, so no reader ever sees a file half-written); one of them
   * moves it, logs it, and it is out of the queue for good.
   */
  private async quarantine(key: string, error: CorruptFileError): Promise<void> {
    const aside = join(this.damagedDir, `${key}.${randomUUID()}.json`);
    try {
      await rename(error.path, aside);
    } catch (moveError) {
      if (isErrno(moveError, 'ENOENT')) return; // another reader moved it first
      throw moveError;
    }
    this.logger.error(`${error.message}; moved it out of the queue to ${aside}`);
  }

  /** Runs a write of task `id`'s file, naming the file and the task when the disk refuses it. */
  private async writing<T>(key: string, id: string, write: () => Promise<T>): Promise<T> {
    try {
      return await write();
    } catch (error) {
      throw asWriteError(error, this.records.pathOf(key), `task ${id}`);
    }
  }

  writeError(error: unknown, taskId: string): unknown {
    return asWriteError(error, this.records.pathOf(recordKey(taskId)), `task ${taskId}`);
  }

  /**
   * The tasks the pending markers name whose files hold pending effects. A marker whose task
   * holds none is deleted once provably stale: left by a write that landed without its marker's
   * removal, or that never landed at all.
   */
  async withPending(): Promise<TaskVersion[]> {
    const markers = await listMarkers(this.pendingDir);
    if (markers.size === 0) return [];
    const versions = await mapLimit([...markers], IO_CONCURRENCY, async ([key, gen]) => {
      const version = await unlessCorrupt(this, this.readKey(key));
      if (hasPending(version)) return version;
      const stale = version === undefined || version.gen > gen || (await isOlderThan(this.pendingPath(key, gen), CLAIM_STALE_MS));
      if (stale) await unlinkQuietly(this.pendingPath(key, gen));
      return undefined;
    });
    return versions.filter((version): version is TaskVersion => version !== undefined);
  }

  /** Whether a pending marker names the task. */
  async mayHavePending(id: string): Promise<boolean> {
    const prefix = `${recordKey(id)}~`;
    return (await listNames(this.pendingDir)).some((name) => name.startsWith(prefix));
  }

  private markerPath(version: TaskVersion, key: string): string {
    return join(isLive(version) ? this.liveDir : this.doneDir, `${key}~${version.gen}`);
  }

  private pendingPath(key: string, gen: number): string {
    return join(this.pendingDir, `${key}~${gen}`);
  }

  private async beforeCommit(key: string, before: TaskVersion, after: TaskVersion): Promise<void> {
    const markers: Promise<void>[] = [];
    if (!isLive(before) && isLive(after)) markers.push(writeFile(this.markerPath(after, key), ''));
    if (!hasPending(before) && hasPending(after)) markers.push(writeFile(this.pendingPath(key, after.gen), ''));
    await Promise.all(markers);
  }

  private async abandoned(key: string, before: TaskVersion, after: TaskVersion): Promise<void> {
    if (!isLive(before) && isLive(after)) await unlinkQuietly(this.markerPath(after, key));
    if (!hasPending(before) && hasPending(after)) await unlinkQuietly(this.pendingPath(key, after.gen));
  }

  private async afterCommit(key: string, before: TaskVersion, after: TaskVersion | undefined): Promise<void> {
    const old = this.markerPath(before, key);
    if (after === undefined || (!isLive(before) && isLive(after))) {
      // Deleted, or live again under the marker made before the write.
      await unlinkQuietly(old);
    } else {
      await moveMarker(old, this.markerPath(after, key));
    }
    if (hasPending(before)) {
      if (after !== undefined && hasPending(after)) await moveMarker(this.pendingPath(key, before.gen), this.pendingPath(key, after.gen));
      else await unlinkQuietly(this.pendingPath(key, before.gen));
    }
    this.index.note(key, after);
  }
}

/**
 * Renames a marker to the generation just written. One that lagged behind (a crash between a
 * write and its marker) is started afresh; readers delete the older one when they see both.
 */
async function moveMarker(from: string, to: string): Promise<void> {
  try {
    await rename(from, to);
  } catch (error) {
    if (!isErrno(error, 'ENOENT')) throw error;
    await writeFile(to, '');
  }
}
