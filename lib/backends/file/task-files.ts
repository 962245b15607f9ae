import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '@nestjs/common';
import type { TaskRecord } from '../../models/task.model.js';
import { isErrno, readFileIfExists, unlinkQuietly } from './atomic-write.js';
import { CorruptFileError } from './file-store.errors.js';
import { fileKey, isLive, reviveTaskBody, TASK_FORMAT, type TaskBody, type TaskVersion } from './task-codec.js';
import { TaskIndex } from './task-index.js';
import { VersionedFiles, type Change, type MutateOptions, type MutateOutcome } from './versioned-files.js';

/**
 * The task files of one project and the markers that index them.
 *
 * Layout under the project folder:
 * - `tasks/<key>.json`: the record (the truth), written through VersionedFiles.
 * - `task-claims/<key>~<gen>`: claims of writes in flight (see VersionedFiles).
 * - `live/<key>~<gen>`: a marker per live task (pending, scheduled, running, retrying).
 * - `done/<key>~<gen>`: a marker per final task (success, failed, cancelled, expired).
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
 * repair or delete markers that are provably stale.
 */
export class TaskFiles {
  private readonly records: VersionedFiles<TaskBody>;
  readonly index: TaskIndex;
  private readonly liveDir: string;
  private readonly doneDir: string;
  private readonly reportedCorrupt = new Set<string>();

  private constructor(
    root: string,
    private readonly logger: Logger,
  ) {
    this.liveDir = join(root, 'live');
    this.doneDir = join(root, 'done');
    this.records = new VersionedFiles<TaskBody>(join(root, 'tasks'), join(root, 'task-claims'), TASK_FORMAT, reviveTaskBody, {
      beforeCommit: (key, before, after) => this.beforeCommit(key, before, after),
      abandoned: (key, before, after) => this.abandoned(key, before, after),
      afterCommit: (key, before, after) => this.afterCommit(key, before, after),
    });
    this.index = new TaskIndex(this.liveDir, this.doneDir, this.records, (path, error) => this.reportCorrupt(path, error));
  }

  static async open(root: string, logger: Logger): Promise<TaskFiles> {
    for (const dir of ['tasks', 'task-claims', 'live', 'done']) await mkdir(join(root, dir), { recursive: true });
    return new TaskFiles(root, logger);
  }

  /** Stores a new task; false when a task with its id exists. */
  async create(task: TaskRecord, seq: number): Promise<boolean> {
    const key = fileKey(task.id);
    // The marker must exist before the task: a crash in between leaves a marker without a task
    // (cleaned up later), never a live task that no listing finds. It is written while the task
    // file is being staged, and awaited before the task appears.
    const marker = writeFile(join(this.liveDir, `${key}~0`), '');
    marker.catch(() => undefined); // awaited below unless staging fails first
    const created = await this.records.create(key, { seq, task }, () => marker);
    if (created === undefined) return false;
    this.index.note(key, created);
    return true;
  }

  async exists(id: string): Promise<boolean> {
    return (await readFileIfExists(this.records.pathOf(fileKey(id)))) !== undefined;
  }

  /** The task's current version; throws CorruptFileError for a damaged file. */
  read(id: string): Promise<TaskVersion | undefined> {
    return this.readKey(fileKey(id));
  }

  /** Like read, but a damaged file is reported and counts as missing. */
  async readOrReport(id: string): Promise<TaskVersion | undefined> {
    try {
      return await this.read(id);
    } catch (error) {
      if (!(error instanceof CorruptFileError)) throw error;
      this.reportCorrupt(error.path, error);
      return undefined;
    }
  }

  /** Like read, by the file key that marker and link names carry. */
  readKey(key: string): Promise<TaskVersion | undefined> {
    return this.records.read(key);
  }

  /** Changes one task (see VersionedFiles.mutate) and keeps this process's index in step. */
  async mutate(id: string, change: Change<TaskBody>, options: MutateOptions<TaskBody>): Promise<MutateOutcome<TaskBody>> {
    return this.records.mutate(fileKey(id), change, options);
  }

  /** Logs a damaged file once per process, however often it is met. */
  reportCorrupt(path: string, error: CorruptFileError): void {
    if (this.reportedCorrupt.has(path)) return;
    this.reportedCorrupt.add(path);
    this.logger.error(`Skipping a damaged task file: ${error.message}`);
  }

  private markerPath(version: TaskVersion, key: string): string {
    return join(isLive(version) ? this.liveDir : this.doneDir, `${key}~${version.gen}`);
  }

  private async beforeCommit(key: string, before: TaskVersion, after: TaskVersion): Promise<void> {
    if (!isLive(before) && isLive(after)) await writeFile(this.markerPath(after, key), '');
  }

  private async abandoned(key: string, before: TaskVersion, after: TaskVersion): Promise<void> {
    if (!isLive(before) && isLive(after)) await unlinkQuietly(this.markerPath(after, key));
  }

  private async afterCommit(key: string, before: TaskVersion, after: TaskVersion | undefined): Promise<void> {
    const old = this.markerPath(before, key);
    if (after === undefined || (!isLive(before) && isLive(after))) {
      // Deleted, or live again under the marker made before the write.
      await unlinkQuietly(old);
    } else {
      const next = this.markerPath(after, key);
      try {
        await rename(old, next);
      } catch (error) {
        // The marker lagged behind (a crash between a write and its marker): start a fresh one;
        // the index deletes the older one when it sees both.
        if (!isErrno(error, 'ENOENT')) throw error;
        await writeFile(next, '');
      }
    }
    this.index.note(key, after);
  }
}
