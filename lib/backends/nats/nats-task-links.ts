import type { LoggerService } from '@nestjs/common';
import type { JsMsg } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import { IO_CONCURRENCY, mapLimit } from '../kv/kv-concurrency.js';
import { CLAIM_STALE_MS, CorruptRecordError } from '../kv/kv-records.js';
import { recordKey, type TaskVersion } from '../kv/kv-task-codec.js';
import { dependentsOf, type TaskLinks } from '../kv/kv-task-records.js';
import type { NatsLink } from './nats-connection.js';
import { FeedBarrier } from './nats-feed-barrier.js';
import { NatsFeed } from './nats-feed.js';
import { TOMBSTONE_KEEP_MS, type NatsTaskRecords } from './nats-task-records.js';

interface LinkValue {
  child: string;
  at: number;
}

/** The barrier entry of the links feed: two tokens under `links`, which no link (three) has. */
const SYNC_KEY = 'links._omniq-sync';

/**
 * Which tasks depend on which (see TaskLinks): a key `links.<parentKey>.<childKey>` of the
 * project's records bucket per link, holding the child's id and when the link was made.
 *
 * Every success asks for the task's dependents, and most tasks have none: so the links are kept
 * in memory, fed by an ordered consumer over `links.>` (the last value of each at start, then
 * every write), and `children` waits for the feed to pass a barrier (FeedBarrier: every link
 * made before the call is then known) before it reads each child's record. A filtered read of
 * the bucket per call would make and delete a consumer on the server each time.
 *
 * Links are made before their child is stored; one whose child is missing was left by an enqueue
 * or purge that died half-way: skipped, and removed once older than CLAIM_STALE_MS. Removing a
 * link deletes its key (a tombstone, so every process's feed forgets it); housekeeping purges
 * the tombstones every feed has long seen.
 */
export class NatsTaskLinks implements TaskLinks {
  private readonly bucket: string;
  /** parent key -> (link key -> link). */
  private readonly byParent = new Map<string, Map<string, LinkValue | undefined>>();
  /** Link keys whose last entry is a delete: its sequence and when it was seen. */
  private readonly tombstones = new Map<string, { seq: number; seenAt: number }>();
  private readonly feed: NatsFeed;
  private readonly barrier: FeedBarrier;

  constructor(
    private readonly nats: NatsLink,
    private readonly kv: KV,
    private readonly tasks: NatsTaskRecords,
    logger: LoggerService,
  ) {
    this.bucket = nats.names.store('records');
    const prefix = `$KV.${this.bucket}.`;
    this.barrier = new FeedBarrier(nats, `${prefix}${SYNC_KEY}`, 'catching up with the task links');
    this.feed = new NatsFeed(nats, { stream: `KV_${this.bucket}`, filter: `${prefix}links.>`, from: 'last_per_subject', what: `the task links in ${this.bucket}` }, (message) => this.fed(message, prefix.length), logger);
  }

  /** Starts the feed (every link, then every change). */
  start(): Promise<void> {
    return this.feed.start();
  }

  async close(): Promise<void> {
    await this.feed.close();
    this.barrier.close('NatsEngine');
  }

  async link(childId: string, parentIds: readonly string[]): Promise<void> {
    const value = JSON.stringify({ child: childId, at: Date.now() } satisfies LinkValue);
    await mapLimit(parentIds, IO_CONCURRENCY, (parentId) => this.nats.call(`link task ${childId} under ${parentId}`, () => this.kv.put(this.keyOf(parentId, childId), value)));
  }

  async unlink(childId: string, parentIds: readonly string[]): Promise<void> {
    await mapLimit(parentIds, IO_CONCURRENCY, (parentId) => this.drop(this.keyOf(parentId, childId)));
  }

  async children(parentId: string): Promise<TaskVersion[]> {
    await this.barrier.caughtUp();
    const links = this.byParent.get(recordKey(parentId));
    if (links === undefined) return [];
    const children = await mapLimit([...links], IO_CONCURRENCY, async ([key, value]) => {
      if (value === undefined) {
        await this.drop(key);
        return undefined;
      }
      const version = await this.readChild(value.child);
      if (version === undefined && Date.now() - value.at > CLAIM_STALE_MS) await this.drop(key);
      return version === 'corrupt' ? undefined : version;
    });
    // A link can outlive its child, whose id a new task then took: the record decides.
    return dependentsOf(parentId, children);
  }

  private keyOf(parentId: string, childId: string): string {
    return `links.${recordKey(parentId)}.${recordKey(childId)}`;
  }

  private fed(message: JsMsg, prefixLength: number): void {
    const key = message.subject.slice(prefixLength);
    const parentKey = key.split('.')[1];
    if (key !== SYNC_KEY && parentKey !== undefined) {
      const operation = message.headers?.get('KV-Operation');
      if (operation === 'DEL' || operation === 'PURGE') {
        this.forget(key);
        this.tombstones.set(key, { seq: message.seq, seenAt: Date.now() });
      } else {
        this.tombstones.delete(key);
        let links = this.byParent.get(parentKey);
        if (links === undefined) this.byParent.set(parentKey, (links = new Map()));
        links.set(key, parseLink(message.string()));
      }
    }
    this.barrier.passed(message.seq);
  }

  private forget(key: string): void {
    const parentKey = key.split('.')[1]!;
    const links = this.byParent.get(parentKey);
    if (links?.delete(key) && links.size === 0) this.byParent.delete(parentKey);
  }

  private async readChild(id: string): Promise<TaskVersion | undefined | 'corrupt'> {
    try {
      return await this.tasks.read(id);
    } catch (error) {
      if (!(error instanceof CorruptRecordError)) throw error;
      this.tasks.reportCorrupt(error);
      return 'corrupt';
    }
  }

  /** Purges the link tombstones every feed has seen by now (a newer link of the key stays). */
  async purgeTombstones(): Promise<void> {
    const before = Date.now() - TOMBSTONE_KEEP_MS;
    const old = [...this.tombstones].filter(([, { seenAt }]) => seenAt < before);
    await mapLimit(old, IO_CONCURRENCY, async ([key, { seq }]) => {
      await this.nats.call('purging old link tombstones', () => this.nats.jsm.streams.purge(`KV_${this.bucket}`, { filter: `$KV.${this.bucket}.${key}`, seq: seq + 1 }));
      if (this.tombstones.get(key)?.seq === seq) this.tombstones.delete(key);
    });
  }

  private async drop(key: string): Promise<void> {
    await this.nats.call(`remove the link ${key}`, () => this.kv.delete(key));
    this.forget(key);
  }
}

/** A link's value; undefined for one that is not (nothing to keep it for). */
function parseLink(text: string): LinkValue | undefined {
  try {
    const value = JSON.parse(text) as Partial<LinkValue> | null;
    return typeof value?.child === 'string' && typeof value.at === 'number' ? { child: value.child, at: value.at } : undefined;
  } catch {
    return undefined;
  }
}
