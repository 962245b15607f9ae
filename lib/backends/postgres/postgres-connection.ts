import type { Client, ClientConfig, Pool } from 'pg';
import type { DataSource } from 'typeorm';
import type { PostgresDriver } from 'typeorm/driver/postgres/PostgresDriver.js';
import { OmniQError } from '../../errors/omniq.errors.js';
import { PostgresDb, type PgTypes } from './postgres-db.js';
import { migratePostgresSchema } from './postgres-migrator.js';
import { hidePassword, type PostgresSettings } from './postgres-settings.js';
import { postgresTables, type PostgresTables } from './postgres-tables.js';

/** The `pg` module, as TypeORM loaded it. */
interface PgModule {
  readonly types: PgTypes;
  readonly Client: new (config: ClientConfig) => Client;
}

/** A migrated schema as the stores use it: the TypeORM DataSource, OmniQ's statements on its pool, and a way to open the LISTEN connection. */
export interface PostgresConnection {
  readonly dataSource: DataSource;
  readonly db: PostgresDb;
  /** The pool the statements run on (OmniQ's own, or the application's DataSource's). */
  readonly pool: Pool;
  readonly tables: PostgresTables;
  /** Whether the engine keeps a LISTEN connection (storageOptions.listen). */
  readonly listen: boolean;
  /** A new connection outside the pool, with the pool's settings: the notifier's LISTEN session. */
  newClient(): Client;
}

export interface AttachOptions {
  projectName: string;
  schema: string;
  listen: boolean;
}

/** Opens a DataSource of OmniQ's own on the URL's database and migrates the project's tables into the configured schema. */
export async function openPostgresConnection(settings: PostgresSettings, projectName: string): Promise<PostgresConnection> {
  // Imported here first so that a missing driver is reported by name (BackendDriverMissingError).
  await import('pg');
  const { DataSource } = await import('typeorm');
  const dataSource = new DataSource({
    type: 'postgres',
    url: settings.url,
    poolSize: settings.poolSize,
    ssl: settings.ssl as boolean | undefined,
    connectTimeoutMS: settings.connectTimeoutMs,
    applicationName: 'omniq',
    installExtensions: false,
    extra: {
      keepAlive: true,
      ...(settings.statementTimeoutMs > 0 ? { statement_timeout: settings.statementTimeoutMs } : {}),
    },
  });
  try {
    await dataSource.initialize();
  } catch (error) {
    throw new OmniQError(`PostgreSQL ${settings.shownUrl} cannot be reached: ${(error as Error).message ?? String(error)}`, { cause: error });
  }
  try {
    return await attachPostgresConnection(dataSource, { projectName, schema: settings.schema, listen: settings.listen });
  } catch (error) {
    await dataSource.destroy();
    throw error;
  }
}

/**
 * Migrates one project's tables into an initialized `postgres` DataSource and wraps it; the
 * DataSource, its pool and its settings stay its owner's.
 */
export async function attachPostgresConnection(dataSource: DataSource, options: AttachOptions): Promise<PostgresConnection> {
  if (dataSource.options.type !== 'postgres') {
    throw new OmniQError(`OmniQ's PostgreSQL stores need a "postgres" DataSource, not "${dataSource.options.type}"`);
  }
  if (!dataSource.isInitialized) {
    throw new OmniQError('The DataSource handed to OmniQ is not initialized; call dataSource.initialize() first');
  }
  const driver = dataSource.driver as PostgresDriver;
  const pool = driver.master as Pool;
  const pg = driver.postgres as PgModule;
  const tables = postgresTables(options.schema, options.projectName);
  try {
    await migratePostgresSchema(dataSource, tables);
  } catch (error) {
    throw new OmniQError(`PostgreSQL ${shownServer(pool)}: migrating OmniQ's tables in schema "${options.schema}" failed: ${(error as Error).message}`, {
      cause: error,
    });
  }
  const clientConfig = (pool as Pool & { options: ClientConfig }).options;
  return {
    dataSource,
    db: new PostgresDb(pool, pg.types, shownServer(pool), options.listen),
    pool,
    tables,
    listen: options.listen,
    // Keep-alive probes after 10 s idle (the OS default waits 2 hours): a LISTEN session whose
    // server vanished without closing the socket (a partition, a paused VM) is noticed in seconds.
    newClient: () => new pg.Client({ ...clientConfig, application_name: 'omniq-listen', keepAlive: true, keepAliveInitialDelayMillis: 10_000 }),
  };
}

/** The server a pool connects to, for messages: its URL with the password hidden, or host:port/database. */
function shownServer(pool: Pool): string {
  const { connectionString, host, port, database } = (pool as Pool & { options: ClientConfig }).options;
  if (connectionString) return hidePassword(connectionString);
  return `${host ?? 'localhost'}:${port ?? 5432}/${database ?? ''}`;
}
