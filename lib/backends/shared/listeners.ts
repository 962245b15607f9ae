import type { Unsubscribe } from '../../storage/task-queue.store.js';

/**
 * A store's listeners (wake-ups, results). They are called via queueMicrotask, after the change
 * that notifies them is stored, so a listener can neither fail nor re-enter the call that
 * notified it; one removed before its turn comes is not called.
 */
export class Listeners<T> {
  private readonly listeners = new Set<(value: T) => void>();

  add(listener: (value: T) => void): Unsubscribe {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  /** Calls every listener with `value`. */
  notify(value: T): void {
    if (this.listeners.size === 0) return;
    for (const listener of this.listeners) {
      queueMicrotask(() => {
        if (this.listeners.has(listener)) listener(value);
      });
    }
  }

  /** Calls every listener with each of `values` in turn. */
  notifyAll(values: Iterable<T>): void {
    if (this.listeners.size === 0) return;
    for (const value of values) this.notify(value);
  }

  clear(): void {
    this.listeners.clear();
  }
}
