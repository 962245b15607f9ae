import type { MigrationInterface, QueryRunner } from 'typeorm';
import type { SqliteTables } from '../sqlite-tables.js';

/**
 * Storage engine v2: what a task's end, queue pauses, leader election and cross-process
 * notifications need.
 *
 * - `tasks.cancelled_by`: the parent whose end cancelled the task, so requeueing that parent
 *   revives it; indexed only where set (tasks a cascade ended).
 * - Running tasks are never `ready` any more: only the maintenance leader's reclaim makes a lapsed
 *   lease reservable again. Rows the previous version flagged ready for a takeover are unflagged
 *   here; the reclaim finds them through the leases index.
 * - `paused_queues`: the queues reserve skips, shared by every process on the file.
 * - `leases`: coordination leases with a fencing token that grows with each change of holder.
 * - `notifications`: each write transaction adds one row per channel it notifies on, so the
 *   other connections on the file learn of it; `origin` names the engine that wrote it, which
 *   skips its own rows. Pruning always keeps the newest row, so seqs (rowids: the largest plus
 *   one) are never reused and a reader's "read up to" mark stays valid, without AUTOINCREMENT's
 *   extra page write per transaction.
 */
export class StorageEngineV2Schema1795466000000 implements MigrationInterface {
  readonly name = 'StorageEngineV2Schema1795466000000';

  constructor(private readonly tables: SqliteTables) {}

  async up(queryRunner: QueryRunner): Promise<void> {
    const { tasks, pausedQueues, leases, notifications, named } = this.tables;
    const statements = [
      `ALTER TABLE ${tasks} ADD COLUMN cancelled_by TEXT`,
      `CREATE INDEX ${named('tasks_cancelled_by')} ON ${tasks} (cancelled_by) WHERE cancelled_by IS NOT NULL`,
      `UPDATE ${tasks} SET ready = 0 WHERE status = 'running' AND ready = 1`,
      `CREATE TABLE ${pausedQueues} (queue TEXT PRIMARY KEY NOT NULL, paused_at INTEGER NOT NULL) WITHOUT ROWID`,
      `CREATE TABLE ${leases} (
        name TEXT PRIMARY KEY NOT NULL,
        holder TEXT NOT NULL,
        expires_at INTEGER NOT NULL,
        fence INTEGER NOT NULL
      ) WITHOUT ROWID`,
      `CREATE TABLE ${notifications} (
        seq INTEGER PRIMARY KEY,
        channel TEXT NOT NULL,
        messages TEXT NOT NULL,
        origin TEXT NOT NULL,
        created_at INTEGER NOT NULL
      )`,
    ];
    for (const sql of statements) await queryRunner.query(sql);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    const { tasks, pausedQueues, leases, notifications, named } = this.tables;
    for (const table of [notifications, leases, pausedQueues]) await queryRunner.query(`DROP TABLE ${table}`);
    await queryRunner.query(`DROP INDEX ${named('tasks_cancelled_by')}`);
    await queryRunner.query(`ALTER TABLE ${tasks} DROP COLUMN cancelled_by`);
  }
}
