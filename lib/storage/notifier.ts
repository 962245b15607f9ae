import type { Unsubscribe } from './task-queue.store.js';

/**
 * The channels an engine notifies on. Messages are short strings:
 * - `wake`: a queue name; tasks of that queue may have become reservable (enqueue, retry due,
 *   release, reclaim, promotion, a dependency met, a queue resumed).
 * - `result`: a task id whose result was just stored.
 * - `control`: `cancel:<taskId>` (a cancel was requested for a running task), `pause:<queue>`,
 *   `resume:<queue>`.
 */
export type NotifyChannel = 'wake' | 'result' | 'control';

export const NOTIFY_CHANNELS: readonly NotifyChannel[] = ['wake', 'result', 'control'];

/**
 * How the stores of one engine tell every instance on the same storage that something changed.
 * The stores notify on their own as part of each change (a SQLite engine writes the notification
 * in the transaction that makes the change); the core only listens.
 *
 * Listeners are called asynchronously (never inside the call that notified), at most once per
 * message, and a listener that throws does not stop the others. A message may be delivered to an
 * instance more than once or coalesced with others of the same text: listeners treat each as a
 * hint to re-read the store, never as the data itself.
 */
export interface Notifier {
  /**
   * True when every instance on the same storage hears every message in milliseconds, whatever
   * process it runs in. False: only listeners of this engine instance hear them, and the core
   * polls for what other instances changed (`worker.pollIntervalMs`, `resultPollIntervalMs`).
   */
  readonly crossProcess: boolean;
  listen(channel: NotifyChannel, listener: (message: string) => void): Unsubscribe;
  /** Sends messages on a channel (to this instance's listeners, and to other instances' when `crossProcess`). */
  notify(channel: NotifyChannel, messages: readonly string[]): Promise<void>;
}
