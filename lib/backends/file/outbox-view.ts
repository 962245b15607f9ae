import type { TaskEvent } from '../../models/event.model.js';
import type { ResultRecord } from '../../models/result.model.js';
import { IO_CONCURRENCY, mapLimit } from './concurrency.js';
import { CorruptFileError } from './file-store.errors.js';
import type { TaskVersion } from './task-codec.js';
import type { TaskFiles } from './task-files.js';

/**
 * What task outboxes hold that the result and event files do not yet: the results and events of
 * transitions whose effects are being applied, or wait for recovery (see Outbox). The engine's
 * result and event stores read through it, so a task's end, its result and its events appear at
 * one instant, the write of the task's file, as they would in one transaction.
 *
 * Readers look here first and at the result and event files after: an entry is cleared only
 * once its writes landed, and its pending marker goes only after that, so whatever is no longer
 * here is already there.
 */
export class OutboxView {
  constructor(private readonly files: TaskFiles) {}

  /** The task's result as its pending entries have it: the result, null when one deletes it, undefined when none says. */
  async result(taskId: string): Promise<ResultRecord | null | undefined> {
    if (!(await this.files.hasPendingMarker(taskId))) return undefined;
    let result: ResultRecord | null | undefined;
    for (const entry of (await this.files.readOrReport(taskId))?.body.pending ?? []) {
      if (entry.deleteResult) result = null;
      if (entry.result) result = entry.result;
    }
    return result;
  }

  /** The events of every pending entry. */
  async events(): Promise<TaskEvent[]> {
    const markers = await this.files.pendingMarkers();
    if (markers.size === 0) return [];
    const versions = await mapLimit([...markers.keys()], IO_CONCURRENCY, (key) => this.read(key));
    return versions.flatMap((version) => version?.body.pending?.flatMap((entry) => entry.events ?? []) ?? []);
  }

  private async read(key: string): Promise<TaskVersion | undefined> {
    try {
      return await this.files.readKey(key);
    } catch (error) {
      if (!(error instanceof CorruptFileError)) throw error;
      this.files.reportCorrupt(error.path, error);
      return undefined;
    }
  }
}
