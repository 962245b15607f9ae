import type { LoggerService } from '@nestjs/common';
import type { Cluster, ClusterOptions, Redis, RedisOptions } from 'ioredis';
import { OmniQError } from '../../errors/omniq.errors.js';
import { BackendDriverMissingError, missingPackage } from '../backend.registry.js';
import { OutageGate } from '../shared/outage-gate.js';
import { RedisKeys } from './redis-keys.js';
import type { RedisScript } from './redis-scripts.js';
import { DEFAULT_COMMAND_TIMEOUT_MS, DEFAULT_CONNECT_TIMEOUT_MS, DEFAULT_EVENTS_MAX_LEN, RedisSettingsError, type RedisSettings } from './redis-settings.js';
import { RedisNotConnectedError, RedisStorageError, errorText, redisCode, refusedUnsent } from './redis-storage.error.js';

export type RedisClient = Redis | Cluster;

/** One project's keys on one Redis server or cluster, as the stores use them. */
export interface RedisConnection {
  /** Commands and scripts go through it (wrapped by `call` / `run`). */
  readonly client: RedisClient;
  readonly keys: RedisKeys;
  readonly settings: RedisSettings;
  /** The URL with its password hidden, for messages. */
  readonly shownUrl: string;
  /** A new client with the same settings (the notifier's subscriber, blocking reads); the caller closes it. */
  duplicate(): RedisClient;
  /**
   * Runs a script by EVALSHA; when the server does not know it (a restart, SCRIPT FLUSH) it is
   * sent whole once (EVAL, which also caches it). `keys[0]` must be a key under P: it routes the
   * call in a cluster. Failures reject with RedisStorageError naming `operation`.
   */
  run<T = unknown>(script: RedisScript, keys: string[], args: (string | number)[], operation: string): Promise<T>;
  /**
   * Runs plain commands on `client` once it is connected: waits (up to connectTimeoutMs) while
   * the connection is being re-established, then rejects without sending anything. A driver
   * failure rejects with RedisStorageError naming `operation`; an OmniQError thrown by `command`
   * itself passes through.
   */
  call<T>(operation: string, command: (client: RedisClient) => Promise<T>): Promise<T>;
  /** Closes OmniQ's own client (an application's is left open) and rejects the calls still waiting for a connection. */
  close(): Promise<void>;
}

/** Reconnection delays: 50 ms doubling up to 1 s, for ever (an outage ends when the server is back). */
function retryDelay(attempt: number): number {
  return Math.min(50 * 2 ** Math.min(attempt, 5), 1_000);
}

class IoRedisConnection implements RedisConnection {
  readonly keys: RedisKeys;
  readonly shownUrl: string;
  private readonly gate = new OutageGate();
  private lastError: unknown;
  private outage = false;
  /** Until the first 'ready', a failure is the open's to report, not an outage to log. */
  private wasReady = false;
  private closed = false;
  private readonly onReady = (): void => this.ready();
  private readonly onEnd = (): void => this.ended();
  private readonly onError = (error: unknown): void => this.failed(error);

  constructor(
    readonly client: RedisClient,
    readonly settings: RedisSettings,
    projectName: string,
    /** OmniQ opened the client: it closes it, and logs its connection errors. */
    private readonly owned: boolean,
    private readonly logger: LoggerService,
  ) {
    this.keys = new RedisKeys(settings.prefix, projectName);
    this.shownUrl = settings.shownUrl;
    client.on('ready', this.onReady);
    client.on('end', this.onEnd);
    if (owned) client.on('error', this.onError);
  }

  duplicate(): RedisClient {
    const copy = this.client.duplicate();
    // The copy reports its own connection errors through the logger (never as unhandled 'error' events).
    if (this.owned) copy.on('error', (error: unknown) => this.logger.debug?.(`A Redis connection to ${this.shownUrl} failed: ${errorText(error)}`));
    return copy;
  }

