import type { MigrationInterface } from 'typeorm';
import type { SqliteTables } from '../sqlite-tables.js';
import { InitialSchema1795464000000 } from './1795464000000-InitialSchema.js';
import { AddSchedules1795465000000 } from './1795465000000-AddSchedules.js';
import { StorageEngineV2Schema1795466000000 } from './1795466000000-StorageEngineV2Schema.js';
import { HardeningSchema1795467000000 } from './1795467000000-HardeningSchema.js';

/** A migration with the timestamp its name ends with, as TypeORM names migrations. */
export interface NamedMigration extends MigrationInterface {
  readonly name: string;
}

/** OmniQ's SQLite migrations for one project's tables, oldest first. Append new ones; never edit a released one. */
export function sqliteMigrations(tables: SqliteTables): NamedMigration[] {
  return [
    new InitialSchema1795464000000(tables),
    new AddSchedules1795465000000(tables),
    new StorageEngineV2Schema1795466000000(tables),
    new HardeningSchema1795467000000(tables),
  ];
}
