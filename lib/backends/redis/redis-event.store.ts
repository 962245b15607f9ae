import type { Observable } from 'rxjs';
import type { TaskEvent } from '../../models/event.model.js';
import type { EventQuery, EventStore } from '../../storage/event.store.js';
import type { Notifier } from '../../storage/notifier.js';
import { StoreLifecycle } from '../shared/store-lifecycle.js';
import type { RedisConnection } from './redis-connection.js';
import { RedisEventStream } from './redis-event-stream.js';
import { APPEND_EVENTS_LUA, INDEX_PAGE_LUA, PURGE_EVENTS_LUA, TASK_EVENTS_LUA } from './redis-records-events.lua.js';
import { EVENT_CLOCK_MARGIN_MS } from './redis-records.lua.js';
import { eventMatcher } from '../shared/event-matcher.js';
import { eventFromJson, eventToJson } from '../shared/record-json.js';
import { chunks, MAX_SCRIPT_ARGS, RedisScript } from './redis-scripts.js';

const APPEND = new RedisScript('append events', APPEND_EVENTS_LUA);
const TASK_EVENTS = new RedisScript("query a task's events", TASK_EVENTS_LUA);
const INDEX_PAGE = new RedisScript('query events', INDEX_PAGE_LUA);
const PURGE = new RedisScript('purge events', PURGE_EVENTS_LUA);

const DEFAULT_QUERY_LIMIT = 1000;
/** ARGV values per event in APPEND. */
const APPEND_ARGS = 4;
const APPEND_CHUNK = Math.floor((MAX_SCRIPT_ARGS - 2) / APPEND_ARGS);
/** Entries a query reads per page. */
const PAGE_SIZE = 500;
/** Events a purge script looks at at most, so none blocks the server for long. */
const PURGE_BATCH = 1_000;

/** The milliseconds and sequence of a stream id `<ms>-<seq>`. */
function streamTime(id: string): [number, number] {
  const dash = id.indexOf('-');
  return [Number(id.slice(0, dash)), Number(id.slice(dash + 1))];
}

/** Stream ids in append order (ids of one stream never repeat). */
function compareStreamIds(a: string, b: string): number {
  const [aMs, aSeq] = streamTime(a);
  const [bMs, bSeq] = streamTime(b);
  return aMs - bMs || aSeq - bSeq;
}

interface Window {
  readonly since: number;
  readonly until: number;
  readonly descending: boolean;
  readonly limit: number;
  /** How far from its stream time an entry's timestamp may lie (events:skew when the query began). */
  skew: number;
}

interface Found {
  readonly id: string;
  readonly event: TaskEvent;
}

/** The contract's order: timestamp, then append order. */
const byTime = (a: Found, b: Found): number => a.event.timestamp.getTime() - b.event.timestamp.getTime() || compareStreamIds(a.id, b.id);

type XRangeReply = [id: string, fields: string[]][];

/** The `e` field of an entry's fields. */
const entryJson = (fields: readonly string[]): string => {
  const at = fields.indexOf('e');
  return at >= 0 && at % 2 === 0 ? (fields[at + 1] ?? '') : '';
};

/**
 * The matches of a query read so far, at most `limit` of them kept: the first in the query's
 * order (timestamp, then append order; newest first for 'desc'). An entry read twice (an
 * off-clock one the stream read met too) counts once.
 */
class Collector {
  private kept: Found[] = [];
  private sorted = true;
  private readonly seen = new Set<string>();
  private readonly order: (a: Found, b: Found) => number;

  constructor(
    private readonly window: Window,
    private readonly matches: (event: TaskEvent) => boolean,
    private readonly stream: string,
  ) {
    this.order = window.descending ? (a, b) => byTime(b, a) : byTime;
  }

  /** Decodes an entry; whether it is a new match. */
  take(id: string, json: string): boolean {
    if (this.seen.has(id)) return false;
    this.seen.add(id);
    const event = eventFromJson(json, `event ${id} of ${this.stream}`);
    if (!this.matches(event)) return false;
    this.kept.push({ id, event });
    this.sorted = false;
    if (this.kept.length >= 2 * this.window.limit) this.prune();
    return true;
  }

