import type { LoggerService } from '@nestjs/common';
import { NOTIFY_CHANNELS, type Notifier, type NotifyChannel } from '../../storage/notifier.js';
import type { Unsubscribe } from '../../storage/task-queue.store.js';
import { Listeners } from '../shared/listeners.js';
import { StoreLifecycle } from '../shared/store-lifecycle.js';
import { closeClient, type RedisClient, type RedisConnection } from './redis-connection.js';
import { NOTIFY_LUA } from './redis-notify.lua.js';
import { chunks, MAX_SCRIPT_ARGS, RedisScript } from './redis-scripts.js';
import { errorText } from './redis-storage.error.js';

type Listener = (message: string) => void;

/**
 * The scripts announce the results they stored in one message, `results\n` followed by each
 * task id as `<length>:<id>` (an id may hold any character), heard as a `result` per id.
 */
const RESULTS = 'results';

/** The ids of a `results` message from `at`; a malformed rest is dropped (the waiters' polling still finds those results). */
function announcedIds(payload: string, at: number): string[] {
  const ids: string[] = [];
  while (at < payload.length) {
    const colon = payload.indexOf(':', at);
    const length = Number(payload.slice(at, colon));
    if (colon < 0 || !Number.isInteger(length) || length < 0 || colon + 1 + length > payload.length) break;
    ids.push(payload.slice(colon + 1, colon + 1 + length));
    at = colon + 1 + length;
  }
  return ids;
}

const NOTIFY = new RedisScript('notify', NOTIFY_LUA);

/** Catch-up reads that fail (the server is not back yet) are retried after this (doubling) … */
const FIRST_RETRY_MS = 50;
/** … up to this. */
const MAX_RETRY_MS = 1_000;

function assertChannel(channel: string): asserts channel is NotifyChannel {
  if (!NOTIFY_CHANNELS.includes(channel as NotifyChannel)) {
    throw new RangeError(`Unknown notify channel "${channel}"; the channels are ${NOTIFY_CHANNELS.join(', ')}`);
  }
}

/**
 * The notifier of one Redis engine: Redis pub/sub on the project's channel P..'notify'. Every
 * change publishes `<channel>\n<message>` inside its own script, atomically with the change (the
 * results a script stored in one `results` message, see RESULTS);
 * `notify` publishes the same way. One subscriber connection per engine (a duplicate of the
 * engine's client) hears every engine's messages, this one's included, so there is no separate
 * local path and a message reaches each listener once per publish.
 *
 * Pub/sub keeps nothing for a subscriber that is away: when the subscription was lost and is
 * back, the listeners hear a `wake` for every queue that has tasks counted (and every queue
 * heard of before), so no worker idles after an outage. Results need no catch-up (the result
 * waiter polls as a safety net when crossProcess); cancel requests are found at the next lease
 * renewal.
 */
export class RedisNotifier implements Notifier {
  readonly crossProcess = true;
  private readonly listeners: Record<NotifyChannel, Listeners<string>> = { wake: new Listeners(), result: new Listeners(), control: new Listeners() };
  private readonly lifecycle = new StoreLifecycle('RedisNotifier');
  /** Queues named by a wake this engine heard: woken again after a lost subscription. */
  private readonly heardQueues = new Set<string>();
  private subscriber: RedisClient | undefined;
  private subscribed = false;
  private lost = false;
  private catchingUp: Promise<void> | undefined;
  private catchUpRetry: NodeJS.Timeout | undefined;
  private catchUpFailures = 0;
  private closed = false;

  constructor(
    private readonly connection: RedisConnection,
    private readonly logger: LoggerService,
  ) {}

  /** Opens the subscriber connection and subscribes; rejects with a RedisStorageError when it cannot. */
  async start(): Promise<void> {
    const subscriber = this.connection.duplicate();
    this.subscriber = subscriber;
    subscriber.on('message', (channel: string, payload: string) => {
      if (channel === this.connection.keys.notify) this.heard(payload);
    });
    subscriber.on('close', () => {
      if (this.subscribed && !this.closed) this.lost = true;
    });
    subscriber.on('ready', () => {
      if (this.lost && !this.closed) void this.resubscribe();
    });
    await this.connection.call('subscribing to notifications', async () => {
      await waitReady(subscriber, this.connection.settings.connectTimeoutMs);
      await subscriber.subscribe(this.connection.keys.notify);
    });
    this.subscribed = true;
  }

  listen(channel: NotifyChannel, listener: Listener): Unsubscribe {
    this.lifecycle.assertOpen('listen');
    assertChannel(channel);
    // Heard in a microtask (see Listeners). Wrapped: a listener registered twice is two subscriptions, each unsubscribe its own.
    return this.listeners[channel].add((message) => this.call(listener, message, channel));
  }

