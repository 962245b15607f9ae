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