  /**
   * Whether the first `limit` matches are all found, once the stream (or a schedule's index) was
   * read in the query's order up to stream time `lastMs`: no entry further on but an off-clock one
   * (read apart) can come before them.
   */
  settled(lastMs: number): boolean {
    this.prune();
    const last = this.kept[this.window.limit - 1];
    if (last === undefined) return false;
    const at = last.event.timestamp.getTime();
    return this.window.descending ? lastMs + this.window.skew < at : lastMs - this.window.skew > at;
  }

  events(): TaskEvent[] {
    this.prune();
    return this.kept.map((entry) => entry.event);
  }

  private prune(): void {
    if (!this.sorted) this.kept.sort(this.order);
    this.sorted = true;
    if (this.kept.length > this.window.limit) this.kept.length = this.window.limit;
  }
}

/**
 * Lifecycle events in the project's stream (`events`, one entry per event, the order of the
 * entries the append order). An event's place in time is its stream id: XADD '*' ids carry the
 * server's milliseconds, and an event whose timestamp lies within EVENT_CLOCK_MARGIN_MS of them is
 * found by reading the stream (or a schedule's ZSET of ids by those milliseconds) wider than the
 * asked bounds by the widest such distance yet seen (`events:skew`, milliseconds as a rule) and
 * filtering on the timestamp. An event further off (another clock, a
 * timestamp given by hand) is indexed by its timestamp in `events:odd`, which every query without
 * a task reads too. A task's timeline is a string of its stream ids (`events:task:<id>`): one GET
 * reads it. The stream is bounded by storageOptions.eventsMaxLen (see redis-records.lua.ts);
 * stream() reads it from the end (RedisEventStream).
 */
export class RedisEventStore implements EventStore {
  private readonly lifecycle = new StoreLifecycle('RedisEventStore');
  private readonly eventStream: RedisEventStream;

  constructor(
    private readonly connection: RedisConnection,
    /** The engine's notifier (events need none: the stream is read directly). */
    readonly notifier: Notifier,
    private readonly release: () => Promise<void>,
  ) {
    this.eventStream = new RedisEventStream(connection);
  }

  async append(events: readonly TaskEvent[]): Promise<void> {
    this.lifecycle.assertOpen('append');
    if (events.length === 0) return;
    const { keys, settings } = this.connection;
    await this.lifecycle.whileOpen('append', async () => {
      for (const chunk of chunks(events, APPEND_CHUNK)) {
        const args: (string | number)[] = [keys.P, settings.eventsMaxLen];
        for (const event of chunk) args.push(eventToJson(event), event.taskId ?? '', event.scheduleId ?? '', event.timestamp.getTime());
        await this.connection.run(APPEND, [keys.events], args, `append ${chunk.length} event(s)`);
      }
    });
  }

  async query(query: EventQuery = {}): Promise<TaskEvent[]> {
    this.lifecycle.assertOpen('query');
    const limit = query.limit ?? DEFAULT_QUERY_LIMIT;
    if (limit <= 0) return [];
    const since = query.since?.getTime() ?? Number.NEGATIVE_INFINITY;
    const until = query.until?.getTime() ?? Number.POSITIVE_INFINITY;
    const matches = eventMatcher(query);
    const window: Window = { since, until, descending: query.order === 'desc', limit, skew: EVENT_CLOCK_MARGIN_MS };
    const found = new Collector(window, matches, this.connection.keys.events);
    await this.lifecycle.whileOpen('query', async () => {
      if (query.taskId !== undefined) await this.readTimeline(query.taskId, found);
      else {
        await this.readByTime(query.scheduleId, window, found);
        await this.readOffClock(window, found);
      }
    });
    return found.events();
  }

  async purgeOlderThan(cutoff: Date): Promise<number> {
    this.lifecycle.assertOpen('purgeOlderThan');
    const { keys } = this.connection;
    let purged = 0;
    let cursor = '-';
    do {
      const [deleted, next] = await this.lifecycle.whileOpen('purgeOlderThan', () =>
        this.connection.run<[number, string]>(PURGE, [keys.events], [keys.P, cutoff.getTime(), PURGE_BATCH, cursor], 'purgeOlderThan'),
      );
      purged += deleted;
      cursor = next;
    } while (cursor !== '');
    return purged;
  }

