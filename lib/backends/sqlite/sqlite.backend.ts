import type { DataSource } from 'typeorm';
import type { Backend, BackendContext } from '../backend.registry.js';
import { attachSqliteConnection, openSqliteConnection, sqliteDatabasePath, type SqliteConnection } from './sqlite-connection.js';
import { SqliteEventStore } from './sqlite-event.store.js';
import { SqliteResultStore } from './sqlite-result.store.js';
import { SqliteTaskQueueStore } from './sqlite-task-queue.store.js';

type StoreClass<S> = new (connection: SqliteConnection, release: () => Promise<void>) => S;

/**
 * Opens a store on the database a `sqlite://` URL names. The stores of one module on the same
 * file share one DataSource (through `context.resources`); the last store to close destroys it.
 */
async function openStore<S>(Store: StoreClass<S>, url: string, context: BackendContext): Promise<S> {
  const path = sqliteDatabasePath(url);
  const key = `sqlite:${context.projectName}:${path}`;
  const connection = await context.resources.acquire(
    key,
    () => openSqliteConnection(path, context.projectName),
    (opened) => opened.dataSource.destroy(),
  );
  const release = (): Promise<void> => context.resources.release(key);
  try {
    return new Store(connection, release);
  } catch (error) {
    await release();
    throw error;
  }
}

/**
 * The SQLite backend: `sqlite://./omniq_data/omniq.db` (relative to the working directory),
 * `sqlite:///absolute/path.db`, or `sqlite://:memory:` (one database per module, gone at close).
 * Tables are named after the project, so projects can share a file.
 */
export const sqliteBackend: Backend = {
  storageOptions: [],
  createTaskQueue: (url, context) => openStore(SqliteTaskQueueStore, url, context),
  createResultStore: (url, context) => openStore(SqliteResultStore, url, context),
  createEventStore: (url, context) => openStore(SqliteEventStore, url, context),
};

export interface SqliteStores {
  taskQueue: SqliteTaskQueueStore;
  resultStore: SqliteResultStore;
  eventStore: SqliteEventStore;
}

/**
 * OmniQ's three stores on an initialized `better-sqlite3` DataSource the application already uses
 * (pass them to `OmniQModule.forRoot({ taskQueue, resultStore, eventStore })`). OmniQ's migrations
 * add only its own `<projectName>_*` tables. Closing the stores leaves the DataSource open: it
 * stays the application's to destroy. Its connection settings stay the application's too; when
 * several processes share the file, give it WAL journaling (`enableWAL: true`), as OmniQ does for
 * the files it opens itself.
 */
export async function sqliteStoresFromDataSource(
  dataSource: DataSource,
  { projectName = 'omniq' }: { projectName?: string } = {},
): Promise<SqliteStores> {
  const connection = await attachSqliteConnection(dataSource, projectName);
  const keepOpen = async (): Promise<void> => {};
  return {
    taskQueue: new SqliteTaskQueueStore(connection, keepOpen),
    resultStore: new SqliteResultStore(connection, keepOpen),
    eventStore: new SqliteEventStore(connection, keepOpen),
  };
}
