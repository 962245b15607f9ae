import type { WorkerType } from './task-options.interface.js';

/**
 * The module a thread or process pool member bootstraps to find its `@Task()` handlers: a file
 * URL, or a path (relative to the working directory), of a compiled ES module, with the name of
 * its exported Nest module after `#` (`dist/tasks.module.js#TasksModule`) unless it exports one
 * module only.
 */
export type PoolModuleOption = string | URL;

export interface WorkerOptions {
  /** Run a worker in this app (default true). Producers-only apps set false. */
  enabled?: boolean;
  /** A stable id for logs, events and leases (default `<hostname>-<pid>-<random>`). */
  id?: string;
  /** Tasks in flight at most (default 10). */
  concurrency?: number;
  /**
   * Queues this worker serves, highest priority first. Default: `"default"` followed by every
   * other queue named by a registered `@Task()`.
   */
  queues?: string[];
  /** How often an idle worker looks for due tasks when no wake-up signal came, in ms (default 1,000). */
  pollIntervalMs?: number;
  /** How long a reserved task stays held without a heartbeat, in ms (default 30,000). */
  leaseMs?: number;
  /** How often leases of running tasks are renewed, in ms (default leaseMs / 3). */
  heartbeatMs?: number;
  /** On shutdown, how long in-flight tasks may finish before they are aborted and released, in ms (default 10,000). */
  shutdownTimeoutMs?: number;
  /** Where handlers without `@Task({ runIn })` run (default `async`: on the event loop). */
  type?: WorkerType;
  /** Thread pool members, which is how many `thread` tasks run at once (default 4). */
  threads?: number;
  /** Process pool members, which is how many `process` tasks run at once (default 2). */
  processes?: number;
  /** The Nest module pool members bootstrap (required once any handler runs in a thread or process). */
  poolModule?: PoolModuleOption;
  /** A pool member whose V8 heap is above this many MiB after a task is replaced by a fresh one (default: never). */
  poolRecycleHeapMb?: number;
  /** The most heap a pool member may use, in MiB: past it the member dies and fails its task as out of memory (default: V8's). */
  poolMaxHeapMb?: number;
}

export interface SchedulerOptions {
  /** Fire due schedules from this app (default true). Every instance may: each tick fires exactly once. */
  enabled?: boolean;
  /** How often the scheduler re-reads schedules that other instances may have changed, in ms (default 1,000). */
  pollIntervalMs?: number;
  /**
   * A fire found due later than this (the app was down) counts as missed and follows the
   * schedule's `missed` policy instead of running late, in ms (default 60,000).
   */
  missedGraceMs?: number;
}

/**
 * Maintenance (reclaiming lapsed leases, promoting due tasks, expiring tasks past their TTL,
 * removing results past theirs) runs on one elected instance per project, not on every worker.
 */
export interface MaintenanceOptions {
  /** Take part in the election (default true). An instance that never leads still works normally. */
  enabled?: boolean;
  /** How often the leader runs maintenance and the others try to lead, in ms (default 1,000). */
  intervalMs?: number;
  /**
   * How many times a task's lease may lapse — its worker died or froze while running it — before
   * the leader ends it failed, a dead letter with a TaskLapsedError (default 3). From 2 up, tasks
   * that were running beside a poison task survive it: a worker runs at most one task on its last
   * delivery at a time.
   */
  maxLapses?: number;
  /** How long the leader's lease lasts unrenewed, in ms (default 10,000): another instance takes over within this long of its death. */
  leaderTtlMs?: number;
}
