import { NOTIFY_CHANNELS, type Notifier, type NotifyChannel } from '../../storage/notifier.js';
import type { Unsubscribe } from '../../storage/task-queue.store.js';
import { describeError } from '../../utils/describe-error.js';
import { StoreLifecycle } from '../shared/store-lifecycle.js';
import type { SqliteDatabase } from './sqlite-database.types.js';
import type { SqliteLocks } from './sqlite-locks.js';
import type { SqliteNotificationFeed } from './sqlite-notification-feed.js';
import type { SqliteNotificationLog } from './sqlite-notification-log.js';

type Listener = (message: string) => void;

function assertChannel(channel: string): asserts channel is NotifyChannel {
  if (!NOTIFY_CHANNELS.includes(channel as NotifyChannel)) {
    throw new RangeError(`Unknown notify channel "${channel}"; the channels are ${NOTIFY_CHANNELS.join(', ')}`);
  }
}

/**
 * The notifier of one SQLite engine. The engine's stores stage their messages in the write
 * transaction that makes the change (see SqliteWriter), which also writes them to the
 * notifications table for the other connections on the file; once it committed, this engine's
 * own listeners hear them here. Messages from other connections arrive through the feed, which
 * runs while anyone listens (or streams events) and stops with the last of them, or at close.
 *
 * A database in memory has no other connection: its notifier is local only (`crossProcess` false)
 * and writes no rows.
 */
export class SqliteNotifier implements Notifier {
  readonly crossProcess: boolean;
  private readonly listeners: Record<NotifyChannel, Set<Listener>> = { wake: new Set(), result: new Set(), control: new Set() };
  private readonly lifecycle = new StoreLifecycle('SqliteNotifier');
  private readonly writeRow: ((channel: NotifyChannel, messages: readonly string[]) => void) | undefined;

  constructor(
    db: SqliteDatabase,
    private readonly locks: SqliteLocks,
    log: SqliteNotificationLog | undefined,
    private readonly feed: SqliteNotificationFeed | undefined,
  ) {
    this.crossProcess = log !== undefined;
    if (log !== undefined) {
      this.writeRow = locks.transaction(db, { operation: 'notify' }, (channel: NotifyChannel, messages: readonly string[]) =>
        log.append(channel, messages, Date.now()),
      );
    }
  }

  listen(channel: NotifyChannel, listener: Listener): Unsubscribe {
    this.lifecycle.assertOpen('listen');
    assertChannel(channel);
    // A listener registered twice is two subscriptions: wrapping keeps each unsubscribe its own.
    const subscription: Listener = (message) => listener(message);
    this.listeners[channel].add(subscription);
    const release = this.feed?.acquire();
    return () => {
      if (this.listeners[channel].delete(subscription)) release?.();
    };
  }

  async notify(channel: NotifyChannel, messages: readonly string[]): Promise<void> {
    this.lifecycle.assertOpen('notify');
    assertChannel(channel);
    if (messages.length === 0) return;
    const writeRow = this.writeRow;
    if (writeRow !== undefined) await this.locks.run({ operation: `notify("${channel}")` }, () => writeRow(channel, messages));
    this.deliver(channel, messages);
  }

  /**
   * Hands messages to this engine's listeners in a microtask: never inside the call that
   * notified. A listener that throws neither keeps the others from hearing the message nor
   * crashes the process from the microtask; one removed before its turn is not called (Set
   * iteration skips deleted entries).
   */
  deliver(channel: NotifyChannel, messages: Iterable<string>): void {
    const listeners = this.listeners[channel];
    if (listeners.size === 0) return;
    queueMicrotask(() => {
      for (const message of messages) {
        for (const listener of listeners) {
          try {
            listener(message);
          } catch (error) {
            process.emitWarning(`A SQLite notifier listener on "${channel}" threw for "${message}": ${describeError(error)}`);
          }
        }
      }
    });
  }

  /** Stops the feed and forgets the listeners; the engine calls it before closing the connection. */
  close(): void {
    if (!this.lifecycle.close()) return;
    this.feed?.stop();
    for (const channel of NOTIFY_CHANNELS) this.listeners[channel].clear();
  }
}
