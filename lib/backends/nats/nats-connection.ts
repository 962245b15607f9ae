import type { LoggerService } from '@nestjs/common';
import type { JetStreamClient, JetStreamManager, StreamConfig, StreamInfo } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import type { MsgHdrs, NatsConnection, QueuedIterator, Status } from '@nats-io/transport-node';
import { OmniQError } from '../../errors/omniq.errors.js';
import { StoreClosedError } from '../../errors/store.errors.js';
import type { Unsubscribe } from '../../storage/task-queue.store.js';
import { BackendDriverMissingError, missingPackage } from '../backend.registry.js';
import { OutageGate } from '../shared/outage-gate.js';
import { NatsNames } from './nats-names.js';
import { JetStreamPublisher, type PublishOptions, type Published } from './nats-publisher.js';
import { DEFAULT_CONNECT_TIMEOUT_MS, DEFAULT_EVENTS_MAX_AGE_MS, DEFAULT_EVENTS_MAX_MESSAGES, DEFAULT_REQUEST_TIMEOUT_MS, type NatsSettings } from './nats-settings.js';
import { ConnectionLostError, errorText, jetStreamCode, JS_STREAM_NAME_IN_USE, JS_STREAM_NOT_FOUND, NatsNotConnectedError, NatsStorageError } from './nats-storage.error.js';

/** What the server offers beyond 2.9, by its version. */
export interface NatsServerFeatures {
  /** The server's version (`2.9.10`). */
  readonly version: string;
  /** Per-message TTLs (`Nats-TTL`, 2.11): a result with a TTL is freed by the server itself. */
  readonly messageTtl: boolean;
  /** Scheduled messages (2.12). */
  readonly scheduledMessages: boolean;
}

/** The limits of a KV bucket the backend creates. */
export interface BucketLimits {
  /** Versions kept per key (1: the latest only). */
  history?: number;
  /** Entries older than this are dropped by the server (0: never). */
  maxAgeMs?: number;
  /** Turns on per-message TTLs where the server has them (see NatsServerFeatures.messageTtl). */
  messageTtl?: boolean;
}

/** One project's streams, buckets and subjects on one NATS server or cluster, as the stores use them. */
export interface NatsLink {
  readonly nc: NatsConnection;
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  readonly names: NatsNames;
  readonly settings: NatsSettings;
  readonly server: NatsServerFeatures;
  /** The URL with its secrets hidden, for messages. */
  readonly shownUrl: string;
  /** New message headers (nats-core's `headers()`, which only this module may load). */
  headers(): MsgHdrs;
  /**
   * Runs a call once the connection is up: waits (up to connectTimeoutMs) while it is being
   * re-established, then rejects with nothing sent. A driver failure rejects with
   * NatsStorageError naming `operation`; an OmniQError thrown by `call` itself passes through.
   */
  call<T>(operation: string, call: () => Promise<T>): Promise<T>;
  /**
   * A JetStream publish awaiting its acknowledgement (see JetStreamPublisher): the driver's
   * `js.publish` at a fraction of its cost. Made inside `call`, like any request; a lost
   * compare-and-swap rejects with a JetStreamApiError-named error coded 10071.
   */
  publish(subject: string, data: string | Uint8Array, options?: PublishOptions): Promise<Published>;
  /** Creates the stream when it is missing, or brings its limits to `config`; safe when several instances do it at once. */
  ensureStream(config: Partial<StreamConfig> & { name: string; subjects: string[] }): Promise<StreamInfo>;
  /** Opens the project's KV bucket `role`, creating it when missing (as ensureStream). */
  bucket(role: string, limits?: BucketLimits): Promise<KV>;
  /** Called (asynchronously) each time the connection is back after it was lost. */
  onReconnect(listener: () => void): Unsubscribe;
  /**
   * Closes OmniQ's own connection (an application's is left open). Calls still waiting for the
   * connection, in flight, or made after, reject with StoreClosedError (the engine's stores
   * are closed).
   */
  close(): Promise<void>;
}

interface Drivers {
  connect: typeof import('@nats-io/transport-node').connect;
  jetstream: typeof import('@nats-io/jetstream').jetstream;
  jetstreamManager: typeof import('@nats-io/jetstream').jetstreamManager;
  Kvm: typeof import('@nats-io/kv').Kvm;
  headers: typeof import('@nats-io/transport-node').headers;
  createInbox: typeof import('@nats-io/transport-node').createInbox;
}

