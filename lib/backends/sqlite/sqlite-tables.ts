/** Double-quotes an SQL identifier, so any project name makes a valid table name. */
export const quoteIdentifier = (name: string): string => `"${name.replaceAll('"', '""')}"`;

/**
 * The quoted names of one project's tables and indexes. Every name starts with the project name,
 * so several projects (or an application's own tables) share one database file without clashes.
 */
export interface SqliteTables {
  readonly projectName: string;
  readonly tasks: string;
  /** Tasks per queue and status, kept by triggers on the tasks table. */
  readonly taskCounts: string;
  /** Edges from a parent task id to the dependents it still blocks. */
  readonly taskDeps: string;
  readonly results: string;
  readonly events: string;
  /** Task id -> event seq, filled in bulk (see sqlite-event-index.ts). */
  readonly eventsByTask: string;
  readonly schedules: string;
  /** Queues that reserve skips, by name. */
  readonly pausedQueues: string;
  /** Coordination leases (the maintenance leader's): name, holder, expiry, fencing token. */
  readonly leases: string;
  /** Notifications for the other connections on the file, one row per channel per transaction. */
  readonly notifications: string;
  /** Named integer marks (how far the events_by_task index got). */
  readonly meta: string;
  readonly migrations: string;
  /** The quoted name of one of the project's indexes or triggers: `<project>_<suffix>`. */
  named(suffix: string): string;
}

export function sqliteTables(projectName: string): SqliteTables {
  const named = (suffix: string): string => quoteIdentifier(`${projectName}_${suffix}`);
  return {
    projectName,
    tasks: named('tasks'),
    taskCounts: named('task_counts'),
    taskDeps: named('task_deps'),
    results: named('results'),
    events: named('events'),
    eventsByTask: named('events_by_task'),
    schedules: named('schedules'),
    pausedQueues: named('paused_queues'),
    leases: named('leases'),
    notifications: named('notifications'),
    meta: named('meta'),
    migrations: named('migrations'),
    named,
  };
}
