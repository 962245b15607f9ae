import { Inject, Injectable, Logger } from '@nestjs/common';
import { OMNIQ_CODEC, OMNIQ_RESULT_STORE, OMNIQ_TASK_QUEUE } from '../omniq.constants.js';
import type { Codec } from '../serialization/codec.js';
import type { ResultStatus } from '../models/result.model.js';
import type { TaskError, TaskRecord, TaskStatus } from '../models/task.model.js';
import type { ResultStore } from '../storage/result.store.js';
import type { TaskQueueStore } from '../storage/task-queue.store.js';
import type { ParentOutcome } from '../interfaces/task-context.interface.js';
import { NonRetryableError } from '../errors/task.errors.js';
import { DependencyCascade } from './dependency-cascade.js';
import { TaskSubmitter } from './task.submitter.js';

/** What the worker does around a handler for workflows: parents' outcomes in, callbacks and cascades out. */
/** The status a task ended with, given its result's status. */
const TASK_STATUS_OF_RESULT: Readonly<Record<ResultStatus, TaskStatus>> = {
  success: 'success',
  failed: 'failed',
  timeout: 'failed',
  cancelled: 'cancelled',
  expired: 'expired',
};

@Injectable()
export class WorkflowHooks {
  private readonly logger = new Logger('OmniQWorkflows');

  constructor(
    @Inject(OMNIQ_TASK_QUEUE) private readonly queue: TaskQueueStore,
    @Inject(OMNIQ_RESULT_STORE) private readonly results: ResultStore,
    @Inject(OMNIQ_CODEC) private readonly codec: Codec,
    private readonly submitter: TaskSubmitter,
    private readonly cascade: DependencyCascade,
  ) {}

  /** How each parent of the task ended, in `dependsOn` order, with stored values decoded. */
  parents(task: TaskRecord): Promise<ParentOutcome[]> {
    return Promise.all(
      task.dependsOn.map(async (id): Promise<ParentOutcome> => {
        const [parent, result] = await Promise.all([this.queue.get(id), this.results.get(id)]);
        // A parent purged by purgeHistory() is known by its result, if that is still stored.
        const status = parent?.status ?? (result ? TASK_STATUS_OF_RESULT[result.status] : 'unknown');
        const outcome: ParentOutcome = { taskId: id, name: parent?.name ?? result?.taskName ?? 'unknown', status };
        if (result?.value !== undefined) outcome.value = this.codec.decode(result.value, `result of task ${id}`);
        const error = result?.error ?? parent?.lastError;
        if (error && outcome.status !== 'success') outcome.error = error;
        return outcome;
      }),
    );
  }

  /** The payload of a task enqueued with PARENT_RESULT: its single parent's result value. */
  async parentResult(task: TaskRecord): Promise<unknown> {
    const [parent] = await this.parents(task);
    if (!parent || !('value' in parent)) {
      throw new NonRetryableError(`Task ${task.id} takes its payload from parent ${task.dependsOn[0]}, which stored no result`);
    }
    return parent.value;
  }

  /**
   * After a task ended for good: enqueue its callback, and cancel dependents it can no longer
   * satisfy. (A success without `onSuccess` has nothing to do here; the worker skips the call.)
   */
  async ended(task: TaskRecord, status: ResultStatus, outcome: { value?: unknown; error?: TaskError }): Promise<void> {
    const callback = status === 'success' ? task.onSuccess : status === 'failed' || status === 'timeout' ? task.onFailure : undefined;
    if (callback) {
      const payload = {
        taskId: task.id,
        name: task.name,
        status,
        ...(status === 'success' ? { value: outcome.value } : { error: outcome.error }),
        ...(callback.args ? { args: this.codec.decode(callback.args, `callback args of task ${task.id}`) } : {}),
      };
      try {
        await this.submitter.submit([{ name: callback.task, payload }]);
      } catch (error) {
        this.logger.error(`Task ${task.name} ${task.id}: could not enqueue its callback ${callback.task}: ${String(error)}`);
      }
    }
    await this.cascade.parentEnded({ id: task.id, name: task.name, status: status === 'success' ? 'success' : status === 'cancelled' ? 'cancelled' : 'failed' });
  }
}
