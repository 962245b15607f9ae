import type { LoggerService } from '@nestjs/common';
import type { Msg, Subscription } from '@nats-io/transport-node';
import { NOTIFY_CHANNELS, type NotifyChannel } from '../../storage/notifier.js';
import type { Unsubscribe } from '../../storage/task-queue.store.js';
import type { SharedNotifier } from '../kv/kv-storage.js';
import { Listeners } from '../shared/listeners.js';
import { StoreLifecycle } from '../shared/store-lifecycle.js';
import type { NatsLink } from './nats-connection.js';
import { errorText, NatsStorageError } from './nats-storage.error.js';

type Listener = (message: string) => void;

/** Messages per publish: one NATS message carries a JSON array of them, well below max_payload for short messages. */
const MESSAGES_PER_PUBLISH = 1_000;

function assertChannel(channel: string): asserts channel is NotifyChannel {
  if (!NOTIFY_CHANNELS.includes(channel as NotifyChannel)) {
    throw new RangeError(`Unknown notify channel "${channel}"; the channels are ${NOTIFY_CHANNELS.join(', ')}`);
  }
}

/** The queues to wake after a lost subscription: every queue that may have tasks waiting. */
export type WakeCatchUp = () => Promise<readonly string[]>;

/**
 * The notifier of one NATS engine: core NATS subjects, one per project and channel
 * (`<prefix>.<project>.notify.<channel>`), each publish a JSON array of messages. One
 * subscription per engine (on the engine's connection, `notify.*`) hears every engine's
 * messages, this one's included, so there is no separate local path and a message reaches each
 * listener once per publish.
 *
 * Core NATS keeps nothing for a subscriber that is away, and the client subscribes again by
 * itself after a reconnect: when the connection is back, the listeners hear a `wake` for every
 * queue the engine's catch-up names (and every queue heard of before), so no worker idles after an
 * outage. Results need no catch-up (the result waiter re-reads as a safety net when
 * crossProcess); cancel requests are found at the next lease renewal.
 */
export class NatsNotifier implements SharedNotifier {
  readonly crossProcess = true;
  /** The stores holding it (see acquire); the last release closes it. */
  private users = 0;
  private released: Promise<void> | undefined;
  private readonly listeners: Record<NotifyChannel, Listeners<string>> = { wake: new Listeners(), result: new Listeners(), control: new Listeners() };
  private readonly lifecycle = new StoreLifecycle('NatsNotifier');
  /** Queues named by a wake this engine heard: woken again after a reconnect. */
  private readonly heardQueues = new Set<string>();
  private subscription: Subscription | undefined;
  private stopReconnects: Unsubscribe | undefined;
  private catchingUp: Promise<void> | undefined;

  constructor(
    private readonly link: NatsLink,
    private readonly logger: LoggerService,
    /** Names the queues to wake after a reconnect (the engine's queues with waiting tasks); none: only the queues heard of. */
    private readonly catchUp: WakeCatchUp = async () => [],
    /** Runs after the last release closed the notifier (the engine closes its connection there). */
    private readonly onLastRelease: () => Promise<void> = async () => undefined,
  ) {}

  /** One more store uses the notifier. */
  acquire(): this {
    this.users += 1;
    return this;
  }

  /** A store is done with it: the last release closes it, then runs onLastRelease. */
  release(): void {
    this.users -= 1;
    if (this.users > 0) return;
    this.released ??= this.close().then(() => this.onLastRelease());
  }

  /** Resolves once the last release has closed it and run onLastRelease (at once while a store holds it). */
  get closed(): Promise<void> {
    return this.released ?? Promise.resolve();
  }

  /** Subscribes, and waits until the server has the subscription, so a notify right after start is heard. */
  async start(): Promise<void> {
    const { nc, names } = this.link;
    this.subscription = nc.subscribe(`${names.S}notify.*`, { callback: (error, message) => (error ? undefined : this.heard(message)) });
    this.stopReconnects = this.link.onReconnect(() => this.reconnected());
    await this.link.call('subscribing to notifications', () => nc.flush());
  }

  listen(channel: NotifyChannel, listener: Listener): Unsubscribe {
    this.lifecycle.assertOpen('listen');
    assertChannel(channel);
    // Heard in a microtask (see Listeners). Wrapped: a listener registered twice is two subscriptions, each unsubscribe its own.
    return this.listeners[channel].add((message) => this.call(listener, message, channel));
  }

  /**
   * Publishes without waiting for the server: a notification is a hint. While the connection is
   * down the client buffers it and sends it once it is back.
   */
  async notify(channel: NotifyChannel, messages: readonly string[]): Promise<void> {
    this.lifecycle.assertOpen('notify');
    assertChannel(channel);
    const subject = this.link.names.notify(channel);
    // An application's connection made with noEcho never hears its own publishes: its listeners hear them here.
    if ((this.link.nc as { options?: { noEcho?: boolean } }).options?.noEcho) {
      if (channel === 'wake') for (const queue of messages) this.heardQueues.add(queue);
      this.listeners[channel].notifyAll(messages);
    }
    for (let i = 0; i < messages.length; i += MESSAGES_PER_PUBLISH) {
      try {
        this.link.nc.publish(subject, JSON.stringify(messages.slice(i, i + MESSAGES_PER_PUBLISH)));
      } catch (error) {
        throw new NatsStorageError(this.link.shownUrl, `notify on ${channel}`, error);
      }
    }
  }

  /** Unsubscribes and forgets the listeners. */
  async close(): Promise<void> {
    if (!this.lifecycle.close()) return;
    this.stopReconnects?.();
    if (this.subscription && !this.link.nc.isClosed()) this.subscription.unsubscribe();
    await this.catchingUp;
    for (const channel of NOTIFY_CHANNELS) this.listeners[channel].clear();
  }

  private heard(message: Msg): void {
    const channel = message.subject.slice(message.subject.lastIndexOf('.') + 1);
    let messages: unknown;
    try {
      messages = JSON.parse(message.string());
    } catch {
      messages = undefined;
    }
    if (!NOTIFY_CHANNELS.includes(channel as NotifyChannel) || !Array.isArray(messages) || !messages.every((m) => typeof m === 'string')) {
      this.logger.debug?.(`Ignored a message on ${message.subject} that is not OmniQ's: ${message.string().slice(0, 100)}`);
      return;
    }
    if (channel === 'wake') for (const queue of messages as string[]) this.heardQueues.add(queue);
    this.listeners[channel as NotifyChannel].notifyAll(messages as string[]);
  }

  /** A listener that throws neither keeps the others from hearing the message nor crashes the process. */
  private call(listener: Listener, message: string, channel: string): void {
    try {
      listener(message);
    } catch (error) {
      this.logger.warn(`A NATS notifier listener on "${channel}" threw for "${message}": ${errorText(error)}`);
    }
  }

  private reconnected(): void {
    if (this.catchingUp !== undefined) return;
    this.catchingUp = this.wakeAll().finally(() => {
      this.catchingUp = undefined;
    });
  }

  /** Wakes every queue that may have tasks waiting. A failed catch-up read still wakes the queues heard of. */
  private async wakeAll(): Promise<void> {
    const queues = new Set(this.heardQueues);
    try {
      for (const queue of await this.catchUp()) queues.add(queue);
    } catch (error) {
      this.logger.warn(`Reading the queues to wake after a reconnect failed (${errorText(error)}); waking the queues heard of`);
    }
    this.listeners.wake.notifyAll([...queues]);
  }
}
