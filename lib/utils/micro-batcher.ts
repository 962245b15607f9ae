interface Pending<I, O> {
  item: I;
  resolve: (value: O) => void;
  reject: (error: unknown) => void;
}

/**
 * Groups calls made close together into one store round trip. Items pushed while a flush is in
 * flight wait for it and go together in the next one (group commit), so a busy worker acks,
 * stores results and appends events in batches without any added delay when idle.
 */
export class MicroBatcher<I, O> {
  private queue: Pending<I, O>[] = [];
  private flushing: Promise<void> | undefined;

  constructor(
    private readonly flushFn: (items: I[]) => Promise<O[] | void>,
    private readonly maxBatch = 1_000,
  ) {}

  push(item: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      if (!this.flushing) this.flushing = this.run();
    });
  }

  /** Resolves when everything pushed so far has been flushed. */
  async drain(): Promise<void> {
    while (this.flushing) await this.flushing;
  }

  private async run(): Promise<void> {
    // One macrotask's worth of pushes share the first flush.
    await new Promise<void>((resolve) => setImmediate(resolve));
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, this.maxBatch);
      try {
        const results = await this.flushFn(batch.map((p) => p.item));
        batch.forEach((p, i) => p.resolve(results?.[i] as O));
      } catch (error) {
        for (const p of batch) p.reject(error);
      }
    }
    this.flushing = undefined;
  }
}
