import type { LoggerService } from '@nestjs/common';
import type { Observable } from 'rxjs';
import type { TaskEvent } from '../../models/event.model.js';
import type { EventQuery, EventStore } from '../../storage/event.store.js';
import { StoreLifecycle } from '../shared/store-lifecycle.js';
import type { OutboxView } from '../kv/kv-outbox-view.js';
import type { NatsLink } from './nats-connection.js';
import { NatsEventStream } from './nats-event-stream.js';
import { Collector, DEFAULT_QUERY_LIMIT, ON_CLOCK_MS, WIDEN_MS, type Found } from './nats-event-window.js';
import { eventMatcher } from '../shared/event-matcher.js';
import { eventFromJson, eventToJson } from '../shared/record-json.js';
import { jetStreamCode, JS_NO_MESSAGE_FOUND } from './nats-storage.error.js';
import { readRange, type StreamEntry } from './nats-stream-reader.js';

const MS = 1_000_000;
/** The stream drops repeated message ids within this window (server memory grows with it: one id per event appended in it). */
const DEDUP_WINDOW_MS = 20_000;
/** An event older than this at its append may repeat one appended before the window: its task's events are checked first. */
const CHECK_AFTER_MS = DEDUP_WINDOW_MS / 2;
/** Appends kept in flight at once (pipelined on the one connection, in order). */
const IN_FLIGHT = 256;
/** A backward read starts with chunks of this many sequences, doubling up to MAX_CHUNK. */
const FIRST_CHUNK = 1_000;
const MAX_CHUNK = 16_000;
/** The header of an off-clock copy naming the sequence of the event's own message. */
const MAIN_SEQ = 'Omniq-Main-Seq';

interface OffClockCopy {
  readonly seq: number;
  readonly mainSeq: number;
  readonly event: TaskEvent;
}

/**
 * Lifecycle events in the project's stream `events`, one message per event on the subject
 * `ev.e.<task>.<schedule>` (id tokens, see NatsNames), so a task's timeline and a schedule's
 * events are filtered reads. The stream keeps storageOptions.eventsMaxAgeMs and
 * eventsMaxMessages; its sequence is the append order.
 *
 * Time: a message's place is the server's time when it was stored, and an event's timestamp lies
 * within WIDEN_MS of it as a rule (appended as it happens, clocks in step: the offset to the
 * server's clock is measured at open). Time-bounded queries read that much wider and filter on
 * the timestamp, a descending one backwards in chunks. An event appended further from its
 * timestamp (after an outage, a recovery, a timestamp set by hand) gets a copy on `ev.o.…`, which
 * every query without a task reads too.
 *
 * Appends are idempotent by event id (the outbox may append an entry's events again after a
 * crash): each message carries the id as Nats-Msg-Id, which the stream drops when repeated
 * within DEDUP_WINDOW_MS, and an event appended longer than CHECK_AFTER_MS after its timestamp
 * is looked for in its task's (or schedule's) events first.
 *
 * `query` reads through the task outboxes (see OutboxView), as the file backend does: a task's
 * end and its events appear at one instant.
 */
export class NatsEventStore implements EventStore {
  private readonly lifecycle = new StoreLifecycle('NatsEventStore');
  private readonly eventStream: NatsEventStream;
  private readonly streamName: string;

  private constructor(
    private readonly link: NatsLink,
    /** The task outboxes, read through (absent: events stored on their own, outside a task engine). */
    private readonly outbox: OutboxView | undefined,
    /** The server's clock minus this process's, as measured at open (ms). */
    private readonly clockOffsetMs: number,
    private readonly release: () => Promise<void>,
    logger: LoggerService,
  ) {
    this.streamName = link.names.eventsStream;
    this.eventStream = new NatsEventStream(link, logger);
  }

  /** Creates the project's events stream if needed (or brings its limits to the settings) and measures the server's clock. */
  static async open(link: NatsLink, outbox: OutboxView | undefined, release: () => Promise<void>, logger: LoggerService): Promise<NatsEventStore> {
    const { names, settings } = link;
    const maxAge = settings.eventsMaxAgeMs;
    await link.ensureStream({
      name: names.eventsStream,
      subjects: [names.events],
      retention: 'limits',
      storage: settings.storage,
      num_replicas: settings.replicas,
      max_age: maxAge * MS,
      max_msgs: settings.eventsMaxMessages,
      discard: 'old',
      duplicate_window: Math.min(DEDUP_WINDOW_MS, maxAge || DEDUP_WINDOW_MS) * MS,
      allow_direct: true,
    });
    return new NatsEventStore(link, outbox, await serverClockOffset(link), release, logger);
  }

