import type { DataSource } from 'typeorm';
import type { Backend } from '../../storage/engine.js';
import { backendLogger } from '../shared/backend-logger.js';
import { attachSqliteConnection, openSqliteConnection, sqliteDatabasePath } from './sqlite-connection.js';
import { SqliteEngine } from './sqlite-engine.js';
import type { SqliteEventStore } from './sqlite-event.store.js';
import type { SqliteResultStore } from './sqlite-result.store.js';
import type { SqliteTaskQueueStore } from './sqlite-task-queue.store.js';

/**
 * The SQLite backend: `sqlite://./omniq_data/omniq.db` (relative to the working directory),
 * `sqlite:///absolute/path.db`, or `sqlite://:memory:` (a database of the engine's own, gone at
 * close). Tables are named after the project, so projects can share a file. Each `open` is one
 * connection: opening the same file again (here or in another process) makes a peer engine.
 */
export const sqliteBackend: Backend = {
  storageOptions: [],
  async open(url, context) {
    const connection = await openSqliteConnection(sqliteDatabasePath(url), context.projectName);
    try {
      return new SqliteEngine(connection, () => connection.dataSource.destroy(), backendLogger(context));
    } catch (error) {
      await connection.dataSource.destroy();
      throw error;
    }
  },
};

export interface SqliteStores {
  taskQueue: SqliteTaskQueueStore;
  resultStore: SqliteResultStore;
  eventStore: SqliteEventStore;
}

/**
 * OmniQ's three stores, one engine, on an initialized `better-sqlite3` DataSource the application
 * already uses (pass them to `OmniQModule.forRoot({ taskQueue, resultStore, eventStore })`; being
 * one engine's, a task's end writes its result and events in the same transaction). OmniQ's
 * migrations add only its own `<projectName>_*` tables. Closing the stores leaves the DataSource
 * open: it stays the application's to destroy. Its connection settings stay the application's
 * too; when several processes share the file, give it WAL journaling (`enableWAL: true`), as OmniQ
 * does for the files it opens itself.
 */
export async function sqliteStoresFromDataSource(
  dataSource: DataSource,
  { projectName = 'omniq' }: { projectName?: string } = {},
): Promise<SqliteStores> {
  const engine = new SqliteEngine(await attachSqliteConnection(dataSource, projectName), async () => {}, backendLogger());
  return { taskQueue: engine.tasks, resultStore: engine.results, eventStore: engine.events };
}
