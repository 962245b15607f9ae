import { readdir, rename } from 'node:fs/promises';
import { join } from 'node:path';
import type { TaskStatus } from '../../models/task.model.js';
import { IO_CONCURRENCY, mapLimit } from '../kv/kv-concurrency.js';
import { CLAIM_STALE_MS } from '../kv/kv-records.js';
import { isLive, recordKey, type TaskVersion } from '../kv/kv-task-codec.js';
import { summarize, type TaskIndex as KvTaskIndex, type TaskSummary } from '../kv/kv-task-records.js';
import { isErrno, isOlderThan, unlinkQuietly } from './atomic-write.js';
import { CorruptFileError } from './file-store.errors.js';

interface Entry<V> {
  /** The generation in the marker's name when the entry was loaded. */
  markerGen: number;
  /** Undefined for a damaged file (already reported; not read again until its marker changes). */
  value: V | undefined;
}

/** Runs a load for its callers, never two at once; a call during a run waits for the next run. */
class Coalesced {
  private running: Promise<void> | undefined;
  private queued: Promise<void> | undefined;

  constructor(private readonly load: () => Promise<void>) {}

  run(): Promise<void> {
    if (this.running === undefined) {
      this.running = this.load().finally(() => {
        this.running = undefined;
      });
      return this.running;
    }
    // The running load may have listed the folder before this call: share one more after it.
    this.queued ??= this.running
      .catch(() => undefined)
      .then(() => {
        this.queued = undefined;
        return this.run();
      });
    return this.queued;
  }
}

/**
 * This process's view of the task markers (see TaskFiles): full records of the live tasks, for
 * reserve and expiry, and summaries of the final ones, for list, counts and purge. A refresh
 * lists a marker folder and reads only the tasks whose marker name changed since, so it costs a
 * directory listing plus the files other processes wrote meanwhile.
 */
export class TaskIndex implements KvTaskIndex {
  private readonly live = new Map<string, Entry<TaskVersion>>();
  private readonly done = new Map<string, Entry<TaskSummary>>();
  private readonly liveLoad = new Coalesced(() => this.loadLive());
  private readonly doneLoad = new Coalesced(() => this.loadDone());

  constructor(
    private readonly liveDir: string,
    private readonly doneDir: string,
    private readonly readRecord: (key: string) => Promise<TaskVersion | undefined>,
    private readonly onCorrupt: (error: CorruptFileError) => void,
  ) {}

  /** Catches up with the live tasks (what a reserve needs). */
  refreshLive(): Promise<void> {
    return this.liveLoad.run();
  }

  /** Catches up with every task. */
  async refreshAll(): Promise<void> {
    // Live first: it moves the markers of tasks that ended in a crash into done/, for the
    // second listing to find.
    await this.liveLoad.run();
    await this.doneLoad.run();
  }

  /** The indexed live tasks; callers must not modify them. */
  versions(): TaskVersion[] {
    const versions: TaskVersion[] = [];
    for (const { value } of this.live.values()) if (value !== undefined) versions.push(value);
    return versions;
  }

  liveVersion(id: string): TaskVersion | undefined {
    return this.live.get(recordKey(id))?.value;
  }

  /** Every indexed task (damaged files left out), each once at its newest known generation. */
  summaries(): TaskSummary[] {
    const all = new Map<string, TaskSummary>();
    for (const [key, { value }] of this.done) if (value !== undefined) all.set(key, value);
    for (const [key, { value }] of this.live) {
      if (value === undefined) continue;
      const known = all.get(key);
      if (known === undefined || known.gen < value.gen) all.set(key, summarize(key, value));
    }
    return [...all.values()];
  }

  isLive(id: string): boolean {
    return this.live.has(recordKey(id));
  }

  /**
   * The final status this process last saw the task in, if any. Success is final for good, so
   * never stale; the other final statuses hold until a requeue, which makes the task live again.
   */
  finalStatus(id: string): TaskStatus | undefined {
    return this.done.get(recordKey(id))?.value?.status;
  }

