/*
 * The key-value engine's storage on a folder, shared by any number of processes.
 *
 * Compare-and-swap on files (VersionedFiles; how a task is never handed to two live leases):
 * 1. Each record is one file, e.g. `tasks/<id>.json`, holding the body plus a write generation
 *    `gen` and a unique revision `rev`.
 * 2. Every change writes the new version into a claim file, e.g. `task-claims/<key>~<gen+1>`,
 *    created exclusively (`open(path, 'wx')`): of all processes that read generation `gen`,
 *    exactly one creates it; the others skip the record or re-read and try again.
 * 3. The winner re-reads the record to check its `rev` is still the one it decided on, then
 *    renames its claim over the record: the write lands atomically and the claim is gone in one
 *    step.
 * 4. A claim older than CLAIM_STALE_MS was left by a process that died mid-write; the next writer
 *    skips to the following generation. A writer whose own claim reaches half that age abandons
 *    its write, so a slow writer cannot land after being skipped.
 *
 * Layout: tasks with their markers in `live/`, `done/` and `pending/` (see TaskFiles, TaskIndex),
 * dependents linked under their parents in `children/` (see TaskDependents), batch journals in
 * `batches/` (see BatchJournalFiles), idempotency keys in `keys/`, schedules in `schedules/`,
 * paused queues and leader leases in `control/`, each kind with a folder of its claims.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { BackendLogger } from '../shared/backend-logger.js';
import type { KvRecords, RecordCodec } from '../kv/kv-records.js';
import type { KvStorage, RecordSpace } from '../kv/kv-storage.js';
import { sweepStaleTemps, TEMP_STALE_MS } from './atomic-write.js';
import { BatchJournalFiles } from './batch-journals.js';
import { TaskDependents } from './task-dependents.js';
import { TaskFiles } from './task-files.js';
import { VersionedFiles } from './versioned-files.js';

/** The folders of each record space: its records, and the claims of their writes in flight. */
const SPACE_DIRS: Record<RecordSpace, { records: string; claims: string }> = {
  keys: { records: 'keys', claims: 'key-claims' },
  schedules: { records: 'schedules', claims: 'schedule-claims' },
  control: { records: 'control', claims: 'control-claims' },
};

/** KvStorage on the project folder `root` (see the protocol above). */
export class FileKvStorage implements KvStorage {
  /** The folders where writers stage temp files (see sweepStaleTemps), and when this process last swept them. */
  private readonly tempDirs: string[];
  private sweptAt = 0;

  private constructor(
    private readonly root: string,
    readonly tasks: TaskFiles,
    readonly links: TaskDependents,
    readonly journals: BatchJournalFiles,
  ) {
    this.tempDirs = ['', 'tasks', 'keys', 'control', 'schedules', 'results', 'notify', 'batches'].map((dir) => join(root, dir));
  }

  /** Opens (creating its folders if needed) the storage in `root`, the project's folder. */
  static async open(root: string, tasks: TaskFiles, log: BackendLogger): Promise<FileKvStorage> {
    for (const { records, claims } of Object.values(SPACE_DIRS)) {
      for (const folder of [records, claims]) await mkdir(join(root, folder), { recursive: true });
    }
    const [links, journals] = await Promise.all([TaskDependents.open(root, tasks), BatchJournalFiles.open(root, log('OmniQFileTaskQueue'))]);
    return new FileKvStorage(root, tasks, links, journals);
  }

  records<T>(space: RecordSpace, codec: RecordCodec<T>): KvRecords<T> {
    const { records, claims } = SPACE_DIRS[space];
    return new VersionedFiles(join(this.root, records), join(this.root, claims), codec);
  }

  /** Temp files get stale only after TEMP_STALE_MS: a sweep now and then finds them all. */
  async housekeeping(): Promise<void> {
    if (Date.now() - this.sweptAt < TEMP_STALE_MS / 10) return;
    this.sweptAt = Date.now();
    await sweepStaleTemps(this.tempDirs);
  }
}
