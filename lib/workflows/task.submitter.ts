import { Inject, Injectable } from '@nestjs/common';
import { OMNIQ_CODEC, OMNIQ_CONFIG, OMNIQ_TASK_QUEUE } from '../omniq.constants.js';
import type { OmniQConfig } from '../config/omniq-config.js';
import { createLogger, type OmniQLogger } from '../config/omniq-logger.js';
import type { Codec } from '../serialization/codec.js';
import { PARENT_RESULT } from '../serialization/parent-result.js';
import type { EncodedValue } from '../models/encoded-value.model.js';
import { FINAL_TASK_STATUSES, type NewTask, type TaskCallback } from '../models/task.model.js';
import type { EnqueueOutcome, TaskQueueStore } from '../storage/task-queue.store.js';
import type { CallbackOptions, EnqueueOptions } from '../interfaces/task-options.interface.js';
import { InvalidTaskOptionError, UnknownTaskError } from '../errors/omniq.errors.js';
import { PayloadEncodingError } from '../errors/codec.errors.js';
import { DuplicateTaskIdError } from '../errors/store.errors.js';
import { EventRecorder } from '../events/event.recorder.js';
import { TaskRegistry } from '../task.registry.js';
import { validateTaskOptions } from '../utils/task-options.validation.js';
import { buildNewTask } from '../utils/new-task.builder.js';
import { DependencyCascade } from './dependency-cascade.js';
import { describeError } from '../utils/describe-error.js';

export interface SubmitItem {
  name: string;
  payload: unknown;
  options?: EnqueueOptions;
}

/**
 * Turns enqueue requests into stored tasks: validates names, options, callbacks and dependencies
 * (unknown ids, cycles, parents that already failed), encodes payloads, stores the batch in one
 * call and records `enqueued` events. Anything wrong rejects the whole batch before it is stored.
 */
@Injectable()
export class TaskSubmitter {
  private readonly logger: OmniQLogger;

  constructor(
    @Inject(OMNIQ_TASK_QUEUE) private readonly queue: TaskQueueStore,
    @Inject(OMNIQ_CONFIG) private readonly config: OmniQConfig,
    @Inject(OMNIQ_CODEC) private readonly codec: Codec,
    private readonly registry: TaskRegistry,
    private readonly recorder: EventRecorder,
    private readonly cascade: DependencyCascade,
  ) {
    this.logger = createLogger('OmniQWorkflows', config.logging);
  }

  async submit(items: readonly SubmitItem[], extra: Pick<NewTask, 'scheduleId'> = {}): Promise<string[]> {
    const now = new Date();
    const tasks = items.map(({ name, payload, options = {} }) => this.build(name, payload, options, now, extra));
    await this.checkDependencies(tasks);
    const outcomes = await this.store(tasks);
    await Promise.all(
      outcomes.map((outcome, i) => {
        const task = tasks[i]!;
        return outcome.created
          ? this.recorder.record({ type: 'enqueued', taskId: task.id, taskName: task.name, queue: task.queue, scheduleId: task.scheduleId })
          : undefined;
      }),
    );
    await this.cascadeParentsEndedMeanwhile(tasks.filter((_, i) => outcomes[i]!.created));
    return outcomes.map((o) => o.id);
  }

  /**
   * A parent checked before the insert may have ended without success since, in another process
   * whose cascade looked for dependents before these were stored. Reading the parents again now
   * that the new tasks are visible closes that gap: either that cascade saw them, or this read
   * sees the parent ended and cascades here (only one of two cascades cancels and records a task).
   * The tasks are stored by now, so a failure here is logged rather than failing the enqueue.
   */
  private async cascadeParentsEndedMeanwhile(created: readonly NewTask[]): Promise<void> {
    const createdIds = new Set(created.map((task) => task.id));
    const parentIds = new Set(created.filter((task) => task.onParentFailure === 'cancel').flatMap((task) => task.dependsOn.filter((id) => !createdIds.has(id))));
    for (const id of parentIds) {
      try {
        const parent = await this.queue.get(id);
        if (parent && parent.status !== 'success' && FINAL_TASK_STATUSES.includes(parent.status)) await this.cascade.parentEnded(parent);
      } catch (error) {
        this.logger.error(`Could not check whether parent task ${id} ended while its dependents were enqueued: ${describeError(error)}`);
      }
    }
  }

