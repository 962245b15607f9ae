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
}