  async notify(channel: NotifyChannel, messages: readonly string[]): Promise<void> {
    this.lifecycle.assertOpen('notify');
    assertChannel(channel);
    const { keys } = this.connection;
    for (const run of chunks(messages, MAX_SCRIPT_ARGS - 2)) {
      await this.connection.run(NOTIFY, [keys.notify], [keys.P, channel, ...run], `notify on ${channel}`);
    }
  }

  /** Unsubscribes and closes the subscriber connection, and forgets the listeners. */
  async close(): Promise<void> {
    if (!this.lifecycle.close()) return;
    this.closed = true;
    clearTimeout(this.catchUpRetry);
    if (this.subscriber) await closeClient(this.subscriber, this.connection.settings.commandTimeoutMs);
    await this.catchingUp;
    for (const channel of NOTIFY_CHANNELS) this.listeners[channel].clear();
  }

  private heard(payload: string): void {
    const cut = payload.indexOf('\n');
    const channel = payload.slice(0, cut);
    if (channel === RESULTS) {
      this.listeners.result.notifyAll(announcedIds(payload, cut + 1));
      return;
    }
    if (cut < 0 || !NOTIFY_CHANNELS.includes(channel as NotifyChannel)) {
      this.logger.debug?.(`Ignored a message on ${this.connection.keys.notify} that is not OmniQ's: ${payload.slice(0, 100)}`);
      return;
    }
    const message = payload.slice(cut + 1);
    if (channel === 'wake') this.heardQueues.add(message);
    this.listeners[channel as NotifyChannel].notify(message);
  }

  /** A listener that throws neither keeps the others from hearing the message nor crashes the process. */
  private call(listener: Listener, message: string, channel: string): void {
    try {
      listener(message);
    } catch (error) {
      this.logger.warn(`A Redis notifier listener on "${channel}" threw for "${message}": ${errorText(error)}`);
    }
  }

  /** After a reconnect: subscribes again (ioredis does too; the reply tells it is in place), then catches up. */
  private async resubscribe(): Promise<void> {
    this.lost = false;
    try {
      await this.subscriber!.subscribe(this.connection.keys.notify);
    } catch (error) {
      // The connection went again: its next 'ready' resubscribes.
      this.lost = true;
      this.logger.debug?.(`Subscribing again to ${this.connection.keys.notify} failed: ${errorText(error)}`);
      return;
    }
    this.catchUp();
  }

  private catchUp(): void {
    if (this.closed || this.catchingUp !== undefined) return;
    clearTimeout(this.catchUpRetry);
    this.catchUpRetry = undefined;
    this.catchingUp = this.runCatchUp().finally(() => {
      this.catchingUp = undefined;
    });
  }

  /** Wakes every queue that may have tasks waiting: the queues of the task counts, and those heard of. */
  private async runCatchUp(): Promise<void> {
    try {
      const fields = await this.connection.call('reading the queues after the subscription was lost', (client) => client.hkeys(this.connection.keys.counts));
      this.catchUpFailures = 0;
      const queues = new Set(this.heardQueues);
      for (const field of fields) queues.add(field.slice(0, field.indexOf('\n') < 0 ? field.length : field.indexOf('\n')));
      this.listeners.wake.notifyAll([...queues]);
    } catch (error) {
      if (this.closed) return;
      if (this.catchUpFailures === 0) this.logger.warn(`Reading the queues to wake after a lost subscription failed (${errorText(error)}); retrying`);
      this.catchUpFailures += 1;
      const delay = Math.min(MAX_RETRY_MS, FIRST_RETRY_MS * 2 ** (this.catchUpFailures - 1));
      this.catchUpRetry = setTimeout(() => this.catchUp(), delay);
      this.catchUpRetry.unref();
    }
  }
}

/** Resolves once `client` is ready; rejects after `ms`, or when it ends first. */
function waitReady(client: RedisClient, ms: number): Promise<void> {
  if (client.status === 'ready') return Promise.resolve();
  return new Promise<void>((resolve, reject) => {
    const done = (error?: Error): void => {
      clearTimeout(timer);
      client.off('ready', onReady);
      client.off('end', onEnd);
      if (error) reject(error);
      else resolve();
    };
    const onReady = (): void => done();
    const onEnd = (): void => done(new Error('the subscriber connection closed'));
    const timer = setTimeout(() => done(new Error(`the subscriber connection was not ready within storageOptions.connectTimeoutMs (${ms} ms)`)), ms);
    client.on('ready', onReady);
    client.on('end', onEnd);
  });
}
