import type { LoggerService } from '@nestjs/common';
import { NOTIFY_CHANNELS, type Notifier, type NotifyChannel } from '../../storage/notifier.js';
import type { Unsubscribe } from '../../storage/task-queue.store.js';
import { describeError } from '../../utils/describe-error.js';
import { StoreLifecycle } from '../shared/store-lifecycle.js';
import type { PostgresConnection } from './postgres-connection.js';
import { PostgresListenConnection } from './postgres-listen-connection.js';
import { missedSince } from './postgres-notify-catch-up.js';
import { PostgresNotifyOutbox } from './postgres-notify-outbox.js';
import { decodeNotifyPayload, encodeNotifyBatch, type NotifyBatch } from './postgres-notify-payload.js';
import type { StagedNotifications } from './postgres-write.js';

type Listener = (message: string) => void;

/** Catch-up reads that fail (the pool is not back yet) are retried after this (doubling) … */
const FIRST_RETRY_MS = 50;
/** … up to this. */
const MAX_RETRY_MS = 1_000;
/** How often the notifier checks whether the pool's owner ended it. */
const OWNER_WATCH_MS = 1_000;

function assertChannel(channel: string): asserts channel is NotifyChannel {
  if (!NOTIFY_CHANNELS.includes(channel as NotifyChannel)) {
    throw new RangeError(`Unknown notify channel "${channel}"; the channels are ${NOTIFY_CHANNELS.join(', ')}`);
  }
}

/**
 * The notifier of one PostgreSQL engine. What a write announces reaches this engine's listeners
 * at once (in a microtask after its commit) and the other engines on the schema through one
 * channel: NOTIFYs sent on the pool after the commit, merged and throttled (see
 * PostgresNotifyOutbox), each naming this engine so that it skips its own.
 *
 * With `listen` on, one session of its own LISTENs (PostgresListenConnection); when that session
 * was lost and is back, the engine's listeners hear what they may have missed meanwhile, read
 * from the tables (see missedSince), so no worker idles and no waitForResult hangs after an
 * outage. With `listen` off there is no LISTEN and no session state (PgBouncer in transaction
 * mode): `crossProcess` is false and the core polls. Such an engine still NOTIFYs, so that
 * listening peers on the same schema hear its changes.
 */
export class PostgresNotifier implements Notifier {
  readonly crossProcess: boolean;
  private readonly listeners: Record<NotifyChannel, Set<Listener>> = { wake: new Set(), result: new Set(), control: new Set() };
  private readonly eventListeners = new Set<() => void>();
  private readonly lifecycle = new StoreLifecycle('PostgresNotifier');
  private readonly outbox: PostgresNotifyOutbox;
  private readonly session: PostgresListenConnection | undefined;
  private catchUpFrom: number | undefined;
  private catchingUp: Promise<void> | undefined;
  private catchUpRetry: NodeJS.Timeout | undefined;
  private ownerWatch: NodeJS.Timeout | undefined;
  private catchUpFailures = 0;
  private closed = false;

  constructor(
    private readonly connection: PostgresConnection,
    private readonly engineId: string,
    private readonly logger: LoggerService,
  ) {
    this.crossProcess = connection.listen;
    this.outbox = new PostgresNotifyOutbox((batch, now) => this.send(batch, now), logger);
    if (connection.listen) {
      this.session = new PostgresListenConnection(connection, { message: (payload) => this.heard(payload), restored: (lostAt) => this.catchUp(lostAt) }, logger);
    }
  }

  /**
   * Opens the LISTEN session (with `listen` on); rejects with a PostgresStorageError when it
   * cannot. An engine on an application's DataSource may never be closed (stores handed in are
   * their owner's): once the owner has ended the pool, the notifier closes itself, so its session
   * does not outlive the application.
   */
  async start(): Promise<void> {
    await this.session?.open();
    this.ownerWatch = setInterval(() => {
      if ((this.connection.pool as { ending?: boolean }).ending) void this.close();
    }, OWNER_WATCH_MS).unref();
  }

  listen(channel: NotifyChannel, listener: Listener): Unsubscribe {
    this.lifecycle.assertOpen('listen');
    assertChannel(channel);
    // A listener registered twice is two subscriptions: wrapping keeps each unsubscribe its own.
    const subscription: Listener = (message) => listener(message);
    this.listeners[channel].add(subscription);
    return () => {
      this.listeners[channel].delete(subscription);
    };
  }

  /**
   * Calls `listener` (asynchronously) when this engine or, with `listen` on, a peer appended
   * events, and once after the LISTEN session was restored: a hint for event streams to re-read.
   */
  listenEvents(listener: () => void): Unsubscribe {
    this.lifecycle.assertOpen('listenEvents');
    const subscription = (): void => listener();
    this.eventListeners.add(subscription);
    return () => {
      this.eventListeners.delete(subscription);
    };
  }

  /** Announces a committed change: to this engine's listeners at once, to the peers in the next NOTIFY. */
  publish(staged: StagedNotifications): void {
    const batch: NotifyBatch = { wake: [...staged.wake], result: staged.result, control: staged.control, events: staged.events ?? false };
    this.deliver(batch);
    const { wokePeers } = staged;
    this.outbox.add(wokePeers === undefined ? batch : { ...batch, wake: batch.wake.filter((queue) => !wokePeers.has(queue)) });
  }

