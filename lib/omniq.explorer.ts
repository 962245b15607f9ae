import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import { DiscoveryService, MetadataScanner, Reflector } from '@nestjs/core';
import { OMNIQ_CONFIG, TASK_METADATA } from './omniq.constants.js';
import type { OmniQConfig } from './config/omniq-config.js';
import { createLogger, type OmniQLogger } from './config/omniq-logger.js';
import type { TaskMetadata } from './decorators/task.decorator.js';
import { TaskDefinitionError } from './errors/omniq.errors.js';
import { TaskRegistry } from './task.registry.js';

type ProviderWrapper = ReturnType<DiscoveryService['getProviders']>[number];

/**
 * Finds `@Task()` methods on every provider at module init and registers them. A method-level
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
    @Inject(OMNIQ_CONFIG) config: OmniQConfig,
  ) {
    this.logger = createLogger('OmniQ', config.logging);
  }

  onModuleInit(): void {
    for (const wrapper of this.discovery.getProviders()) this.explore(wrapper);
    const names = this.registry.names();
    this.logger.log(`Registered ${names.length} task${names.length === 1 ? '' : 's'}${names.length ? `: ${names.join(', ')}` : ''}`);
  }

  private explore(wrapper: ProviderWrapper): void {
    const { instance, metatype } = wrapper;
    if (!metatype || typeof metatype !== 'function') return;
    const prototype = metatype.prototype as object | undefined;
    if (!prototype) return;
    const methods = this.scanner.getAllMethodNames(prototype).filter((method) =>
      this.reflector.get<TaskMetadata | undefined>(TASK_METADATA, (prototype as Record<string, () => unknown>)[method]),
    );
    if (methods.length === 0) return;
    const className = metatype.name;
    if (!wrapper.isDependencyTreeStatic() || wrapper.isTransient) {
      throw new TaskDefinitionError(
        `${className}.${methods[0]} is a @Task() handler on a request-scoped or transient provider. ` +
          'Task handlers must live on singleton providers: move the method to a default-scoped provider.',
      );
    }
    for (const method of methods) {
      const fn = (instance as Record<string, (...args: unknown[]) => unknown>)[method];
      const meta = this.reflector.get<TaskMetadata>(TASK_METADATA, fn);
      this.registry.register({
        name: meta.name ?? `${className}.${method}`,
        options: meta.options,
        source: `${className}.${method}`,
        handler: fn.bind(instance),
      });
    }
  }
}
