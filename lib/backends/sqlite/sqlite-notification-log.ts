import type { NotifyChannel } from '../../storage/notifier.js';
import type { SqliteDatabase, SqliteStatement } from './sqlite-database.types.js';
import type { SqliteTables } from './sqlite-tables.js';

/** How long notification rows are kept: far longer than any reader lags, short enough to keep the table small. */
const RETAIN_MS = 60_000;
/** How often a write also prunes the rows older than RETAIN_MS. */
const PRUNE_EVERY_MS = 10_000;

/** A notification row as the feed reads it: seq, channel, messages (a JSON array of strings), origin. */
export type NotificationRow = [seq: number, channel: NotifyChannel, messages: string, origin: string];

/**
 * The `notifications` table: the messages each write transaction notifies, for the other
 * connections on the file. Rows are written inside the transaction that makes the change they
 * announce, so a rolled-back change never announces anything and a committed one always does.
 */
export class SqliteNotificationLog {
  private readonly insert: SqliteStatement;
  private readonly prune: SqliteStatement;
  private readonly selectLatest: SqliteStatement<unknown[]>;
  private readonly selectSince: SqliteStatement<unknown[]>;
  private readonly db: SqliteDatabase;
  private prunedAt = 0;

  constructor(
    db: SqliteDatabase,
    { notifications }: SqliteTables,
    /** This engine instance: the rows it writes carry it, and its feed skips them. */
    readonly origin: string,
  ) {
    this.db = db;
    this.insert = db.prepare(`INSERT INTO ${notifications} (channel, messages, origin, created_at) VALUES (?, ?, ?, ?)`);
    // Rows are appended in time order, so the old ones are a prefix of the seq order: found by
    // walking from the start, deleted as one seq range, with no index on created_at to maintain.
    // The newest row always stays, so the next rowid (the largest plus one) never repeats a seq.
    this.prune = db.prepare(
      `DELETE FROM ${notifications} WHERE seq < COALESCE(
        (SELECT seq FROM ${notifications} WHERE created_at >= ? ORDER BY seq LIMIT 1),
        (SELECT MAX(seq) FROM ${notifications}))`,
    );
    this.selectLatest = db.prepare(`SELECT COALESCE(MAX(seq), 0) FROM ${notifications}`).raw(true);
    this.selectSince = db.prepare(`SELECT seq, channel, messages, origin FROM ${notifications} WHERE seq > ? ORDER BY seq`).raw(true);
  }

  /** Adds one row; call inside the write transaction whose change it announces. Prunes old rows now and then. */
  append(channel: NotifyChannel, messages: readonly string[], now: number): void {
    this.insert.run(channel, JSON.stringify(messages), this.origin, now);
    if (now - this.prunedAt < PRUNE_EVERY_MS) return;
    this.prunedAt = now;
    this.prune.run(now - RETAIN_MS);
  }

  latestSeq(): number {
    return (this.selectLatest.get() as [number])[0];
  }

  /** The rows written after `seq`, oldest first, by any engine. */
  since(seq: number): NotificationRow[] {
    return this.selectSince.all(seq) as NotificationRow[];
  }

  /** Changes whenever another connection commits to the file (never for this connection's own commits). */
  dataVersion(): number {
    return this.db.pragma('data_version', { simple: true }) as number;
  }
}
