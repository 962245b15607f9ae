import type { LogLevel } from '@nestjs/common';
import type { EventStore } from '../storage/event.store.js';
import type { ResultStore } from '../storage/result.store.js';
import type { TaskQueueStore } from '../storage/task-queue.store.js';
import type { TaskRunOptions } from './task-options.interface.js';
import type { MaintenanceOptions, SchedulerOptions, WorkerOptions } from './worker-options.interface.js';

/**
 * A store: a backend URL (`memory://`, `sqlite://path`, …) or type (`memory`, `sqlite`, …) that
 * OmniQ opens and closes, or an instance you own (OmniQ uses it but leaves closing it to you).
 */
export type StoreOption<S> = string | S;

/** Which OmniQ log lines are written. Nest's own logger levels apply after these. */
export interface LoggingOptions {
  /** Least severe level written (default `log`; `debug` adds a line per attempt started and ended). */
  level?: LogLevel;
  /** Level per logger context (`OmniQ`, `OmniQWorker`, `OmniQEvents`) or task name, over `level`. */
  components?: Record<string, LogLevel>;
  /** Write no OmniQ log line at all (default false). */
  disabled?: boolean;
}

/**
 * Module options. They override the YAML file and are overridden by OMNIQ_* environment
 * variables; the settings table in the README lists every setting.
 */
export interface OmniQModuleOptions {
  /** YAML file with settings of the same shape as these options (OMNIQ_CONFIG_FILE overrides it). */
  configFile?: string;
  /** Namespaces everything the backends store (default `"omniq"`). */
  projectName?: string;
  /** Folder of the embedded backends' data (default `./omniq_data`). */
  baseDir?: string;
  /** Backend URL or type for all three stores (default `sqlite`: `sqlite://<baseDir>/omniq.db`). */
  backend?: string;
  /** Overrides `backend` for the task queue. */
  taskQueue?: StoreOption<TaskQueueStore>;
  /** Overrides `backend` for results. */
  resultStore?: StoreOption<ResultStore>;
  /** Overrides `backend` for events. */
  eventStore?: StoreOption<EventStore>;
  /** Backend-specific options, given to every backend (default `{}`). */
  storageOptions?: Record<string, unknown>;
  worker?: WorkerOptions;
  scheduler?: SchedulerOptions;
  maintenance?: MaintenanceOptions;
  /** Defaults for every task, below `@Task()` options and `enqueue()` options. */
  taskDefaults?: TaskRunOptions;
  /** Accept `enqueue()` of names no local `@Task()` registers (tasks that only remote workers run). Default false. */
  allowUnregisteredTasks?: boolean;
  /** How often `waitForResult` re-reads a store that cannot notify across processes, in ms (default 500). */
  resultPollIntervalMs?: number;
  logging?: LoggingOptions;
}
