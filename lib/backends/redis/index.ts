export { redisBackend, redisStores, type RedisStores, type RedisClientOptions } from './redis.backend.js';
export { RedisStorageError } from './redis-storage.error.js';
export { RedisSettingsError } from './redis-settings.js';