  /** Stores the batch; an `id` option naming a stored task is the caller's mistake, reported as such. */
  private async store(tasks: readonly NewTask[]): Promise<EnqueueOutcome[]> {
    try {
      return await this.queue.enqueue(tasks);
    } catch (error) {
      const task = error instanceof DuplicateTaskIdError ? tasks.find((t) => t.id === error.taskId) : undefined;
      if (task) throw new InvalidTaskOptionError(task.name, 'id', task.id, 'an id no stored task has');
      throw error;
    }
  }

  private build(name: string, payload: unknown, options: EnqueueOptions, now: Date, extra: Pick<NewTask, 'scheduleId'>): NewTask {
    this.requireTask(name);
    validateTaskOptions(name, options);
    if (payload === PARENT_RESULT && options.dependsOn?.length !== 1) {
      throw new InvalidTaskOptionError(name, 'dependsOn', options.dependsOn, 'exactly one parent, whose result PARENT_RESULT stands for');
    }
    const { onSuccess, onFailure, ...rest } = options;
    const callbacks = { onSuccess: this.callback(name, 'onSuccess', onSuccess), onFailure: this.callback(name, 'onFailure', onFailure) };
    const handlerOptions = this.registry.get(name)?.options ?? {};
    return { ...buildNewTask(name, this.encode(name, payload, 'payload'), this.config.taskDefaults, handlerOptions, rest, now, callbacks), ...extra };
  }

  private callback(name: string, option: 'onSuccess' | 'onFailure', callback: CallbackOptions | undefined): TaskCallback | undefined {
    if (!callback) return undefined;
    this.requireTask(callback.task, `Task "${name}" option ${option}`);
    return { task: callback.task, args: callback.args === undefined ? undefined : this.encode(name, callback.args, 'callback args') };
  }

  private requireTask(name: string, where?: string): void {
    if (!this.registry.has(name) && !this.config.allowUnregisteredTasks) throw new UnknownTaskError(name, this.registry.declaredNames(), where);
  }

  private encode(name: string, value: unknown, what: string): EncodedValue {
    try {
      return this.codec.encode(value, what);
    } catch (error) {
      if (error instanceof PayloadEncodingError) error.message = `Task "${name}": ${error.message}`;
      throw error;
    }
  }

  /** Every parent must exist (stored, or in this batch), the batch must hold no cycle, and no parent may have failed already. */
  private async checkDependencies(tasks: readonly NewTask[]): Promise<void> {
    const inBatch = new Map<string, NewTask>();
    for (const task of tasks) {
      if (inBatch.has(task.id)) throw new InvalidTaskOptionError(task.name, 'id', task.id, 'an id used once per call');
      inBatch.set(task.id, task);
    }
    for (const task of tasks) {
      const outside = task.dependsOn.filter((id) => !inBatch.has(id));
      const parents = await Promise.all(outside.map((id) => this.queue.get(id)));
      const unknown = outside.filter((_, i) => parents[i] === undefined);
      if (unknown.length > 0) {
        throw new InvalidTaskOptionError(task.name, 'dependsOn', task.dependsOn, `ids of existing tasks or of tasks in the same call (unknown: ${unknown.join(', ')})`);
      }
      const failed = parents.find((p) => p && p.status !== 'success' && FINAL_TASK_STATUSES.includes(p.status));
      if (failed && task.onParentFailure === 'cancel') {
        throw new InvalidTaskOptionError(
          task.name,
          'dependsOn',
          task.dependsOn,
          `parents that can still succeed (${failed.id} ended ${failed.status}; set onParentFailure: "run" to run the task anyway)`,
        );
      }
    }
    const cycle = findCycle(inBatch);
    if (cycle) {
      const task = inBatch.get(cycle[0]!)!;
      throw new InvalidTaskOptionError(task.name, 'dependsOn', task.dependsOn, `no cycle (dependency cycle: ${cycle.join(' -> ')})`);
    }
  }
}

/** A dependency cycle among the batch's tasks, as the ids along it (first id repeated at the end). */
function findCycle(tasks: ReadonlyMap<string, NewTask>): string[] | undefined {
  const done = new Set<string>();
  const path: string[] = [];
  const visit = (id: string): string[] | undefined => {
    const at = path.indexOf(id);
    if (at >= 0) return [...path.slice(at), id];
    if (done.has(id) || !tasks.has(id)) return undefined;
    path.push(id);
    for (const parent of tasks.get(id)!.dependsOn) {
      const cycle = visit(parent);
      if (cycle) return cycle;
    }
    path.pop();
    done.add(id);
    return undefined;
  };
  for (const id of tasks.keys()) {
    const cycle = visit(id);
    if (cycle) return cycle;
  }
  return undefined;
}
