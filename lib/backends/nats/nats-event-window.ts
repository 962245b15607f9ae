import type { TaskEvent } from '../../models/event.model.js';

export const DEFAULT_QUERY_LIMIT = 1_000;

/**
 * How far an event's timestamp may lie from the server time of its message for a time-bounded
 * read to find it in the stream: reads look this much wider than asked and filter on the
 * timestamp. An event appended further from its timestamp than ON_CLOCK_MS (by the server's
 * clock as this process estimates it) is off-clock and has a copy that time queries read apart.
 */
export const WIDEN_MS = 5_000;
export const ON_CLOCK_MS = 2_000;

/** An event as read, with its place in append order (the sequence of its main message). */
export interface Found {
  readonly seq: number;
  readonly event: TaskEvent;
}

/** The contract's order: timestamp, then append order. */
export const byTime = (a: Found, b: Found): number => a.event.timestamp.getTime() - b.event.timestamp.getTime() || a.seq - b.seq;


/**
 * The matches of a query read so far, at most `limit` of them kept: the first in the query's
 * order (newest first for 'desc'). An event read twice (its off-clock copy and its message)
 * counts once; `seen` holds every event id read, matching or not.
 */
export class Collector {
  private kept: Found[] = [];
  private sorted = true;
  readonly seen = new Set<string>();
  private readonly order: (a: Found, b: Found) => number;

  constructor(
    readonly limit: number,
    readonly descending: boolean,
    private readonly matches: (event: TaskEvent) => boolean,
  ) {
    this.order = descending ? (a, b) => byTime(b, a) : byTime;
  }

  take(found: Found): void {
    if (this.seen.has(found.event.id)) return;
    this.seen.add(found.event.id);
    if (!this.matches(found.event)) return;
    this.kept.push(found);
    this.sorted = false;
    if (this.kept.length >= 2 * this.limit) this.prune();
  }

  /**
   * Whether the first `limit` matches are all found, once the stream was read in the query's
   * direction up to server time `readTo`: no unread on-clock event can come before the last kept.
   */
  settled(readTo: number): boolean {
    this.prune();
    const last = this.kept[this.limit - 1];
    if (last === undefined) return false;
    const at = last.event.timestamp.getTime();
    return this.descending ? readTo + WIDEN_MS < at : readTo - WIDEN_MS > at;
  }

  /** The kept matches merged with `extra` (events not stored yet, after the stored ones of their timestamp), in order, up to `limit`. */
  events(extra: readonly TaskEvent[] = []): TaskEvent[] {
    for (const event of extra) this.kept.push({ seq: Number.MAX_SAFE_INTEGER, event });
    this.sorted = this.sorted && extra.length === 0;
    this.prune();
    return this.kept.map((found) => found.event);
  }

  private prune(): void {
    if (!this.sorted) this.kept.sort(this.order);
    this.sorted = true;
    if (this.kept.length > this.limit) this.kept.length = this.limit;
  }
}
