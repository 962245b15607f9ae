import type { PostgresTables } from './postgres-tables.js';
import { postgresCode } from './postgres-storage.error.js';
import type { TaskRow } from './postgres-task-row.js';
import { FINAL_SQL } from './postgres-task-write-sql.js';
import type { PostgresWrite } from './postgres-write.js';

const UNIQUE_VIOLATION = '23505';

/** A fresh life gets a fresh TTL; otherwise a requeued expired task would expire again at once. `$2` is now. */
const FRESH_TTL = 'expires_at = CASE WHEN t.ttl_ms IS NULL THEN t.expires_at ELSE $2 + t.ttl_ms END';

/** What `requeue` sets on a failed, cancelled or expired task: pending, due now, attempts and lapses reset. */
export const REQUEUE_SET = `status = 'pending', attempts = 0, lapses = 0, run_at = $2, updated_at = $2, started_at = NULL, completed_at = NULL,
  cancel_requested_at = NULL, cancelled_by = NULL, ${FRESH_TTL}`;

/** What a requeue's revival sets on a dependent its parent's end cancelled: waiting as it was before, its error gone. */
export const REVIVE_SET = `status = CASE WHEN t.run_at > $2 THEN 'scheduled' ELSE 'pending' END, updated_at = $2, completed_at = NULL,
  last_error = NULL, cancelled_by = NULL, ${FRESH_TTL}`;

/**
 * Gives each key of `rows` (tasks back to waiting) to the oldest of them, unless a live task holds
 * it: keys that ended tasks hold within their dedupe window are freed first. An enqueue that takes
 * a key after the taking statement's snapshot makes it fail on the unique index; it is then taken
 * again (in a savepoint, so the transaction goes on) by a statement that sees that holder.
 */
async function takeKeys(write: PostgresWrite, tasks: string, rows: readonly RewaitedRow[]): Promise<void> {
  const keys = [...new Set(rows.map((row) => row.idempotency_key!))];
  await write.query(`UPDATE ${tasks} SET held_key = NULL WHERE held_key = ANY($1::text[]) AND status IN ${FINAL_SQL}`, [keys]);
  const take = (): Promise<unknown> =>
    write.query(
      `UPDATE ${tasks} t SET held_key = t.idempotency_key
      FROM (SELECT DISTINCT ON (idempotency_key) seq FROM ${tasks} WHERE seq = ANY($1::bigint[]) ORDER BY idempotency_key, seq) oldest
      WHERE t.seq = oldest.seq AND NOT EXISTS (SELECT 1 FROM ${tasks} o WHERE o.held_key = t.idempotency_key)`,
      [rows.map((row) => row.seq)],
    );
  await write.query('SAVEPOINT omniq_take_keys');
  for (let attempt = 1; ; attempt++) {
    try {
      await take();
      break;
    } catch (error) {
      if (postgresCode(error) !== UNIQUE_VIOLATION || attempt > keys.length) throw error;
      await write.query('ROLLBACK TO SAVEPOINT omniq_take_keys');
    }
  }
  await write.query('RELEASE SAVEPOINT omniq_take_keys');
}

/** A row a rewait changed, with the `cancelled_by` it had before. */
export type RewaitedRow = TaskRow & { cause: string | null };

/**
 * Sends the ended tasks that `which` selects (`match`: a condition on table alias `c` binding `$1`
 * to `ids`; `status`: the condition on their status, which the update checks again on each row)
 * back to waiting with `set` (binding `$2` to now), in the caller's transaction: blocked
 * again on the parents whose edges are unmet, and holding their idempotency key again where no
 * live task holds it (of several with one key, the oldest). Returns their rows as they are now.
 *
 * The keys are taken in statements after the update (see takeKeys): a key held by an ended task
 * within its dedupe window must be freed before a requeued one can take it, and the unique index
 * checks each row as it is written.
 */
export async function rewaitTasks(
  write: PostgresWrite,
  { tasks, taskDeps }: PostgresTables,
  which: { readonly match: string; readonly status: string },
  ids: readonly string[],
  set: string,
): Promise<RewaitedRow[]> {
  const rows = await write.query<RewaitedRow>(
    `UPDATE ${tasks} t SET ${set}, held_key = NULL,
      unmet = (SELECT count(*) FROM ${taskDeps} d WHERE d.child_seq = t.seq AND NOT d.met)
    FROM (SELECT seq, cancelled_by FROM ${tasks} c WHERE ${which.match} AND c.status ${which.status}) c
    WHERE t.seq = c.seq AND t.status ${which.status}
    RETURNING c.cancelled_by AS cause, t.*`,
    [ids, write.now],
  );
  const keyed = rows.filter((row) => row.idempotency_key !== null);
  if (keyed.length > 0) await takeKeys(write, tasks, keyed);
  for (const row of rows) {
    if (row.unmet === 0 && row.run_at <= write.now && row.status === 'pending') write.wake(row.queue);
  }
  return rows;
}
