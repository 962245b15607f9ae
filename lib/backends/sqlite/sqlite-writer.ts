import type { SqliteDatabase } from './sqlite-database.types.js';
import type { SqliteNotificationLog } from './sqlite-notification-log.js';
import type { SqliteNotifier } from './sqlite-notifier.js';

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
 * task) joins it.
 */
export class SqliteWriter {
  private active = false;
  private wake: Set<string> | undefined;
  private results: string[] | undefined;
  private control: string[] | undefined;
  private afterCommit: Array<() => void> | undefined;
  private readonly runImmediate: (work: () => unknown) => unknown;

  constructor(
    db: SqliteDatabase,
    private readonly notifier: SqliteNotifier,
    private readonly log: SqliteNotificationLog | undefined,
  ) {
    // Built once: better-sqlite3 makes several closures per transaction wrapper.
    this.runImmediate = db.transaction((work: () => unknown) => {
      const result = work();
      this.persist();
      return result;
    }).immediate;
  }

  write<R>(work: () => R): R {
    if (this.active) return work();
    this.active = true;
    let result: R;
    try {
      result = this.runImmediate(work) as R;
    } catch (error) {
      this.discard();
      throw error;
    } finally {
      this.active = false;
    }
    this.publish();
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