/** The NATS packages, optional peer dependencies: a missing one fails the open with BackendDriverMissingError naming it. */
async function loadDrivers(): Promise<Drivers> {
  try {
    const [transport, jetstream, kv] = await Promise.all([import('@nats-io/transport-node'), import('@nats-io/jetstream'), import('@nats-io/kv')]);
    return { connect: transport.connect, headers: transport.headers, createInbox: transport.createInbox, jetstream: jetstream.jetstream, jetstreamManager: jetstream.jetstreamManager, Kvm: kv.Kvm };
  } catch (error) {
    const missing = missingPackage(error);
    if (missing?.startsWith('@nats-io/')) throw new BackendDriverMissingError('nats', missing);
    throw error;
  }
}

const atLeast = (version: string, major: number, minor: number): boolean => {
  const [a = 0, b = 0] = version.split('.').map(Number);
  return a > major || (a === major && b >= minor);
};

function serverFeatures(nc: NatsConnection): NatsServerFeatures {
  const version = nc.info?.version ?? '0.0.0';
  return { version, messageTtl: atLeast(version, 2, 11), scheduledMessages: atLeast(version, 2, 12) };
}

const MS = 1_000_000;

/**
 * The limits ensureStream keeps in step with the settings (a stream made with other limits gets
 * these). `allow_msg_ttl` is asked for only where the server has per-message TTLs: a bucket made
 * before the server was upgraded gets it then.
 */
const MANAGED_LIMITS = ['max_age', 'max_msgs', 'max_msgs_per_subject', 'duplicate_window', 'num_replicas', 'allow_msg_ttl'] as const;

class JetStreamLink implements NatsLink {
  readonly names: NatsNames;
  readonly shownUrl: string;
  readonly server: NatsServerFeatures;
  private readonly gate = new OutageGate();
  private readonly reconnectListeners = new Set<() => void>();
  private up = true;
  private closed = false;
  /**
   * The calls waiting for a reply: a disconnect rejects them at once. A request written to a
   * socket that then died gets no reply, and would otherwise wait its whole requestTimeoutMs
   * after the server is back.
   */
  private readonly inFlight = new Set<(error: Error) => void>();
  private stopWatch: (() => void) | undefined;
  private readonly watching: Promise<void>;
  private readonly publisher: JetStreamPublisher;

  constructor(
    readonly nc: NatsConnection,
    readonly js: JetStreamClient,
    readonly jsm: JetStreamManager,
    private readonly drivers: Drivers,
    readonly settings: NatsSettings,
    projectName: string,
    /** OmniQ opened the connection: it closes it. */
    private readonly owned: boolean,
    private readonly logger: LoggerService,
  ) {
    this.names = new NatsNames(settings.prefix, projectName);
    this.shownUrl = settings.shownUrl;
    this.server = serverFeatures(nc);
    this.watching = this.watchStatus();
    // The connection's own inbox prefix (not in its declared type): an application's permissions may allow only that one.
    const { inboxPrefix } = (nc as { options?: { inboxPrefix?: string } }).options ?? {};
    this.publisher = new JetStreamPublisher(nc, drivers.createInbox(inboxPrefix), drivers.headers, settings.requestTimeoutMs);
  }

  publish(subject: string, data: string | Uint8Array, options?: PublishOptions): Promise<Published> {
    return this.publisher.publish(subject, data, options);
  }

  headers(): MsgHdrs {
    return this.drivers.headers();
  }

  async call<T>(operation: string, call: () => Promise<T>): Promise<T> {
    let lost: ((error: Error) => void) | undefined;
    try {
      await this.connected(operation);
      const running = call();
      // Settled below either way: a request whose connection dropped may still time out later, unheard.
      running.catch(() => undefined);
      return await Promise.race([running, new Promise<never>((_, reject) => this.inFlight.add((lost = reject)))]);
    } catch (error) {
      // The stores were closed under a call in flight (a step of an enqueue that began before): it ends as a call after close does.
      if (this.closed) throw new StoreClosedError('NatsEngine', operation);
      if (error instanceof OmniQError) throw error;
      throw new NatsStorageError(this.shownUrl, operation, error);
    } finally {
      if (lost) this.inFlight.delete(lost);
    }
  }

