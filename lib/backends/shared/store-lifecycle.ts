import { StoreClosedError } from '../../errors/store.errors.js';

/** Whether a store is still open: every call but close() asserts it is. */
export class StoreLifecycle {
  private closed = false;

  /** `store` names the store in the error a call after close() throws. */
  constructor(private readonly store: string) {}

  assertOpen(operation: string): void {
    if (this.closed) throw new StoreClosedError(this.store, operation);
  }

  /** Marks the store closed: true the first time, false after, so close() releases things once. */
  close(): boolean {
    if (this.closed) return false;
    this.closed = true;
    return true;
  }
}
