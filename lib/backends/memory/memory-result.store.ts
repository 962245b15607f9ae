import type { ResultRecord } from '../../models/result.model.js';
import type { ResultStore } from '../../storage/result.store.js';
import { StoreLifecycle } from '../shared/store-lifecycle.js';
import { copyResult } from './memory-results.js';
import { MemoryStorage, type MemoryDomain } from './memory-storage.js';
import type { MemoryNotifier } from './memory-notifier.js';

/**
 * Task results in process memory. `new MemoryResultStore()` keeps its own results and notifier;
 * a MemoryEngine's result store shares them with the engine's task queue and with its peers.
 * Listeners hear `result` asynchronously, after the results are stored, so a listener can neither
 * fail nor re-enter the put that notified it.
 */
export class MemoryResultStore implements ResultStore {
  readonly notifier: MemoryNotifier;
  private readonly storage: MemoryStorage;
  private readonly ownsNotifier: boolean;
  private readonly lifecycle = new StoreLifecycle('MemoryResultStore');

  /** @param domain the engine's storage and notifier; omitted, a store of its own. */
  constructor(domain?: MemoryDomain) {
    const { storage, notifier } = domain ?? MemoryStorage.standalone();
    this.storage = storage;
    this.notifier = notifier;
    this.ownsNotifier = domain === undefined;
  }

  async put(results: readonly ResultRecord[]): Promise<void> {
    this.lifecycle.assertOpen('put');
    for (const result of results) this.storage.results.put(result);
  }

  async get(taskId: string): Promise<ResultRecord | undefined> {
    this.lifecycle.assertOpen('get');
    const result = this.storage.results.get(taskId, Date.now());
    return result && copyResult(result);
  }

  async latestForSchedule(scheduleId: string): Promise<ResultRecord | undefined> {
    this.lifecycle.assertOpen('latestForSchedule');
    const latest = this.storage.results.latestForSchedule(scheduleId, Date.now());
    return latest && copyResult(latest);
  }

  async delete(taskId: string): Promise<boolean> {
    this.lifecycle.assertOpen('delete');
    return this.storage.results.delete(taskId);
  }

  async purgeExpired(now: Date, limit = Number.POSITIVE_INFINITY): Promise<number> {
    this.lifecycle.assertOpen('purgeExpired');
    return this.storage.results.purgeExpired(now.getTime(), limit);
  }

  async purgeCompletedBefore(before: Date, limit = Number.POSITIVE_INFINITY): Promise<number> {
    this.lifecycle.assertOpen('purgeCompletedBefore');
    return this.storage.results.purgeCompletedBefore(before.getTime(), limit);
  }

  async close(): Promise<void> {
    if (this.lifecycle.close() && this.ownsNotifier) this.notifier.close();
  }
}
