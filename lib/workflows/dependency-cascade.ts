import { Inject, Injectable } from '@nestjs/common';
import { OMNIQ_RESULT_STORE, OMNIQ_TASK_QUEUE } from '../omniq.constants.js';
import type { TaskRecord } from '../models/task.model.js';
import type { ResultStore } from '../storage/result.store.js';
import type { TaskQueueStore } from '../storage/task-queue.store.js';
import { EventRecorder } from '../events/event.recorder.js';
import { recordFinalOutcome } from '../events/final-outcome.js';

/**
 * When a task ends without success, its dependents that need it to succeed can never run: they
 * are cancelled, with the parent named in their error, and so on down the graph. Dependents that
 * run whatever their parents' outcome are left for the store to release.
 */
@Injectable()
export class DependencyCascade {
  constructor(
    @Inject(OMNIQ_TASK_QUEUE) private readonly queue: TaskQueueStore,
    @Inject(OMNIQ_RESULT_STORE) private readonly results: ResultStore,
    private readonly recorder: EventRecorder,
  ) {}

  /**
   * A task ended without running to an outcome (cancelled while waiting, or expired): records its
   * result and event, then cancels the dependents that needed it.
   */
  async endedUnrun(task: TaskRecord): Promise<void> {
    await recordFinalOutcome(this.results, this.recorder, task, task.status === 'expired' ? 'expired' : 'cancelled');
    await this.parentEnded(task);
  }

  async parentEnded(parent: Pick<TaskRecord, 'id' | 'name' | 'status'>): Promise<void> {
    if (parent.status === 'success') return;
    const ended = [parent];
    for (let next = ended.shift(); next; next = ended.shift()) {
      for (const child of await this.queue.dependentsOf(next.id)) {
        if (child.onParentFailure === 'run') continue;
        const error = { name: 'ParentFailedError', message: `Parent task ${next.id} (${next.name}) ended ${next.status}` };
        const outcome = await this.queue.cancel(child.id, error);
        // Another cascade (in this process or another) may have cancelled it first: only one records it.
        if (!outcome?.changed || outcome.task.status !== 'cancelled') continue;
        const cancelled = outcome.task;
        await recordFinalOutcome(this.results, this.recorder, cancelled, 'cancelled');
        ended.push(cancelled);
      }
    }
  }
}
