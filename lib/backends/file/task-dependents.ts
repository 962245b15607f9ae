import { mkdir, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { IO_CONCURRENCY, mapLimit } from '../kv/kv-concurrency.js';
import { CLAIM_STALE_MS } from '../kv/kv-records.js';
import { recordKey, type TaskVersion } from '../kv/kv-task-codec.js';
import { dependentsOf, type TaskLinks } from '../kv/kv-task-records.js';
import { isErrno, isOlderThan, listNames, unlinkQuietly } from './atomic-write.js';
import { CorruptFileError } from './file-store.errors.js';
import type { TaskFiles } from './task-files.js';

/**
 * Which tasks depend on which, shared by every process on the folder: `children/<parentKey>/`
 * holds an empty file per task that lists the parent, named with the child's file key. Finding
 * a task's dependents lists that one small folder and reads the tasks in it, however many other
 * tasks there are.
 *
 * A link is made before its child's task file appears (as the child's live marker is), so every
 * stored task is found under each of its parents, crash or not. A link whose child is missing was
 * left by an enqueue or purge that died half-way: readers skip it, and drop it once it is older
 * than any enqueue still in flight could be (the rule live markers follow too). A purge removes
 * the links of the task it deletes, and a parent's folder with its last link.
 */
export class TaskDependents implements TaskLinks {
  private constructor(
    private readonly dir: string,
    private readonly files: TaskFiles,
  ) {}

  static async open(root: string, files: TaskFiles): Promise<TaskDependents> {
    const dir = join(root, 'children');
    await mkdir(dir, { recursive: true });
    return new TaskDependents(dir, files);
  }

  async link(childId: string, parentIds: readonly string[]): Promise<void> {
    const child = recordKey(childId);
    await mapLimit(parentIds, IO_CONCURRENCY, async (parentId) => {
      const folder = this.folderOf(parentId);
      for (;;) {
        await mkdir(folder, { recursive: true });
        try {
          await writeFile(join(folder, child), '');
          return;
        } catch (error) {
          // A purge removed the folder with its last link between our mkdir and write: again.
          if (!isErrno(error, 'ENOENT')) throw error;
        }
      }
    });
  }

  async unlink(childId: string, parentIds: readonly string[]): Promise<void> {
    const child = recordKey(childId);
    await mapLimit(parentIds, IO_CONCURRENCY, (parentId) => this.drop(this.folderOf(parentId), child));
  }

  async children(parentId: string): Promise<TaskVersion[]> {
    const folder = this.folderOf(parentId);
    const children = await mapLimit(await listNames(folder), IO_CONCURRENCY, async (child) => {
      const version = await this.readChild(child);
      if (version === undefined && (await isOlderThan(join(folder, child), CLAIM_STALE_MS))) await this.drop(folder, child);
      return version === 'corrupt' ? undefined : version;
    });
    return dependentsOf(parentId, children);
  }

  private folderOf(parentId: string): string {
    return join(this.dir, recordKey(parentId));
  }

  private async readChild(key: string): Promise<TaskVersion | undefined | 'corrupt'> {
    try {
      return await this.files.readKey(key);
    } catch (error) {
      if (!(error instanceof CorruptFileError)) throw error;
      this.files.reportCorrupt(error);
      return 'corrupt';
    }
  }

  private async drop(folder: string, child: string): Promise<void> {
    await unlinkQuietly(join(folder, child));
    try {
      await rmdir(folder);
    } catch (error) {
      // Other links remain (or another purge removed the folder first): it stays, or is gone.
      if (!isErrno(error, 'ENOTEMPTY') && !isErrno(error, 'EEXIST') && !isErrno(error, 'ENOENT')) throw error;
    }
  }
}
