import type { TaskEvent } from '../../models/event.model.js';
import { LazyEventStream } from '../shared/lazy-event-stream.js';
import type { RedisClient, RedisConnection } from './redis-connection.js';
import { eventFromJson } from '../shared/record-json.js';

/** Entries per XREAD. */
const READ_COUNT = 1_000;
/** How long one XREAD blocks at most: a reply (even an empty one) comes at least this often. */
const BLOCK_MS = 5_000;
/** A failed read (the server unreachable) is tried again after this. */
const RETRY_MS = 1_000;

/**
 * Drops the reading connection at once (a QUIT would wait behind the blocked XREAD, which the
 * drop rejects); resolves once it has ended. A client waiting to reconnect has no socket: ioredis
 * only cancels the reconnection, and no 'end' comes.
 */
function dropped(reader: RedisClient): Promise<void> {
  const waiting = ['end', 'close', 'reconnecting', 'wait'].includes(reader.status);
  const ended = waiting ? Promise.resolve() : new Promise<void>((resolve) => reader.once('end', () => resolve()));
  reader.disconnect();
  return ended;
}

type XReadReply = [stream: string, entries: [id: string, fields: string[]][]][] | null;

/**
 * The event store's stream: every entry appended to the project's events stream while someone
 * subscribes, by this engine or any other, in append order, read with XREAD BLOCK on a
 * connection of its own (opened at the first subscription, closed when the last one leaves).
 *
 * Reading starts after the newest entry at subscription (see newestId), so what this process
 * appends after subscribing is read.
 */
export class RedisEventStream extends LazyEventStream {
  /** Grows at every start and stop: a read of an earlier subscription emits nothing. */
  private period = 0;
  private reader: RedisClient | undefined;
  private closing: Promise<void> | undefined;
  private wake: (() => void) | undefined;

  constructor(private readonly connection: RedisConnection) {
    super();
  }

  /** Stops reading, closes the reading connection and completes every subscriber. */
  async complete(): Promise<void> {
    if (this.finish()) await this.closing;
  }

  protected start(): void {
    const period = ++this.period;
    void this.readFrom(period, this.newestId());
  }

  /**
   * The id of the newest entry ('0-0' for none), asked at once on the shared client rather than
   * after a tick of `connection.call`: a command this process sends after subscribing is then
   * behind it on the same connection. A failure is only retried, never reported.
   */
  private newestId(): Promise<string> {
    const { client, keys } = this.connection;
    return client.xrevrange(keys.events, '+', '-', 'COUNT', 1).then(([newest]) => newest?.[0] ?? '0-0');
  }

  protected stop(): void {
    this.period += 1;
    this.wake?.();
    const reader = this.reader;
    this.reader = undefined;
    if (reader) this.closing = Promise.all([this.closing, dropped(reader)]).then(() => undefined);
  }

  private async readFrom(period: number, newest: Promise<string>): Promise<void> {
    const { events } = this.connection.keys;
    let from: string | undefined;
    let asking: Promise<string> | undefined = newest;
    while (from === undefined && period === this.period) {
      try {
        from = await (asking ?? this.newestId());
      } catch {
        await this.pause(period);
      }
      asking = undefined;
    }
    if (period !== this.period) return;
    const reader = (this.reader = this.connection.duplicate());
    // Its connection failures show as failed reads, retried below (an application's client logs none of its own).
    reader.on('error', () => undefined);
    // Well within the client's command timeout, which would otherwise cut every idle read short.
    const block = Math.max(1, Math.min(BLOCK_MS, Math.floor(this.connection.settings.commandTimeoutMs / 2)));
    while (period === this.period) {
      // The connection refuses commands until it is ready (no offline queue): wait for it instead of failing.
      if (reader.status !== 'ready') {
        await this.pause(period, reader);
        continue;
      }
      try {
        const reply = (await reader.xread('COUNT', READ_COUNT, 'BLOCK', block, 'STREAMS', events, from!)) as XReadReply;
        for (const [id, fields] of reply?.[0]?.[1] ?? []) {
          if (period !== this.period) return;
          from = id;
          const event = this.decode(id, fields);
          if (event) this.emit(event);
        }
      } catch {
        if (period === this.period) await this.pause(period);
      }
    }
  }

  /** The entry's event; undefined for a damaged one, which a live stream skips (query reports it). */
  private decode(id: string, fields: readonly string[]): TaskEvent | undefined {
    const at = fields.indexOf('e');
    if (at < 0 || at + 1 >= fields.length) return undefined;
    try {
      return eventFromJson(fields[at + 1]!, `event ${id}`);
    } catch {
      return undefined;
    }
  }

  /** Waits RETRY_MS, or less when the stream stops or `reader` becomes ready meanwhile. */
  private pause(period: number, reader?: RedisClient): Promise<void> {
    if (period !== this.period) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timer = setTimeout(done, RETRY_MS);
      reader?.once('ready', done);
      function done(): void {
        clearTimeout(timer);
        reader?.off('ready', done);
        resolve();
      }
      this.wake = done;
    });
  }
}
