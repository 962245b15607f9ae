import type { PostgresConnection } from './postgres-connection.js';
import type { PostgresWriter } from './postgres-writer.js';

/**
 * The `paused_queues` table: queues reserve skips (its claim statement checks it per queue), for
 * every engine on the schema and across restarts. Pausing and resuming tell the other engines
 * (`pause:<queue>`, `resume:<queue>`), and a resume wakes the queue's idle workers.
 */
export class PostgresQueuePauses {
  constructor(
    private readonly connection: PostgresConnection,
    private readonly writer: PostgresWriter,
  ) {}

  /** True when this call paused the queue. */
  pause(queue: string): Promise<boolean> {
    return this.writer.write({ operation: `pauseQueue("${queue}")` }, async (write) => {
      const rows = await write.query(
        `INSERT INTO ${this.connection.tables.pausedQueues} (queue, paused_at) VALUES ($1, $2) ON CONFLICT (queue) DO NOTHING RETURNING queue`,
        [queue, write.now],
      );
      if (rows.length === 0) return false;
      write.control(`pause:${queue}`);
      return true;
    });
  }

  /** True when this call resumed the queue. */
  resume(queue: string): Promise<boolean> {
    return this.writer.write({ operation: `resumeQueue("${queue}")` }, async (write) => {
      const rows = await write.query(`DELETE FROM ${this.connection.tables.pausedQueues} WHERE queue = $1 RETURNING queue`, [queue]);
      if (rows.length === 0) return false;
      write.control(`resume:${queue}`);
      write.wake(queue);
      return true;
    });
  }

  async all(): Promise<string[]> {
    const rows = await this.connection.db.query<{ queue: string }>(`SELECT queue FROM ${this.connection.tables.pausedQueues} ORDER BY queue`, [], {
      operation: 'pausedQueues',
    });
    return rows.map(({ queue }) => queue);
  }
}
