import { Inject, Injectable } from '@nestjs/common';
import { OMNIQ_TASK_QUEUE } from '../omniq.constants.js';
import type { TaskError, TaskRecord } from '../models/task.model.js';
import type { TaskQueueStore, TaskSelector } from '../storage/task-queue.store.js';
import { EventRecorder } from '../events/event.recorder.js';
import { OmniQStores } from '../omniq-stores.js';
import { StoreOutcomes } from '../workflows/store-outcomes.js';
import { validateQueueName, validateTaskSelector } from '../utils/query.validation.js';

const CANCELLED_BY_REQUEST: TaskError = Object.freeze({ name: 'TaskCancelledError', message: 'Cancelled by request' });
/** Tasks one bulk store call changes; bulk methods repeat it until a call changes fewer. */
const BULK_BATCH = 500;
const REQUEUEABLE = ['failed', 'cancelled', 'expired'] as const;

/**
 * Cancelling, retrying and pausing: what `OmniQService` does to tasks and queues after they were
 * enqueued. Each store call is one atomic transition (a cancel with its cascade, a requeue with
 * the dependents its failure had cancelled); this class writes, where the stores are apart from
 * the queue, the results and events the transition could not write itself.
 */
@Injectable()
export class TaskAdmin {
  constructor(
    @Inject(OMNIQ_TASK_QUEUE) private readonly queue: TaskQueueStore,
    private readonly stores: OmniQStores,
    private readonly outcomes: StoreOutcomes,
    private readonly recorder: EventRecorder,
  ) {}

  /** `error` is what the task ends with (the scheduler names why it superseded a tick). */
  async cancel(id: string, error: TaskError = CANCELLED_BY_REQUEST): Promise<boolean> {
    const outcome = await this.queue.cancel(id, error, this.stores.scope);
    if (!outcome?.changed) return false;
    await this.outcomes.endedUnrun(outcome.ended);
    return true;
  }

  /** Cancels every live task the selector matches; returns how many this call changed (cancelled or asked to stop). */
  async cancelWhere(selector: TaskSelector): Promise<number> {
    validateTaskSelector(selector, 'cancelWhere');
    let changed = 0;
    for (;;) {
      const batch = await this.queue.cancelWhere(selector, CANCELLED_BY_REQUEST, BULK_BATCH, this.stores.scope);
      await this.outcomes.endedUnrun(batch.ended);
      changed += batch.changed;
      if (batch.changed < BULK_BATCH) return changed;
    }
  }

  async retry(id: string): Promise<boolean> {
    const { scope, resultStore } = this.stores;
    if (!scope.results) {
      // Apart from the queue, the old result goes first: once the task is pending again, a fast
      // worker may store the new one at any moment.
      const task = await this.queue.get(id);
      if (!task || !REQUEUEABLE.includes(task.status as (typeof REQUEUEABLE)[number])) return false;
      await resultStore.delete(id);
    }
    const outcome = await this.queue.requeue(id, scope);
    if (!outcome?.changed) return false;
    // Revived dependents wait for this task again, so their old results can go after the requeue.
    if (!scope.results) for (const child of outcome.revived) await resultStore.delete(child.id);
    await this.recordRequeued([outcome.task, ...outcome.revived]);
    return true;
  }

  /** Sends back every failed, cancelled or expired task the selector matches (status narrows those three); returns how many. */
  async retryWhere(selector: TaskSelector): Promise<number> {
    validateTaskSelector(selector, 'retryWhere');
    if (!this.stores.scope.results) return this.retryEach(selector);
    let requeued = 0;
    for (;;) {
      const batch = await this.queue.requeueWhere(selector, BULK_BATCH, this.stores.scope);
      await this.recordRequeued(batch);
      requeued += batch.length;
      if (batch.length < BULK_BATCH) return requeued;
    }
  }

  async pauseQueue(queue: string): Promise<boolean> {
    validateQueueName(queue, 'pauseQueue');
    const changed = await this.queue.pauseQueue(queue);
    if (changed) await this.recorder.record({ type: 'queue_paused', queue });
    return changed;
  }

  async resumeQueue(queue: string): Promise<boolean> {
    validateQueueName(queue, 'resumeQueue');
    const changed = await this.queue.resumeQueue(queue);
    if (changed) await this.recorder.record({ type: 'queue_resumed', queue });
    return changed;
  }

  pausedQueues(): Promise<string[]> {
    return this.queue.pausedQueues();
  }

  /**
   * With results apart from the queue, one task at a time so each old result is deleted before
   * its task runs again. The ids are taken first: a task that fails again at once is not retried twice.
   */
  private async retryEach(selector: TaskSelector): Promise<number> {
    const statuses = selector.status === undefined ? REQUEUEABLE : [selector.status].flat();
    const ids: string[] = [];
    for (let after: string | undefined; ; ) {
      const page = await this.queue.list({ ...selector, status: statuses, after, limit: BULK_BATCH });
      ids.push(...page.items.map((task) => task.id));
      if (!page.nextCursor) break;
      after = page.nextCursor;
    }
    let retried = 0;
    for (const id of ids) if (await this.retry(id)) retried++;
    return retried;
  }

  private async recordRequeued(tasks: readonly TaskRecord[]): Promise<void> {
    await Promise.all(
      tasks.map((task) => this.recorder.record({ type: 'enqueued', taskId: task.id, taskName: task.name, queue: task.queue, message: 'Retried by request' })),
    );
  }
}
