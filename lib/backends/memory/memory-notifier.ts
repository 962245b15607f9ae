import { NOTIFY_CHANNELS, type Notifier, type NotifyChannel } from '../../storage/notifier.js';
import type { Unsubscribe } from '../../storage/task-queue.store.js';
import { describeError } from '../../utils/describe-error.js';
import { StoreLifecycle } from '../shared/store-lifecycle.js';

interface Subscription {
  readonly channel: NotifyChannel;
  readonly listener: (message: string) => void;
}

const channels = <T>(make: () => T): Record<NotifyChannel, T> => ({ wake: make(), result: make(), control: make() });

function assertChannel(channel: string): asserts channel is NotifyChannel {
  if (!NOTIFY_CHANNELS.includes(channel as NotifyChannel)) {
    throw new RangeError(`Unknown notify channel "${channel}"; the channels are ${NOTIFY_CHANNELS.join(', ')}`);
  }
}

/**
 * Where every engine on one memory storage (an engine and its peers) hears the others. Messages
 * wait in one set per channel (so repeats coalesce, which the Notifier contract allows) and are
 * delivered together in one microtask: a drain stores tens of thousands of results a second, and
 * a set insert per result is all that costs while nobody listens to that channel, nothing at all.
 */
export class NotifyHub {
  private readonly subscriptions = channels(() => new Set<Subscription>());
  private pending = channels(() => new Set<string>());
  private scheduled = false;

  subscribe(subscription: Subscription): void {
    this.subscriptions[subscription.channel].add(subscription);
  }

  unsubscribe(subscription: Subscription): void {
    this.subscriptions[subscription.channel].delete(subscription);
  }

  send(channel: NotifyChannel, message: string): void {
    if (this.subscriptions[channel].size === 0) return;
    this.pending[channel].add(message);
    if (this.scheduled) return;
    this.scheduled = true;
    queueMicrotask(this.deliver);
  }

  private readonly deliver = (): void => {
    this.scheduled = false;
    const due = this.pending;
    // Listeners that notify again are heard in a later microtask, never inside this delivery.
    this.pending = channels(() => new Set<string>());
    for (const channel of NOTIFY_CHANNELS) {
      for (const message of due[channel]) {
        // A subscription removed before its turn is skipped: Set iteration never visits deleted entries.
        for (const subscription of this.subscriptions[channel]) call(subscription, message);
      }
    }
  };
}

/** A listener that throws must not keep the others from hearing the message, nor crash the process from a microtask. */
function call(subscription: Subscription, message: string): void {
  try {
    subscription.listener(message);
  } catch (error) {
    process.emitWarning(`A memory notifier listener on "${subscription.channel}" threw for "${message}": ${describeError(error)}`);
  }
}

/**
 * One engine's view of its storage's hub. Everything on a memory storage lives in this process,
 * so every listener of every engine on it hears every message: `crossProcess` is true. Closing it
 * removes its own listeners only; the peers keep hearing each other.
 */
export class MemoryNotifier implements Notifier {
  readonly crossProcess = true;
  private readonly own = new Set<Subscription>();
  private readonly lifecycle = new StoreLifecycle('MemoryNotifier');

  constructor(private readonly hub: NotifyHub) {}

  listen(channel: NotifyChannel, listener: (message: string) => void): Unsubscribe {
    this.lifecycle.assertOpen('listen');
    assertChannel(channel);
    const subscription: Subscription = { channel, listener };
    this.hub.subscribe(subscription);
    this.own.add(subscription);
    return () => {
      this.hub.unsubscribe(subscription);
      this.own.delete(subscription);
    };
  }

  async notify(channel: NotifyChannel, messages: readonly string[]): Promise<void> {
    this.lifecycle.assertOpen('notify');
    assertChannel(channel);
    for (const message of messages) this.hub.send(channel, message);
  }

  close(): void {
    if (!this.lifecycle.close()) return;
    for (const subscription of this.own) this.hub.unsubscribe(subscription);
    this.own.clear();
  }
}