  async run<T = unknown>(script: RedisScript, keys: string[], args: (string | number)[], operation: string): Promise<T> {
    if (keys.length === 0 || !keys[0]!.startsWith(this.keys.P)) {
      throw new RangeError(`Script ${script.name} (${operation}) needs a first key under ${this.keys.P}, got ${JSON.stringify(keys[0])}`);
    }
    const send = async (client: RedisClient): Promise<T> => {
      try {
        return (await client.evalsha(script.sha, keys.length, ...keys, ...args)) as T;
      } catch (error) {
        if (redisCode(error) !== 'NOSCRIPT') throw error;
        return (await client.eval(script.lua, keys.length, ...keys, ...args)) as T;
      }
    };
    try {
      return await this.call(operation, send);
    } catch (error) {
      // The connection dropped unnoticed just before the send: the script did not run, so it is
      // safe to send once more after the reconnect (bounded by connectTimeoutMs like any wait).
      if (!this.owned || !(error instanceof RedisStorageError) || !refusedUnsent(error)) throw error;
      await this.nextReady(operation);
      return this.call(operation, send);
    }
  }

  async call<T>(operation: string, command: (client: RedisClient) => Promise<T>): Promise<T> {
    await this.connected(operation);
    try {
      return await command(this.client);
    } catch (error) {
      if (error instanceof OmniQError) throw error;
      throw new RedisStorageError(this.shownUrl, operation, error);
    }
  }

  /** Resolves once the client is ready (at once when it is); rejects when it stays down for connectTimeoutMs. */
  async connected(operation: string): Promise<void> {
    const { status } = this.client;
    if (status === 'ready') return Promise.resolve();
    // An application's client with an offline queue queues commands while it reconnects: its own settings bound the wait.
    if (!this.owned && this.client.options.enableOfflineQueue !== false && status !== 'end') return Promise.resolve();
    return this.nextReady(operation);
  }

