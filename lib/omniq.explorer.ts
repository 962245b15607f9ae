import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import { DiscoveryService, MetadataScanner, Reflector } from '@nestjs/core';
import { OMNIQ_CODEC, OMNIQ_CONFIG } from './omniq.constants.js';
import { TaskHandlerScanner } from './task-handlers.scanner.js';
import { workerTypeOf } from './worker/task-executors.js';
import type { OmniQConfig } from './config/omniq-config.js';
import { createLogger, type OmniQLogger } from './config/omniq-logger.js';
import type { TaskMetadata } from './decorators/task.decorator.js';
import { InvalidTaskOptionError, TaskDefinitionError } from './errors/omniq.errors.js';
import { validateHandlerOptions } from './utils/task-options.validation.js';
import { TaskRegistry } from './task.registry.js';
import { groupCollector } from './workflows/group.task.js';
import type { Codec } from './serialization/codec.js';
import { ScheduleRegistry } from './scheduler/schedule.registry.js';
import { toScheduleSpec } from './scheduler/schedule-spec.js';
import { OmniQStores } from './omniq-stores.js';

/**
 * Finds `@Task()` and `@Scheduled()` methods at module init (see TaskHandlerScanner) and registers
 * them; options and schedules are validated here, so a bad one fails the bootstrap naming its method.
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
    @Inject(OMNIQ_CONFIG) private readonly config: OmniQConfig,
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
    for (const { name, source, task, schedules, handler } of new TaskHandlerScanner(this.discovery, this.scanner, this.reflector).scan()) {
      if (task) this.checkTask(source, name, task);
      this.registry.register({ name, options: task?.options ?? {}, source, handler });
      for (const options of schedules) {
        const id = options.name ?? name;
        this.schedules.register({ id, spec: toScheduleSpec(`${source} (@Scheduled "${id}")`, name, options, this.codec), source });
      }
    }
    this.checkPools();
    const names = this.registry.declaredNames();
    this.logger.log(`Registered ${names.length} task${names.length === 1 ? '' : 's'}${names.length ? `: ${names.join(', ')}` : ''}`);
  }

  /** Handlers that run on a pool need the module its members bootstrap: a worker without one fails here, naming them. */
  private checkPools(): void {
    const { enabled, poolModule, type } = this.config.worker;
    if (!enabled || poolModule) return;
    const pooled = this.registry.all().filter((task) => workerTypeOf(task, type) !== 'async');
    if (pooled.length === 0) return;
    throw new TaskDefinitionError(
      `${pooled.map((task) => `${task.source} (${workerTypeOf(task, type)})`).join(', ')} run${pooled.length === 1 ? 's' : ''} on a pool ` +
        '(@Task({ runIn }) or worker.type), which needs worker.poolModule: the Nest module whose providers the pool members bootstrap to run these handlers',
    );
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
}
