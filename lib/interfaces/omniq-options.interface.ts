import type { EventStore } from '../storage/event.store.js';
import type { ResultStore } from '../storage/result.store.js';
import type { TaskQueueStore } from '../storage/task-queue.store.js';
import type { TaskRunOptions } from './task-options.interface.js';
import type { WorkerOptions } from './worker-options.interface.js';

/**
 * A store: a backend URL (`memory://`, …) that OmniQ opens and closes, or an instance you own
 * (OmniQ uses it but leaves closing it to you).
 */
export type StoreOption<S> = string | S;

export interface OmniQModuleOptions {
  /** Namespaces everything the backends store (default `"omniq"`). */
  projectName?: string;
  /** Folder of the embedded backends' data (default `./omniq_data`). */
  baseDir?: string;
  /** Backend URL for all three stores (default `memory://`). */
  backend?: string;
  /** Overrides `backend` for the task queue. */
  taskQueue?: StoreOption<TaskQueueStore>;
  /** Overrides `backend` for results. */
  resultStore?: StoreOption<ResultStore>;
  /** Overrides `backend` for events. */
  eventStore?: StoreOption<EventStore>;
  worker?: WorkerOptions;
  /** Defaults for every task, below `@Task()` options and `enqueue()` options. */
  taskDefaults?: TaskRunOptions;
  /** Accept `enqueue()` of names no local `@Task()` registers (tasks that only remote workers run). Default false. */
  allowUnregisteredTasks?: boolean;
  /** How often `waitForResult` re-reads a store that cannot notify across processes, in ms (default 500). */
  resultPollIntervalMs?: number;
}
