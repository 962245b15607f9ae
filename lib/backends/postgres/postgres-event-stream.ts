import { LazyEventStream } from '../shared/lazy-event-stream.js';
import type { PostgresDb } from './postgres-db.js';
import { eventFromRow, type EventRow } from './postgres-event-row.js';
import type { PostgresNotifier } from './postgres-notifier.js';

/** Seqs `lo`..`hi` that transactions took but were not seen committed; given up on at `until` (epoch ms). */
interface Gap {
  readonly lo: number;
  readonly hi: number;
  readonly until: number;
}

/** Rows per catch-up read; a full read is followed by the next at once. */
const READ_ROWS = 1_000;
/**
 * How long a gap is read again. A gap is a transaction still open (its events come once it
 * commits) or one that rolled back (its seqs never come); this bounds what the second costs.
 */
const GAP_PATIENCE_MS = 60_000;
/** The most gaps kept: the lowest go first, as the oldest are the likeliest to have rolled back. */
const MAX_GAPS = 1_000;
/** A failed read (the database unreachable) is tried again after this. */
const RETRY_MS = 1_000;

/** `ranges` (sorted, disjoint) without the seqs of `seqs` (sorted). */
function withoutSeqs(ranges: readonly Gap[], seqs: readonly number[]): Gap[] {
  const left: Gap[] = [];
  let next = 0;
  for (const { lo: from, hi, until } of ranges) {
    let lo = from;
    while (next < seqs.length && seqs[next]! < lo) next += 1;
    for (; next < seqs.length && seqs[next]! <= hi; next += 1) {
      if (seqs[next]! > lo) left.push({ lo, hi: seqs[next]! - 1, until });
      lo = seqs[next]! + 1;
    }
    if (lo <= hi) left.push({ lo, hi, until });
  }
  return left;
}

/** Ranges sorted and merged where they overlap or touch. */
function merged(ranges: readonly Gap[]): Gap[] {
  const sorted = [...ranges].sort((a, b) => a.lo - b.lo);
  const out: Gap[] = [];
  for (const range of sorted) {
    const last = out.at(-1);
    if (last !== undefined && range.lo <= last.hi + 1) out[out.length - 1] = { lo: last.lo, hi: Math.max(last.hi, range.hi), until: Math.max(last.until, range.until) };
    else out.push(range);
  }
  return out;
}

/**
 * The event store's stream: every event committed to the schema while someone subscribes, by
 * this engine or a peer, read back from the table (so it equals what `query` returns) after
 * each commit that appended events here and each hint from a peer (the notifier's `events`).
 *
 * It reads the rows after the highest seq it has read. Seqs are taken at insert, not at commit,
 * so a transaction may commit below seqs already read: the seqs a read skipped are kept as gaps
 * and read again each time, until their events came or GAP_PATIENCE_MS passed.
 *
 * The first subscriber hears what is appended from its subscription on: the highest seq is read
 * at subscription, and what this engine inserted while that read ran is read as gaps.
 */
export class PostgresEventStream extends LazyEventStream {
  /** Grows at every start and stop: a read of an earlier subscription emits nothing. */
  private period = 0;
  /** Every seq up to here was read, passed over at subscription, or is a gap; undefined until the subscription's first read. */
  private through: number | undefined;
  private gaps: Gap[] = [];
  /** The seqs this engine inserted while the subscription's first read ran. */
  private insertedWhileStarting: Gap[] = [];
  private reading = false;
  private readAgain = false;
  private retry: NodeJS.Timeout | undefined;
  private readonly unlisten: () => void;
  private readonly selectLast: string;
  private readonly selectFresh: string;

