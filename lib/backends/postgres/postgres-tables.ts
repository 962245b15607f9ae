import { createHash } from 'node:crypto';

/** Double-quotes an SQL identifier, so any project or schema name makes a valid name. */
export const quoteIdentifier = (name: string): string => `"${name.replaceAll('"', '""')}"`;

/** PostgreSQL's limit on identifier length, in bytes: longer names are cut silently, so two tables could clash. */
const MAX_IDENTIFIER_BYTES = 63;
/** The longest suffix OmniQ appends to the project name (`_tasks_ready_by_name`…), with room to spare. */
const LONGEST_SUFFIX = 28;

/**
 * The schema-qualified, quoted names of one project's tables. Every name starts with the project
 * name, so several projects (or an application's own tables) share one schema without clashes.
 */
export interface PostgresTables {
  readonly schema: string;
  readonly projectName: string;
  readonly tasks: string;
  /** Count deltas per queue, name and status: appended by a statement trigger, summed on read, folded by the purge. */
  readonly taskCounts: string;
  /** Edges from a parent task id to the dependents it still blocks. */
  readonly taskDeps: string;
  readonly results: string;
  readonly events: string;
  readonly schedules: string;
  readonly pausedQueues: string;
  /** Coordination leases (the maintenance leader's): name, holder, expiry, fencing token. */
  readonly leases: string;
  readonly migrations: string;
  /** A quoted, unqualified name of one of the project's indexes, triggers or functions: `<project>_<suffix>`. */
  named(suffix: string): string;
  /** The same name qualified with the schema (for functions, which live in a schema like tables). */
  qualified(suffix: string): string;
  /**
   * The one NOTIFY channel of this schema and project (unquoted, as pg_notify takes it): a short
   * hash of both, since channel names share the 63-byte limit and a schema plus project may not fit.
   */
  readonly notifyChannel: string;
}

export function postgresTables(schema: string, projectName: string): PostgresTables {
  if (Buffer.byteLength(projectName) > MAX_IDENTIFIER_BYTES - LONGEST_SUFFIX) {
    throw new RangeError(
      `projectName "${projectName}" is too long for PostgreSQL table names: at most ${MAX_IDENTIFIER_BYTES - LONGEST_SUFFIX} bytes`,
    );
  }
  const named = (suffix: string): string => quoteIdentifier(`${projectName}_${suffix}`);
  const qualified = (suffix: string): string => `${quoteIdentifier(schema)}.${named(suffix)}`;
  return {
    schema,
    projectName,
    tasks: qualified('tasks'),
    taskCounts: qualified('task_counts'),
    taskDeps: qualified('task_deps'),
    results: qualified('results'),
    events: qualified('events'),
    schedules: qualified('schedules'),
    pausedQueues: qualified('paused_queues'),
    leases: qualified('leases'),
    migrations: qualified('migrations'),
    named,
    qualified,
    notifyChannel: `omniq_${createHash('sha256').update(`${schema}\0${projectName}`).digest('hex').slice(0, 24)}`,
  };
}
