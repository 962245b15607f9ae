import type { LoggerService } from '@nestjs/common';
import type { Client, Notification } from 'pg';
import { describeError } from '../../utils/describe-error.js';
import type { PostgresConnection } from './postgres-connection.js';
import { quoteIdentifier } from './postgres-tables.js';

/** What the LISTEN session reports to its notifier. */
export interface ListenHandlers {
  /** A payload NOTIFYed on the channel (by any engine, this one included). */
  message(payload: string): void;
  /** The session listens again after it was lost at `lostAt` (epoch ms): what was sent meanwhile was not heard. */
  restored(lostAt: number): void;
}

/** Reconnect delays grow from this (doubling, with jitter) … */
const FIRST_RETRY_MS = 50;
/** … up to this, so the session is back within about a second of the server. */
const MAX_RETRY_MS = 1_000;

/**
 * The one session of an engine that LISTENs on its schema's channel: a connection of its own
 * outside the pool (a LISTEN belongs to one server session, which a pool hands to anyone).
 *
 * When the session drops (the server restarted, the connection was cut, pg_terminate_backend),
 * it connects and LISTENs again by itself, retrying with a backoff of up to a second, until it is
 * closed, and then tells the notifier since when it was deaf. Every client it makes keeps an
 * 'error' listener for good: an 'error' event that no one hears would crash the process.
 */
export class PostgresListenConnection {
  private client: Client | undefined;
  private lostAt: number | undefined;
  private attempts = 0;
  private retry: NodeJS.Timeout | undefined;
  /** Until the first LISTEN succeeded, a failure is open()'s to report, not a drop to recover from. */
  private opened = false;
  private closed = false;

  constructor(
    private readonly connection: PostgresConnection,
    private readonly handlers: ListenHandlers,
    private readonly logger: LoggerService,
  ) {}

  /** Connects and LISTENs; rejects (after closing the attempt) when that fails the first time. */
  async open(): Promise<void> {
    const client = this.newClient();
    try {
      await this.listenOn(client);
    } catch (error) {
      this.client = undefined;
      await client.end().catch(() => undefined);
      throw this.connection.db.failure({ operation: `LISTEN on channel ${this.connection.tables.notifyChannel}` }, error);
    }
    this.opened = true;
  }

  /** Stops reconnecting and ends the session. */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retry);
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => undefined);
  }

  private newClient(): Client {
    const client = this.connection.newClient();
    this.client = client;
    client.on('error', (error: Error) => this.dropped(client, error));
    client.on('end', () => this.dropped(client, undefined));
    client.on('notification', (notification: Notification) => {
      if (this.client === client && notification.channel === this.connection.tables.notifyChannel && notification.payload !== undefined) {
        this.handlers.message(notification.payload);
      }
    });
    return client;
  }

  private async listenOn(client: Client): Promise<void> {
    await client.connect();
    // The session serves the engine; it never keeps the process alive on its own (an engine on an
    // application's DataSource that no one closes, say).
    (client as unknown as { connection?: { stream?: { unref?: () => void } } }).connection?.stream?.unref?.();
    await client.query(`LISTEN ${quoteIdentifier(this.connection.tables.notifyChannel)}`);
  }

  /**
   * The current session broke (or an attempt to restore it failed): note since when, and try again
   * soon. Once per client: its 'error' and 'end' both come here, and the first one clears `client`.
   */
  private dropped(client: Client, error: Error | undefined): void {
    if (this.closed || !this.opened || this.client !== client) return;
    this.client = undefined;
    void client.end().catch(() => undefined);
    if (this.lostAt === undefined) {
      this.lostAt = Date.now();
      this.logger.warn(
        `The LISTEN session on ${this.connection.db.shownUrl} was lost (${error ? describeError(error) : 'the connection closed'}); ` +
          'reconnecting, and until then wake-ups from other processes wait for the poll interval',
      );
    }
    const delay = Math.min(MAX_RETRY_MS, FIRST_RETRY_MS * 2 ** this.attempts) * (0.5 + Math.random() / 2);
    this.attempts += 1;
    this.retry = setTimeout(() => void this.reconnect(), delay).unref();
  }

  private async reconnect(): Promise<void> {
    if (this.closed) return;
    const client = this.newClient();
    try {
      await this.listenOn(client);
    } catch (error) {
      this.logger.debug?.(`Reconnecting the LISTEN session on ${this.connection.db.shownUrl} failed: ${describeError(error)}`);
      this.dropped(client, error as Error);
      return;
    }
    if (this.closed || this.client !== client) return;
    const lostAt = this.lostAt!;
    this.lostAt = undefined;
    this.attempts = 0;
    this.logger.log(`The LISTEN session on ${this.connection.db.shownUrl} is back, ${Date.now() - lostAt} ms after it was lost`);
    this.handlers.restored(lostAt);
  }
}
