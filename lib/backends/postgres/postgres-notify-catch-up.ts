import type { PostgresConnection } from './postgres-connection.js';
import type { NotifyBatch } from './postgres-notify-payload.js';

/**
 * How far before the loss of the LISTEN session the catch-up reads: results are stamped with
 * their writer's clock, which may run behind this process's, and a write may have committed
 * a moment after it took its time.
 */
export const CATCH_UP_MARGIN_MS = 5_000;

/**
 * What an engine may have missed while it could not hear its peers since `since` (epoch ms), as
 * the messages they would have sent: a wake for every queue with tasks waiting, the ids of the
 * results stored since, and cancel requests made since for running tasks. One statement: the
 * queues by a loose scan of the ready index (one probe per queue, however many tasks wait), the
 * results by their completion index, the cancels among the running tasks (few, by their lease index).
 */
export async function missedSince(connection: PostgresConnection, since: number): Promise<NotifyBatch> {
  const { tasks, results } = connection.tables;
  const waiting = `status IN ('pending', 'scheduled', 'retrying') AND unmet = 0`;
  const rows = await connection.db.query<{ kind: 'w' | 'r' | 'c'; value: string }>(
    `WITH RECURSIVE queues AS (
       SELECT (SELECT min(queue) FROM ${tasks} WHERE ${waiting}) AS queue
       UNION ALL
       SELECT (SELECT min(queue) FROM ${tasks} WHERE ${waiting} AND queue > queues.queue) FROM queues WHERE queues.queue IS NOT NULL
     )
     SELECT 'w' AS kind, queue AS value FROM queues WHERE queue IS NOT NULL
     UNION ALL
     SELECT 'r', task_id FROM ${results} WHERE completed_at >= $1
     UNION ALL
     SELECT 'c', id FROM ${tasks} WHERE status = 'running' AND cancel_requested_at >= $1`,
    [since - CATCH_UP_MARGIN_MS],
    { operation: 'reading what changed while the LISTEN session was lost' },
  );
  const of = (kind: 'w' | 'r' | 'c'): string[] => rows.filter((row) => row.kind === kind).map((row) => row.value);
  return { wake: of('w'), result: of('r'), control: of('c').map((id) => `cancel:${id}`), events: true };
}
