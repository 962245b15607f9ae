import type { LoggerService } from '@nestjs/common';
import { describeError } from '../../utils/describe-error.js';
import type { NotifyBatch } from './postgres-notify-payload.js';

/**
 * Flushes follow each other at least this far apart: the first message after a quiet spell goes
 * at once, those that come within the window after it wait and go together. Every NOTIFY takes
 * PostgreSQL's notification queue lock at commit, which serialises committing transactions.
 */
const WINDOW_MS = 3;
/**
 * A queue is woken at most this often: every wake sends every idle worker of every process to
 * reserve. No longer than the window: an idle queue's wake must go at once (a task enqueued a
 * few milliseconds after the last one still starts within a couple of milliseconds elsewhere).
 */
const WAKE_INTERVAL_MS = WINDOW_MS;
/** A failed NOTIFY is retried after this (doubling) … */
const FIRST_RETRY_MS = 50;
/** … up to this. */
const MAX_RETRY_MS = 1_000;

/**
 * The messages an engine has yet to send its peers, and when to send them: merged (each message
 * once), one NOTIFY statement per flush, flushes throttled, and those that failed (the database
 * unreachable for a moment) kept and sent again.
 */
export class PostgresNotifyOutbox {
  private readonly wake = new Set<string>();
  private readonly result = new Set<string>();
  private readonly control = new Set<string>();
  private events = false;
  private lostAt: number | undefined;
  /** When each queue was last woken, for the queues woken within WAKE_INTERVAL_MS. */
  private readonly wokenAt = new Map<string, number>();
  private lastFlushAt = -Infinity;
  private notBefore = 0;
  private failures = 0;
  private sending: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private queued = false;
  private closed = false;

  constructor(
    private readonly send: (batch: NotifyBatch, now: number) => Promise<void>,
    private readonly logger: LoggerService,
  ) {}

  add(batch: NotifyBatch): void {
    if (this.closed) return;
    for (const queue of batch.wake) this.wake.add(queue);
    for (const id of batch.result) this.result.add(id);
    for (const message of batch.control) this.control.add(message);
    this.events ||= batch.events;
    if (batch.lostAt !== undefined) this.lostAt = Math.min(this.lostAt ?? batch.lostAt, batch.lostAt);
    this.schedule();
  }

  /**
   * Whether the wakes of `queues` may go now, in a write's own statement: none of them was woken
   * within WAKE_INTERVAL_MS and no flush went within WINDOW_MS (a NOTIFY in a write's own commit
   * serialises commits like any other). If so they count as sent now, a flush for the throttle,
   * and a wake of theirs waiting here is dropped (the write's NOTIFY carries it).
   */
  takeWakes(queues: readonly string[], now: number): boolean {
    if (this.closed || this.notBefore > now || this.lastFlushAt + WINDOW_MS > now) return false;
    if (queues.some((queue) => (this.wokenAt.get(queue) ?? -Infinity) + WAKE_INTERVAL_MS > now)) return false;
    for (const queue of queues) {
      this.wokenAt.set(queue, now);
      this.wake.delete(queue);
    }
    this.lastFlushAt = now;
    return true;
  }

  /** Sends what is left, whatever the throttle says, and stops. */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.sending;
    if (this.pending()) await this.flush(true);
  }

  private pending(): boolean {
    return this.wake.size > 0 || this.result.size > 0 || this.control.size > 0 || this.events || this.lostAt !== undefined;
  }

  private schedule(): void {
    if (this.closed || this.sending !== undefined || this.timer !== undefined || this.queued) return;
    const at = this.nextFlushAt();
    if (at === undefined) return;
    const delay = at - Date.now();
    if (delay > 0) {
      // Never what keeps a process alive: close() sends what is left.
      this.timer = setTimeout(() => {
        this.timer = undefined;
        void this.flush(false);
      }, delay).unref();
      return;
    }
    // A microtask, not at once: the writes that commit in the same turn go in the same NOTIFY.
    this.queued = true;
    queueMicrotask(() => {
      this.queued = false;
      if (!this.closed) void this.flush(false);
    });
  }

  private nextFlushAt(): number | undefined {
    if (!this.pending()) return undefined;
    const earliest = Math.max(this.lastFlushAt + WINDOW_MS, this.notBefore);
    if (this.result.size > 0 || this.control.size > 0 || this.events || this.lostAt !== undefined) return earliest;
    let at = Infinity;
    for (const queue of this.wake) at = Math.min(at, Math.max(earliest, (this.wokenAt.get(queue) ?? -Infinity) + WAKE_INTERVAL_MS));
    return at;
  }

  private async flush(final: boolean): Promise<void> {
    const now = Date.now();
    for (const [queue, at] of this.wokenAt) if (at + WAKE_INTERVAL_MS <= now) this.wokenAt.delete(queue);
    const wake = [...this.wake].filter((queue) => final || !this.wokenAt.has(queue));
    const batch: NotifyBatch = { wake, result: [...this.result], control: [...this.control], events: this.events, lostAt: this.lostAt };
    if (wake.length === 0 && batch.result.length === 0 && batch.control.length === 0 && !batch.events && batch.lostAt === undefined) {
      return this.schedule();
    }
    for (const queue of wake) {
      this.wake.delete(queue);
      this.wokenAt.set(queue, now);
    }
    this.result.clear();
    this.control.clear();
    this.events = false;
    this.lostAt = undefined;
    this.lastFlushAt = now;
    const sending = this.send(batch, now).then(
      () => {
        this.failures = 0;
      },
      (error: unknown) => this.failed(batch, error, final),
    );
    this.sending = sending;
    await sending;
    this.sending = undefined;
    this.schedule();
  }

  /** Keeps a batch that could not be sent, to send it again after a backoff (except at close: the peers catch up when they can). */
  private failed(batch: NotifyBatch, error: unknown, final: boolean): void {
    if (this.failures === 0) this.logger.warn(`Notifying other processes failed (${describeError(error)}); retrying`);
    this.failures += 1;
    if (final) return;
    this.notBefore = Date.now() + Math.min(MAX_RETRY_MS, FIRST_RETRY_MS * 2 ** (this.failures - 1));
    for (const queue of batch.wake) this.wokenAt.delete(queue);
    this.add(batch);
  }
}
