import type { DiscoveryService, MetadataScanner, Reflector } from '@nestjs/core';
import { SCHEDULED_METADATA, TASK_METADATA } from './omniq.constants.js';
import type { TaskMetadata } from './decorators/task.decorator.js';
import type { ScheduledOptions } from './interfaces/scheduled-options.interface.js';
import type { TaskContext } from './interfaces/task-context.interface.js';
import { TaskDefinitionError } from './errors/omniq.errors.js';

type HostWrapper = ReturnType<DiscoveryService['getProviders']>[number];
type Method = (...args: unknown[]) => unknown;
type MethodHost = Record<string, Method>;

/** A `@Task()` or `@Scheduled()` method found on a provider, bound to its instance. */
export interface FoundHandler {
  name: string;
  /** `ClassName.methodName`, for messages. */
  source: string;
  /** Its `@Task()` metadata; undefined for a `@Scheduled()` method without `@Task()`. */
  task: TaskMetadata | undefined;
  schedules: ScheduledOptions[];
  handler: (payload: unknown, ctx: TaskContext) => unknown;
}

/**
 * Finds the `@Task()` and `@Scheduled()` methods of an application's controllers and providers:
 * what the explorer registers, and what a pool member runs. A method-level decorator is not
 * indexed by DiscoveryService's metadataKey filter, so every controller and provider is scanned.
 * The metadata sits on the methods of the instance's prototype, which is what makes factory
 * (`useFactory`) and value (`useValue`) providers discoverable: their wrapper has no class.
 */
export class TaskHandlerScanner {
  constructor(
    private readonly discovery: DiscoveryService,
    private readonly scanner: MetadataScanner,
    private readonly reflector: Reflector,
  ) {}

  scan(): FoundHandler[] {
    // One instance can sit behind several tokens (`useFactory: (x) => x`): its handlers are found once.
    const explored = new Set<object>();
    return [...this.discovery.getControllers(), ...this.discovery.getProviders()].flatMap((wrapper) => this.explore(wrapper, explored));
  }

  private explore(wrapper: HostWrapper, explored: Set<object>): FoundHandler[] {
    // `useExisting` hands out its target's instance, which is explored under its own token.
    if (wrapper.isAlias) return [];
    if (!wrapper.isDependencyTreeStatic() || wrapper.isTransient) {
      this.rejectScoped(wrapper);
      return [];
    }
    const instance: unknown = wrapper.instance;
    if (typeof instance !== 'object' || instance === null || explored.has(instance)) return [];
    explored.add(instance);
    const prototype = Object.getPrototypeOf(instance) as MethodHost | null;
    const methods = this.handlerMethods(prototype);
    if (methods.length === 0) return [];
    const className = this.hostName(prototype!, wrapper);
    return methods.map((method) => {
      // Metadata is read from the prototype's method: an own property (a method bound in the
      // constructor) is what gets called, but it carries no metadata.
      const decorated = prototype![method]!;
      const fn = (instance as MethodHost)[method]!;
      const source = `${className}.${method}`;
      const task = this.taskOf(decorated);
      const schedules = this.schedulesOf(decorated);
      // A @Scheduled() method without @Task() is a task of its own, named like its (first) schedule.
      const name = task?.name ?? (task ? undefined : schedules[0]?.name) ?? source;
      return { name, source, task, schedules, handler: fn.bind(instance) };
    });
  }

  /**
   * A request-scoped or transient host has no single instance to run tasks on. Its handlers are
   * found on its class, or on the instances Nest already made of a transient factory; a
   * request-scoped factory makes nothing before a request, so what it would return is unknown.
   */
  private rejectScoped(wrapper: HostWrapper): void {
    const prototypes: (MethodHost | null)[] = !wrapper.isNotMetatype
      ? [(wrapper.metatype as { prototype: MethodHost }).prototype]
      : wrapper.getStaticTransientInstances().map((made) => (made?.instance ? (Object.getPrototypeOf(made.instance) as MethodHost) : null));
    for (const prototype of prototypes) {
      const [method] = this.handlerMethods(prototype);
      if (method === undefined) continue;
      throw new TaskDefinitionError(
        `${this.hostName(prototype!, wrapper)}.${method} is a @Task() or @Scheduled() handler on a request-scoped or transient provider ` +
          '(its own scope, or one it inherits from a request-scoped dependency). ' +
          'Task handlers must live on singleton providers: move the method to a default-scoped provider.',
      );
    }
  }

  /** The methods carrying `@Task()` or `@Scheduled()`; a plain object's prototype has none. */
  private handlerMethods(prototype: MethodHost | null | undefined): string[] {
    if (!prototype || prototype === Object.prototype) return [];
    return this.scanner
      .getAllMethodNames(prototype)
      .filter((method) => this.taskOf(prototype[method]!) !== undefined || this.schedulesOf(prototype[method]!).length > 0);
  }

  /** The class that declared the handlers; the provider's token when the class is anonymous. */
  private hostName(prototype: MethodHost, wrapper: HostWrapper): string {
    const ctor = (prototype as { constructor?: { name?: string } }).constructor;
    return ctor?.name || String(wrapper.name);
  }

  private taskOf(method: Method): TaskMetadata | undefined {
    return this.reflector.get<TaskMetadata | undefined>(TASK_METADATA, method);
  }

  private schedulesOf(method: Method): ScheduledOptions[] {
    return this.reflector.get<ScheduledOptions[] | undefined>(SCHEDULED_METADATA, method) ?? [];
  }
}
