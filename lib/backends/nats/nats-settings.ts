import { OmniQError } from '../../errors/omniq.errors.js';

/** The `storageOptions` keys the NATS backend reads. */
export const NATS_STORAGE_OPTIONS = [
  'prefix',
  'connectTimeoutMs',
  'requestTimeoutMs',
  'replicas',
  'storage',
  'eventsMaxAgeMs',
  'eventsMaxMessages',
  'resultsMaxAgeMs',
] as const;

/** Where JetStream keeps the project's streams and buckets. */
export type NatsStorageType = 'file' | 'memory';

/** How OmniQ connects to a NATS server (or cluster), from the URL and `storageOptions`. */
export interface NatsSettings {
  /** The URL as written, with its password or token hidden, for messages. */
  readonly shownUrl: string;
  /**
   * The servers to connect to (`host:port` each): `nats://a:4222,b:4222` (or
   * `nats://a:4222,nats://b:4222`) names several; the client picks one and moves on to the
   * next when it fails.
   */
  readonly servers: readonly string[];
  readonly user: string | undefined;
  readonly pass: string | undefined;
  /** `nats://secret@host`: a token instead of a user and password. */
  readonly token: string | undefined;
  /** True for `tls://`: the connection must use TLS. */
  readonly tls: boolean;
  /**
   * The first part of every stream, bucket and subject name of the project (letters, digits and
   * `-`; `_` separates it from the project name in stream names). Default `omniq`; the URL may
   * name it (`?prefix=jobs`).
   */
  readonly prefix: string;
  /**
   * How long the first connection may take, and how long a call waits for a lost connection to
   * come back before it rejects with nothing sent (default 5,000 ms). The client reconnects for
   * ever meanwhile.
   */
  readonly connectTimeoutMs: number;
  /**
   * How long one request (a publish awaiting its acknowledgement, a KV read, a stream API call)
   * waits for its reply (default 10,000 ms): past it the call rejects saying it may or may not
   * have been applied.
   */
  readonly requestTimeoutMs: number;
  /** Copies JetStream keeps of each stream and bucket the backend creates: 1, 3 or 5 (default 1; more needs a cluster). */
  readonly replicas: number;
  /** `file` (default: survives a server restart) or `memory` (lost with the server) for the streams and buckets the backend creates. */
  readonly storage: NatsStorageType;
  /** The events stream drops events older than this (default 7 days; 0: no age limit). */
  readonly eventsMaxAgeMs: number;
  /** The events stream keeps at most this many events, dropping the oldest (default 1,000,000). */
  readonly eventsMaxMessages: number;
  /**
   * The results bucket drops any result stored longer ago than this, whatever its own
   * `resultTtlMs` (default 0: none; results without a TTL stay until `purgeHistory`).
   */
  readonly resultsMaxAgeMs: number;
}

/** A NATS URL or `storageOptions` value OmniQ cannot use. */
export class NatsSettingsError extends OmniQError {
  override name = 'NatsSettingsError';
}

/** `nats://user:secret@host` → `nats://user:***@host`; `nats://token@host` → `nats://***@host`. */
export function hideNatsSecrets(url: string): string {
  return url.replace(/^([a-z]+:\/\/)([^@/]*)@/i, (_whole, scheme: string, auth: string) => {
    const colon = auth.indexOf(':');
    return `${scheme}${colon < 0 ? '***' : `${auth.slice(0, colon)}:***`}@`;
  });
}

/** Letters, digits and `-`: a valid token of a subject, of a stream name and of a KV bucket name, and one that `_` can delimit. */
const PREFIX = /^[A-Za-z0-9-]+$/;
const HOST_PORT = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(:\d{1,5})?$/;

export const DEFAULT_NATS_PREFIX = 'omniq';
export const DEFAULT_CONNECT_TIMEOUT_MS = 5_000;
export const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;
export const DEFAULT_EVENTS_MAX_AGE_MS = 7 * 86_400_000;
export const DEFAULT_EVENTS_MAX_MESSAGES = 1_000_000;

function integer(key: string, value: unknown, fallback: number, min: number): number {
  if (value === undefined) return fallback;
  const number = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
  if (typeof number === 'number' && Number.isSafeInteger(number) && number >= min) return number;
  const expected = min === 0 ? 'a non-negative integer' : 'a positive integer';
  throw new NatsSettingsError(`storageOptions.${key}: expected ${expected}, got ${JSON.stringify(value)}`);
}

function replicas(value: unknown): number {
  const count = integer('replicas', value, 1, 1);
  if (count === 1 || count === 3 || count === 5) return count;
  throw new NatsSettingsError(`storageOptions.replicas: expected 1, 3 or 5 (JetStream's replica counts), got ${JSON.stringify(value)}`);
}

function storage(value: unknown): NatsStorageType {
  if (value === undefined) return 'file';
  if (value === 'file' || value === 'memory') return value;
  throw new NatsSettingsError(`storageOptions.storage: expected "file" or "memory", got ${JSON.stringify(value)}`);
}