  /** Records a write this process made (its marker now carries the new generation). */
  note(key: string, version: TaskVersion | undefined): void {
    if (version !== undefined && isLive(version)) {
      this.live.set(key, { markerGen: version.gen, value: version });
      this.done.delete(key);
    } else {
      this.live.delete(key);
      if (version === undefined) this.done.delete(key);
      else this.done.set(key, { markerGen: version.gen, value: summarize(key, version) });
    }
  }

  private async loadLive(): Promise<void> {
    const markers = await listMarkers(this.liveDir);
    for (const key of [...this.live.keys()]) if (!markers.has(key)) this.live.delete(key);
    const changed = [...markers].filter(([key, gen]) => this.live.get(key)?.markerGen !== gen);
    await mapLimit(changed, IO_CONCURRENCY, ([key, gen]) => this.loadLiveOne(key, gen));
  }

  private async loadLiveOne(key: string, markerGen: number): Promise<void> {
    const read = await this.read(key);
    if (read === 'corrupt' || isLive(read)) {
      this.live.set(key, { markerGen, value: read === 'corrupt' ? undefined : read });
      return;
    }
    this.live.delete(key);
    const marker = join(this.liveDir, `${key}~${markerGen}`);
    if (read !== undefined && read.gen >= markerGen) {
      // The write that ended the task stopped before moving its marker: move it now.
      await renameQuietly(marker, join(this.doneDir, `${key}~${read.gen}`));
    } else if (await isOlderThan(marker, CLAIM_STALE_MS)) {
      // Ahead of the file, or without one: an enqueue or requeue that died before landing.
      await unlinkQuietly(marker);
    }
  }

  private async loadDone(): Promise<void> {
    const markers = await listMarkers(this.doneDir);
    for (const key of [...this.done.keys()]) if (!markers.has(key)) this.done.delete(key);
    const changed = [...markers].filter(([key, gen]) => this.done.get(key)?.markerGen !== gen);
    await mapLimit(changed, IO_CONCURRENCY, ([key, gen]) => this.loadDoneOne(key, gen));
  }

  private async loadDoneOne(key: string, markerGen: number): Promise<void> {
    const read = await this.read(key);
    // A damaged record stays where its marker is: its status may be the neutral one it reads as.
    if (read === 'corrupt' || (read !== undefined && (!isLive(read) || read.body.task.damaged !== undefined))) {
      this.done.set(key, { markerGen, value: read === 'corrupt' ? undefined : summarize(key, read) });
      return;
    }
    this.done.delete(key);
    // Gone (a purge stopped before removing the marker) or live again (a requeue; its live
    // marker came first).
    if (read === undefined || read.gen > markerGen) await unlinkQuietly(join(this.doneDir, `${key}~${markerGen}`));
  }

  private async read(key: string): Promise<TaskVersion | undefined | 'corrupt'> {
    try {
      return await this.readRecord(key);
    } catch (error) {
      if (!(error instanceof CorruptFileError)) throw error;
      this.onCorrupt(error);
      return 'corrupt';
    }
  }
}

/** The newest marker generation per task key in `dir`; older duplicates (left by crashes) are deleted. */
export async function listMarkers(dir: string): Promise<Map<string, number>> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (error) {
    if (isErrno(error, 'ENOENT')) return new Map();
    throw error;
  }
  const newest = new Map<string, number>();
  const superseded: string[] = [];
  for (const name of names) {
    const cut = name.lastIndexOf('~');
    const gen = Number(name.slice(cut + 1));
    if (cut <= 0 || name.startsWith('.') || !Number.isSafeInteger(gen)) continue;
    const key = name.slice(0, cut);
    const seen = newest.get(key);
    if (seen !== undefined) superseded.push(`${key}~${Math.min(seen, gen)}`);
    newest.set(key, Math.max(seen ?? gen, gen));
  }
  await mapLimit(superseded, IO_CONCURRENCY, (name) => unlinkQuietly(join(dir, name)));
  return newest;
}

async function renameQuietly(from: string, to: string): Promise<void> {
  try {
    await rename(from, to);
  } catch (error) {
    if (!isErrno(error, 'ENOENT')) throw error;
  }
}
