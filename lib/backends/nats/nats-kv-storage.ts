import type { KV } from '@nats-io/kv';
import type { KvRecords, RecordCodec } from '../kv/kv-records.js';
import type { KvStorage, RecordSpace } from '../kv/kv-storage.js';
import type { NatsBatchJournals } from './nats-batch-journals.js';
import type { NatsLink } from './nats-connection.js';
import { NatsKvRecords } from './nats-kv-records.js';
import type { NatsTaskLinks } from './nats-task-links.js';
import type { NatsTaskRecords } from './nats-task-records.js';
import { ValueParts } from './nats-value-parts.js';

/**
 * The engine's fan-out on NATS (KvStorage.ioConcurrency): requests pipeline on the one
 * connection, and a reserve of 100 claims them all in one round trip instead of 7. Measured
 * (10,000 tasks, concurrency 100): 16 drains about 1,900 tasks/s, 100 about 2,500, with less
 * CPU per task on both sides (fuller socket writes).
 */
const NATS_IO_CONCURRENCY = 100;

/** How often housekeeping acts (it is called with every maintenance run). */
const HOUSEKEEPING_EVERY_MS = 60_000;

/**
 * The key-value engine's storage on NATS (see KvStorage): the tasks in the KV bucket `tasks`,
 * watched by every engine (NatsTaskRecords); everything else in the bucket `records`, each kind
 * under a key prefix of its own — `keys.`, `schedules.`, `control.` (the record spaces),
 * `links.` (NatsTaskLinks), `journals.` and `journal-parts.` (NatsBatchJournals), `damaged.`
 * (values set aside). Only `links.` is watched (by NatsTaskLinks): its deletes leave tombstones
 * (purged by housekeeping, as the task bucket's); other deletes in `records` are purges.
 */
export class NatsKvStorage implements KvStorage {
  readonly ioConcurrency = NATS_IO_CONCURRENCY;
  private keptAt = 0;
  private readonly parts: ValueParts;

  constructor(
    private readonly link: NatsLink,
    readonly tasks: NatsTaskRecords,
    readonly links: NatsTaskLinks,
    readonly journals: NatsBatchJournals,
    /** The project's records bucket. */
    private readonly kv: KV,
  ) {
    this.parts = new ValueParts(link, kv, link.names.store('records'));
  }

  records<T>(space: RecordSpace, codec: RecordCodec<T>): KvRecords<T> {
    return new NatsKvRecords(this.link, this.kv, this.link.names.store('records'), `${space}.`, codec, 'purge', this.parts);
  }

  /** Purges the old tombstones of the task bucket and of the links, once a minute at most. */
  async housekeeping(): Promise<void> {
    if (Date.now() - this.keptAt < HOUSEKEEPING_EVERY_MS) return;
    this.keptAt = Date.now();
    await this.tasks.purgeTombstones();
    await this.links.purgeTombstones();
  }
}
