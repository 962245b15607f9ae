import { SetMetadata } from '@nestjs/common';
import { TASK_METADATA } from '../omniq.constants.js';
import type { TaskHandlerOptions } from '../interfaces/task-options.interface.js';
import type { TaskContext } from '../interfaces/task-context.interface.js';
import type { HandlerPayload, TaskResultValue } from '../types/task-map.types.js';

export interface TaskMetadata {
  /** Undefined: the name defaults to `ClassName.methodName`. */
  name?: string;
  options: TaskHandlerOptions;
}

type TaskHandler<N extends string> = (
  payload: HandlerPayload<N>,
  ctx: TaskContext,
) => TaskResultValue<N> | Promise<TaskResultValue<N>>;

type TaskMethodDecorator<N extends string> = <M extends TaskHandler<N>>(
  target: object,
  key: string | symbol,
  descriptor: TypedPropertyDescriptor<M>,
) => void;

/**
 * Marks a provider method as the handler of a task. The method is called as
 * `(payload, ctx)`; its return value is the task's result. Names declared in `OmniQTaskMap`
 * check the handler's payload and result types at compile time.
 */
export function Task<N extends string>(name: N, options?: TaskHandlerOptions): TaskMethodDecorator<N>;
export function Task(options?: TaskHandlerOptions): TaskMethodDecorator<string>;
export function Task(nameOrOptions?: string | TaskHandlerOptions, options?: TaskHandlerOptions): TaskMethodDecorator<string> {
  const metadata: TaskMetadata =
    typeof nameOrOptions === 'string'
      ? { name: nameOrOptions, options: options ?? {} }
      : { name: undefined, options: nameOrOptions ?? {} };
  return (target, key, descriptor) => {
    SetMetadata(TASK_METADATA, metadata)(target, key, descriptor);
  };
}
