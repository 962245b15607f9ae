/**
 * The three stores of one engine share its connection: each store's close() calls `release`, and
 * the last call runs `disconnect`, once. `closed` resolves when that has finished (at once while a
 * store is still open).
 */
export class StoreRelease {
  private open: number;
  private disconnected: Promise<void> | undefined;

  constructor(
    stores: number,
    private readonly disconnect: () => Promise<void>,
  ) {
    this.open = stores;
  }

  readonly release = (): Promise<void> => {
    this.open -= 1;
    if (this.open > 0) return Promise.resolve();
    return (this.disconnected ??= this.disconnect());
  };

  get closed(): Promise<void> {
    return this.disconnected ?? Promise.resolve();
  }
}
