import type { MigrationInterface, QueryRunner } from 'typeorm';
import type { SqliteTables } from '../sqlite-tables.js';

/**
 * Hardening: poison tasks and bounded result purges.
 *
 * - `tasks.lapses`: how many times the task's lease lapsed and the leader reclaimed it; rows
 *   stored before it read as 0.
 * - `results_completed`: results by completion time, so a purge of old results reads them in
 *   order in chunks instead of sorting the whole table for each one. Completion times grow with
 *   each insert, so the index is appended to at its right edge: one cheap page write per result.
 */
export class HardeningSchema1795467000000 implements MigrationInterface {
  readonly name = 'HardeningSchema1795467000000';

  constructor(private readonly tables: SqliteTables) {}

  async up(queryRunner: QueryRunner): Promise<void> {
    const { tasks, results, named } = this.tables;
    await queryRunner.query(`ALTER TABLE ${tasks} ADD COLUMN lapses INTEGER NOT NULL DEFAULT 0`);
    await queryRunner.query(`CREATE INDEX ${named('results_completed')} ON ${results} (completed_at)`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    const { tasks, named } = this.tables;
    await queryRunner.query(`DROP INDEX ${named('results_completed')}`);
    await queryRunner.query(`ALTER TABLE ${tasks} DROP COLUMN lapses`);
  }
}