  async ensureStream(config: Partial<StreamConfig> & { name: string; subjects: string[] }): Promise<StreamInfo> {
    const operation = `creating the stream ${config.name}`;
    return this.call(operation, async () => {
      for (let attempt = 0; ; attempt += 1) {
        const existing = await this.jsm.streams.info(config.name).catch((error: unknown) => {
          if (jetStreamCode(error) === JS_STREAM_NOT_FOUND) return undefined;
          throw error;
        });
        if (existing) return this.alignLimits(existing, config);
        try {
          return await this.jsm.streams.add(config);
        } catch (error) {
          // Another instance created it first, with other limits (an older or newer version of these settings): read it and align.
          if (jetStreamCode(error) !== JS_STREAM_NAME_IN_USE || attempt > 0) throw error;
        }
      }
    });
  }

  async bucket(role: string, limits: BucketLimits = {}): Promise<KV> {
    const bucket = this.names.store(role);
    const name = `KV_${bucket}`;
    const { replicas, storage, requestTimeoutMs } = this.settings;
    const maxAge = limits.maxAgeMs ?? 0;
    await this.ensureStream({
      name,
      subjects: [`$KV.${bucket}.>`],
      retention: 'limits',
      storage,
      num_replicas: replicas,
      max_msgs_per_subject: limits.history ?? 1,
      max_age: maxAge * MS,
      // KV's own conventions, so any KV client (the nats CLI) reads the bucket.
      discard: 'new',
      allow_rollup_hdrs: true,
      deny_delete: true,
      deny_purge: false,
      allow_direct: true,
      duplicate_window: Math.min(maxAge || 120_000, 120_000) * MS,
      ...(limits.messageTtl && this.server.messageTtl ? { allow_msg_ttl: true } : {}),
    });
    return this.call(`opening the bucket ${bucket}`, () => new this.drivers.Kvm(this.js).open(bucket, { allow_direct: true, timeout: requestTimeoutMs }));
  }

