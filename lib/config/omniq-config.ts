import type { LogLevel } from '@nestjs/common';
import type { EventStore } from '../storage/event.store.js';
import type { ResultStore } from '../storage/result.store.js';
import type { TaskQueueStore } from '../storage/task-queue.store.js';
import type { OmniQModuleOptions, StoreOption } from '../interfaces/omniq-options.interface.js';
import type { TaskRunOptions, WorkerType } from '../interfaces/task-options.interface.js';
import type { MaintenanceOptions, SchedulerOptions, WorkerOptions } from '../interfaces/worker-options.interface.js';
import { loadConfig } from './config.loader.js';
import { createLogger } from './omniq-logger.js';

export type ResolvedTaskDefaults = Required<Omit<TaskRunOptions, 'timeoutMs' | 'ttlMs' | 'resultTtlMs'>> &
  Pick<TaskRunOptions, 'timeoutMs' | 'ttlMs' | 'resultTtlMs'>;

/** `worker.poolModule` once read: the module file's absolute path and the export to bootstrap. */
export interface PoolModuleRef {
  file: string;
  exportName?: string;
}

export type ResolvedWorkerOptions = Required<Omit<WorkerOptions, 'queues' | 'type' | 'poolModule' | 'poolRecycleHeapMb' | 'poolMaxHeapMb'>> &
  Pick<WorkerOptions, 'queues' | 'poolRecycleHeapMb' | 'poolMaxHeapMb'> & {
    type: WorkerType;
    poolModule: PoolModuleRef | undefined;
  };

/** Which OmniQ log lines are written: `level` and more severe, per logger context or task name in `components`. */
export interface LoggingConfig {
  level: LogLevel;
  components: Readonly<Record<string, LogLevel>>;
  disabled: boolean;
}

/** The configuration with every source merged and every default applied: what the rest of OmniQ reads. */
export interface OmniQConfig {
  projectName: string;
  baseDir: string;
  taskQueue: StoreOption<TaskQueueStore>;
  resultStore: StoreOption<ResultStore>;
  eventStore: StoreOption<EventStore>;
  /** Backend-specific options, the same for every backend. */
  storageOptions: Readonly<Record<string, unknown>>;
  worker: ResolvedWorkerOptions;
  scheduler: Required<SchedulerOptions>;
  maintenance: Required<MaintenanceOptions>;
  taskDefaults: ResolvedTaskDefaults;
  allowUnregisteredTasks: boolean;
  resultPollIntervalMs: number;
  logging: LoggingConfig;
}

/**
 * The configuration from built-in defaults < YAML file < module options < OMNIQ_* environment
 * variables. Throws OmniQConfigError naming every bad value with its source; logs a warning for
 * settings that are accepted but have no effect.
 */
export function resolveConfig(options: OmniQModuleOptions = {}, env: NodeJS.ProcessEnv = process.env): OmniQConfig {
  const { config, warnings } = loadConfig(options, env);
  const logger = createLogger('OmniQ', config.logging);
  for (const warning of warnings) logger.warn(warning);
  return config;
}

export function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
