import type { Notifier } from '../../storage/notifier.js';
import type { BatchJournals } from './kv-journals.js';
import type { KvRecords, RecordCodec } from './kv-records.js';
import type { TaskLinks, TaskRecords } from './kv-task-records.js';

/**
 * The record kinds besides tasks, each a space of its own: idempotency keys, schedules, and the
 * project-wide control records (paused queues, leader leases; their keys never collide: each
 * kind prefixes its own).
 */
export type RecordSpace = 'keys' | 'schedules' | 'control';

/** Everything the key-value task engine keeps, on one storage (a folder, a NATS account). */
export interface KvStorage {
  readonly tasks: TaskRecords;
  readonly links: TaskLinks;
  readonly journals: BatchJournals;
  /**
   * How many storage operations one engine call keeps in flight (the claims of a reserve, the
   * writes of a settle, an enqueue wave, an outbox step); IO_CONCURRENCY when absent. A folder's
   * operations queue on libuv's few threads; a server connection pipelines requests, and more
   * of them in flight leave in fewer, fuller writes.
   */
  readonly ioConcurrency?: number;
  /**
   * The records of a space, stored with `codec`. Called once per space and codec at open;
   * records of one space written with different codecs share its keys.
   */
  records<T>(space: RecordSpace, codec: RecordCodec<T>): KvRecords<T>;
  /** The storage's own upkeep, run by the maintenance leader with every recoverPending (it decides how often to act). */
  housekeeping(): Promise<void>;
}

/**
 * The engine's notifier, shared by its stores: each acquires it and releases it on close, and
 * the last release closes it.
 */
export interface SharedNotifier extends Notifier {
  acquire(): this;
  release(): void;
}
