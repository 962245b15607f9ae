import { Inject, Injectable, Optional } from '@nestjs/common';
import { OMNIQ_CODEC, OMNIQ_CONFIG, OMNIQ_ENQUEUE_LISTENERS, OMNIQ_TASK_QUEUE } from '../omniq.constants.js';
import type { OmniQConfig } from '../config/omniq-config.js';
import { createLogger, type OmniQLogger } from '../config/omniq-logger.js';
import type { Codec } from '../serialization/codec.js';
import { PARENT_RESULT } from '../serialization/parent-result.js';
import type { EncodedValue } from '../models/encoded-value.model.js';
import type { NewTask, TaskCallback } from '../models/task.model.js';
import type { EnqueueOutcome, TaskQueueStore } from '../storage/task-queue.store.js';
import type { CallbackOptions, EnqueueOptions } from '../interfaces/task-options.interface.js';
import { InvalidTaskOptionError, UnknownTaskError } from '../errors/omniq.errors.js';
import { PayloadEncodingError } from '../errors/codec.errors.js';
import { DuplicateTaskIdError, ParentEndedError, UnknownParentError } from '../errors/store.errors.js';
import { EventRecorder } from '../events/event.recorder.js';
import { TaskRegistry } from '../task.registry.js';
import { validateTaskOptions } from '../utils/task-options.validation.js';
import { buildNewTask } from '../utils/new-task.builder.js';
import { describeError } from '../utils/describe-error.js';

/**
 * Told about every task the submitter stored (not those an idempotency key matched), synchronously
 * after the store's call: metrics plug in here. It must be cheap; a throw is logged and ignored.
 */
export interface EnqueueListener {
  taskEnqueued(task: NewTask): void;
}

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
    @Optional() @Inject(OMNIQ_ENQUEUE_LISTENERS) private readonly listeners: readonly EnqueueListener[] = [],
  ) {
    this.logger = createLogger('OmniQ', config.logging);
  }

  async submit(items: readonly SubmitItem[], extra: Pick<NewTask, 'scheduleId'> = {}): Promise<string[]> {
    const now = new Date();
    const tasks = items.map(({ name, payload, options = {} }) => this.build(name, payload, options, now, extra));
    checkBatch(tasks);
    const outcomes = await this.store(tasks);
    await this.recordEnqueued(tasks, outcomes);
    return outcomes.map((o) => o.id);
  }

  /** Records an `enqueued` event for each task the store created, and tells the listeners; settles once the events were tried. */
  async recordEnqueued(tasks: readonly NewTask[], outcomes: readonly EnqueueOutcome[]): Promise<void> {
    const recorded = outcomes.flatMap((outcome, i) => {
      const task = tasks[i]!;
      if (outcome.created && this.listeners.length > 0) this.tellListeners(task);
      return outcome.created ? [this.recorder.record({ type: 'enqueued', taskId: task.id, taskName: task.name, queue: task.queue, scheduleId: task.scheduleId })] : [];
    });
    await Promise.all(recorded);
  }

  // A listener must never fail an enqueue that was stored: a throw is logged and ignored.
  private tellListeners(task: NewTask): void {
    for (const listener of this.listeners) {
      try {
        listener.taskEnqueued(task);
      } catch (error) {
        this.logger.error(`Enqueue listener threw: ${describeError(error)}`);
      }
    }
  }

  /** Stores the batch; the store's checks of ids and parents are the caller's mistakes, reported as options of the task. */
  private async store(tasks: readonly NewTask[]): Promise<EnqueueOutcome[]> {
    try {
      return await this.queue.enqueue(tasks);
    } catch (error) {
      throw asOptionError(error, tasks) ?? error;
    }
  }

  /** A task ready to store, validated and encoded; `where` names what asked for it in errors. */
  build(name: string, payload: unknown, options: EnqueueOptions, now: Date, extra: Pick<NewTask, 'scheduleId'>, where?: string): NewTask {
    this.requireTask(name, where);
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
}

/** Ids are unique within the call and the batch holds no dependency cycle (the store checks what is stored). */
function checkBatch(tasks: readonly NewTask[]): void {
  const inBatch = new Map<string, NewTask>();
  for (const task of tasks) {
    if (inBatch.has(task.id)) throw new InvalidTaskOptionError(task.name, 'id', task.id, 'an id used once per call');
    inBatch.set(task.id, task);
  }
  const cycle = findCycle(inBatch);
  if (cycle) {
    const task = inBatch.get(cycle[0]!)!;
    throw new InvalidTaskOptionError(task.name, 'dependsOn', task.dependsOn, `no cycle (dependency cycle: ${cycle.join(' -> ')})`);
  }
}

/** The store's verdict on a batch, as the option of the task it names. */
function asOptionError(error: unknown, tasks: readonly NewTask[]): InvalidTaskOptionError | undefined {
  if (!(error instanceof DuplicateTaskIdError || error instanceof UnknownParentError || error instanceof ParentEndedError)) return undefined;
  const task = tasks.find((t) => t.id === error.taskId);
  if (!task) return undefined;
  if (error instanceof DuplicateTaskIdError) return new InvalidTaskOptionError(task.name, 'id', task.id, 'an id no stored task has');
  if (error instanceof UnknownParentError) {
    return new InvalidTaskOptionError(task.name, 'dependsOn', task.dependsOn, `ids of existing tasks or of tasks in the same call (unknown: ${error.parentIds.join(', ')})`);
  }
  return new InvalidTaskOptionError(
    task.name,
    'dependsOn',
    task.dependsOn,
    `parents that can still succeed (${error.parentId} ended ${error.parentStatus}; set onParentFailure: "run" to run the task anyway)`,
  );
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