  private async readTimeline(taskId: string, found: Collector): Promise<void> {
    const { keys } = this.connection;
    const reply = await this.connection.run<string[]>(TASK_EVENTS, [keys.eventsOfTask(taskId)], [keys.P], `query the events of task ${taskId}`);
    for (let i = 0; i < reply.length; i += 2) found.take(reply[i]!, reply[i + 1]!);
  }

  /**
   * Reads the entries whose stream time lies within the margin of the window (the stream, or the
   * schedule's ZSET), a page at a time in the query's order, until `limit` matches are found and
   * no unread entry can come before the last of them.
   */
  private async readByTime(scheduleId: string | undefined, window: Window, found: Collector): Promise<void> {
    const { keys } = this.connection;
    const skew = await this.connection.call('query events', (client) => client.get(`${keys.P}events:skew`));
    const recorded = Number(skew ?? 0);
    window.skew = Number.isFinite(recorded) ? Math.min(EVENT_CLOCK_MARGIN_MS, recorded) : EVENT_CLOCK_MARGIN_MS;
    const low = Math.max(0, window.since - window.skew);
    const high = window.until + window.skew;
    const lowScore = Number.isFinite(low) ? String(low) : '-inf';
    const highScore = Number.isFinite(high) ? String(high) : '+inf';
    let start = Number.isFinite(low) ? `${low}-0` : '-';
    let end = Number.isFinite(high) ? String(high) : '+';
    let offset = 0;
    for (;;) {
      let lastMs: number;
      let full: boolean;
      if (scheduleId === undefined) {
        const page = await this.connection.call('query events', (client) =>
          window.descending ? client.xrevrange(keys.events, end, start, 'COUNT', PAGE_SIZE) : client.xrange(keys.events, start, end, 'COUNT', PAGE_SIZE),
        ) as XRangeReply;
        for (const [id, fields] of page) found.take(id, entryJson(fields));
        full = page.length === PAGE_SIZE;
        if (page.length === 0) return;
        const last = page[page.length - 1]![0];
        lastMs = streamTime(last)[0];
        if (window.descending) end = `(${last}`;
        else start = `(${last}`;
      } else {
        const args = [keys.P, lowScore, highScore, window.descending ? 'desc' : 'asc', offset, PAGE_SIZE];
        const reply = await this.connection.run<(string | number)[]>(INDEX_PAGE, [keys.eventsOfSchedule(scheduleId)], args, `query the events of schedule ${scheduleId}`);
        for (let i = 2; i < reply.length; i += 2) found.take(String(reply[i]), String(reply[i + 1]));
        offset += Number(reply[0]);
        if (reply[1] === '') return;
        lastMs = Number(reply[1]);
        full = true;
      }
      if (!full || found.settled(lastMs)) return;
    }
  }

  /** The off-clock events in the window, in the query's order, until `limit` of them match. */
  private async readOffClock(window: Window, found: Collector): Promise<void> {
    const { keys } = this.connection;
    const low = Number.isFinite(window.since) ? String(window.since) : '-inf';
    const high = Number.isFinite(window.until) ? `(${window.until}` : '+inf';
    let matched = 0;
    let offset = 0;
    for (;;) {
      const args = [keys.P, low, high, window.descending ? 'desc' : 'asc', offset, PAGE_SIZE];
      const reply = await this.connection.run<(string | number)[]>(INDEX_PAGE, [`${keys.P}events:odd`], args, 'query events');
      for (let i = 2; i < reply.length; i += 2) if (found.take(String(reply[i]), String(reply[i + 1]))) matched += 1;
      offset += Number(reply[0]);
      if (reply[1] === '' || matched >= window.limit) return;
    }
  }

  stream(): Observable<TaskEvent> {
    return this.eventStream.observable;
  }

  async close(): Promise<void> {
    if (!this.lifecycle.close()) return;
    await this.eventStream.complete();
    await this.release();
  }
}
