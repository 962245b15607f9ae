import { Module, type OnApplicationShutdown, type Provider } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import { OMNIQ_CODEC, OMNIQ_CONFIG, OMNIQ_EVENT_STORE, OMNIQ_RESULT_STORE, OMNIQ_TASK_QUEUE } from './omniq.constants.js';
import { OMNIQ_MODULE_OPTIONS, OmniQConfigurableModule } from './omniq.module-definition.js';
import type { OmniQModuleOptions } from './interfaces/omniq-options.interface.js';
import { resolveConfig, type OmniQConfig } from './config/omniq-config.js';
import { JsonCodec } from './serialization/codec.js';
import { OmniQStores } from './omniq-stores.js';
import { TaskRegistry } from './task.registry.js';
import { OmniQExplorer } from './omniq.explorer.js';
import { EventRecorder } from './events/event.recorder.js';
import { ResultWaiter } from './result.waiter.js';
import { OmniQService } from './omniq.service.js';
import { OmniQWorker } from './worker/omniq.worker.js';
import { ScheduleRegistry } from './scheduler/schedule.registry.js';
import { OmniQScheduler } from './scheduler/omniq.scheduler.js';
import { TaskSubmitter } from './workflows/task.submitter.js';
import { StoreOutcomes } from './workflows/store-outcomes.js';
import { TaskAdmin } from './admin/task.admin.js';
import { OmniQMaintenance } from './maintenance/omniq.maintenance.js';
import { WorkflowHooks } from './workflows/workflow-hooks.js';

const providers: Provider[] = [
  { provide: OMNIQ_CONFIG, inject: [OMNIQ_MODULE_OPTIONS], useFactory: (options: OmniQModuleOptions) => resolveConfig(options) },
  { provide: OmniQStores, inject: [OMNIQ_CONFIG], useFactory: (config: OmniQConfig) => OmniQStores.open(config) },
  { provide: OMNIQ_TASK_QUEUE, inject: [OmniQStores], useFactory: (stores: OmniQStores) => stores.taskQueue },
  { provide: OMNIQ_RESULT_STORE, inject: [OmniQStores], useFactory: (stores: OmniQStores) => stores.resultStore },
  { provide: OMNIQ_EVENT_STORE, inject: [OmniQStores], useFactory: (stores: OmniQStores) => stores.eventStore },
  { provide: OMNIQ_CODEC, useValue: new JsonCodec() },
  TaskRegistry,
  OmniQExplorer,
  EventRecorder,
  ResultWaiter,
  OmniQService,
  OmniQWorker,
  ScheduleRegistry,
  OmniQScheduler,
  TaskSubmitter,
  StoreOutcomes,
  TaskAdmin,
  OmniQMaintenance,
  WorkflowHooks,
];

/**
 * Registers OmniQ: `OmniQModule.forRoot(options)` or `forRootAsync({ imports, inject, useFactory })`,
 * with `isGlobal: true` to make OmniQService injectable everywhere.
 */
@Module({
  imports: [DiscoveryModule],
  providers,
  exports: [
    OmniQService,
    OmniQWorker,
    OmniQScheduler,
    OmniQMaintenance,
    TaskRegistry,
    OMNIQ_TASK_QUEUE,
    OMNIQ_RESULT_STORE,
    OMNIQ_EVENT_STORE,
    OMNIQ_CONFIG,
    OMNIQ_CODEC,
    OMNIQ_MODULE_OPTIONS,
  ],
})
export class OmniQModule extends OmniQConfigurableModule implements OnApplicationShutdown {
  constructor(private readonly stores: OmniQStores) {
    super();
  }

  /** Runs after every provider's shutdown hooks (the worker has drained by then). */
  async onApplicationShutdown(): Promise<void> {
    await this.stores.close();
  }
}
