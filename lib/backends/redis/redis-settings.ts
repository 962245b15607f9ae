import { OmniQError } from '../../errors/omniq.errors.js';

/** The `storageOptions` keys the Redis backend reads. */
export const REDIS_STORAGE_OPTIONS = ['prefix', 'eventsMaxLen', 'connectTimeoutMs', 'commandTimeoutMs', 'cluster'] as const;

/** How OmniQ connects to one Redis server (or cluster), from the URL and `storageOptions`. */
export interface RedisSettings {
  /** The URL as written: `redis://[user:password@]host:6379[/db][?prefix=…]`, or `rediss://` for TLS. */
  readonly url: string;
  /** The URL with its password hidden, for messages. */
  readonly shownUrl: string;
  /** Host and port of the URL (the seed node when `cluster`). */
  readonly host: string;
  readonly port: number;
  readonly username: string | undefined;
  readonly password: string | undefined;
  /** The database number of the URL's path (default 0; a cluster has only 0). */
  readonly db: number;
  /** True for `rediss://`: the connection uses TLS. */
  readonly tls: boolean;
  /** The first part of every key's hash tag (`{<prefix>:<projectName>}:`). Default `omniq`. */
  readonly prefix: string;
  /** The events stream keeps about this many entries (at most a thousandth more): older ones are trimmed with their index entries. Default 100,000. */
  readonly eventsMaxLen: number;
  /**
   * How long a call waits for the connection to be (re)established before it rejects, without
   * having sent anything (default 5,000 ms). Also the TCP connect timeout.
   */
  readonly connectTimeoutMs: number;
  /**
   * How long a command sent may wait for its reply (default 10,000 ms): a connection lost with
   * the command in flight rejects after this, saying it may or may not have been applied.
   */
  readonly commandTimeoutMs: number;
  /** The URL names one node of a Redis Cluster: OmniQ opens an ioredis Cluster from it (default false). */
  readonly cluster: boolean;
}

/** A Redis URL or `storageOptions` value OmniQ cannot use, or a server set up so that it would lose data. */
export class RedisSettingsError extends OmniQError {
  override name = 'RedisSettingsError';
}

/** `redis://user:secret@host` → `redis://user:***@host`. */
export function hideRedisPassword(url: string): string {
  return url.replace(/^([a-z]+:\/\/[^:/@]*):[^@]*@/i, '$1:***@');
}

/** Letters, digits, `_`, `-`, `.`: a prefix that is also a safe SCAN pattern and cannot split the hash tag. */
const PREFIX = /^[A-Za-z0-9_.-]+$/;

export const DEFAULT_REDIS_PREFIX = 'omniq';
export const DEFAULT_EVENTS_MAX_LEN = 100_000;
export const DEFAULT_CONNECT_TIMEOUT_MS = 5_000;
export const DEFAULT_COMMAND_TIMEOUT_MS = 10_000;

function positiveInteger(key: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  const number = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
  if (typeof number === 'number' && Number.isSafeInteger(number) && number > 0) return number;
  throw new RedisSettingsError(`storageOptions.${key}: expected a positive integer, got ${JSON.stringify(value)}`);
}

function flag(key: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value === 'boolean') return value;
  if (value === 'true' || value === 'false') return value === 'true';
  throw new RedisSettingsError(`storageOptions.${key}: expected true or false, got ${JSON.stringify(value)}`);
}

/** Checks a key prefix (storageOptions.prefix, or the `prefix` of redisStores). */
export function redisPrefix(value: unknown, source = 'storageOptions.prefix'): string {
  if (value === undefined) return DEFAULT_REDIS_PREFIX;
  if (typeof value === 'string' && PREFIX.test(value)) return value;
  throw new RedisSettingsError(`${source}: expected letters, digits, "_", "-" or "." (no braces, spaces or glob characters), got ${JSON.stringify(value)}`);
}

/**
 * Reads a `redis://` / `rediss://` URL and the backend's `storageOptions`. The URL may name the
 * key prefix itself (`redis://host:6379?prefix=jobs`), as a PostgreSQL URL names its schema.
 */
export function redisSettings(url: string, options: Readonly<Record<string, unknown>>): RedisSettings {
  const shownUrl = hideRedisPassword(url);
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new RedisSettingsError(`"${shownUrl}" is not a valid Redis URL; expected redis://[user:password@]host:6379[/db] or rediss:// for TLS`);
  }
  const scheme = parsed.protocol.toLowerCase();
  if (scheme !== 'redis:' && scheme !== 'rediss:') {
    throw new RedisSettingsError(`"${shownUrl}" is not a Redis URL (redis:// or rediss://)`);
  }
  if (parsed.hostname === '') throw new RedisSettingsError(`"${shownUrl}" names no host; expected redis://host:6379`);
  const path = parsed.pathname.replace(/^\//, '');
  if (path !== '' && !/^\d+$/.test(path)) {
    throw new RedisSettingsError(`"${shownUrl}": the path must be a database number (redis://host:6379/2), got "/${path}"`);
  }
  const db = path === '' ? 0 : Number(path);
  for (const name of parsed.searchParams.keys()) {
    if (name !== 'prefix') throw new RedisSettingsError(`"${shownUrl}": unknown parameter "${name}"; a Redis URL takes only ?prefix=<key prefix>`);
  }
  const fromUrl = parsed.searchParams.get('prefix');
  if (fromUrl !== null && options.prefix !== undefined && options.prefix !== fromUrl) {
    throw new RedisSettingsError(
      `The key prefix is given twice, differently: "${fromUrl}" in the URL ${shownUrl} and ${JSON.stringify(options.prefix)} in storageOptions.prefix`,
    );
  }
  const cluster = flag('cluster', options.cluster, false);
  if (cluster && db !== 0) throw new RedisSettingsError(`"${shownUrl}": a Redis Cluster has only database 0, the URL names database ${db}`);
  return {
    url,
    shownUrl,
    host: parsed.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: parsed.port === '' ? 6379 : Number(parsed.port),
    username: parsed.username === '' ? undefined : decodeURIComponent(parsed.username),
    password: parsed.password === '' ? undefined : decodeURIComponent(parsed.password),
    db,
    tls: scheme === 'rediss:',
    prefix: fromUrl !== null ? redisPrefix(fromUrl, `the prefix parameter of ${shownUrl}`) : redisPrefix(options.prefix),
    eventsMaxLen: positiveInteger('eventsMaxLen', options.eventsMaxLen, DEFAULT_EVENTS_MAX_LEN),
    connectTimeoutMs: positiveInteger('connectTimeoutMs', options.connectTimeoutMs, DEFAULT_CONNECT_TIMEOUT_MS),
    commandTimeoutMs: positiveInteger('commandTimeoutMs', options.commandTimeoutMs, DEFAULT_COMMAND_TIMEOUT_MS),
    cluster,
  };
}
