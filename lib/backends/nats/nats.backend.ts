import type { NatsConnection } from '@nats-io/transport-node';
import type { Backend } from '../../storage/engine.js';
import type { EventStore } from '../../storage/event.store.js';
import type { ResultStore } from '../../storage/result.store.js';
import type { TaskQueueStore } from '../../storage/task-queue.store.js';
import { backendLogger, type BackendLogger } from '../shared/backend-logger.js';
import { attachNatsLink, openNatsLink, type NatsLink } from './nats-connection.js';
import { NatsEngine } from './nats-engine.js';
import { NATS_STORAGE_OPTIONS, natsPrefix, natsSettings } from './nats-settings.js';

/**
 * The NATS JetStream backend: `nats://[user:password@]host:4222[,host2:4222][?prefix=…]`, or
 * `tls://` for TLS. Every stream and bucket of a project is named `<prefix>_<projectName>_<role>`
 * (KV buckets `KV_…`) and every subject starts with `<prefix>.<projectName>.`, so projects and
 * prefixes can share a server or account. Each `open` is one engine with a connection of its
 * own; opening the same URL again (here or in another process) makes a peer engine.
 */
export const natsBackend: Backend = {
  storageOptions: NATS_STORAGE_OPTIONS,
  async open(url, context) {
    const settings = natsSettings(url, context.storageOptions);
    const logger = backendLogger(context);
    const link = await openNatsLink(settings, context.projectName, logger('OmniQNatsConnection'));
    return startEngine(link, logger);
  },
};

async function startEngine(link: NatsLink, logger: BackendLogger): Promise<NatsEngine> {
  try {
    return await NatsEngine.open(link, logger);
  } catch (error) {
    await link.close();
    throw error;
  }
}

export interface NatsStores {
  taskQueue: TaskQueueStore;
  resultStore: ResultStore;
  eventStore: EventStore;
}

export interface NatsClientOptions {
  /** Names OmniQ's streams, buckets and subjects (default `omniq`). */
  projectName?: string;
  /** The first part of every name (default `omniq`; letters, digits, `-`). */
  prefix?: string;
  /** The events stream drops events older than this (default 7 days; 0: no age limit). */
  eventsMaxAgeMs?: number;
  /** The events stream keeps at most this many events (default 1,000,000). */
  eventsMaxMessages?: number;
  /** How long one request waits for its reply (default 10,000 ms). */
  requestTimeoutMs?: number;
}

/**
 * OmniQ's three stores, one engine, on a NatsConnection the application already uses: pass them
 * to `OmniQModule.forRoot({ taskQueue, resultStore, eventStore })`. OmniQ uses only the names of
 * its prefix and project, and closing the stores leaves the connection open: it stays the
 * application's to close.
 */
export async function natsStores(nc: NatsConnection, { projectName = 'omniq', prefix, ...limits }: NatsClientOptions = {}): Promise<NatsStores> {
  const logger = backendLogger();
  const link = await attachNatsLink(nc, { projectName, prefix: natsPrefix(prefix, 'natsStores() option prefix'), ...limits }, logger('OmniQNatsConnection'));
  const engine = await startEngine(link, logger);
  return { taskQueue: engine.tasks, resultStore: engine.results, eventStore: engine.events };
}
