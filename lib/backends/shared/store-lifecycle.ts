import { StoreClosedError } from '../../errors/store.errors.js';

/** Whether a store is still open: every call but close() asserts it is. */
export class StoreLifecycle {
  private closed = false;

  /** `store` names the store in the error a call after close() throws. */
  constructor(private readonly store: string) {}

  assertOpen(operation: string): void {
    if (this.closed) throw new StoreClosedError(this.store, operation);
  }

  /** Runs a call; one that fails because the store was closed meanwhile rejects with StoreClosedError instead. */
  async whileOpen<R>(operation: string, call: () => Promise<R>): Promise<R> {
    try {
      return await call();
    } catch (error) {
      this.assertOpen(operation);
      throw error;
    }
  }

  /** Marks the store closed: true the first time, false after, so close() releases things once. */
  close(): boolean {
    if (this.closed) return false;
    this.closed = true;
    return true;
  }
}
