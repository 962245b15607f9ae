import type { LoggerService } from '@nestjs/common';
import type { JsMsg } from '@nats-io/jetstream';
import { IndexedHeap, type HeapEntry } from '../shared/indexed-heap.js';
import type { NatsLink } from './nats-connection.js';
import { tokenId } from './nats-names.js';
import { NatsFeed } from './nats-feed.js';
import { NatsStorageError } from './nats-storage.error.js';

/** The headers a result's KV entry carries, so a headers-only read indexes it without its value. */
export const RESULT_HEADERS = { completedAt: 'Omniq-Completed-At', expiresAt: 'Omniq-Expires-At', schedule: 'Omniq-Schedule', parts: 'Omniq-Parts' } as const;

/** The key of the barrier entry: it holds a dot, which no result key (one id token) does. */
export const SYNC_KEY = '_omniq.sync';

interface Timed extends HeapEntry {
  readonly taskId: string;
  readonly at: number;
}

/** What the index knows of one stored result (its latest version). */
export interface IndexedResult {
  readonly taskId: string;
  /** The KV revision of the version indexed. */
  readonly revision: number;
  readonly completedAt: number;
  readonly scheduleId: string | undefined;
  /** The value is stored in parts (see ValueParts), to remove with it. */
  readonly hasParts: boolean;
  readonly byExpiry: Timed | undefined;
  readonly byCompletion: Timed;
}

interface SeqWaiter {
  readonly seq: number;
  resolve(): void;
}

const byTime = (a: Timed, b: Timed): boolean => a.at < b.at;

/**
 * An in-memory index of the results bucket (task id → completion, expiry, schedule, revision),
 * fed by a headers-only ordered consumer over the bucket's stream (NatsFeed), started at the first call that
 * needs it (the maintenance leader's purges, latestForSchedule) and then kept up to date. So a
 * purge finds what to delete without reading the bucket, and only the instances that query pay
 * for the feed.
 *
 * An entry may be stale (another instance deleted the result with a stream purge, which sends no
 * message): the callers check each against the bucket before they count it. `caughtUp` makes it
 * reflect every write made before the call, by writing a barrier entry and waiting until the
 * feed has passed it.
 */
export class NatsResultIndex {
  private readonly results = new Map<string, IndexedResult>();
  private readonly bySchedule = new Map<string, Set<string>>();
  readonly expiry = new IndexedHeap<Timed>(byTime);
  readonly completion = new IndexedHeap<Timed>(byTime);
  private readonly feed: NatsFeed;
  private started: Promise<void> | undefined;
  private processed = 0;
  private readonly waiters = new Set<SeqWaiter>();

  constructor(
    private readonly link: NatsLink,
    private readonly bucket: string,
    private readonly logger: LoggerService,
  ) {
    const options = { stream: `KV_${bucket}`, filter: `${this.subjectPrefix}>`, from: 'last_per_subject' as const, headersOnly: true, what: `the results bucket ${bucket}` };
    this.feed = new NatsFeed(link, options, (message) => this.fed(message), logger);
  }

  private get subjectPrefix(): string {
    return `$KV.${this.bucket}.`;
  }

  /** Starts the feed if needed, and resolves once it has indexed every write made before this call. */
  async caughtUp(operation: string): Promise<void> {
    // A first start that failed (the server unreachable) is tried again by the next call.
    this.started ??= this.feed.start().catch((error: unknown) => {
      this.started = undefined;
      throw error;
    });
    await this.started;
    const ack = await this.link.call(operation, () => this.link.publish(`${this.subjectPrefix}${SYNC_KEY}`, ''));
    if (this.processed >= ack.seq) return;
    const ms = this.link.settings.requestTimeoutMs;
    await new Promise<void>((resolve, reject) => {
      const waiter: SeqWaiter = {
        seq: ack.seq,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      };
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        reject(new NatsStorageError(this.link.shownUrl, operation, new Error(`the results index did not catch up within storageOptions.requestTimeoutMs (${ms} ms)`)));
      }, ms);
      this.waiters.add(waiter);
    });
  }

  get(taskId: string): IndexedResult | undefined {
    return this.results.get(taskId);
  }

  /** The indexed results of a schedule. */
  ofSchedule(scheduleId: string): IndexedResult[] {
    const ids = this.bySchedule.get(scheduleId);
    return ids ? [...ids].map((id) => this.results.get(id)!) : [];
  }

  /** Drops a result from the index (deleted here, or found gone): only the version at `revision` or an older one. */
  forget(taskId: string, revision = Number.POSITIVE_INFINITY): void {
    const indexed = this.results.get(taskId);
    if (!indexed || indexed.revision > revision) return;
    this.results.delete(taskId);
    if (indexed.byExpiry) this.expiry.remove(indexed.byExpiry);
    this.completion.remove(indexed.byCompletion);
    if (indexed.scheduleId !== undefined) {
      const ids = this.bySchedule.get(indexed.scheduleId)!;
      ids.delete(taskId);
      if (ids.size === 0) this.bySchedule.delete(indexed.scheduleId);
    }
  }

  async close(): Promise<void> {
    await this.feed.close();
  }

  private fed(message: JsMsg): void {
    this.take(message);
    this.processed = message.seq;
    for (const waiter of [...this.waiters]) {
      if (waiter.seq > this.processed) continue;
      this.waiters.delete(waiter);
      waiter.resolve();
    }
  }

  private take(message: JsMsg): void {
    const key = message.subject.slice(this.subjectPrefix.length);
    // Result keys are one token: the barrier and the parts of big values hold dots.
    if (key.includes('.')) return;
    const taskId = tokenId(key);
    if (taskId === undefined) return;
    this.forget(taskId);
    const operation = message.headers?.get('KV-Operation');
    if (operation === 'DEL' || operation === 'PURGE') return;
    const completedAt = Number(message.headers?.get(RESULT_HEADERS.completedAt));
    if (!Number.isFinite(completedAt)) {
      this.logger.warn(`The result at ${message.subject} (revision ${message.seq}) has no ${RESULT_HEADERS.completedAt} header: purges and latestForSchedule pass it over`);
      return;
    }
    const expires = message.headers?.get(RESULT_HEADERS.expiresAt);
    const schedule = message.headers?.get(RESULT_HEADERS.schedule);
    const scheduleId = schedule ? tokenId(schedule) : undefined;
    const indexed: IndexedResult = {
      taskId,
      revision: message.seq,
      completedAt,
      scheduleId,
      hasParts: message.headers?.has(RESULT_HEADERS.parts) === true,
      byExpiry: expires ? { heapIndex: -1, taskId, at: Number(expires) } : undefined,
      byCompletion: { heapIndex: -1, taskId, at: completedAt },
    };
    this.results.set(taskId, indexed);
    if (indexed.byExpiry) this.expiry.push(indexed.byExpiry);
    this.completion.push(indexed.byCompletion);
    if (scheduleId !== undefined) {
      let ids = this.bySchedule.get(scheduleId);
      if (!ids) this.bySchedule.set(scheduleId, (ids = new Set()));
      ids.add(taskId);
    }
  }
}
