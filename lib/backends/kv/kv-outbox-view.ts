import type { TaskEvent } from '../../models/event.model.js';
import type { ResultRecord } from '../../models/result.model.js';
import type { TaskRecords } from './kv-task-records.js';
import { readOrReport } from './kv-tasks.js';

/**
 * What task outboxes hold that the result and event stores do not yet: the results and events of
 * transitions whose effects are being applied, or wait for recovery (see Outbox). The engine's
 * result and event stores read through it, so a task's end, its result and its events appear at
 * one instant, the write of the task's record, as they would in one transaction.
 *
 * Readers look here first and at the result and event stores after: an entry is cleared only
 * once its writes landed, so whatever is no longer here is already there.
 */
export class OutboxView {
  constructor(private readonly tasks: TaskRecords) {}

  /** The task's result as its pending entries have it: the result, null when one deletes it, undefined when none says. */
  async result(taskId: string): Promise<ResultRecord | null | undefined> {
    if (!(await this.tasks.mayHavePending(taskId))) return undefined;
    let result: ResultRecord | null | undefined;
    for (const entry of (await readOrReport(this.tasks, taskId))?.body.pending ?? []) {
      if (entry.deleteResult) result = null;
      if (entry.result) result = entry.result;
    }
    return result;
  }

  /** The events of every pending entry. */
  async events(): Promise<TaskEvent[]> {
    const versions = await this.tasks.withPending();
    return versions.flatMap((version) => version.body.pending?.flatMap((entry) => entry.events ?? []) ?? []);
  }
}
