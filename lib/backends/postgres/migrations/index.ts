import type { MigrationInterface } from 'typeorm';
import type { PostgresTables } from '../postgres-tables.js';
import { PostgresInitialSchema1795468000000 } from './1795468000000-PostgresInitialSchema.js';

/** A migration with the timestamp its name ends with, as TypeORM names migrations. */
export interface NamedMigration extends MigrationInterface {
  readonly name: string;
}

/** OmniQ's PostgreSQL migrations for one project's tables, oldest first. Append new ones; never edit a released one. */
export function postgresMigrations(tables: PostgresTables): NamedMigration[] {
  return [new PostgresInitialSchema1795468000000(tables)];
}
