import { RedisKeys } from '../../lib/backends/redis/redis-keys.js';
import { TASK_DAMAGE } from '../../lib/backends/redis/redis-task-record.js';
import type { Backend, StorageEngine } from '../../lib/storage/engine.js';
import { describeEngineConformance, type ConformanceTarget, type DamageField } from '../../lib/testing/index.js';
import { REDIS_TEST_URL, deletePrefixes, describeOnRedis, freshPrefix, withRedis } from '../support/redis.js';
import { context } from './targets.js';

const loadRedis = async (): Promise<Backend> => (await import('../../lib/backends/redis/redis.backend.js')).redisBackend;

/** A key prefix of its own for each case on the shared test server; a peer opens the same URL and prefix again, as another process would. */
function redisTarget(): ConformanceTarget {
  const prefixes = new Map<StorageEngine, string>();
  const prefixOf = (engine: StorageEngine, call: string): string => {
    const prefix = prefixes.get(engine);
    if (!prefix) throw new Error(`redis: ${call}() got an engine this target did not open`);
    return prefix;
  };
  const open = async (prefix: string): Promise<StorageEngine> => (await loadRedis()).open(REDIS_TEST_URL, { ...context('.'), storageOptions: { prefix } });
  return {
    name: 'redis',
    async open() {
      const prefix = freshPrefix();
      const engine = await open(prefix);
      prefixes.set(engine, prefix);
      return engine;
    },
    openPeer: (engine) => open(prefixOf(engine, 'openPeer')),
    /** Damages the task hash as another program would: with a client of its own, past OmniQ's stores. */
    async damage(engine, taskId, field: DamageField) {
      const key = new RedisKeys(prefixOf(engine, 'damage'), context('.').projectName).task(taskId);
      const { field: name, value } = TASK_DAMAGE[field];
      await withRedis(async (client) => {
        if ((await client.exists(key)) !== 1) throw new Error(`damage(): no task ${taskId} at ${key}`);
        await client.hset(key, name, value);
      });
    },
    async cleanup() {
      const made = [...prefixes.values()];
      prefixes.clear();
      await deletePrefixes(made);
    },
  };
}

describeOnRedis('Redis', () => describeEngineConformance(redisTarget()));