  async append(events: readonly TaskEvent[]): Promise<void> {
    this.lifecycle.assertOpen('append');
    if (events.length === 0) return;
    const unique = [...new Map(events.map((event) => [event.id, event])).values()];
    await this.lifecycle.whileOpen('append', () =>
      this.link.call(`append ${unique.length} event(s)`, async () => {
        const serverNow = Date.now() + this.clockOffsetMs;
        const stored = await this.storedIds(unique.filter((event) => serverNow - event.timestamp.getTime() > CHECK_AFTER_MS));
        const fresh = unique.filter((event) => !stored.has(event.id));
        for (let i = 0; i < fresh.length; i += IN_FLIGHT) await Promise.all(fresh.slice(i, i + IN_FLIGHT).map((event) => this.publish(event, serverNow)));
      }),
    );
  }

  async query(query: EventQuery = {}): Promise<TaskEvent[]> {
    this.lifecycle.assertOpen('query');
    const limit = query.limit ?? DEFAULT_QUERY_LIMIT;
    if (limit <= 0) return [];
    const matches = eventMatcher(query);
    const found = new Collector(limit, query.order === 'desc', matches);
    return this.lifecycle.whileOpen('query', async () => {
      const pending = (await this.outbox?.events()) ?? [];
      if (query.taskId !== undefined) await this.read({ filter: this.link.names.eventsOfTask(query.taskId) }, `query the events of task ${query.taskId}`, (found_) => (found.take(found_), true));
      else {
        for (const copy of await this.offClockCopies(query.scheduleId)) found.take({ seq: copy.mainSeq, event: copy.event });
        await (found.descending ? this.readBackward(query, found) : this.readForward(query, found));
      }
      const unstored = pending.filter((event) => !found.seen.has(event.id) && matches(event));
      return found.events([...new Map(unstored.map((event) => [event.id, event])).values()]);
    });
  }

  async purgeOlderThan(cutoff: Date): Promise<number> {
    this.lifecycle.assertOpen('purgeOlderThan');
    return this.lifecycle.whileOpen('purgeOlderThan', () => this.link.call('purgeOlderThan', () => this.purge(cutoff.getTime())));
  }

  stream(): Observable<TaskEvent> {
    return this.eventStream.observable;
  }

  async close(): Promise<void> {
    if (!this.lifecycle.close()) return;
    await this.eventStream.complete();
    await this.release();
  }

  /** Publishes an event (and, when it is off-clock, its copy once its own message is stored). */
  private async publish(event: TaskEvent, serverNow: number): Promise<void> {
    const { names } = this.link;
    const json = eventToJson(event);
    const ack = await this.link.publish(names.event(event.taskId, event.scheduleId), json, { msgId: event.id });
    if (ack.duplicate || Math.abs(serverNow - event.timestamp.getTime()) <= ON_CLOCK_MS) return;
    const headers = this.link.headers();
    headers.set(MAIN_SEQ, String(ack.seq));
    await this.link.publish(names.offClock(event.taskId, event.scheduleId), json, { msgId: `o:${event.id}`, headers });
  }

  /** The ids among `events` that the stream holds already: each task's (or schedule's) events are read once. */
  private async storedIds(events: readonly TaskEvent[]): Promise<Set<string>> {
    const stored = new Set<string>();
    if (events.length === 0) return stored;
    const { names } = this.link;
    const filters = new Set(events.map((event) => (event.taskId !== undefined ? names.eventsOfTask(event.taskId) : names.event(undefined, event.scheduleId))));
    const wanted = new Set(events.map((event) => event.id));
    for (const filter of filters) {
      await this.read({ filter }, 'look for events appended before', ({ event }) => {
        if (wanted.has(event.id)) stored.add(event.id);
        return true;
      });
    }
    return stored;
  }

  /** Reads events (decoded, a damaged one throwing RecordDamageError) from `start` until `visit` says stop. */
  private read(start: { filter: string; seq?: number; time?: number }, operation: string, visit: (found: Found, entry: StreamEntry) => boolean): Promise<void> {
    return readRange(this.link, this.streamName, start, operation, (entry) => visit({ seq: entry.seq, event: this.decode(entry) }, entry));
  }

  private decode(entry: StreamEntry): TaskEvent {
    return eventFromJson(entry.message.string(), `event ${entry.seq} (${entry.subject}) of the stream ${this.streamName}`);
  }

  /** Every off-clock copy (of a schedule's events, when given). */
  private async offClockCopies(scheduleId?: string): Promise<OffClockCopy[]> {
    const { names } = this.link;
    const copies: OffClockCopy[] = [];
    const filter = scheduleId === undefined ? names.allOffClock : names.offClockOfSchedule(scheduleId);
    await this.read({ filter }, 'query events', ({ seq, event }, entry) => {
      copies.push({ seq, mainSeq: Number(entry.message.headers?.get(MAIN_SEQ) ?? seq), event });
      return true;
    });
    return copies;
  }

  private mainFilter(scheduleId: string | undefined): string {
    return scheduleId === undefined ? this.link.names.allEvents : this.link.names.eventsOfSchedule(scheduleId);
  }

