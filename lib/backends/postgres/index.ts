export { postgresBackend, postgresStoresFromDataSource, type PostgresStores, type PostgresDataSourceOptions } from './postgres.backend.js';
export { PostgresStorageError } from './postgres-storage.error.js';
export { PostgresSettingsError } from './postgres-settings.js';