  /**
   * The NOTIFY payload that wakes the peers of `queues` now, for a write to send in its own
   * statement (one round trip less between an enqueue and a peer's start), when the throttle lets
   * all of them go at once; undefined when it does not (the outbox sends them as usual). Taking
   * it counts as those queues' wake for the throttle.
   */
  inlineWake(queues: readonly string[], now: number): string | undefined {
    if (this.closed || queues.length === 0) return undefined;
    const payloads = encodeNotifyBatch(this.engineId, { wake: queues, result: [], control: [], events: false }, now);
    return payloads.length === 1 && this.outbox.takeWakes(queues, now) ? payloads[0] : undefined;
  }

  async notify(channel: NotifyChannel, messages: readonly string[]): Promise<void> {
    this.lifecycle.assertOpen('notify');
    assertChannel(channel);
    if (messages.length === 0) return;
    this.publish({
      wake: new Set(channel === 'wake' ? messages : []),
      result: channel === 'result' ? messages : [],
      control: channel === 'control' ? messages : [],
    });
  }

  /** Stops listening and reconnecting, sends what is still to be sent, and forgets the listeners. */
  async close(): Promise<void> {
    if (!this.lifecycle.close()) return;
    this.closed = true;
    clearTimeout(this.catchUpRetry);
    clearInterval(this.ownerWatch);
    await this.session?.close();
    await Promise.all([this.outbox.close(), this.catchingUp]);
    for (const channel of NOTIFY_CHANNELS) this.listeners[channel].clear();
    this.eventListeners.clear();
  }

  private async send(batch: NotifyBatch, now: number): Promise<void> {
    const payloads = encodeNotifyBatch(this.engineId, batch, now);
    if (payloads.length === 0) return;
    await this.connection.db.query('SELECT pg_notify($1, payload) FROM unnest($2::text[]) AS payload', [this.connection.tables.notifyChannel, payloads], {
      operation: 'notify',
    });
  }

  private heard(payload: string): void {
    const decoded = decodeNotifyPayload(payload);
    if (decoded === undefined) {
      this.logger.debug?.(`Ignored a notification on ${this.connection.tables.notifyChannel} that is not OmniQ's: ${payload.slice(0, 100)}`);
      return;
    }
    if (decoded.origin === this.engineId) return;
    this.deliver(decoded.batch);
    if (decoded.batch.lostAt !== undefined) this.catchUp(decoded.batch.lostAt);
  }

  /**
   * Hands a batch to this engine's listeners in a microtask: never inside the call that
   * notified. A listener that throws neither keeps the others from hearing the message nor
   * crashes the process; one removed before its turn is not called.
   */
  private deliver(batch: NotifyBatch): void {
    const parts: Array<[NotifyChannel, readonly string[]]> = [
      ['wake', batch.wake],
      ['result', batch.result],
      ['control', batch.control],
    ];
    const events = batch.events && this.eventListeners.size > 0;
    if (!events && parts.every(([channel, messages]) => messages.length === 0 || this.listeners[channel].size === 0)) return;
    queueMicrotask(() => {
      for (const [channel, messages] of parts) {
        for (const message of messages) for (const listener of this.listeners[channel]) this.call(listener, message, channel);
      }
      if (events) for (const listener of this.eventListeners) this.call(listener, '', 'events');
    });
  }

  private call(listener: Listener, message: string, channel: string): void {
    try {
      listener(message);
    } catch (error) {
      this.logger.warn(`A PostgreSQL notifier listener on "${channel}" threw for "${message}": ${describeError(error)}`);
    }
  }

  /** Delivers what changed since `lostAt` while the notifications did not reach this engine; retried until the pool answers. */
  private catchUp(lostAt: number): void {
    if (this.closed) return;
    this.catchUpFrom = Math.min(this.catchUpFrom ?? lostAt, lostAt);
    if (this.catchingUp === undefined && this.catchUpRetry === undefined) this.catchingUp = this.runCatchUp();
  }

  private async runCatchUp(): Promise<void> {
    while (this.catchUpFrom !== undefined && !this.closed) {
      const from = this.catchUpFrom;
      this.catchUpFrom = undefined;
      try {
        const missed = await missedSince(this.connection, from);
        this.catchUpFailures = 0;
        this.deliver(missed);
      } catch (error) {
        this.catchUpFrom = Math.min(this.catchUpFrom ?? from, from);
        if (this.catchUpFailures === 0) this.logger.warn(`Reading what changed while the LISTEN session was lost failed (${describeError(error)}); retrying`);
        this.catchUpFailures += 1;
        if (!this.closed) this.retryCatchUp();
        break;
      }
    }
    this.catchingUp = undefined;
  }

  private retryCatchUp(): void {
    const delay = Math.min(MAX_RETRY_MS, FIRST_RETRY_MS * 2 ** (this.catchUpFailures - 1));
    this.catchUpRetry = setTimeout(() => {
      this.catchUpRetry = undefined;
      if (this.catchUpFrom !== undefined && this.catchingUp === undefined) this.catchingUp = this.runCatchUp();
    }, delay).unref();
  }
}
