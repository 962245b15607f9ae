import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';
import type { NotifyChannel } from '../../storage/notifier.js';
import { describeError } from '../../utils/describe-error.js';
import type { SqliteNotificationLog } from './sqlite-notification-log.js';

/** A check for missed watch events: inotify can drop them (queue overflow), and some filesystems send none. */
const SAFETY_CHECK_MS = 250;
/** At most one read per this interval, however many commits the watch reports: a busy file commits thousands of times a second. */
const THROTTLE_MS = 2;

/**
 * Hears the notifications other connections (other processes, or other engines in this one)
 * write to the file, within milliseconds and without busy polling.
 *
 * Every commit in WAL mode writes to the `-wal` file, which the directory watch reports. A report
 * costs one `PRAGMA data_version`, which changes only when another connection committed, so this
 * engine's own commits (and the application's writes to other files) cost no read. When it did
 * change, the rows after the last one read are delivered, except this engine's own (it delivered
 * those itself after their commit). A slow timer checks as well, in case the watch misses one.
 * The event stream reads the events other connections stored at the same moments.
 */
export class SqliteNotificationFeed {
  private watcher: FSWatcher | undefined;
  private safetyTimer: NodeJS.Timeout | undefined;
  private throttleTimer: NodeJS.Timeout | undefined;
  private lastSeq = 0;
  private dataVersion = 0;
  private checkedAt = 0;
  private readonly commitListeners: Array<() => void> = [];
  /** Listeners and stream subscribers that need the feed: it runs while there is one, so nothing stays open once they are gone. */
  private demand = 0;

  constructor(
    private readonly log: SqliteNotificationLog,
    /** The database file: its directory is watched. */
    private readonly path: string,
    private readonly deliver: (channel: NotifyChannel, messages: readonly string[]) => void,
    private readonly isOpen: () => boolean,
  ) {}

  /** Calls `listener` after each check that found another connection committed (while the feed runs). */
  onOtherCommits(listener: () => void): void {
    this.commitListeners.push(listener);
  }

  get running(): boolean {
    return this.safetyTimer !== undefined;
  }

  /**
   * Starts hearing rows written from now on, for one more user; the returned function ends that
   * use (once), and the feed stops when no use is left, closing its watch and timer.
   */
  acquire(): () => void {
    this.demand++;
    this.start();
    let released = false;
    return () => {
      if (released) return;
      released = true;
      if (--this.demand === 0) this.stop();
    };
  }

  private start(): void {
    if (this.running) return;
    this.dataVersion = this.log.dataVersion();
    this.lastSeq = this.log.latestSeq();
    const file = basename(this.path);
    try {
      // The watch is a speed-up only: where it cannot be set up, the safety check still delivers.
      this.watcher = watch(dirname(this.path), (_event, changed) => {
        if (changed === null || changed.startsWith(file)) this.schedule();
      });
      this.watcher.on('error', () => this.stopWatching());
    } catch {
      this.watcher = undefined;
    }
    this.safetyTimer = setInterval(() => this.check(), SAFETY_CHECK_MS);
  }

  /** Stops at once, whatever the demand (the engine is closing). */
  stop(): void {
    this.stopWatching();
    clearInterval(this.safetyTimer);
    clearTimeout(this.throttleTimer);
    this.safetyTimer = undefined;
    this.throttleTimer = undefined;
  }

  private stopWatching(): void {
    this.watcher?.close();
    this.watcher = undefined;
  }

  private schedule(): void {
    if (this.throttleTimer !== undefined) return;
    const wait = Math.max(0, this.checkedAt + THROTTLE_MS - Date.now());
    this.throttleTimer = setTimeout(() => {
      this.throttleTimer = undefined;
      this.check();
    }, wait);
  }

  private check(): void {
    this.checkedAt = Date.now();
    if (!this.isOpen()) return;
    try {
      this.deliverNewRows();
    } catch (error) {
      // A timer must not throw: the next check tries again.
      process.emitWarning(`Reading SQLite notifications from ${this.path} failed: ${describeError(error)}`);
    }
  }

  private deliverNewRows(): void {
    // Read before the rows: a commit after this read changes it again, so the next check reads that commit's rows.
    const version = this.log.dataVersion();
    if (version === this.dataVersion) return;
    const rows = this.log.since(this.lastSeq);
    this.dataVersion = version;
    for (const [seq, channel, messages, origin] of rows) {
      this.lastSeq = seq;
      if (origin !== this.log.origin) this.deliver(channel, JSON.parse(messages) as string[]);
    }
    for (const listener of this.commitListeners) listener();
  }
}
