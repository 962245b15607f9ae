import { Injectable } from '@nestjs/common';
import { TaskDefinitionError } from './errors/omniq.errors.js';
import type { TaskHandlerOptions } from './interfaces/task-options.interface.js';
import type { TaskContext } from './interfaces/task-context.interface.js';

export interface RegisteredTask {
  name: string;
  options: TaskHandlerOptions;
  /** Where it was declared, for messages: `ClassName.methodName`. */
  source: string;
  handler: (payload: unknown, ctx: TaskContext) => unknown;
  /** OmniQ's own tasks (the group collector): run like any other, left out of `declaredNames()`. */
  internal?: boolean;
}

/** Every task handler this app registered, by name. Filled once by the explorer at bootstrap. */
@Injectable()
export class TaskRegistry {
  private readonly tasks = new Map<string, RegisteredTask>();

  register(task: RegisteredTask): void {
    const existing = this.tasks.get(task.name);
    if (existing) {
      // One source twice: two providers made instances of one class (factories, values, useClass).
      const sources =
        existing.source === task.source
          ? `declared by ${task.source} on two instances (two providers make or hold that class)`
          : `declared by ${existing.source} and by ${task.source}`;
      throw new TaskDefinitionError(`Duplicate task name "${task.name}": ${sources}. Task names must be unique.`);
    }
    this.tasks.set(task.name, task);
  }

  get(name: string): RegisteredTask | undefined {
    return this.tasks.get(name);
  }

  has(name: string): boolean {
    return this.tasks.has(name);
  }

  /** Every registered name, OmniQ's own included: what a worker here can run. */
  names(): string[] {
    return [...this.tasks.keys()];
  }

  /** The names the app declared with `@Task()` / `@Scheduled()`. */
  declaredNames(): string[] {
    return this.all()
      .filter((task) => !task.internal)
      .map((task) => task.name);
  }

  all(): RegisteredTask[] {
    return [...this.tasks.values()];
  }
}