  onReconnect(listener: () => void): Unsubscribe {
    const subscription = (): void => listener();
    this.reconnectListeners.add(subscription);
    return () => {
      this.reconnectListeners.delete(subscription);
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.gate.fail(new NatsNotConnectedError('the connection was closed'));
    this.reconnectListeners.clear();
    this.publisher.close(new NatsNotConnectedError('the connection was closed'));
    if (this.owned) await this.nc.close().catch(() => undefined);
    // An application's connection keeps its status iterator: only the stop below ends the watch.
    else this.stopWatch?.();
    await this.watching;
  }

  /** Brings a stream made with other limits to the ones asked (a changed eventsMaxMessages, say). */
  private async alignLimits(existing: StreamInfo, config: Partial<StreamConfig>): Promise<StreamInfo> {
    const differs = MANAGED_LIMITS.filter((key) => config[key] !== undefined && existing.config[key] !== config[key]);
    if (differs.length === 0) return existing;
    this.logger.log(`NATS ${this.shownUrl}: updating ${differs.join(', ')} of the stream ${existing.config.name} to the configured values`);
    const update = { ...existing.config };
    for (const key of differs) (update as Record<string, unknown>)[key] = config[key];
    return this.jsm.streams.update(existing.config.name, update);
  }

  /** Resolves once the connection is up (at once when it is); rejects when it stays down for connectTimeoutMs. */
  private connected(operation: string): Promise<void> {
    if (this.closed) return Promise.reject(new StoreClosedError('NatsEngine', operation));
    if (this.nc.isClosed()) {
      return Promise.reject(new NatsStorageError(this.shownUrl, operation, new NatsNotConnectedError('the connection is closed')));
    }
    if (this.up) return Promise.resolve();
    const ms = this.settings.connectTimeoutMs;
    return this.gate.wait(ms, {
      wrap: (cause) => new NatsStorageError(this.shownUrl, operation, cause),
      timedOut: () => new NatsNotConnectedError(`not connected within storageOptions.connectTimeoutMs (${ms} ms)`),
    });
  }

  /** Follows the connection's status: down at a disconnect, up at a reconnect (the client reconnects by itself, for ever). */
  private async watchStatus(): Promise<void> {
    // The client's status() is a QueuedIterator (its declared type says only AsyncIterable): stop() ends it.
    const statuses = this.nc.status() as QueuedIterator<Status>;
    this.stopWatch = () => statuses.stop();
    void this.nc.closed().then(() => {
      this.gate.fail(new NatsNotConnectedError('the connection is closed'));
      statuses.stop();
    });
    for await (const status of statuses) {
      if (this.closed) continue;
      if (status.type === 'disconnect') {
        if (this.up) this.logger.warn(`Lost the connection to NATS ${this.shownUrl}; reconnecting`);
        this.up = false;
        const dropped = [...this.inFlight];
        this.inFlight.clear();
        for (const reject of dropped) reject(new ConnectionLostError('the connection was lost with the request in flight'));
      } else if (status.type === 'reconnect') {
        this.logger.log(`Reconnected to NATS ${this.shownUrl} (${status.server})`);
        this.up = true;
        this.gate.open();
        for (const listener of [...this.reconnectListeners]) queueMicrotask(listener);
      } else if (status.type === 'error') {
        this.logger.debug?.(`NATS ${this.shownUrl}: ${errorText(status.error)}`);
      }
    }
  }
}

/** Delays between reconnection attempts: a restarted server is found within this. */
const RECONNECT_WAIT_MS = 250;
/** Pings this often, so a server that vanished without closing the socket is noticed within a few of them. */
const PING_INTERVAL_MS = 5_000;

/**
 * Opens OmniQ's own connection, waits until it is up, and wraps it with JetStream clients. This
 * file is the only one that loads the NATS packages at runtime.
 *
 * The client reconnects by itself, for ever. A call made while the connection is down waits for
 * it up to connectTimeoutMs and then rejects with nothing sent; a request in flight when the
 * connection drops (or whose reply takes longer than requestTimeoutMs) rejects, saying it may or
 * may not have been applied. JetStream keeps every write idempotent or conditional (message ids,
 * expected revisions), so a request applied after all does no harm.
 */
export async function openNatsLink(settings: NatsSettings, projectName: string, logger: LoggerService): Promise<NatsLink> {
  const drivers = await loadDrivers();
  let nc: NatsConnection;
  try {
    nc = await drivers.connect({
      servers: [...settings.servers],
      user: settings.user,
      pass: settings.pass,
      token: settings.token,
      tls: settings.tls ? {} : undefined,
      name: `omniq ${projectName}`,
      timeout: settings.connectTimeoutMs,
      reconnect: true,
      maxReconnectAttempts: -1,
      reconnectTimeWait: RECONNECT_WAIT_MS,
      pingInterval: PING_INTERVAL_MS,
      waitOnFirstConnect: false,
      // Otherwise every request builds two errors with stack traces up front, in case it fails:
      // a fifth of the CPU of a busy engine. OmniQ's errors name the operation instead.
      noAsyncTraces: true,
    });
  } catch (error) {
    throw new NatsStorageError(settings.shownUrl, 'connecting', error);
  }
  try {
    return await wrap(nc, drivers, settings, projectName, true, logger);
  } catch (error) {
    await nc.close().catch(() => undefined);
    throw error;
  }
}

export interface AttachNatsOptions {
  projectName: string;
  prefix: string;
  eventsMaxAgeMs?: number;
  eventsMaxMessages?: number;
  requestTimeoutMs?: number;
}

/** Wraps an application's ready-made NatsConnection; OmniQ never closes it. */
export async function attachNatsLink(nc: NatsConnection, options: AttachNatsOptions, logger: LoggerService): Promise<NatsLink> {
  const drivers = await loadDrivers();
  const server = nc.getServer();
  const settings: NatsSettings = {
    shownUrl: `nats://${server}`,
    servers: [server],
    user: undefined,
    pass: undefined,
    token: undefined,
    tls: false,
    prefix: options.prefix,
    connectTimeoutMs: DEFAULT_CONNECT_TIMEOUT_MS,
    requestTimeoutMs: options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS,
    replicas: 1,
    storage: 'file',
    eventsMaxAgeMs: options.eventsMaxAgeMs ?? DEFAULT_EVENTS_MAX_AGE_MS,
    eventsMaxMessages: options.eventsMaxMessages ?? DEFAULT_EVENTS_MAX_MESSAGES,
    resultsMaxAgeMs: 0,
  };
  return wrap(nc, drivers, settings, options.projectName, false, logger);
}

async function wrap(nc: NatsConnection, drivers: Drivers, settings: NatsSettings, projectName: string, owned: boolean, logger: LoggerService): Promise<NatsLink> {
  const timeout = settings.requestTimeoutMs;
  const js = drivers.jetstream(nc, { timeout });
  let jsm: JetStreamManager;
  try {
    // checkAPI asks for the account's JetStream info: a server without -js is refused here, clearly.
    jsm = await drivers.jetstreamManager(nc, { timeout, checkAPI: true });
  } catch (error) {
    throw new NatsStorageError(settings.shownUrl, 'checking that JetStream is enabled', error);
  }
  return new JetStreamLink(nc, js, jsm, drivers, settings, projectName, owned, logger);
}
