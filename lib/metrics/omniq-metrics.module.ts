import { Module, type DynamicModule, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { OMNIQ_CONFIG, OMNIQ_ENQUEUE_LISTENERS, OMNIQ_INSTRUMENTATION, OMNIQ_TASK_QUEUE } from '../omniq.constants.js';
import { OmniQError } from '../errors/omniq.errors.js';
import type { OmniQConfig } from '../config/omniq-config.js';
import { createLogger } from '../config/omniq-logger.js';
import type { TaskQueueStore } from '../storage/task-queue.store.js';
import type { AttemptInstrumentation } from '../worker/attempt-instrumentation.js';
import type { EnqueueListener } from '../workflows/task.submitter.js';
import type { OmniQMetricsOptions } from './metrics-options.interface.js';
import { validateMetricsOptions } from './metrics-options.validation.js';
import { OmniQMetrics } from './omniq-metrics.js';

/**
 * Prometheus metrics of OmniQ through prom-client (an optional peer dependency, loaded only here):
 * `OmniQMetricsModule.forRoot({ registry, prefix, buckets })` beside `OmniQModule.forRoot()`.
 * Global, so that the worker and the submitter of the app's OmniQModule receive its
 * instrumentation; it mounts no endpoint: serve the registry's `metrics()` from a controller.
 */
@Module({})
export class OmniQMetricsModule implements OnModuleInit, OnApplicationShutdown {
  constructor(
    private readonly metrics: OmniQMetrics,
    private readonly moduleRef: ModuleRef,
  ) {}

  static forRoot(options: OmniQMetricsOptions = {}): DynamicModule {
    validateMetricsOptions(options);
    return {
      module: OmniQMetricsModule,
      global: true,
      providers: [
        { provide: OmniQMetrics, useFactory: () => OmniQMetrics.create(options) },
        { provide: OMNIQ_INSTRUMENTATION, inject: [OmniQMetrics], useFactory: (metrics: OmniQMetrics): AttemptInstrumentation[] => [metrics.tasks] },
        { provide: OMNIQ_ENQUEUE_LISTENERS, inject: [OmniQMetrics], useFactory: (metrics: OmniQMetrics): EnqueueListener[] => [metrics.tasks] },
      ],
      exports: [OMNIQ_INSTRUMENTATION, OMNIQ_ENQUEUE_LISTENERS],
    };
  }

  /** Every provider exists by now: the gauges get the task store of the app's OmniQModule, wherever it was imported. */
  onModuleInit(): void {
    let store: TaskQueueStore;
    let config: OmniQConfig;
    try {
      store = this.moduleRef.get<TaskQueueStore>(OMNIQ_TASK_QUEUE, { strict: false });
      config = this.moduleRef.get<OmniQConfig>(OMNIQ_CONFIG, { strict: false });
    } catch {
      throw new OmniQError('OmniQMetricsModule needs OmniQModule in the same application: import OmniQModule.forRoot(…) beside it');
    }
    this.metrics.attach(store, createLogger('OmniQMetrics', config.logging));
  }

  onApplicationShutdown(): void {
    this.metrics.unregister();
  }
}
