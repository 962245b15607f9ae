import type { SqliteDatabase } from './sqlite-database.types.js';
import type { SqliteLocks } from './sqlite-locks.js';
import type { SqliteNotificationLog } from './sqlite-notification-log.js';
import type { SqliteNotifier } from './sqlite-notifier.js';
import type { SqliteCall } from './sqlite-storage.error.js';

/**
 * Runs an engine's writes, each in one `BEGIN IMMEDIATE` transaction (the write lock is taken
 * before the first read, so a reserve in another process never sees a task as free that this
 * one is taking), and carries what a write announces: the stores stage notifications and
 * post-commit work while they write; before the commit the staged messages go to the
 * notifications table (one row per channel), and after it to this engine's listeners. A write
 * that throws rolls back and announces nothing.
 *
 * better-sqlite3 is synchronous, so a write runs start to finish without yielding and the staged
 * state cannot mix two writes. A write started inside another (a schedule fire enqueueing its
 * task) joins it. While another connection holds the lock, the write waits for it between timers
 * (see SqliteLocks) and runs whole once it got it.
 */
export class SqliteWriter {
  private active = false;
  /** Whether the current try got the lock and ran its work: a failure after that is never tried again. */
  private began = false;
  private wake: Set<string> | undefined;
  private results: string[] | undefined;
  private control: string[] | undefined;
  private afterCommit: Array<() => void> | undefined;
  private readonly runImmediate: (work: () => unknown) => unknown;

  constructor(
    db: SqliteDatabase,
    private readonly notifier: SqliteNotifier,
    private readonly log: SqliteNotificationLog | undefined,
    private readonly locks: SqliteLocks,
  ) {
    // Built once: better-sqlite3 makes several closures per transaction wrapper.
    this.runImmediate = db.transaction((work: () => unknown) => {
      this.began = true;
      const result = work();
      this.persist();
      return result;
    }).immediate;
  }

  /**
   * Runs `work` in one write transaction, or as part of the current one when called inside a
   * write. Synchronous (the result itself) when the lock was free; a promise when it waited.
   */
  write<R>(call: SqliteCall, work: () => R): R | Promise<R> {
    if (this.active) return work();
    return this.locks.run(call, () => this.attempt(call, work));
  }

  /** Runs `work` as part of the current write; only ever called inside one. */
  join<R>(work: () => R): R {
    if (!this.active) throw new Error('SqliteWriter.join() outside a write');
    return work();
  }

  private attempt<R>(call: SqliteCall, work: () => R): R {
    this.active = true;
    this.began = false;
    let result: R;
    try {
      result = this.runImmediate(work) as R;
    } catch (error) {
      this.discard();
      // Past BEGIN, SQLITE_BUSY is no lock wait: the work ran (and rolled back), so it is not tried again.
      throw this.began ? this.locks.failure(call, error) : error;
    } finally {
      this.active = false;
    }
    try {
      this.publish();
    } catch (error) {
      // Committed: the call must not be tried again, whatever a post-commit effect threw.
      throw this.locks.failure(call, error);
    }
    return result;
  }

  /** Tasks of `queue` may have become reservable. */
  wakeQueue(queue: string): void {
    (this.wake ??= new Set()).add(queue);
  }

  /** The result of `taskId` was stored. */
  resultStored(taskId: string): void {
    (this.results ??= []).push(taskId);
  }

  /** `cancel:<id>`, `pause:<queue>`, `resume:<queue>`. */
  controlMessage(message: string): void {
    (this.control ??= []).push(message);
  }

  /** Runs `effect` once the current write committed (not at all if it rolls back). */
  onCommit(effect: () => void): void {
    (this.afterCommit ??= []).push(effect);
  }

  private persist(): void {
    if (this.log === undefined) return;
    const now = Date.now();
    if (this.wake !== undefined) this.log.append('wake', [...this.wake], now);
    if (this.results !== undefined) this.log.append('result', this.results, now);
    if (this.control !== undefined) this.log.append('control', this.control, now);
  }

  private publish(): void {
    const { wake, results, control, afterCommit } = this;
    this.discard();
    if (wake !== undefined) this.notifier.deliver('wake', wake);
    if (results !== undefined) this.notifier.deliver('result', results);
    if (control !== undefined) this.notifier.deliver('control', control);
    if (afterCommit !== undefined) for (const effect of afterCommit) effect();
  }

  private discard(): void {
    this.wake = this.results = this.control = this.afterCommit = undefined;
  }
}
