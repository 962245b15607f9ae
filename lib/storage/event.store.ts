import type { Observable } from 'rxjs';
import type { TaskEvent, TaskEventType } from '../models/event.model.js';

export interface EventQuery {
  taskId?: string;
  scheduleId?: string;
  types?: readonly TaskEventType[];
  queue?: string;
  /** Inclusive lower bound on `timestamp`. */
  since?: Date;
  /** Exclusive upper bound on `timestamp`. */
  until?: Date;
  /** At most this many events (default 1,000). */
  limit?: number;
  /** Oldest first (default) or newest first. */
  order?: 'asc' | 'desc';
}

/** Where lifecycle events are kept. Events are ordered by timestamp, then append order. */
export interface EventStore {
  append(events: readonly TaskEvent[]): Promise<void>;
  query(query?: EventQuery): Promise<TaskEvent[]>;
  /** Deletes events older than `cutoff`; returns how many. */
  purgeOlderThan(cutoff: Date): Promise<number>;
  /** Every event appended from now on (in this process, and in others where the backend can tell). */
  stream(): Observable<TaskEvent>;
  close(): Promise<void>;
}