  /** Oldest first: from WIDEN_MS before `since`, until past `until` or settled. */
  private readForward(query: EventQuery, found: Collector): Promise<void> {
    const until = query.until?.getTime() ?? Number.POSITIVE_INFINITY;
    const start = { filter: this.mainFilter(query.scheduleId), time: query.since === undefined ? undefined : query.since.getTime() - WIDEN_MS };
    return this.read(start, 'query events', (event, entry) => {
      if (entry.time > until + WIDEN_MS) return false;
      found.take(event);
      return !found.settled(entry.time);
    });
  }

  /** Newest first: chunks of sequences read backwards from the end, until before `since` or settled. */
  private async readBackward(query: EventQuery, found: Collector): Promise<void> {
    const since = query.since?.getTime() ?? Number.NEGATIVE_INFINITY;
    const until = query.until?.getTime() ?? Number.POSITIVE_INFINITY;
    const { state } = await this.link.call('query events', () => this.link.jsm.streams.info(this.streamName));
    const filter = this.mainFilter(query.scheduleId);
    let high = state.last_seq;
    for (let chunk = FIRST_CHUNK; high >= state.first_seq && high > 0; chunk = Math.min(MAX_CHUNK, chunk * 2)) {
      const low = Math.max(state.first_seq, high - chunk + 1, 1);
      let earliest = Number.POSITIVE_INFINITY;
      await this.read({ filter, seq: low }, 'query events', (event, entry) => {
        if (entry.seq > high) return false;
        earliest = Math.min(earliest, entry.time);
        if (entry.time <= until + WIDEN_MS) found.take(event);
        return true;
      });
      if (earliest !== Number.POSITIVE_INFINITY && (earliest < since - WIDEN_MS || found.settled(earliest))) return;
      high = low - 1;
    }
  }

  /**
   * Deletes the events timestamped before `cutoff`: the stream's messages stored before
   * WIDEN_MS ahead of it in one purge, those around it one by one, and the off-clock events by
   * their copies. An off-clock event timestamped after the cutoff whose message lies in the purged
   * range is appended again first (its append order then is its new message's).
   */
  private async purge(cutoff: number): Promise<number> {
    const { jsm, js, names } = this.link;
    const copies = await this.offClockCopies();
    let boundary: number | undefined;
    await this.read({ filter: names.allEvents, time: cutoff - WIDEN_MS }, 'purgeOlderThan', ({ seq }) => ((boundary = seq), false));
    boundary ??= (await jsm.streams.info(this.streamName)).state.last_seq + 1;
    let purged = 0;
    const handled = new Set<number>();
    for (const copy of copies) {
      if (copy.event.timestamp.getTime() >= cutoff) {
        if (copy.mainSeq >= boundary) continue;
        // Kept, but its message is in the range purged below: stored again beyond it.
        const json = eventToJson(copy.event);
        const ack = await js.publish(names.event(copy.event.taskId, copy.event.scheduleId), json);
        const headers = this.link.headers();
        headers.set(MAIN_SEQ, String(ack.seq));
        await js.publish(names.offClock(copy.event.taskId, copy.event.scheduleId), json, { headers });
        purged -= 1;
      } else if (copy.mainSeq >= boundary) {
        handled.add(copy.mainSeq);
        if (await this.deleteMessage(copy.mainSeq)) purged += 1;
      }
      await this.deleteMessage(copy.seq);
    }
    if (boundary > 1) purged += (await jsm.streams.purge(this.streamName, { filter: names.allEvents, seq: boundary })).purged;
    const around: number[] = [];
    await this.read({ filter: names.allEvents, seq: boundary }, 'purgeOlderThan', ({ seq, event }, entry) => {
      if (entry.time > cutoff + WIDEN_MS) return false;
      if (event.timestamp.getTime() < cutoff && !handled.has(seq)) around.push(seq);
      return true;
    });
    for (const seq of around) if (await this.deleteMessage(seq)) purged += 1;
    return Math.max(0, purged);
  }

  /** Deletes one message; false when it was gone already. */
  private async deleteMessage(seq: number): Promise<boolean> {
    try {
      return await this.link.jsm.streams.deleteMessage(this.streamName, seq, false);
    } catch (error) {
      if (jetStreamCode(error) === JS_NO_MESSAGE_FOUND) return false;
      throw error;
    }
  }
}

/**
 * The server's clock minus this process's (ms): a message is stored on the stream's clock
 * subject and read back, its stored time compared with the middle of the round trip.
 */
async function serverClockOffset(link: NatsLink): Promise<number> {
  const { jsm, js, names } = link;
  const stream = names.eventsStream;
  return link.call('reading the server clock', async () => {
    const sent = Date.now();
    const ack = await js.publish(names.clock, '');
    const stored = await jsm.streams.getMessage(stream, { seq: ack.seq });
    const back = Date.now();
    await jsm.streams.purge(stream, { filter: names.clock });
    return stored ? stored.time.getTime() - (sent + back) / 2 : 0;
  });
}
