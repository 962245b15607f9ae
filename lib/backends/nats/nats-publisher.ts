import type { Msg, MsgHdrs, NatsConnection, Subscription } from '@nats-io/transport-node';

/** What JetStream answered a publish with: the message's stream sequence, and whether its message id was seen before. */
export interface Published {
  readonly seq: number;
  readonly duplicate: boolean;
}

export interface PublishOptions {
  headers?: MsgHdrs;
  /** Stored only if the subject's last message has this sequence (0: it has none): a compare-and-swap. */
  expectLastSubjectSeq?: number;
  /** Deduplication id (`Nats-Msg-Id`). */
  msgId?: string;
}

/** A JetStream API error reply; named and coded as the driver's JetStreamApiError, so jetStreamCode reads it. */
export class JetStreamReplyError extends Error {
  override name = 'JetStreamApiError';

  constructor(
    message: string,
    readonly code: number,
  ) {
    super(message);
  }
}

/** No reply within the request timeout; named as the driver's, so errors give the same advice. */
class PublishTimeoutError extends Error {
  override name = 'TimeoutError';
}

/** The server's 503 status: no JetStream listens on the subject. */
class NoRespondersError extends Error {
  override name = 'NoResponders';
}

/** The connection closed with the publish in flight; named as the driver's. */
class ConnectionClosedError extends Error {
  override name = 'ClosedConnectionError';
}

interface Waiting {
  readonly resolve: (published: Published) => void;
  readonly reject: (error: Error) => void;
  readonly at: number;
}

interface Outgoing {
  readonly subject: string;
  readonly data: string | Uint8Array;
  readonly reply: string;
  readonly headers: MsgHdrs | undefined;
}

/**
 * JetStream publishes with acknowledgements, lighter than the driver's `js.publish`, which a busy
 * engine makes several of per task. The driver's request path builds per request a timer, a
 * muxed-request entry, and (once answered) a "cancelled" RequestError with its stack trace; and
 * each request, made in its own microtask, goes to the socket in a write of its own. Here every
 * reply comes to one subscription (`<inbox>.<token>`), timeouts are swept by one interval, and
 * the publishes of one event-loop turn are handed to the connection together (setImmediate), so
 * they leave in one socket write.
 *
 * Rejections carry errors named as the driver's (JetStreamApiError with its code, TimeoutError,
 * NoResponders), so callers tell a lost compare-and-swap and explain failures the same way.
 */
export class JetStreamPublisher {
  private readonly waiting = new Map<string, Waiting>();
  private outgoing: Outgoing[] = [];
  private next = 0;
  private readonly subscription: Subscription;
  private readonly sweeper: NodeJS.Timeout;

  constructor(
    private readonly nc: NatsConnection,
    private readonly inbox: string,
    private readonly newHeaders: () => MsgHdrs,
    private readonly timeoutMs: number,
  ) {
    this.subscription = nc.subscribe(`${inbox}.*`, {
      callback: (error, msg) => {
        if (error === null) this.answered(msg);
      },
    });
    this.sweeper = setInterval(() => this.sweep(), Math.max(10, Math.min(1_000, timeoutMs / 4)));
    this.sweeper.unref();
    // An application may close its own connection under OmniQ: what waits then hears no reply.
    void nc.closed().then(() => this.close(new ConnectionClosedError('the connection was closed with the publish in flight')));
  }

  publish(subject: string, data: string | Uint8Array, options: PublishOptions = {}): Promise<Published> {
    let headers = options.headers;
    if (options.expectLastSubjectSeq !== undefined || options.msgId !== undefined) {
      headers ??= this.newHeaders();
      if (options.expectLastSubjectSeq !== undefined) headers.set('Nats-Expected-Last-Subject-Sequence', String(options.expectLastSubjectSeq));
      if (options.msgId !== undefined) headers.set('Nats-Msg-Id', options.msgId);
    }
    const token = (this.next++).toString(36);
    return new Promise<Published>((resolve, reject) => {
      this.waiting.set(token, { resolve, reject, at: Date.now() });
      if (this.outgoing.push({ subject, data, reply: `${this.inbox}.${token}`, headers }) === 1) setImmediate(() => this.flush());
    });
  }

  /** Rejects what still waits (the connection is closing) and stops listening. */
  close(error: Error): void {
    clearInterval(this.sweeper);
    this.outgoing = [];
    for (const { reject } of this.waiting.values()) reject(error);
    this.waiting.clear();
    if (!this.nc.isClosed()) this.subscription.unsubscribe();
  }

  private flush(): void {
    const batch = this.outgoing;
    this.outgoing = [];
    for (const { subject, data, reply, headers } of batch) {
      try {
        this.nc.publish(subject, data, { reply, headers });
      } catch (error) {
        this.settle(reply.slice(this.inbox.length + 1))?.reject(error as Error);
      }
    }
  }

  private answered(msg: Msg): void {
    const waiting = this.settle(msg.subject.slice(this.inbox.length + 1));
    if (waiting === undefined) return;
    if (msg.data.length === 0 && msg.headers?.code === 503) {
      waiting.reject(new NoRespondersError(`no responders: the server has no JetStream for ${msg.subject}`));
      return;
    }
    let reply: { seq?: unknown; duplicate?: unknown; error?: { err_code?: unknown; description?: unknown } };
    try {
      reply = JSON.parse(msg.string()) as typeof reply;
    } catch {
      waiting.reject(new Error(`JetStream answered a publish with no JSON: ${msg.string().slice(0, 200)}`));
      return;
    }
    if (reply.error) waiting.reject(new JetStreamReplyError(String(reply.error.description), Number(reply.error.err_code)));
    else if (typeof reply.seq !== 'number') waiting.reject(new Error('JetStream answered a publish with no sequence'));
    else waiting.resolve({ seq: reply.seq, duplicate: reply.duplicate === true });
  }

  private settle(token: string): Waiting | undefined {
    const waiting = this.waiting.get(token);
    if (waiting !== undefined) this.waiting.delete(token);
    return waiting;
  }

  /** Rejects the requests older than the timeout (the map keeps them in the order they were made). */
  private sweep(): void {
    const before = Date.now() - this.timeoutMs;
    for (const [token, waiting] of this.waiting) {
      if (waiting.at > before) return;
      this.waiting.delete(token);
      waiting.reject(new PublishTimeoutError(`no reply within ${this.timeoutMs} ms`));
    }
  }
}
