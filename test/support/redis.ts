import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';

/** The server the Redis specs run on: this machine's, unless OMNIQ_TEST_REDIS_URL names another. Never flushed: specs delete only their own prefixes. */
export const REDIS_TEST_URL = process.env.OMNIQ_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

const REPO = fileURLToPath(new URL('../..', import.meta.url));

/** Connects and pings, in a child process so that the answer is known while jest collects the specs. */
const PROBE = `
const { Redis } = await import('ioredis');
const client = new Redis(process.argv[1], { lazyConnect: true, connectTimeout: 3000, maxRetriesPerRequest: 0, retryStrategy: () => null });
client.on('error', () => {});
try {
  await client.connect();
  await client.ping();
} catch (error) {
  process.stderr.write(String(error?.message ?? error));
  process.exitCode = 1;
} finally {
  client.disconnect();
}`;

let probed: { up: true } | { up: false; reason: string } | undefined;
let warned = false;

function probe(): { up: true } | { up: false; reason: string } {
  const run = spawnSync(process.execPath, ['--input-type=module', '-e', PROBE, REDIS_TEST_URL], { cwd: REPO, encoding: 'utf8', timeout: 15_000 });
  if (run.status === 0) return { up: true };
  return { up: false, reason: run.error?.message ?? (run.stderr.trim() || `the probe exited with ${run.status ?? run.signal}`) };
}

const shown = (url: string): string => url.replace(/^([a-z]+:\/\/[^:/@]*):[^@]*@/i, '$1:***@');

/**
 * Whether the Redis specs of this file run, checked once per spec file. Under CI=true a server
 * that does not answer fails the run; elsewhere they are skipped, with a warning no one can miss.
 */
export function redisAvailable(): boolean {
  probed ??= probe();
  if (probed.up) return true;
  const problem = `Redis does not answer at ${shown(REDIS_TEST_URL)} (${probed.reason}).`;
  if (process.env.CI === 'true') {
    throw new Error(`${problem} CI=true: the Redis specs must run. Start the server or set OMNIQ_TEST_REDIS_URL.`);
  }
  if (warned) return false;
  warned = true;
  console.warn(`\n${'!'.repeat(100)}\n${problem}\nThe Redis specs of this file are SKIPPED. Start the server or set OMNIQ_TEST_REDIS_URL.\n${'!'.repeat(100)}\n`);
  return false;
}

/** `entries` where the Redis specs run (see redisAvailable), none elsewhere: for the backend lists of describe.each. */
export function onRedis<T>(...entries: T[]): T[] {
  return redisAvailable() ? entries : [];
}

/** A describe block that needs the server: skipped (loudly) without it, or failing under CI. */
export function describeOnRedis(title: string, specs: () => void): void {
  if (redisAvailable()) describe(title, specs);
  else describe.skip(title, specs);
}

/** The prefixes this spec file made; the keys of every one are deleted after the file, whatever its specs did. */
const prefixes = new Set<string>();

/** A new key prefix (`omniq_t_<random>`, for storageOptions.prefix), its keys deleted after the spec file. */
export function freshPrefix(): string {
  const prefix = `omniq_t_${randomBytes(6).toString('hex')}`;
  prefixes.add(prefix);
  return prefix;
}

/** The test server's URL naming `prefix` (`?prefix=`), as an app would configure it: fresh storage for each fresh prefix. */
export function redisUrl(prefix: string, base = REDIS_TEST_URL): string {
  const url = new URL(base);
  url.searchParams.set('prefix', prefix);
  return url.toString();
}

/** Runs `work` on a client of the test's own, past OmniQ: to look at or damage what the stores wrote. */
export async function withRedis<T>(work: (client: Redis) => Promise<T>, url = REDIS_TEST_URL): Promise<T> {
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.quit();
  }
}

/** Deletes every key of `names` (SCAN MATCH '{<prefix>:*' + UNLINK): keys of other prefixes are never touched. */
export async function deletePrefixes(names: readonly string[], url = REDIS_TEST_URL): Promise<void> {
  if (names.length === 0) return;
  await withRedis(async (client) => {
    for (const prefix of names) {
      let cursor = '0';
      do {
        const [next, keys] = await client.scan(cursor, 'MATCH', `{${prefix}:*`, 'COUNT', 1000);
        cursor = next;
        if (keys.length > 0) await client.unlink(...keys);
      } while (cursor !== '0');
      prefixes.delete(prefix);
    }
  }, url);
}

afterAll(async () => {
  if (prefixes.size > 0) await deletePrefixes([...prefixes]);
});
