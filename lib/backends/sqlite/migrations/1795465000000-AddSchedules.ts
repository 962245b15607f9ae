import type { MigrationInterface, QueryRunner } from 'typeorm';
import type { SqliteTables } from '../sqlite-tables.js';

/**
 * Schedules, kept beside the tasks they enqueue so a fire and its enqueue are one transaction.
 * Only active schedules with a next fire time are indexed: those are the ones due queries read.
 */
export class AddSchedules1795465000000 implements MigrationInterface {
  readonly name = 'AddSchedules1795465000000';

  constructor(private readonly tables: SqliteTables) {}

  async up(queryRunner: QueryRunner): Promise<void> {
    const { schedules, named } = this.tables;
    await queryRunner.query(
      `CREATE TABLE ${schedules} (
        id TEXT PRIMARY KEY NOT NULL,
        kind TEXT NOT NULL,
        cron TEXT,
        tz TEXT,
        every_ms INTEGER,
        at INTEGER,
        task_name TEXT NOT NULL,
        queue TEXT,
        priority INTEGER,
        payload_format TEXT NOT NULL,
        payload_data TEXT NOT NULL,
        max_runs INTEGER,
        start_at INTEGER,
        end_at INTEGER,
        missed TEXT NOT NULL,
        overlap INTEGER NOT NULL,
        source TEXT NOT NULL,
        spec_hash TEXT NOT NULL,
        status TEXT NOT NULL,
        next_run_at INTEGER,
        last_run_at INTEGER,
        run_count INTEGER NOT NULL,
        last_task_id TEXT,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        paused_at INTEGER
      )`,
    );
    await queryRunner.query(
      `CREATE INDEX ${named('schedules_due')} ON ${schedules} (next_run_at) WHERE status = 'active' AND next_run_at IS NOT NULL`,
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE ${this.tables.schedules}`);
  }
}
