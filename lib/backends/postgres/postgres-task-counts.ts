import type { PostgresConnection } from './postgres-connection.js';

/** A read that summed more delta rows than this folds them (see foldTaskCounts). */
export const FOLD_ABOVE_ROWS = 10_000;

/**
 * Folds the `task_counts` deltas into one row per queue, name and status (groups that sum to
 * zero go), so the sums that counts() and list() read stay small. One statement: the rows it
 * deletes are exactly the rows it sums. Deltas that transactions still in flight append are not
 * visible to it and stay for the next fold; a concurrent fold waits on the rows this one deletes
 * and then skips them, so no delta is counted twice or lost.
 */
export async function foldTaskCounts(connection: PostgresConnection): Promise<void> {
  const { taskCounts } = connection.tables;
  await connection.db.transaction({ operation: 'foldTaskCounts' }, (tx) =>
    tx.query(
      `WITH folded AS (DELETE FROM ${taskCounts} RETURNING queue, name, status, delta)
      INSERT INTO ${taskCounts} (queue, name, status, delta)
      SELECT queue, name, status, sum(delta) FROM folded GROUP BY queue, name, status HAVING sum(delta) <> 0`,
    ),
  );
}
