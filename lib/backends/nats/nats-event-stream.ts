import type { LoggerService } from '@nestjs/common';
import type { JsMsg } from '@nats-io/jetstream';
import type { TaskEvent } from '../../models/event.model.js';
import { LazyEventStream } from '../shared/lazy-event-stream.js';
import { eventFromJson } from '../shared/record-json.js';
import type { NatsLink } from './nats-connection.js';
import { NatsFeed } from './nats-feed.js';
import { errorText } from './nats-storage.error.js';

/** A start that failed (the server unreachable) is tried again after this. */
const RETRY_MS = 1_000;

/**
 * The event store's live tail: every event appended to the project's stream while someone
 * subscribes, by this engine or any other, in append order, read by a NatsFeed (started at the
 * first subscription, closed when the last one leaves; after a reconnect it goes on where it
 * left off).
 *
 * Reading starts after a mark the subscription stores in the stream: what this process appends
 * after subscribing is published after the mark on the same connection, so it is read.
 */
export class NatsEventStream extends LazyEventStream {
  /** Grows at every start and stop: a start of an earlier subscription opens nothing. */
  private period = 0;
  private feed: NatsFeed | undefined;
  private starting: Promise<void> = Promise.resolve();
  private retry: NodeJS.Timeout | undefined;

  constructor(
    private readonly link: NatsLink,
    private readonly logger: LoggerService,
  ) {
    super();
  }

  /** Stops reading and completes every subscriber. */
  async complete(): Promise<void> {
    if (this.finish()) await this.starting;
  }

  protected start(): void {
    const period = ++this.period;
    // The mark is published now, synchronously, ahead of whatever the subscriber appends next.
    const mark = this.link.js.publish(this.link.names.mark, '');
    // Handled in open, possibly later: not an unhandled rejection meanwhile.
    mark.catch(() => undefined);
    this.starting = this.starting.then(() => this.open(period, mark));
  }

  protected stop(): void {
    this.period += 1;
    clearTimeout(this.retry);
    const feed = this.feed;
    this.feed = undefined;
    if (feed) this.starting = this.starting.then(() => feed.close());
  }

  private async open(period: number, mark: Promise<{ seq: number }>): Promise<void> {
    const { names } = this.link;
    let feed: NatsFeed | undefined;
    try {
      const { seq } = await mark;
      this.link.jsm.streams.purge(names.eventsStream, { filter: names.mark, seq: seq + 1 }).catch(() => undefined);
      if (period !== this.period) return;
      const options = { stream: names.eventsStream, filter: names.allEvents, from: { seq: seq + 1 }, what: `the events stream ${names.eventsStream}` };
      feed = new NatsFeed(this.link, options, (message) => this.received(message), this.logger);
      await feed.start();
    } catch (error) {
      await feed?.close();
      if (period !== this.period) return;
      this.logger.warn(`Tailing the events stream of NATS ${this.link.shownUrl} failed (${errorText(error)}); trying again`);
      this.retry = setTimeout(() => {
        if (period === this.period) this.start();
      }, RETRY_MS);
      this.retry.unref();
      return;
    }
    if (period === this.period) this.feed = feed;
    else await feed.close();
  }

  /** Emits the message's event; a damaged one is skipped (query reports it). */
  private received(message: JsMsg): void {
    let event: TaskEvent;
    try {
      event = eventFromJson(message.string(), `event ${message.seq}`);
    } catch {
      return;
    }
    this.emit(event);
  }
}
