interface Entry {
  value: Promise<unknown>;
  refs: number;
  dispose: (value: never) => Promise<void>;
}

/**
 * Connections shared by the stores of one OmniQ module: three stores on the same database URL
 * open it once. Each `acquire` is paired with a `release`; the last release disposes of it.
 */
export class SharedResources {
  private readonly entries = new Map<string, Entry>();

  async acquire<T>(key: string, open: () => Promise<T>, dispose: (value: T) => Promise<void>): Promise<T> {
    let entry = this.entries.get(key);
    if (!entry) {
      entry = { value: open(), refs: 0, dispose: dispose as (value: never) => Promise<void> };
      this.entries.set(key, entry);
      entry.value.catch(() => this.entries.delete(key));
    }
    entry.refs++;
    return entry.value as Promise<T>;
  }

  async release(key: string): Promise<void> {
    const entry = this.entries.get(key);
    if (!entry || --entry.refs > 0) return;
    this.entries.delete(key);
    await entry.dispose((await entry.value) as never);
  }
}
