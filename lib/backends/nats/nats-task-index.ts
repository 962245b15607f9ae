import type { LoggerService } from '@nestjs/common';
import type { JsMsg } from '@nats-io/jetstream';
import type { TaskStatus } from '../../models/task.model.js';
import { CorruptRecordError } from '../kv/kv-records.js';
import { hasPending, isLive, recordKey, type TaskBody, type TaskVersion } from '../kv/kv-task-codec.js';
import { summarize, type TaskIndex, type TaskSummary } from '../kv/kv-task-records.js';
import type { NatsLink } from './nats-connection.js';
import { REPLACED, type NatsKvRecords } from './nats-kv-records.js';
import { FeedBarrier } from './nats-feed-barrier.js';
import { NatsFeed } from './nats-feed.js';

/** The key of the barrier entry: it holds a dot, which no task key does. */
const SYNC_KEY = '_omniq.sync';


/**
 * This process's view of the task bucket (see TaskIndex), fed by an ordered consumer over the
 * bucket's stream (NatsFeed): the last version of every key at start, then every write as it
 * lands, in order. Full versions of the live tasks are kept, summaries of the final ones.
 *
 * `refreshLive` / `refreshAll` write a barrier entry and wait until the feed has passed it (FeedBarrier): every
 * write that landed before the call began is then indexed (the stream delivers in order). Calls
 * in one turn of the event loop share one barrier. Writes this process makes are noted at once
 * (`note`); the feed's copy of them, when it comes, changes nothing.
 *
 * The deletes the feed sees leave tombstones in the bucket; `tombstonesBefore` names the old
 * ones, for housekeeping to purge.
 */
export class NatsTaskIndex implements TaskIndex {
  private readonly live = new Map<string, TaskVersion>();
  private readonly final = new Map<string, TaskSummary>();
  /** The newest revision applied per key (a write noted or fed, a delete included): older ones fed later change nothing. */
  private readonly applied = new Map<string, number>();
  /** Keys whose newest indexed version holds pending effects. */
  private readonly pending = new Set<string>();
  /** Keys whose newest value is unreadable (not yet set aside): stored, though in neither map. */
  private readonly unreadable = new Set<string>();
  /** Keys whose last entry is a delete: its revision and when it was seen. */
  private readonly tombstones = new Map<string, { seq: number; seenAt: number }>();
  private readonly barrier: FeedBarrier;
  private readonly feed: NatsFeed;

  constructor(
    link: NatsLink,
    private readonly records: NatsKvRecords<TaskBody>,
    private readonly onCorrupt: (error: CorruptRecordError) => void,
    logger: LoggerService,
  ) {
    const { bucket } = records;
    this.barrier = new FeedBarrier(link, `$KV.${bucket}.${SYNC_KEY}`, 'catching up with the task bucket');
    this.feed = new NatsFeed(link, { stream: `KV_${bucket}`, filter: `$KV.${bucket}.>`, from: 'last_per_subject', what: `the task bucket ${bucket}` }, (message) => this.fed(message), logger);
  }

  /** Starts the feed (the current version of every task, then every change). */
  start(): Promise<void> {
    return this.feed.start();
  }

  refreshLive(): Promise<void> {
    return this.barrier.caughtUp();
  }

  refreshAll(): Promise<void> {
    return this.refreshLive();
  }

  versions(): TaskVersion[] {
    return [...this.live.values()];
  }

  liveVersion(id: string): TaskVersion | undefined {
    return this.live.get(recordKey(id));
  }

  summaries(): TaskSummary[] {
    const all = [...this.final.values()];
    for (const [key, version] of this.live) all.push(summarize(key, version));
    return all;
  }

  /** Whether the key holds a value, readable or not, as of the last refresh (see TaskRecords.exists). */
  holds(key: string): boolean {
    return this.live.has(key) || this.final.has(key) || this.unreadable.has(key);
  }

  isLive(id: string): boolean {
    return this.live.has(recordKey(id));
  }

  finalStatus(id: string): TaskStatus | undefined {
    return this.final.get(recordKey(id))?.status;
  }

  /** The keys whose indexed version holds pending effects. */
  pendingKeys(): string[] {
    return [...this.pending];
  }

  /** Tombstones seen longer ago than `ms`: key and revision. */
  tombstonesBefore(ms: number): [key: string, seq: number][] {
    const found: [string, number][] = [];
    for (const [key, { seq, seenAt }] of this.tombstones) if (seenAt < ms) found.push([key, seq]);
    return found;
  }

  /** Forgets a tombstone housekeeping purged. */
  forgetTombstone(key: string, seq: number): void {
    if (this.tombstones.get(key)?.seq === seq) this.tombstones.delete(key);
  }

  /** Records a version this process wrote (undefined: it deleted the version at `gen`). */
  note(key: string, version: TaskVersion | undefined, gen = version?.gen ?? 0): void {
    if ((this.applied.get(key) ?? 0) > gen) return;
    this.applied.set(key, gen);
    this.unreadable.delete(key);
    this.live.delete(key);
    this.final.delete(key);
    this.pending.delete(key);
    if (version === undefined) return;
    if (isLive(version)) this.live.set(key, version);
    else this.final.set(key, summarize(key, version));
    if (hasPending(version)) this.pending.add(key);
  }

  async close(): Promise<void> {
    await this.feed.close();
    this.barrier.close('NatsEngine');
  }

  private async fed(message: JsMsg): Promise<void> {
    await this.take(message);
    this.barrier.passed(message.seq);
  }

  private async take(message: JsMsg): Promise<void> {
    const key = message.subject.slice(`$KV.${this.records.bucket}.`.length);
    if (key === SYNC_KEY || (this.applied.get(key) ?? 0) >= message.seq) return;
    const operation = message.headers?.get('KV-Operation');
    if (operation === 'DEL' || operation === 'PURGE') {
      this.note(key, undefined, message.seq);
      this.tombstones.set(key, { seq: message.seq, seenAt: Date.now() });
      return;
    }
    this.tombstones.delete(key);
    try {
      const version = await this.records.decode(key, message.seq, message.string());
      // Replaced already (its parts removed by the next writer): the feed brings the newer version next.
      if (version !== REPLACED) this.note(key, version);
    } catch (error) {
      if (!(error instanceof CorruptRecordError)) throw error;
      // Read as missing until someone reads the record and sets it aside (see NatsTaskRecords.read).
      this.note(key, undefined, message.seq);
      this.unreadable.add(key);
      this.onCorrupt(error);
    }
  }
}
