import type { LoggerService } from '@nestjs/common';
import type { KV } from '@nats-io/kv';
import type { TaskRecord } from '../../models/task.model.js';
import { IO_CONCURRENCY, mapLimit } from '../kv/kv-concurrency.js';
import { CorruptRecordError, type Change, type MutateOptions, type MutateOutcome } from '../kv/kv-records.js';
import { hasPending, recordKey, reviveTaskBody, TASK_FORMAT, type TaskBody, type TaskVersion } from '../kv/kv-task-codec.js';
import type { TaskRecords } from '../kv/kv-task-records.js';
import { unlessMovedAside } from '../kv/kv-tasks.js';
import type { NatsLink } from './nats-connection.js';
import { isValue, NatsKvRecords } from './nats-kv-records.js';
import { NatsTaskIndex } from './nats-task-index.js';
import { ValueParts } from './nats-value-parts.js';

/** Tombstones older than this are purged by housekeeping: every feed has long seen them. */
export const TOMBSTONE_KEEP_MS = 60_000;

/**
 * The task records of one project as keys of the KV bucket `tasks` (key: recordKey of the id),
 * with the NatsTaskIndex that a watch of the bucket feeds (see TaskRecords). Deletes leave
 * tombstones, so every process's index sees them; housekeeping purges old ones.
 *
 * A value that is no task record at all (not JSON, no envelope) is copied to `damaged.<key>.<revision>`
 * of the project's records bucket, kept for inspection, and its key deleted by compare-and-swap:
 * out of the queue for good, logged once by the process that moved it.
 */
export class NatsTaskRecords implements TaskRecords {
  readonly index: NatsTaskIndex;
  private readonly records: NatsKvRecords<TaskBody>;
  private readonly reported = new Set<string>();

  constructor(
    private readonly link: NatsLink,
    private readonly kv: KV,
    /** The project's records bucket, where damaged task values and the parts of big ones are kept. */
    private readonly aside: KV,
    private readonly logger: LoggerService,
  ) {
    const parts = new ValueParts(link, aside, link.names.store('records'));
    this.records = new NatsKvRecords<TaskBody>(link, kv, link.names.store('tasks'), '', { format: TASK_FORMAT, revive: reviveTaskBody }, 'tombstone', parts);
    this.index = new NatsTaskIndex(link, this.records, (error) => this.reportCorrupt(error), logger);
  }

  async create(task: TaskRecord, seq: number): Promise<boolean> {
    const key = recordKey(task.id);
    const created = await this.records.create(key, { seq, task });
    if (created === undefined) return false;
    this.index.note(key, created);
    return true;
  }

  /** From the index once caught up (one barrier for the calls of a turn), not a read per id: an enqueue asks for every task it stores. */
  async exists(id: string): Promise<boolean> {
    await this.index.refreshAll();
    return this.index.holds(recordKey(id));
  }

  read(id: string): Promise<TaskVersion | undefined> {
    return this.readKey(recordKey(id));
  }

  readKey(key: string): Promise<TaskVersion | undefined> {
    return unlessMovedAside(this.records.read(key), CorruptRecordError, (error) => this.setAside(key, error));
  }

  async mutate(id: string, change: Change<TaskBody>, options: MutateOptions<TaskBody>): Promise<MutateOutcome<TaskBody>> {
    const key = recordKey(id);
    const mutated = this.records.mutate(key, change, { ...options, known: options.known ?? this.index.liveVersion(id) });
    const outcome = await unlessMovedAside(mutated, CorruptRecordError, (error) => this.setAside(key, error));
    if (outcome === undefined) return { kind: 'missing' };
    if (outcome.kind === 'written') this.index.note(key, outcome.after);
    else if (outcome.kind === 'deleted') this.index.note(key, undefined, outcome.before.gen);
    return outcome;
  }

  async withPending(): Promise<TaskVersion[]> {
    await this.index.refreshLive();
    const keys = this.index.pendingKeys();
    if (keys.length === 0) return [];
    const versions = await this.records.readMany(keys, (error) => this.reportCorrupt(error));
    return versions.filter((version): version is TaskVersion => hasPending(version));
  }

  /** Always true: telling for sure costs the read of the record that the caller makes next anyway. */
  async mayHavePending(): Promise<boolean> {
    return true;
  }

  reportCorrupt(error: CorruptRecordError): void {
    if (this.reported.has(error.location)) return;
    this.reported.add(error.location);
    this.logger.error(`Skipping a damaged task record: ${error.message}`);
  }

  reportSetAside(task: TaskRecord): void {
    const location = this.records.location(recordKey(task.id));
    if (this.reported.has(location)) return;
    this.reported.add(location);
    this.logger.error(`Task ${task.id} (${location}) is damaged: ${task.damaged}; it was set aside (ended failed) and will not run`);
  }

  writeError(error: unknown): unknown {
    return error;
  }

  /** Purges the tombstones every feed has seen by now (a newer write of the key stays). */
  async purgeTombstones(): Promise<void> {
    const stream = `KV_${this.records.bucket}`;
    await mapLimit(this.index.tombstonesBefore(Date.now() - TOMBSTONE_KEEP_MS), IO_CONCURRENCY, async ([key, seq]) => {
      await this.link.call('purging old task tombstones', () => this.link.jsm.streams.purge(stream, { filter: this.records.subject(key), seq: seq + 1 }));
      this.index.forgetTombstone(key, seq);
    });
  }

  /** Copies an unreadable value aside and deletes its key, if it is still that value. */
  private async setAside(key: string, error: CorruptRecordError): Promise<void> {
    const entry = await this.link.call(`read ${error.location}`, () => this.kv.get(key));
    if (!isValue(entry)) return;
    const aside = `damaged.${key}.${entry.revision}`;
    await this.link.call(`set aside ${error.location}`, () => this.aside.put(aside, entry.value));
    try {
      await this.link.call(`set aside ${error.location}`, () => this.kv.delete(key, { previousSeq: entry.revision }));
    } catch {
      // Another reader set it aside first, or a writer replaced it: either way it is out of the queue.
      return;
    }
    this.logger.error(`${error.message}; moved it out of the queue to ${this.link.names.store('records')}/${aside}`);
  }
}
