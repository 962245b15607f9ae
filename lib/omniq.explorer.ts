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

type ProviderWrapper = ReturnType<DiscoveryService['getProviders']>[number];

/**
 * Finds `@Task()` and `@Scheduled()` methods on every provider at module init and registers them
 * (schedules are validated here, so a bad one fails the bootstrap naming its method). A method-level
 * decorator is not indexed by DiscoveryService's metadataKey filter, so every static provider's
 * prototype is scanned.
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
  ) {
    this.logger = createLogger('OmniQ', config.logging);
  }

  onModuleInit(): void {
    this.registry.register(groupCollector);
    for (const wrapper of this.discovery.getProviders()) this.explore(wrapper);
    const names = this.registry.declaredNames();
    this.logger.log(`Registered ${names.length} task${names.length === 1 ? '' : 's'}${names.length ? `: ${names.join(', ')}` : ''}`);
  }

  private explore(wrapper: ProviderWrapper): void {
    const { instance, metatype } = wrapper;
    if (!metatype || typeof metatype !== 'function') return;
    const prototype = metatype.prototype as Record<string, (...args: unknown[]) => unknown> | undefined;
    if (!prototype) return;
    const methods = this.scanner
      .getAllMethodNames(prototype)
      .filter((method) => this.taskOf(prototype[method]!) !== undefined || this.schedulesOf(prototype[method]!).length > 0);
    if (methods.length === 0) return;
    const className = metatype.name;
    if (!wrapper.isDependencyTreeStatic() || wrapper.isTransient) {
      throw new TaskDefinitionError(
        `${className}.${methods[0]} is a @Task() or @Scheduled() handler on a request-scoped or transient provider. ` +
          'Task handlers must live on singleton providers: move the method to a default-scoped provider.',
      );
    }
    for (const method of methods) {
      const fn = (instance as Record<string, (...args: unknown[]) => unknown>)[method]!;
      const source = `${className}.${method}`;
      const task = this.taskOf(fn);
      const schedules = this.schedulesOf(fn);
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

  private taskOf(method: (...args: unknown[]) => unknown): TaskMetadata | undefined {
    return this.reflector.get<TaskMetadata | undefined>(TASK_METADATA, method);
  }

  private schedulesOf(method: (...args: unknown[]) => unknown): ScheduledOptions[] {
    return this.reflector.get<ScheduledOptions[] | undefined>(SCHEDULED_METADATA, method) ?? [];
  }
}
