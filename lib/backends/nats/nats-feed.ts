import type { LoggerService } from '@nestjs/common';
import type { ConsumerMessages, JsMsg } from '@nats-io/jetstream';
import type { Unsubscribe } from '../../storage/task-queue.store.js';
import type { NatsLink } from './nats-connection.js';
import { errorText } from './nats-storage.error.js';

/** A feed that stopped, or could not start, is started again after this. */
const RESTART_MS = 1_000;

export interface FeedOptions {
  stream: string;
  filter: string;
  /** Where the first start begins: the last message of each subject, or a sequence. */
  from: 'last_per_subject' | { seq: number };
  headersOnly?: boolean;
  /** Names the feed in log lines. */
  what: string;
}

/**
 * An ordered consumer over a stream, kept running: every message from `from` on, in order, handed
 * to `onMessage` one at a time. After a reconnect it is made again where it left off (a
 * restarted server has lost its consumers, and the client would notice only after missed
 * heartbeats), and likewise when it stops or cannot start (the server still down).
 */
export class NatsFeed {
  /** The sequence of the last message handed on (0: none yet). */
  lastSeq = 0;
  private generation = 0;
  private messages: ConsumerMessages | undefined;
  private reading: Promise<void> = Promise.resolve();
  private retry: NodeJS.Timeout | undefined;
  private readonly stopReconnects: Unsubscribe;
  private closed = false;

  constructor(
    private readonly link: NatsLink,
    private readonly options: FeedOptions,
    private readonly onMessage: (message: JsMsg) => Promise<void> | void,
    private readonly logger: LoggerService,
  ) {
    this.stopReconnects = link.onReconnect(() => this.restart());
  }

  /** Starts it; rejects (and retries no more) when the first start fails. */
  async start(): Promise<void> {
    const generation = ++this.generation;
    const { stream, filter, from, headersOnly, what } = this.options;
    const start = this.lastSeq > 0 ? { opt_start_seq: this.lastSeq + 1 } : from === 'last_per_subject' ? { deliver_policy: 'last_per_subject' as const } : { opt_start_seq: from.seq };
    const messages = await this.link.call(`reading ${what}`, async () => {
      const consumer = await this.link.js.consumers.get(stream, { filter_subjects: filter, ...start, ...(headersOnly ? { headers_only: true } : {}) });
      return consumer.consume({ max_messages: 1_000 });
    });
    if (generation !== this.generation || this.closed) {
      messages.stop();
      return;
    }
    this.messages = messages;
    this.reading = this.read(messages, generation);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.generation += 1;
    this.stopReconnects();
    clearTimeout(this.retry);
    this.messages?.stop();
    await this.reading;
  }

  private restart(): void {
    if (this.closed) return;
    this.generation += 1;
    this.messages?.stop();
    this.messages = undefined;
    clearTimeout(this.retry);
    this.start().catch((error: unknown) => this.startLater(error));
  }

  private async read(messages: ConsumerMessages, generation: number): Promise<void> {
    try {
      for await (const message of messages) {
        if (generation !== this.generation) return;
        await this.onMessage(message);
        this.lastSeq = message.seq;
      }
    } catch (error) {
      if (generation === this.generation && !this.closed) this.logger.warn(`Reading ${this.options.what} stopped (${errorText(error)}); starting again`);
    }
    if (generation === this.generation) this.startLater();
  }

  private startLater(error?: unknown): void {
    if (this.closed || this.link.nc.isClosed()) return;
    if (error !== undefined) this.logger.debug?.(`Starting to read ${this.options.what} failed (${errorText(error)}); trying again`);
    clearTimeout(this.retry);
    this.retry = setTimeout(() => this.start().catch((next: unknown) => this.startLater(next)), RESTART_MS);
    this.retry.unref();
  }
}
