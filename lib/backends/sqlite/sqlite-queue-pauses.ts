import type { SqliteDatabase, SqliteStatement } from './sqlite-database.types.js';
import type { SqliteTables } from './sqlite-tables.js';

/** The `paused_queues` table: queues reserve skips, for every connection on the file and across restarts. */
export class SqliteQueuePauses {
  private readonly selectOne: SqliteStatement<unknown[]>;
  private readonly selectAll: SqliteStatement<unknown[]>;
  private readonly insert: SqliteStatement;
  private readonly remove: SqliteStatement;

  constructor(db: SqliteDatabase, { pausedQueues }: SqliteTables) {
    this.selectOne = db.prepare(`SELECT 1 FROM ${pausedQueues} WHERE queue = ?`).raw(true);
    this.selectAll = db.prepare(`SELECT queue FROM ${pausedQueues} ORDER BY queue`).raw(true);
    this.insert = db.prepare(`INSERT OR IGNORE INTO ${pausedQueues} (queue, paused_at) VALUES (?, ?)`);
    this.remove = db.prepare(`DELETE FROM ${pausedQueues} WHERE queue = ?`);
  }

  isPaused(queue: string): boolean {
    return this.selectOne.get(queue) !== undefined;
  }

  all(): string[] {
    return this.selectAll.all().map(([queue]) => queue as string);
  }

  /** True when the queue was not paused before. */
  pause(queue: string, now: number): boolean {
    return this.insert.run(queue, now).changes > 0;
  }

  /** True when the queue was paused before. */
  resume(queue: string): boolean {
    return this.remove.run(queue).changes > 0;
  }
}
