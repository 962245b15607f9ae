/**
 * SQL the task writes share. The status lists repeat the partial indexes' WHERE terms (see the
 * initial migration), so the planner can use those indexes; they are spelled out rather than
 * derived from the model's lists, since an index definition must not change once migrated.
 */
export const WAITING_SQL = `('pending', 'scheduled', 'retrying')`;
export const LIVE_SQL = `('pending', 'scheduled', 'running', 'retrying')`;
export const FINAL_SQL = `('success', 'failed', 'cancelled', 'expired')`;
export const REQUEUEABLE_SQL = `('failed', 'cancelled', 'expired')`;

export const CLEAR_LEASE = 'worker_id = NULL, lease_token = NULL, lease_expires_at = NULL';

/**
 * A WHERE term (always true) that makes the statement's own transaction commit without waiting
 * for its WAL to reach the disk (`synchronous_commit = off`, for that transaction only; an
 * uncorrelated subquery, so it is evaluated once, before the first row is changed). For writes
 * whose loss in a crash of the server (not a restart) is a lease lost and nothing more: a reserve.
 * Any later durable commit — the task's own settle included — flushes it too, since WAL is written
 * in order; what a crash can lose is at most the last `wal_writer_delay` (200 ms by default).
 */
export const COMMIT_WITHOUT_FLUSH = `(SELECT set_config('synchronous_commit', 'off', true)) IS NOT NULL`;

/**
 * `held_key` of a task ending now (`t`): kept for its dedupe window, freed at once without one
 * (an enqueue finding it held after the window frees it then, see PostgresTaskInserter).
 */
export const HELD_KEY_AT_END = 'CASE WHEN t.dedupe_window_ms IS NULL THEN NULL ELSE t.held_key END';

/** Rows per statement of a batch (insert, settle, cascade level): a statement's arrays and locks stay small. */
export const STATEMENT_ROWS = 5_000;

/** `items` in slices of at most STATEMENT_ROWS, in order (no copy for the usual single slice). */
export function slices<T>(items: readonly T[]): (readonly T[])[] {
  if (items.length <= STATEMENT_ROWS) return [items];
  const parts: T[][] = [];
  for (let start = 0; start < items.length; start += STATEMENT_ROWS) parts.push(items.slice(start, start + STATEMENT_ROWS));
  return parts;
}
