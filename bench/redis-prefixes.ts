import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';

/** The server every Redis figure of the bench is measured on. */
export const REDIS_URL = process.env.OMNIQ_BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** Deletes every key matching `pattern` (SCAN + UNLINK, never FLUSHDB: the server is shared). */
export async function deleteKeys(pattern: string): Promise<void> {
  const client = new Redis(REDIS_URL, { lazyConnect: true });
  await client.connect();
  try {
    let cursor = '0';
    do {
      const [next, keys] = await client.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) await client.unlink(...keys);
    } while (cursor !== '0');
  } finally {
    client.disconnect();
  }
}

/**
 * Runs `fn` with a key prefix of its own (`<name>_<random>`), so no run sees another's keys;
 * deletes the keys under it afterwards (`pattern` says how the queue lays them out), whether `fn`
 * succeeded or not.
 */
export async function withPrefix<T>(name: string, pattern: (prefix: string) => string, fn: (prefix: string) => Promise<T>): Promise<T> {
  const prefix = `${name}_${randomBytes(4).toString('hex')}`;
  try {
    return await fn(prefix);
  } finally {
    await deleteKeys(pattern(prefix));
  }
}

/** OmniQ's keys of a prefix: `{<prefix>:<projectName>}:…`. */
export const omniqKeys = (prefix: string): string => `{${prefix}:*`;