/** Checks a name prefix (storageOptions.prefix, the URL's `?prefix=`, or the `prefix` of natsStores). */
export function natsPrefix(value: unknown, source = 'storageOptions.prefix'): string {
  if (value === undefined) return DEFAULT_NATS_PREFIX;
  if (typeof value === 'string' && PREFIX.test(value)) return value;
  throw new NatsSettingsError(`${source}: expected letters, digits or "-" (no dots, "_", spaces or wildcards), got ${JSON.stringify(value)}`);
}

interface ParsedUrl {
  tls: boolean;
  servers: string[];
  user?: string;
  pass?: string;
  token?: string;
  query: URLSearchParams;
}

/** Splits `scheme://[auth@]host[:port][,[scheme://]host[:port]…][/][?query]`: WHATWG URLs cannot hold several hosts. */
function parseUrl(url: string, shownUrl: string): ParsedUrl {
  const scheme = /^([a-z]+):\/\//i.exec(url)?.[1]?.toLowerCase();
  if (scheme !== 'nats' && scheme !== 'tls') throw new NatsSettingsError(`"${shownUrl}" is not a NATS URL (nats:// or tls://)`);
  let rest = url.slice(scheme.length + 3);
  const queryAt = rest.indexOf('?');
  const query = new URLSearchParams(queryAt < 0 ? '' : rest.slice(queryAt + 1));
  if (queryAt >= 0) rest = rest.slice(0, queryAt);
  rest = rest.replace(/\/$/, '');
  const parsed: ParsedUrl = { tls: scheme === 'tls', servers: [], query };
  const at = rest.lastIndexOf('@');
  if (at >= 0) {
    const auth = rest.slice(0, at);
    rest = rest.slice(at + 1);
    const colon = auth.indexOf(':');
    if (colon < 0) parsed.token = decodeURIComponent(auth);
    else {
      parsed.user = decodeURIComponent(auth.slice(0, colon));
      parsed.pass = decodeURIComponent(auth.slice(colon + 1));
    }
  }
  for (const part of rest.split(',')) {
    const server = part.replace(/^(nats|tls):\/\//i, '');
    if (server.includes('/')) throw new NatsSettingsError(`"${shownUrl}": a NATS URL has no path, got "${server.slice(server.indexOf('/'))}"`);
    if (!HOST_PORT.test(server)) throw new NatsSettingsError(`"${shownUrl}" names no valid host in "${part}"; expected nats://host:4222 (several: nats://a:4222,b:4222)`);
    const port = /:(\d+)$/.exec(server.replace(/^\[.*\]/, ''))?.[1];
    if (port !== undefined && (Number(port) < 1 || Number(port) > 65_535)) throw new NatsSettingsError(`"${shownUrl}": port ${port} is out of range`);
    parsed.servers.push(port === undefined ? `${server}:4222` : server);
  }
  return parsed;
}

/**
 * Reads a `nats://` / `tls://` URL and the backend's `storageOptions`. The URL may name the name
 * prefix itself (`nats://host:4222?prefix=jobs`), as a Redis URL names its key prefix.
 */
export function natsSettings(url: string, options: Readonly<Record<string, unknown>>): NatsSettings {
  const shownUrl = hideNatsSecrets(url);
  const parsed = parseUrl(url, shownUrl);
  for (const name of parsed.query.keys()) {
    if (name !== 'prefix') throw new NatsSettingsError(`"${shownUrl}": unknown parameter "${name}"; a NATS URL takes only ?prefix=<name prefix>`);
  }
  const fromUrl = parsed.query.get('prefix');
  if (fromUrl !== null && options.prefix !== undefined && options.prefix !== fromUrl) {
    throw new NatsSettingsError(
      `The name prefix is given twice, differently: "${fromUrl}" in the URL ${shownUrl} and ${JSON.stringify(options.prefix)} in storageOptions.prefix`,
    );
  }
  return {
    shownUrl,
    servers: parsed.servers,
    user: parsed.user,
    pass: parsed.pass,
    token: parsed.token,
    tls: parsed.tls,
    prefix: fromUrl !== null ? natsPrefix(fromUrl, `the prefix parameter of ${shownUrl}`) : natsPrefix(options.prefix),
    connectTimeoutMs: integer('connectTimeoutMs', options.connectTimeoutMs, DEFAULT_CONNECT_TIMEOUT_MS, 1),
    requestTimeoutMs: integer('requestTimeoutMs', options.requestTimeoutMs, DEFAULT_REQUEST_TIMEOUT_MS, 1),
    replicas: replicas(options.replicas),
    storage: storage(options.storage),
    eventsMaxAgeMs: integer('eventsMaxAgeMs', options.eventsMaxAgeMs, DEFAULT_EVENTS_MAX_AGE_MS, 0),
    eventsMaxMessages: integer('eventsMaxMessages', options.eventsMaxMessages, DEFAULT_EVENTS_MAX_MESSAGES, 1),
    resultsMaxAgeMs: integer('resultsMaxAgeMs', options.resultsMaxAgeMs, 0, 0),
  };
}
