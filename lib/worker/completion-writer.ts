import type { OmniQLogger } from '../config/omniq-logger.js';
import type { TaskEvent } from '../models/event.model.js';
import type { ResultRecord } from '../models/result.model.js';
import type { TaskRecord } from '../models/task.model.js';
import type { Settlement, SettleReport, TaskQueueStore, WriteScope } from '../storage/task-queue.store.js';
import type { StoreOutcomes } from '../workflows/store-outcomes.js';
import type { TaskSubmitter } from '../workflows/task.submitter.js';
import { describeError } from '../utils/describe-error.js';

/** How one attempt ends: the settlement, and the result and events that go with it. */
export interface Completion {
  settlement: Settlement;
  result?: ResultRecord;
  events?: TaskEvent[];
}

/**
 * Told how a completion's write went: `held` is false when the lease was lost meanwhile (another
 * worker may hold the task, and nothing of this attempt was written); `failed` when the stores
 * threw, with the error.
 */
export type CompletionCallback = (held: boolean, failed: boolean, error?: unknown) => void;

const NO_TASKS: readonly TaskRecord[] = [];

/**
 * Waits before the retries of a settle the store refused (a lock held too long, a dropped
 * connection). A settlement is safe to repeat under its lease token: one a failed call did not
 * write is written now, one it did write reports not held. The tasks stay in the worker meanwhile,
 * their leases renewed, so no other worker takes them.
 */
const SETTLE_RETRY_DELAYS_MS = [100, 1_000, 5_000];

/**
 * Writes attempt completions in batches: everything handed over while one batch is written goes
 * in the next (group commit), one `settle` per batch and no added delay when idle.
 *
 * A settlement is one atomic step of the task queue: the lease check, the task's change, the
 * cascade to its dependents, its callback tasks and — where the result and event stores are the
 * queue's colocated ones — its result and events. Otherwise the result and events are written
 * after the settlement, and only for attempts whose lease was still held, so a worker that lost
 * its lease (frozen past it while another worker finished the task) never overwrites the real
 * outcome. A completion reports back through a callback rather than a promise of its own: a busy
 * worker ends tens of thousands of attempts a second.
 */
export class CompletionWriter {
  private completions: Completion[] = [];
  private callbacks: CompletionCallback[] = [];
  private flushing: Promise<void> | undefined;

  constructor(
    private readonly queue: TaskQueueStore,
    private readonly scope: WriteScope,
    private readonly outcomes: StoreOutcomes,
    private readonly submitter: TaskSubmitter,
    private readonly logger: OmniQLogger,
    private readonly maxBatch = 1_000,
  ) {}

  write(completion: Completion, callback: CompletionCallback): void {
    if (this.scope.results && completion.result) completion.settlement.result = completion.result;
    if (this.scope.events && completion.events) completion.settlement.events = completion.events;
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
      let reports: SettleReport[];
      try {
        reports = await this.writeBatch(batch);
      } catch (error) {
        for (const callback of callbacks) this.report(callback, false, true, error);
        continue;
      }
      for (let i = 0; i < callbacks.length; i++) this.report(callbacks[i]!, reports[i]!.held, false);
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

  private async writeBatch(batch: readonly Completion[]): Promise<SettleReport[]> {
    const settlements = new Array<Settlement>(batch.length);
    for (let i = 0; i < batch.length; i++) settlements[i] = batch[i]!.settlement;
    const reports = await this.settleWithRetries(settlements);
    let ended = NO_TASKS;
    for (let i = 0; i < reports.length; i++) {
      const report = reports[i]!;
      if (!report.held) continue;
      if (report.ended.length > 0) ended = ended.concat(report.ended);
      if (report.enqueued.length > 0) void this.submitter.recordEnqueued(settlements[i]!.enqueue!, report.enqueued);
    }
    if (!(this.scope.results && this.scope.events)) await this.writeOutside(batch, reports, ended);
    return reports;
  }

  private async settleWithRetries(settlements: readonly Settlement[]): Promise<SettleReport[]> {
    for (let retry = 0; ; retry++) {
      try {
        return await this.queue.settle(settlements, this.scope);
      } catch (error) {
        const delay = SETTLE_RETRY_DELAYS_MS[retry];
        if (delay === undefined) throw error;
        this.logger.warn(`Recording the outcome of ${settlements.length} task(s) failed (${describeError(error)}); retrying in ${delay} ms`);
        await new Promise((resolve) => setTimeout(resolve, delay));
      }
    }
  }

  /** What the queue did not write itself: results and events of held attempts, and of the tasks its cascades ended. */
  private async writeOutside(batch: readonly Completion[], reports: readonly SettleReport[], ended: readonly TaskRecord[]): Promise<void> {
    const events: TaskEvent[] = [];
    const results: ResultRecord[] = [];
    for (let i = 0; i < batch.length; i++) {
      if (!reports[i]!.held) continue;
      const { result, events: attemptEvents } = batch[i]!;
      if (attemptEvents && !this.scope.events) events.push(...attemptEvents);
      if (result && !this.scope.results) results.push(result);
    }
    await this.outcomes.write(events, results);
    await this.outcomes.endedUnrun(ended);
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
