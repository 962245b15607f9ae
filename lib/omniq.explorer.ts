import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import { DiscoveryService, MetadataScanner, Reflector } from '@nestjs/core';
import { OMNIQ_CODEC, OMNIQ_CONFIG, SCHEDULED_METADATA, TASK_METADATA } from './omniq.constants.js';
import type { OmniQConfig } from './config/omniq-config.js';
import { createLogger, type OmniQLogger } from './config/omniq-logger.js';
import type { TaskMetadata } from './decorators/task.decorator.js';
import { InvalidTaskOptionError, TaskDefinitionError } from './errors/omniq.errors.js';
import { validateHandlerOptions } from './utils/task-options.validation.js';
import { TaskRegistry } from './task.registry.js';
import { groupCollector } from './workflows/group.task.js';
import type { Codec } from './serialization/codec.js';
import type { ScheduledOptions } from './interfaces/scheduled-options.interface.js';
import { ScheduleRegistry } from './scheduler/schedule.registry.js';
import { toScheduleSpec } from './scheduler/schedule-spec.js';
import { OmniQStores } from './omniq-stores.js';

type HostWrapper = ReturnType<DiscoveryService['getProviders']>[number];
type Method = (...args: unknown[]) => unknown;
type MethodHost = Record<string, Method>;

/**
 * Finds `@Task()` and `@Scheduled()` methods at module init and registers them (schedules are
 * validated here, so a bad one fails the bootstrap naming its method). A method-level decorator is
 * not indexed by DiscoveryService's metadataKey filter, so every controller and provider is
 * scanned. The metadata sits on the methods of the instance's prototype, which is what makes
 * factory (`useFactory`) and value (`useValue`) providers discoverable: their wrapper has no class.
 */
@Injectable()
export class OmniQExplorer implements OnModuleInit {
  private readonly logger: OmniQLogger;

  constructor(
    private readonly discovery: DiscoveryService,
    private readonly scanner: MetadataScanner,
    private readonly reflector: Reflector,
    private readonly registry: TaskRegistry,
    private readonly schedules: ScheduleRegistry,
    @Inject(OMNIQ_CODEC) private readonly codec: Codec,
    @Inject(OMNIQ_CONFIG) config: OmniQConfig,
    private readonly stores: OmniQStores,
  ) {
    this.logger = createLogger('OmniQ', config.logging);
  }

  /**
   * A definition error fails the bootstrap, and Nest runs no shutdown hook after a failed one: the
   * stores opened for it are closed here, or their connections (a PostgreSQL pool) would keep the
   * process alive.
   */
  async onModuleInit(): Promise<void> {
    try {
      this.discover();
    } catch (error) {
      await this.stores.close();
      throw error;
    }
  }

  private discover(): void {
    this.registry.register(groupCollector);
    // One instance can sit behind several tokens (`useFactory: (x) => x`): its handlers register once.
    const explored = new Set<object>();
    for (const wrapper of [...this.discovery.getControllers(), ...this.discovery.getProviders()]) this.explore(wrapper, explored);
    const names = this.registry.declaredNames();
    this.logger.log(`Registered ${names.length} task${names.length === 1 ? '' : 's'}${names.length ? `: ${names.join(', ')}` : ''}`);
  }

  private explore(wrapper: HostWrapper, explored: Set<object>): void {
    // `useExisting` hands out its target's instance, which is explored under its own token.
    if (wrapper.isAlias) return;
    if (!wrapper.isDependencyTreeStatic() || wrapper.isTransient) return this.rejectScoped(wrapper);
    const instance: unknown = wrapper.instance;
    if (typeof instance !== 'object' || instance === null || explored.has(instance)) return;
    explored.add(instance);
    const prototype = Object.getPrototypeOf(instance) as MethodHost | null;
    const methods = this.handlerMethods(prototype);
    if (methods.length === 0) return;
    const className = this.hostName(prototype!, wrapper);
    for (const method of methods) {
      // Metadata is read from the prototype's method: an own property (a method bound in the
      // constructor) is what gets called, but it carries no metadata.
      const decorated = prototype![method]!;
      const fn = (instance as MethodHost)[method]!;
      const source = `${className}.${method}`;
      const task = this.taskOf(decorated);
      const schedules = this.schedulesOf(decorated);
      // A @Scheduled() method without @Task() is a task of its own, named like its (first) schedule.
      const name = task?.name ?? (task ? undefined : schedules[0]?.name) ?? source;
      if (task) this.checkTask(source, name, task);
      this.registry.register({ name, options: task?.options ?? {}, source, handler: fn.bind(instance) });
      for (const options of schedules) {
        const id = options.name ?? name;
        this.schedules.register({ id, spec: toScheduleSpec(`${source} (@Scheduled "${id}")`, name, options, this.codec), source });
      }
    }
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

  /** A bad name or option fails the bootstrap, naming the method, rather than every enqueue or run later. */
  private checkTask(source: string, name: string, task: TaskMetadata): void {
    if (typeof name !== 'string' || name.trim().length === 0) {
      throw new TaskDefinitionError(`${source}: @Task() name ${JSON.stringify(name)} is invalid; expected a non-empty string (or no name, for "${source}")`);
    }
    try {
      validateHandlerOptions(name, task.options);
    } catch (error) {
      if (error instanceof InvalidTaskOptionError) throw new TaskDefinitionError(`${source}: @Task() ${error.message}`);
      throw error;
    }
  }

  private taskOf(method: Method): TaskMetadata | undefined {
    return this.reflector.get<TaskMetadata | undefined>(TASK_METADATA, method);
  }

  private schedulesOf(method: Method): ScheduledOptions[] {
    return this.reflector.get<ScheduledOptions[] | undefined>(SCHEDULED_METADATA, method) ?? [];
  }
}
