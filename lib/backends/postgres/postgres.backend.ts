import type { DataSource } from 'typeorm';
import type { Backend } from '../../storage/engine.js';
import { backendLogger } from '../shared/backend-logger.js';
import { attachPostgresConnection, openPostgresConnection } from './postgres-connection.js';
import { PostgresEngine } from './postgres-engine.js';
import { POSTGRES_STORAGE_OPTIONS, postgresSettings } from './postgres-settings.js';
import type { PostgresEventStore } from './postgres-event.store.js';
import type { PostgresResultStore } from './postgres-result.store.js';
import type { PostgresTaskQueueStore } from './postgres-task-queue.store.js';

/**
 * The PostgreSQL backend: `postgres://user:password@host:5432/database` (or `postgresql://`),
 * with the schema in `storageOptions.schema` or the URL (`?schema=jobs`). Tables are named after
 * the project, so projects can share a schema. Each `open` is one engine with a pool of its own;
 * opening the same URL again (here or in another process) makes a peer engine.
 */
export const postgresBackend: Backend = {
  storageOptions: POSTGRES_STORAGE_OPTIONS,
  async open(url, context) {
    const settings = postgresSettings(url, context.storageOptions);
    const connection = await openPostgresConnection(settings, context.projectName);
    try {
      return await new PostgresEngine(connection, () => connection.dataSource.destroy(), backendLogger(context)).start();
    } catch (error) {
      await connection.dataSource.destroy();
      throw error;
    }
  },
};

export interface PostgresStores {
  taskQueue: PostgresTaskQueueStore;
  resultStore: PostgresResultStore;
  eventStore: PostgresEventStore;
}

export interface PostgresDataSourceOptions {
  /** Names OmniQ's tables (default `omniq`). */
  projectName?: string;
  /** Where OmniQ's tables live (default `public`; created when missing). */
  schema?: string;
  /** One LISTEN connection for wake-ups (default true); false behind PgBouncer in transaction mode. */
  listen?: boolean;
}

/**
 * OmniQ's three stores, one engine, on an initialized `postgres` DataSource the application
 * already uses (`@nestjs/typeorm`'s included): pass them to `OmniQModule.forRoot({ taskQueue,
 * resultStore, eventStore })`. OmniQ's migrations add only its own `<projectName>_*` tables (in
 * `schema`), its statements run on the DataSource's pool, and closing the stores leaves the
 * DataSource open: it stays the application's to destroy. The LISTEN connection is one more
 * connection with the pool's settings.
 */
export async function postgresStoresFromDataSource(
  dataSource: DataSource,
  { projectName = 'omniq', schema = 'public', listen = true }: PostgresDataSourceOptions = {},
): Promise<PostgresStores> {
  const connection = await attachPostgresConnection(dataSource, { projectName, schema, listen });
  const engine = await new PostgresEngine(connection, async () => {}, backendLogger()).start();
  return { taskQueue: engine.tasks, resultStore: engine.results, eventStore: engine.events };
}
