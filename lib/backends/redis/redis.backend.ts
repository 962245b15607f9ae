import type { Cluster, Redis } from 'ioredis';
import type { Backend } from '../../storage/engine.js';
import { backendLogger } from '../shared/backend-logger.js';
import { attachRedisConnection, openRedisConnection, type RedisConnection } from './redis-connection.js';
import { RedisEngine } from './redis-engine.js';
import type { RedisEventStore } from './redis-event.store.js';
import type { RedisResultStore } from './redis-result.store.js';
import { REDIS_STORAGE_OPTIONS, redisPrefix, redisSettings } from './redis-settings.js';
import type { RedisTaskQueueStore } from './redis-task-queue.store.js';

/**
 * The Redis backend: `redis://[user:password@]host:6379[/db]`, or `rediss://` for TLS; a Redis
 * Cluster with `storageOptions.cluster`. Every key of a project starts with
 * `{<prefix>:<projectName>}:` (one hash tag: one cluster slot), so projects and prefixes can share
 * a server. The server must run with `maxmemory-policy noeviction` (checked at open). Each
 * `open` is one engine with a client of its own plus a subscriber connection; opening the same
 * URL again (here or in another process) makes a peer engine.
 */
export const redisBackend: Backend = {
  storageOptions: REDIS_STORAGE_OPTIONS,
  async open(url, context) {
    const settings = redisSettings(url, context.storageOptions);
    const logger = backendLogger(context);
    const connection = await openRedisConnection(settings, context.projectName, logger('OmniQRedisConnection'));
    return startEngine(connection, logger);
  },
};

async function startEngine(connection: RedisConnection, logger: ReturnType<typeof backendLogger>): Promise<RedisEngine> {
  try {
    return await new RedisEngine(connection, logger).start();
  } catch (error) {
    await connection.close();
    throw error;
  }
}

export interface RedisStores {
  taskQueue: RedisTaskQueueStore;
  resultStore: RedisResultStore;
  eventStore: RedisEventStore;
}

export interface RedisClientOptions {
  /** Names OmniQ's keys (default `omniq`). */
  projectName?: string;
  /** The first part of every key's hash tag (default `omniq`). */
  prefix?: string;
  /** The events stream keeps about this many entries, older ones trimmed with their index entries (default 100,000). */
  eventsMaxLen?: number;
}

/**
 * OmniQ's three stores, one engine, on an ioredis client or Cluster the application already
 * uses: pass them to `OmniQModule.forRoot({ taskQueue, resultStore, eventStore })`. OmniQ writes
 * only keys under `{<prefix>:<projectName>}:`, opens one more connection for its subscription
 * (`client.duplicate()`), and closing the stores leaves the client open: it stays the
 * application's to quit. The client's own settings (offline queue, timeouts, retries) govern its
 * calls during an outage.
 */
export async function redisStores(client: Redis | Cluster, { projectName = 'omniq', prefix, eventsMaxLen }: RedisClientOptions = {}): Promise<RedisStores> {
  const logger = backendLogger();
  const connection = await attachRedisConnection(client, { projectName, prefix: redisPrefix(prefix, 'redisStores() option prefix'), eventsMaxLen }, logger('OmniQRedisConnection'));
  const engine = await startEngine(connection, logger);
  return { taskQueue: engine.tasks, resultStore: engine.results, eventStore: engine.events };
}
