import { setTimeout as sleep } from 'node:timers/promises';
import type { DataSource } from 'typeorm';
import { sqliteMigrations, type NamedMigration } from './migrations/index.js';
import type { SqliteDatabase } from './sqlite-database.types.js';
import { LOCK_WAIT_MS } from './sqlite-locks.js';
import type { SqliteTables } from './sqlite-tables.js';

/** How long to wait between attempts at the write lock while another connection migrates. */
const LOCK_RETRY_MS = 20;

const timestampOf = (migration: NamedMigration): number => Number(/(\d{13})$/.exec(migration.name)?.[1]);

/**
 * Brings one project's tables up to date: runs, oldest first, each of OmniQ's TypeORM migrations
 * not yet recorded in `<project>_migrations` (a table laid out like TypeORM's own).
 *
 * OmniQ runs its migrations itself instead of through `dataSource.runMigrations()`, because that
 * reads the migration list and table name from the DataSource options, which belong to the
 * application when it hands its own DataSource in; and because processes starting together on a
 * new file must migrate it exactly once: the check and the changes run under one write lock
 * (TypeORM checks for its migrations table outside any transaction).
 */
export async function migrateSqliteSchema(dataSource: DataSource, db: SqliteDatabase, tables: SqliteTables): Promise<void> {
  const migrations = sqliteMigrations(tables);
  // Up to date (the usual start): no write lock at all.
  if (pendingMigrations(db, tables, migrations).length === 0) return;
  await beginImmediate(db);
  const runner = dataSource.createQueryRunner();
  try {
    db.prepare(
      `CREATE TABLE IF NOT EXISTS ${tables.migrations} (id INTEGER PRIMARY KEY AUTOINCREMENT, timestamp BIGINT NOT NULL, name VARCHAR NOT NULL)`,
    ).run();
    const record = db.prepare(`INSERT INTO ${tables.migrations} (timestamp, name) VALUES (?, ?)`);
    // Checked again under the lock: another connection may have migrated in the meantime.
    for (const migration of pendingMigrations(db, tables, migrations)) {
      await migration.up(runner);
      record.run(timestampOf(migration), migration.name);
    }
    db.prepare('COMMIT').run();
  } catch (error) {
    if (db.inTransaction) db.prepare('ROLLBACK').run();
    throw error;
  } finally {
    await runner.release();
  }
}

function pendingMigrations(db: SqliteDatabase, tables: SqliteTables, migrations: NamedMigration[]): NamedMigration[] {
  let applied: Set<unknown>;
  try {
    applied = new Set(db.prepare(`SELECT name FROM ${tables.migrations}`).raw(true).all().map(([name]) => name));
  } catch (error) {
    if (!/no such table/.test((error as Error).message)) throw error;
    applied = new Set();
  }
  return migrations.filter((migration) => !applied.has(migration.name));
}

/**
 * `BEGIN IMMEDIATE`, waiting for the write lock without blocking the thread. SQLite's busy
 * timeout waits synchronously, and the lock may be held by another connection of this same
 * process, which needs the event loop to finish its (async) migration; so the busy timeout (an
 * application's DataSource may have one) is set to 0 while the lock is tried, and the waits
 * between tries are asynchronous, for up to LOCK_WAIT_MS.
 */
async function beginImmediate(db: SqliteDatabase): Promise<void> {
  const busyTimeoutMs = db.pragma('busy_timeout', { simple: true }) as number;
  const deadline = Date.now() + Math.max(busyTimeoutMs, LOCK_WAIT_MS);
  db.pragma('busy_timeout = 0');
  try {
    for (;;) {
      try {
        db.prepare('BEGIN IMMEDIATE').run();
        return;
      } catch (error) {
        if ((error as { code?: unknown }).code !== 'SQLITE_BUSY' || Date.now() >= deadline) throw error;
      }
      await sleep(LOCK_RETRY_MS);
    }
  } finally {
    db.pragma(`busy_timeout = ${busyTimeoutMs}`);
  }
}
