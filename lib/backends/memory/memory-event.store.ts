import { Subject, type Observable } from 'rxjs';
import type { TaskEvent } from '../../models/event.model.js';
import type { EventQuery, EventStore } from '../../storage/event.store.js';
import { StoreLifecycle } from '../shared/store-lifecycle.js';
import { MemoryStorage, type MemoryDomain } from './memory-storage.js';

/**
 * Lifecycle events in process memory, kept sorted by timestamp then append order (a
 * SortedEventLog), so time bounds are binary searches and purging old events is one splice.
 * `new MemoryEventStore()` keeps its own log; a MemoryEngine's event store shares its log with
 * the engine's task queue and with its peers.
 */
export class MemoryEventStore implements EventStore {
  private readonly storage: MemoryStorage;
  private readonly appended = new Subject<TaskEvent>();
  private readonly lifecycle = new StoreLifecycle('MemoryEventStore');

  /** @param domain the engine's storage; omitted, a store of its own. */
  constructor(domain?: Pick<MemoryDomain, 'storage'>) {
    this.storage = domain?.storage ?? new MemoryStorage();
    this.storage.events.streams.add(this.appended);
  }

  async append(events: readonly TaskEvent[]): Promise<void> {
    this.lifecycle.assertOpen('append');
    this.storage.events.appendAll(events);
  }

  async query(query: EventQuery = {}): Promise<TaskEvent[]> {
    this.lifecycle.assertOpen('query');
    return this.storage.events.log.query(query);
  }

  async purgeOlderThan(cutoff: Date): Promise<number> {
    this.lifecycle.assertOpen('purgeOlderThan');
    return this.storage.events.log.dropBefore(cutoff.getTime());
  }

  stream(): Observable<TaskEvent> {
    return this.appended.asObservable();
  }

  async close(): Promise<void> {
    if (!this.lifecycle.close()) return;
    this.storage.events.streams.delete(this.appended);
    this.appended.complete();
  }
}
