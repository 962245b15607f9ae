import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { EventStore } from '../storage/event.store.js';
import type { ResultStore } from '../storage/result.store.js';
import type { TaskQueueStore } from '../storage/task-queue.store.js';
import type { OmniQModuleOptions, StoreOption } from '../interfaces/omniq-options.interface.js';
import type { TaskRunOptions } from '../interfaces/task-options.interface.js';
import type { WorkerOptions } from '../interfaces/worker-options.interface.js';

export type ResolvedTaskDefaults = Required<Omit<TaskRunOptions, 'timeoutMs' | 'ttlMs' | 'resultTtlMs'>> &
  Pick<TaskRunOptions, 'timeoutMs' | 'ttlMs' | 'resultTtlMs'>;

export type ResolvedWorkerOptions = Required<Omit<WorkerOptions, 'queues'>> & Pick<WorkerOptions, 'queues'>;

/** The module options with every default applied: what the rest of OmniQ reads. */
export interface OmniQConfig {
  projectName: string;
  baseDir: string;
  taskQueue: StoreOption<TaskQueueStore>;
  resultStore: StoreOption<ResultStore>;
  eventStore: StoreOption<EventStore>;
  worker: ResolvedWorkerOptions;
  taskDefaults: ResolvedTaskDefaults;
  allowUnregisteredTasks: boolean;
  resultPollIntervalMs: number;
}

export const DEFAULT_BACKEND = 'memory://';

export const DEFAULT_TASK_OPTIONS: ResolvedTaskDefaults = {
  queue: 'default',
  priority: 0,
  maxRetries: 3,
  retryDelayMs: 5_000,
  retryBackoff: 'exponential',
  retryMaxDelayMs: 3_600_000,
  storeResult: true,
};

export function defaultWorkerId(): string {
  return `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
}

export function resolveConfig(options: OmniQModuleOptions = {}): OmniQConfig {
  const backend = options.backend ?? DEFAULT_BACKEND;
  const leaseMs = options.worker?.leaseMs ?? 30_000;
  return {
    projectName: options.projectName ?? 'omniq',
    baseDir: options.baseDir ?? './omniq_data',
    taskQueue: options.taskQueue ?? backend,
    resultStore: options.resultStore ?? backend,
    eventStore: options.eventStore ?? backend,
    worker: {
      enabled: options.worker?.enabled ?? true,
      id: options.worker?.id ?? defaultWorkerId(),
      concurrency: options.worker?.concurrency ?? 10,
      queues: options.worker?.queues,
      pollIntervalMs: options.worker?.pollIntervalMs ?? 1_000,
      leaseMs,
      heartbeatMs: options.worker?.heartbeatMs ?? Math.max(1, Math.floor(leaseMs / 3)),
      shutdownTimeoutMs: options.worker?.shutdownTimeoutMs ?? 10_000,
    },
    taskDefaults: { ...DEFAULT_TASK_OPTIONS, ...stripUndefined(options.taskDefaults ?? {}) },
    allowUnregisteredTasks: options.allowUnregisteredTasks ?? false,
    resultPollIntervalMs: options.resultPollIntervalMs ?? 500,
  };
}

export function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
