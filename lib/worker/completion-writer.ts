import type { OmniQLogger } from '../config/omniq-logger.js';
import type { EventRecorder, NewEvent } from '../events/event.recorder.js';
import type { ResultRecord } from '../models/result.model.js';
import type { ResultStore } from '../storage/result.store.js';
import type { Settlement, TaskQueueStore } from '../storage/task-queue.store.js';
import { describeError } from '../utils/describe-error.js';

/**
 * How one attempt ends, written in an order that loses nothing and reads consistently: the event
 * first (once `waitForResult` resolves the timeline is complete, unless the event store is failing
 * and the recorder holds the event for a retry), then the result (a crash after it only means the
 * task runs again), then the lease settlement.
 */
export interface Completion {
  event?: NewEvent;
  result?: ResultRecord;
  settlement: Settlement;
}

/**
 * Told how a completion's write went: `held` is false when the lease was lost meanwhile (another
 * worker may hold the task); `failed` when the stores threw, with the error.
 */
type CompletionCallback = (held: boolean, failed: boolean, error?: unknown) => void;

/**
 * Writes attempt completions in batches: everything handed over while one batch is written goes
 * in the next (group commit), one write per store per batch and no added delay when idle. A
 * completion reports back through a callback rather than a promise of its own: a busy worker ends
 * tens of thousands of attempts a second, and the callback is all the worker needs.
 */
export class CompletionWriter {
  private completions: Completion[] = [];
  private callbacks: CompletionCallback[] = [];
  private flushing: Promise<void> | undefined;

  constructor(
    private readonly recorder: EventRecorder,
    private readonly results: ResultStore,
    private readonly queue: TaskQueueStore,
    private readonly logger: OmniQLogger,
    private readonly maxBatch = 1_000,
  ) {}

  write(completion: Completion, callback: CompletionCallback): void {
    this.completions.push(completion);
    this.callbacks.push(callback);
    this.flushing ??= this.flush();
  }

  /** {@link write} as a promise of whether the lease was still held. */
  writeAsync(completion: Completion): Promise<boolean> {
    return new Promise((resolve, reject) => this.write(completion, (held, failed, error) => (failed ? reject(error) : resolve(held))));
  }

  /** Resolves once every completion handed over so far is written. */
  async drain(): Promise<void> {
    while (this.flushing) await this.flushing;
  }

  private async flush(): Promise<void> {
    // One macrotask's worth of completions share the first batch.
    await new Promise<void>((resolve) => setImmediate(resolve));
    while (this.completions.length > 0) {
      const [batch, callbacks] = this.nextBatch();
      let held: boolean[];
      try {
        held = await this.writeBatch(batch);
      } catch (error) {
        for (const callback of callbacks) this.report(callback, false, true, error);
        continue;
      }
      for (let i = 0; i < callbacks.length; i++) this.report(callbacks[i]!, held[i]!, false);
    }
    this.flushing = undefined;
  }

  /** A callback that throws must not stop the writer: the completions after it still need writing. */
  private report(callback: CompletionCallback, held: boolean, failed: boolean, error?: unknown): void {
    try {
      callback(held, failed, error);
    } catch (thrown) {
      this.logger.error(`A completion callback threw: ${describeError(thrown)}`);
    }
  }

  private async writeBatch(batch: readonly Completion[]): Promise<boolean[]> {
    const events: NewEvent[] = [];
    const results: ResultRecord[] = [];
    const settlements: Settlement[] = [];
    for (const { event, result, settlement } of batch) {
      if (event) events.push(event);
      if (result) results.push(result);
      settlements.push(settlement);
    }
    await this.recorder.recordNow(events);
    if (results.length > 0) await this.results.put(results);
    return this.queue.settle(settlements);
  }

  /** The next `maxBatch` completions and their callbacks, taking the arrays whole (no copy) when they are not longer. */
  private nextBatch(): [Completion[], CompletionCallback[]] {
    if (this.completions.length > this.maxBatch) {
      return [this.completions.splice(0, this.maxBatch), this.callbacks.splice(0, this.maxBatch)];
    }
    const batch: [Completion[], CompletionCallback[]] = [this.completions, this.callbacks];
    this.completions = [];
    this.callbacks = [];
    return batch;
  }
}
