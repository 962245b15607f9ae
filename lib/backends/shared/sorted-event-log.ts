import type { TaskEvent } from '../../models/event.model.js';
import type { EventQuery } from '../../storage/event.store.js';

const DEFAULT_QUERY_LIMIT = 1000;

/**
 * Events in process memory, kept sorted by timestamp then insertion order, so time bounds are
 * binary searches and dropping old events is one splice from the front. The memory event store
 * keeps its events in one; the file event store keeps in one what it has read of its log.
 *
 * The log holds the events it is given as they are: callers copy on the way in, and `query`
 * copies on the way out with the `copy` it was built with.
 */
export class SortedEventLog {
  private events: TaskEvent[] = [];

  constructor(private readonly copy: (event: TaskEvent) => TaskEvent) {}

  /** Adds an event after every event with the same or an earlier timestamp: ties keep insertion order. */
  insert(event: TaskEvent): void {
    const index = this.firstAfter(event.timestamp.getTime());
    // Appending is the usual case; splice would allocate an (empty) array of removed events each time.
    if (index === this.events.length) this.events.push(event);
    else this.events.splice(index, 0, event);
  }

  /** Copies of the events matching `query`, in its order, up to its limit. */
  query(query: EventQuery): TaskEvent[] {
    const from = query.since === undefined ? 0 : this.firstAtOrAfter(query.since.getTime());
    const to = query.until === undefined ? this.events.length : this.firstAtOrAfter(query.until.getTime());
    const limit = query.limit ?? DEFAULT_QUERY_LIMIT;
    const types = query.types && new Set(query.types);
    const matches = (event: TaskEvent): boolean =>
      (query.taskId === undefined || event.taskId === query.taskId) &&
      (query.scheduleId === undefined || event.scheduleId === query.scheduleId) &&
      (query.queue === undefined || event.queue === query.queue) &&
      (types === undefined || types.has(event.type));
    const found: TaskEvent[] = [];
    const descending = query.order === 'desc';
    for (let i = descending ? to - 1 : from; found.length < limit && i >= from && i < to; i += descending ? -1 : 1) {
      if (matches(this.events[i])) found.push(this.copy(this.events[i]));
    }
    return found;
  }

  /** How many events are older than `ms`: they are the first ones. */
  countBefore(ms: number): number {
    return this.firstAtOrAfter(ms);
  }

  /** The events from index `start` on, oldest first (the log's own objects, not copies). */
  from(start: number): TaskEvent[] {
    return this.events.slice(start);
  }

  /** Drops the events older than `ms`; how many it dropped. */
  dropBefore(ms: number): number {
    return this.events.splice(0, this.firstAtOrAfter(ms)).length;
  }

  clear(): void {
    this.events = [];
  }

  private firstAtOrAfter(ms: number): number {
    return this.search((event) => event.timestamp.getTime() >= ms);
  }

  private firstAfter(ms: number): number {
    // Events mostly arrive in time order: answer that case without a search.
    const last = this.events.at(-1);
    if (last === undefined || last.timestamp.getTime() <= ms) return this.events.length;
    return this.search((event) => event.timestamp.getTime() > ms);
  }

  /** The first index whose event satisfies `isAtOrPast` (a predicate that stays true once true). */
  private search(isAtOrPast: (event: TaskEvent) => boolean): number {
    let low = 0;
    let high = this.events.length;
    while (low < high) {
      const middle = (low + high) >> 1;
      if (isAtOrPast(this.events[middle])) high = middle;
      else low = middle + 1;
    }
    return low;
  }
}