  /** Resolves at the client's next 'ready' (a reconnect); rejects when none comes within connectTimeoutMs, or the client ends. */
  private nextReady(operation: string): Promise<void> {
    if (this.closed || this.client.status === 'end') {
      return Promise.reject(new RedisStorageError(this.shownUrl, operation, new RedisNotConnectedError('the connection is closed')));
    }
    const ms = this.settings.connectTimeoutMs;
    return this.gate.wait(ms, {
      wrap: (cause) => new RedisStorageError(this.shownUrl, operation, cause),
      timedOut: () => {
        const last = this.lastError === undefined ? '' : `; last connection error: ${errorText(this.lastError)}`;
        return new RedisNotConnectedError(`not connected within storageOptions.connectTimeoutMs (${ms} ms)${last}`);
      },
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.client.off('ready', this.onReady);
    this.client.off('end', this.onEnd);
    this.gate.fail(new RedisNotConnectedError('the connection was closed'));
    if (!this.owned) return;
    await closeClient(this.client, this.settings.commandTimeoutMs);
    this.client.off('error', this.onError);
  }

  private ready(): void {
    if (this.outage) this.logger.log(`Reconnected to Redis ${this.shownUrl}`);
    this.outage = false;
    this.wasReady = true;
    this.lastError = undefined;
    this.gate.open();
  }

  private ended(): void {
    this.gate.fail(new RedisNotConnectedError('the connection is closed'));
  }

  private failed(error: unknown): void {
    this.lastError = error;
    if (this.closed || !this.wasReady) return;
    if (!this.outage) this.logger.warn(`Lost the connection to Redis ${this.shownUrl} (${errorText(error)}); reconnecting`);
    this.outage = true;
  }
}

/**
 * QUIT when connected (replies still owed arrive first), else drops the socket; resolves once
 * the client has ended. A client between reconnection attempts has no socket: dropping it only
 * cancels the next attempt, and no 'end' may follow, so that wait is bounded.
 */
export async function closeClient(client: RedisClient, timeoutMs: number): Promise<void> {
  const prior = client.status;
  if (prior === 'end') return;
  const ended = new Promise<void>((resolve) => client.once('end', () => resolve()));
  let timer: NodeJS.Timeout | undefined;
  const bounded = new Promise<void>((resolve) => {
    timer = setTimeout(() => {
      client.disconnect();
      resolve();
    }, timeoutMs);
  });
  try {
    if (prior === 'ready') {
      await client.quit().catch(() => client.disconnect());
    } else {
      client.disconnect();
      if (prior === 'reconnecting' || prior === 'close') return;
    }
    await Promise.race([ended, bounded]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Opens OmniQ's own ioredis client (a Cluster with storageOptions.cluster) and waits until it is
 * ready, checks that the server never evicts keys, and wraps it. This file is the only one that
 * loads ioredis at runtime.
 *
 * Commands are never queued while the connection is down (enableOfflineQueue off) and never
 * resent after a reconnect (autoResendUnfulfilledCommands off): a call made during an outage
 * waits for the connection up to connectTimeoutMs and then rejects with nothing sent, and a call
 * in flight when the connection drops (or whose reply takes longer than commandTimeoutMs) rejects,
 * saying it may or may not have been applied.
 * A script is thus never run twice by the driver. The client reconnects by itself.
 */
export async function openRedisConnection(settings: RedisSettings, projectName: string, logger: LoggerService): Promise<RedisConnection> {
  const { Redis, Cluster } = await loadIoRedis();
  const nodeOptions: RedisOptions = {
    username: settings.username,
    password: settings.password,
    tls: settings.tls ? {} : undefined,
    connectTimeout: settings.connectTimeoutMs,
    commandTimeout: settings.commandTimeoutMs,
    autoResendUnfulfilledCommands: false,
    // With the offline queue off, this only decides the commands in flight when the connection
    // drops: rejected at once ("may or may not have been applied") instead of at commandTimeout.
    maxRetriesPerRequest: 0,
    connectionName: 'omniq',
  };
  const client: RedisClient = settings.cluster
    ? new Cluster([{ host: settings.host, port: settings.port }], {
        redisOptions: nodeOptions,
        enableOfflineQueue: false,
        clusterRetryStrategy: retryDelay,
      } satisfies ClusterOptions)
    : new Redis({ ...nodeOptions, host: settings.host, port: settings.port, db: settings.db, enableOfflineQueue: false, retryStrategy: retryDelay });
  const connection = new IoRedisConnection(client, settings, projectName, true, logger);
  try {
    await connection.connected('connecting');
    await checkEvictionPolicy(connection, logger);
    return connection;
  } catch (error) {
    await connection.close();
    if (error instanceof RedisSettingsError || error instanceof RedisStorageError) throw error;
    throw new RedisStorageError(settings.shownUrl, 'connecting', error);
  }
}

/** ioredis, an optional peer dependency: a missing one fails the open with BackendDriverMissingError naming it. */
async function loadIoRedis(): Promise<{ Redis: typeof Redis; Cluster: typeof Cluster }> {
  try {
    return await import('ioredis');
  } catch (error) {
    if (missingPackage(error) === 'ioredis') throw new BackendDriverMissingError('redis', 'ioredis');
    throw error;
  }
}

export interface AttachRedisOptions {
  projectName: string;
  prefix: string;
  eventsMaxLen?: number;
}

/** Wraps an application's ready-made ioredis client or Cluster; OmniQ never closes it. */
export async function attachRedisConnection(client: RedisClient, options: AttachRedisOptions, logger: LoggerService): Promise<RedisConnection> {
  const settings = attachedSettings(client, options);
  // ioredis would prefix the keys a script is given but not the names it builds from P: the two would part.
  const keyPrefix = client.isCluster ? ((client as Cluster).options.keyPrefix ?? (client as Cluster).options.redisOptions?.keyPrefix) : (client as Redis).options.keyPrefix;
  if (keyPrefix) {
    throw new RedisSettingsError(
      `The ioredis client handed to OmniQ (${settings.shownUrl}) has keyPrefix "${keyPrefix}"; OmniQ's keys carry their own prefix (redisStores option prefix). Pass a client without keyPrefix, e.g. client.duplicate({ keyPrefix: '' })`,
    );
  }
  const connection = new IoRedisConnection(client, settings, options.projectName, false, logger);
  try {
    await checkEvictionPolicy(connection, logger);
  } catch (error) {
    await connection.close();
    throw error;
  }
  return connection;
}

function attachedSettings(client: RedisClient, { prefix, eventsMaxLen = DEFAULT_EVENTS_MAX_LEN }: AttachRedisOptions): RedisSettings {
  const isCluster = client.isCluster;
  const startupNodes = (client as unknown as { startupNodes?: unknown[] }).startupNodes;
  const node = (isCluster ? startupNodes?.[0] : client.options) as { host?: string; port?: number } | string | number | undefined;
  const options = isCluster ? ((client as Cluster).options.redisOptions ?? {}) : (client as Redis).options;
  const host = typeof node === 'object' ? (node.host ?? 'localhost') : 'localhost';
  const port = typeof node === 'object' ? (node.port ?? 6379) : 6379;
  const db = isCluster ? 0 : ((client as Redis).options.db ?? 0);
  const tls = options.tls !== undefined;
  const url = `${tls ? 'rediss' : 'redis'}://${host}:${port}${db ? `/${db}` : ''}`;
  return {
    url,
    shownUrl: isCluster ? `${url} (cluster)` : url,
    host,
    port,
    username: undefined,
    password: undefined,
    db,
    tls,
    prefix,
    eventsMaxLen,
    connectTimeoutMs: DEFAULT_CONNECT_TIMEOUT_MS,
    commandTimeoutMs: options.commandTimeout ?? DEFAULT_COMMAND_TIMEOUT_MS,
    cluster: isCluster,
  };
}

/**
 * Refuses a server that may evict keys: OmniQ's tasks, idempotency keys and results would vanish
 * under memory pressure. Only `noeviction` is accepted (volatile-* policies would evict results
 * and dedupe keys, which carry TTLs). Read with CONFIG GET, or INFO memory where CONFIG is
 * disabled (managed services); when neither answers, a warning says the policy is unchecked.
 */
async function checkEvictionPolicy(connection: IoRedisConnection, logger: LoggerService): Promise<void> {
  const { client } = connection;
  const nodes: Redis[] = client.isCluster ? (client as Cluster).nodes('master') : [client as Redis];
  for (const node of nodes) {
    const policy = await connection.call('checking maxmemory-policy', () => evictionPolicy(node));
    if (policy === undefined) {
      logger.warn(`Redis ${connection.shownUrl}: could not read maxmemory-policy (CONFIG and INFO refused); make sure it is noeviction, or keys may be evicted`);
    } else if (policy !== 'noeviction') {
      throw new RedisSettingsError(
        `Redis ${connection.shownUrl} has maxmemory-policy ${policy}: it may evict OmniQ's tasks and results under memory pressure. Set maxmemory-policy noeviction (CONFIG SET maxmemory-policy noeviction, or in redis.conf)`,
      );
    }
  }
}

async function evictionPolicy(node: Redis): Promise<string | undefined> {
  try {
    const reply = (await node.config('GET', 'maxmemory-policy')) as unknown as string[];
    if (typeof reply[1] === 'string') return reply[1];
  } catch {
    // CONFIG is renamed or forbidden on many managed services: INFO still tells the policy.
  }
  try {
    return /^maxmemory_policy:(\S+)/m.exec(await node.info('memory'))?.[1];
  } catch {
    return undefined;
  }
}
