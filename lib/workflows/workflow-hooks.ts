import { Inject, Injectable } from '@nestjs/common';
import { OMNIQ_CODEC, OMNIQ_RESULT_STORE, OMNIQ_TASK_QUEUE } from '../omniq.constants.js';
import type { Codec } from '../serialization/codec.js';
import type { ResultStatus } from '../models/result.model.js';
import type { NewTask, TaskError, TaskRecord, TaskStatus } from '../models/task.model.js';
import type { ResultStore } from '../storage/result.store.js';
import type { TaskQueueStore } from '../storage/task-queue.store.js';
import type { ParentOutcome } from '../interfaces/task-context.interface.js';
import { NonRetryableError } from '../errors/task.errors.js';
import { TaskSubmitter } from './task.submitter.js';

/** The status a task ended with, given its result's status. */
const TASK_STATUS_OF_RESULT: Readonly<Record<ResultStatus, TaskStatus>> = {
  success: 'success',
  failed: 'failed',
  timeout: 'failed',
  cancelled: 'cancelled',
  expired: 'expired',
};

/** What the worker does around a handler for workflows: parents' outcomes in, callback tasks out. */
@Injectable()
export class WorkflowHooks {
  constructor(
    @Inject(OMNIQ_TASK_QUEUE) private readonly queue: TaskQueueStore,
    @Inject(OMNIQ_RESULT_STORE) private readonly results: ResultStore,
    @Inject(OMNIQ_CODEC) private readonly codec: Codec,
    private readonly submitter: TaskSubmitter,
  ) {}

  /** How each parent of the task ended, in `dependsOn` order, with stored values decoded. */
  async parents(task: TaskRecord): Promise<ParentOutcome[]> {
    const [parents, results] = await Promise.all([this.queue.getMany(task.dependsOn), Promise.all(task.dependsOn.map((id) => this.results.get(id)))]);
    return task.dependsOn.map((id, i): ParentOutcome => {
      const parent = parents[i];
      const result = results[i];
      // A parent purged by purgeHistory() is known by its result, if that is still stored.
      const status = parent?.status ?? (result ? TASK_STATUS_OF_RESULT[result.status] : 'unknown');
      const outcome: ParentOutcome = { taskId: id, name: parent?.name ?? result?.taskName ?? 'unknown', status };
      if (result?.value !== undefined) outcome.value = this.codec.decode(result.value, `result of task ${id}`);
      const error = result?.error ?? parent?.lastError;
      if (error && outcome.status !== 'success') outcome.error = error;
      return outcome;
    });
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
   * The callback task a task's end triggers (`onSuccess` after a success, `onFailure` after a final
   * failure or timeout), stored by the settlement itself so that it is never lost; undefined when
   * there is none. Its payload carries the outcome and the callback's args.
   */
  callback(task: TaskRecord, status: ResultStatus, outcome: { value?: unknown; error?: TaskError }): NewTask | undefined {
    const callback = status === 'success' ? task.onSuccess : status === 'failed' || status === 'timeout' ? task.onFailure : undefined;
    if (!callback) return undefined;
    const payload = {
      taskId: task.id,
      name: task.name,
      status,
      ...(status === 'success' ? { value: outcome.value } : { error: outcome.error }),
      ...(callback.args ? { args: this.codec.decode(callback.args, `callback args of task ${task.id}`) } : {}),
    };
    return this.submitter.build(callback.task, payload, {}, new Date(), {}, `Task "${task.name}" callback`);
  }
}
