import type { DataSource, QueryRunner } from 'typeorm';
import { postgresMigrations, type NamedMigration } from './migrations/index.js';
import { quoteIdentifier, type PostgresTables } from './postgres-tables.js';

const timestampOf = (migration: NamedMigration): number => Number(/(\d{13})$/.exec(migration.name)?.[1]);

/**
 * Brings one project's tables up to date: creates the schema when missing and runs, oldest first,
 * each of OmniQ's TypeORM migrations not yet recorded in `<project>_migrations` (laid out like
 * TypeORM's own table). OmniQ runs them itself rather than through `dataSource.runMigrations()`,
 * which reads the list and table name from the DataSource options, the application's when it
 * hands its DataSource in.
 *
 * Instances starting together migrate once: the check and the changes run in one transaction
 * under a transaction-scoped advisory lock, so nothing outlives the transaction on the
 * connection (a pooler in transaction mode is fine), and DDL is transactional in PostgreSQL, so
 * a migration that fails leaves nothing half-made.
 */
export async function migratePostgresSchema(dataSource: DataSource, tables: PostgresTables): Promise<void> {
  const migrations = postgresMigrations(tables);
  const runner = dataSource.createQueryRunner();
  try {
    // Up to date (the usual start): no lock at all.
    if ((await pendingMigrations(runner, tables, migrations)).length === 0) return;
    await runner.startTransaction();
    try {
      // One lock per schema, not per project: projects migrating into a new schema at once would
      // otherwise race to create it.
      await runner.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [`omniq:migrate:${tables.schema}`]);
      await runner.query(`CREATE SCHEMA IF NOT EXISTS ${quoteIdentifier(tables.schema)}`);
      await runner.query(`CREATE TABLE IF NOT EXISTS ${tables.migrations} (id serial PRIMARY KEY, timestamp bigint NOT NULL, name varchar NOT NULL)`);
      // Checked again under the lock: another instance may have migrated in the meantime.
      for (const migration of await pendingMigrations(runner, tables, migrations)) {
        await migration.up(runner);
        await runner.query(`INSERT INTO ${tables.migrations} (timestamp, name) VALUES ($1, $2)`, [timestampOf(migration), migration.name]);
      }
      await runner.commitTransaction();
    } catch (error) {
      if (runner.isTransactionActive) await runner.rollbackTransaction();
      throw error;
    }
  } finally {
    await runner.release();
  }
}

async function pendingMigrations(runner: QueryRunner, tables: PostgresTables, migrations: NamedMigration[]): Promise<NamedMigration[]> {
  const [{ found }] = (await runner.query('SELECT to_regclass($1) IS NOT NULL AS found', [tables.migrations])) as [{ found: boolean }];
  if (!found) return migrations;
  const rows = (await runner.query(`SELECT name FROM ${tables.migrations}`)) as { name: string }[];
  const applied = new Set(rows.map((row) => row.name));
  return migrations.filter((migration) => !applied.has(migration.name));
}
