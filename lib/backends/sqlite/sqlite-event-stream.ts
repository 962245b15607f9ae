import { Observable, Subject } from 'rxjs';
import type { TaskEvent } from '../../models/event.model.js';
import type { SqliteDatabase, SqliteStatement } from './sqlite-database.types.js';
import { eventFromRow, type EventRow } from './sqlite-event-row.js';
import type { SqliteNotificationFeed } from './sqlite-notification-feed.js';
import type { SqliteTables } from './sqlite-tables.js';

/**
 * The event store's stream: every event stored in the file while someone subscribes, by this
 * engine or by another connection, in append order. It reads the events table after the seq it
 * emitted last: after each commit of this engine that stored events, and after each commit of
 * another connection (told by the notification feed). Event seqs are taken in commit order, so
 * nothing committed is ever behind the last one read.
 */
export class SqliteEventStream {
  private readonly subject = new Subject<TaskEvent>();
  private readonly selectLatest: SqliteStatement<unknown[]>;
  private readonly selectAfter: SqliteStatement<EventRow & { seq: number }>;
  /** The seq of the last event emitted (or passed over while nobody subscribed). */
  private emittedThrough = 0;
  private completed = false;
  readonly observable: Observable<TaskEvent>;

  constructor(
    db: SqliteDatabase,
    { events }: SqliteTables,
    private readonly feed: SqliteNotificationFeed | undefined,
  ) {
    this.selectLatest = db.prepare(`SELECT COALESCE(MAX(seq), 0) FROM ${events}`).raw(true);
    this.selectAfter = db.prepare(`SELECT * FROM ${events} WHERE seq > ? ORDER BY seq`);
    feed?.onOtherCommits(() => this.catchUp());
    this.observable = new Observable<TaskEvent>((subscriber) => {
      if (this.completed) {
        subscriber.complete();
        return;
      }
      // The first subscriber hears what is appended from now on, not what was appended while nobody listened.
      if (!this.subject.observed) this.emittedThrough = (this.selectLatest.get() as [number])[0];
      const release = this.feed?.acquire();
      const subscription = this.subject.subscribe(subscriber);
      return () => {
        subscription.unsubscribe();
        release?.();
      };
    });
  }

  get observed(): boolean {
    return this.subject.observed;
  }

  /** Emits the events stored since the last ones emitted; call after a commit that may have stored some. */
  readonly catchUp = (): void => {
    if (this.completed || !this.subject.observed) return;
    for (const row of this.selectAfter.all(this.emittedThrough)) {
      this.emittedThrough = row.seq;
      this.subject.next(eventFromRow(row));
    }
  };

  complete(): void {
    this.completed = true;
    this.subject.complete();
  }
}