  constructor(
    private readonly db: PostgresDb,
    table: string,
    notifier: PostgresNotifier,
  ) {
    super();
    this.selectLast = `SELECT COALESCE(max(seq), 0) AS last FROM ${table}`;
    this.selectFresh = `SELECT * FROM (
        (SELECT * FROM ${table} WHERE seq > $1 ORDER BY seq LIMIT $4)
        UNION ALL
        SELECT e.* FROM unnest($2::bigint[], $3::bigint[]) AS gap(lo, hi) JOIN ${table} e ON e.seq BETWEEN gap.lo AND gap.hi
      ) AS fresh ORDER BY seq LIMIT $4`;
    this.unlisten = notifier.listenEvents(() => this.catchUp());
  }

  /** This engine inserted seqs `lo`..`hi` (in a transaction that may not have committed yet). */
  inserted(lo: number, hi: number): void {
    if (this.observed && this.through === undefined) this.insertedWhileStarting.push({ lo, hi, until: Date.now() + GAP_PATIENCE_MS });
  }

  /** Reads and emits what was committed since the last read; several calls while a read runs make one more read. */
  catchUp(): void {
    if (this.isCompleted || !this.observed || this.through === undefined) return;
    if (this.reading) {
      this.readAgain = true;
      return;
    }
    this.reading = true;
    void this.readAll(this.period);
  }

  complete(): void {
    if (this.finish()) this.unlisten();
  }

  protected start(): void {
    const period = ++this.period;
    this.db.query<{ last: number }>(this.selectLast, [], { operation: 'stream events' }).then(
      ([row]) => {
        if (period !== this.period) return;
        const last = row!.last;
        const early = this.insertedWhileStarting.filter((range) => range.lo <= last).map((range) => ({ ...range, hi: Math.min(range.hi, last) }));
        this.gaps = merged(early);
        this.insertedWhileStarting = [];
        this.through = last;
        this.catchUp();
      },
      () => {
        if (period === this.period) this.retryLater(() => this.start());
      },
    );
  }

  protected stop(): void {
    this.period += 1;
    this.through = undefined;
    this.gaps = [];
    this.insertedWhileStarting = [];
    clearTimeout(this.retry);
    this.retry = undefined;
  }

  private async readAll(period: number): Promise<void> {
    try {
      let full: boolean;
      do {
        this.readAgain = false;
        full = await this.read(period);
      } while ((full || this.readAgain) && period === this.period);
    } catch {
      if (period === this.period) this.retryLater(() => this.catchUp());
    } finally {
      this.reading = false;
    }
    // A catch-up asked for by a later subscription while this one's read ran.
    if (this.readAgain) {
      this.readAgain = false;
      this.catchUp();
    }
  }

  /** One read of the rows after `through` and in the gaps; emits them in seq order. Whether it was full. */
  private async read(period: number): Promise<boolean> {
    const now = Date.now();
    const gaps = this.gaps.filter((gap) => gap.until > now);
    const through = this.through!;
    const params = [through, gaps.map((gap) => gap.lo), gaps.map((gap) => gap.hi), READ_ROWS];
    const rows = await this.db.query<EventRow>(this.selectFresh, params, { operation: 'stream events' });
    if (period !== this.period) return false;
    const full = rows.length === READ_ROWS;
    const highest = rows.length === 0 ? through : Math.max(through, rows.at(-1)!.seq);
    // What the read skipped up to the highest seq it read is the new gaps (everything below it was read, so those are not committed).
    const skipped = highest > through ? [{ lo: through + 1, hi: highest, until: now + GAP_PATIENCE_MS }] : [];
    this.gaps = withoutSeqs([...gaps, ...skipped], rows.map((row) => row.seq)).slice(-MAX_GAPS);
    this.through = highest;
    for (const row of rows) {
      if (period !== this.period) return false;
      this.emit(eventFromRow(row));
    }
    return full;
  }

  private retryLater(again: () => void): void {
    if (this.retry !== undefined || this.isCompleted) return;
    this.retry = setTimeout(() => {
      this.retry = undefined;
      if (this.observed && !this.isCompleted) again();
    }, RETRY_MS);
  }
}
