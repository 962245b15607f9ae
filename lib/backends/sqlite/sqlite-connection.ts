import { mkdir, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import type { DataSource } from 'typeorm';
import type { BetterSqlite3Driver } from 'typeorm/driver/better-sqlite3/BetterSqlite3Driver.js';
import { OmniQError } from '../../errors/omniq.errors.js';
import type { SqliteDatabase } from './sqlite-database.types.js';
import { SQLITE_BUSY_TIMEOUT_MS, SqliteLocks } from './sqlite-locks.js';
import { migrateSqliteSchema } from './sqlite-migrator.js';
import { sqliteTables, type SqliteTables } from './sqlite-tables.js';

const IN_MEMORY = ':memory:';

/** A migrated database as the stores use it: the TypeORM DataSource and its raw connection. */
export interface SqliteConnection {
  readonly dataSource: DataSource;
  /** better-sqlite3's synchronous connection under the DataSource: the stores' hot paths use it directly. */
  readonly db: SqliteDatabase;
  readonly tables: SqliteTables;
  /** Runs the stores' statements without blocking the event loop on another connection's lock. */
  readonly locks: SqliteLocks;
}

/**
 * The database path a `sqlite://` URL names: `sqlite://./data/omniq.db` (relative to the working
 * directory), `sqlite:///abs/omniq.db`, or `sqlite://:memory:` for a database in this process.
 */
export function sqliteDatabasePath(url: string): string {
  const path = /^sqlite:\/\/(.*)$/is.exec(url)?.[1];
  if (!path) {
    throw new OmniQError(
      `"${url}" names no SQLite database; expected sqlite://./omniq_data/omniq.db, sqlite:///absolute/path.db or sqlite://:memory:`,
    );
  }
  return path === IN_MEMORY ? IN_MEMORY : resolve(path);
}

/** Opens (creating it and its folder when missing) and migrates a database file OmniQ owns. */
export async function openSqliteConnection(path: string, projectName: string): Promise<SqliteConnection> {
  let dataSource: DataSource | undefined;
  try {
    if (path !== IN_MEMORY) await makeDirectory(dirname(path));
    // Loaded here, not at import: an application that never opens a sqlite:// URL never loads TypeORM and the driver.
    const { DataSource } = await import('typeorm');
    dataSource = new DataSource({
      type: 'better-sqlite3',
      database: path,
      timeout: SQLITE_BUSY_TIMEOUT_MS,
      // WAL lets readers in other processes work while one writes; NORMAL sync is safe in WAL
      // mode (a power cut may lose the last commits, never corrupt the file).
      prepareDatabase: (db: SqliteDatabase) => {
        db.pragma('journal_mode = WAL');
        db.pragma('synchronous = NORMAL');
      },
    });
    await dataSource.initialize();
    // The driver turns foreign-key enforcement on after prepareDatabase. OmniQ declares no foreign
    // keys (a task may depend on an id that was never stored, or was purged), so it stays off.
    rawConnection(dataSource).pragma('foreign_keys = OFF');
    return await attachSqliteConnection(dataSource, projectName);
  } catch (error) {
    if (dataSource?.isInitialized) await dataSource.destroy();
    throw new OmniQError(`SQLite database "${path}" cannot be opened: ${describeError(error)}`, { cause: error });
  }
}

/**
 * Migrates one project's tables into an initialized DataSource and wraps it; the DataSource stays
 * its owner's, and so do its settings: a DataSource with a busy timeout of its own blocks on a
 * locked file for up to that long before the stores' asynchronous wait (see SqliteLocks) starts.
 */
export async function attachSqliteConnection(dataSource: DataSource, projectName: string): Promise<SqliteConnection> {
  if (dataSource.options.type !== 'better-sqlite3') {
    throw new OmniQError(`OmniQ's SQLite stores need a "better-sqlite3" DataSource, not "${dataSource.options.type}"`);
  }
  if (!dataSource.isInitialized) {
    throw new OmniQError('The DataSource handed to OmniQ is not initialized; call dataSource.initialize() first');
  }
  const tables = sqliteTables(projectName);
  const db = rawConnection(dataSource);
  await migrateSqliteSchema(dataSource, db, tables);
  return { dataSource, db, tables, locks: new SqliteLocks(db.memory ? db.name : resolve(db.name)) };
}

function rawConnection(dataSource: DataSource): SqliteDatabase {
  return (dataSource.driver as BetterSqlite3Driver).databaseConnection as SqliteDatabase;
}

/**
 * Creates `dir` and its missing parents one level at a time. `fs.mkdir(dir, { recursive: true })`
 * never returns on some paths (Node 20 spins forever on `/proc/x`), so it is not used here.
 */
async function makeDirectory(dir: string): Promise<void> {
  const missing: string[] = [];
  let existing = dir;
  for (;;) {
    try {
      if (!(await stat(existing)).isDirectory()) {
        throw Object.assign(new Error(`not a directory: ${existing}`), { code: 'ENOTDIR' });
      }
      break;
    } catch (error) {
      const parent = dirname(existing);
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT' || parent === existing) throw error;
      missing.unshift(existing);
      existing = parent;
    }
  }
  for (const folder of missing) {
    // Another process may create the same folder at the same moment.
    await mkdir(folder).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'EEXIST') throw error;
    });
  }
}

/** `CODE: message` of an error, read by shape rather than instanceof, which fails across realms (jest's VM). */
function describeError(error: unknown): string {
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
  if (typeof message !== 'string') return String(error);
  return typeof code === 'string' && !message.startsWith(code) ? `${code}: ${message}` : message;
}
