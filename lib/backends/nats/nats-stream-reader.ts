import type { JsMsg } from '@nats-io/jetstream';
import type { NatsLink } from './nats-connection.js';

/** One message read from a stream. */
export interface StreamEntry {
  readonly seq: number;
  /** When the server stored it (epoch ms, the server's clock). */
  readonly time: number;
  readonly subject: string;
  readonly message: JsMsg;
}

export interface RangeStart {
  /** The subject filter (wildcards allowed). */
  filter: string;
  /** Start at this sequence… */
  seq?: number;
  /** …or at the first message stored at or after this server time (epoch ms); neither: from the first message. */
  time?: number;
  /** Only the last message of each subject (a KV bucket's current entries). */
  lastPerSubject?: boolean;
  /** Headers and no payloads. */
  headersOnly?: boolean;
}

/** Messages per pull request. */
const FETCH_BATCH = 1_000;
const NS_PER_MS = 1_000_000;
/** A read's consumer is dropped by the server this long after its reader vanished (a crash mid-read). */
const INACTIVE_MS = 30_000;

/**
 * Reads the messages of a stream matching `start.filter`, in sequence order, handing each to
 * `visit` until it returns false or none is left. An ephemeral consumer (no acks, in memory) is
 * created for the read: its creation tells how many messages match from the start on, so the
 * read knows when it is done without waiting for a timeout, and it is deleted after. Messages
 * stored after the consumer was made are not read.
 */
export async function readRange(link: NatsLink, stream: string, start: RangeStart, operation: string, visit: (entry: StreamEntry) => boolean): Promise<void> {
  // What `visit` throws (a damaged message) is the caller's to report, not a failure of the server.
  let visitError: { error: unknown } | undefined;
  const visitSafely = (entry: StreamEntry): boolean => {
    try {
      return visit(entry);
    } catch (error) {
      visitError = { error };
      return false;
    }
  };
  await link.call(operation, async () => {
    const info = await link.jsm.consumers.add(stream, {
      ack_policy: 'none',
      filter_subject: start.filter,
      ...(start.lastPerSubject
        ? { deliver_policy: 'last_per_subject' }
        : start.seq !== undefined
        ? { deliver_policy: 'by_start_sequence', opt_start_seq: Math.max(1, start.seq) }
        : start.time !== undefined
          ? { deliver_policy: 'by_start_time', opt_start_time: new Date(Math.max(0, start.time)).toISOString() }
          : { deliver_policy: 'all' }),
      ...(start.headersOnly ? { headers_only: true } : {}),
      inactive_threshold: INACTIVE_MS * NS_PER_MS,
      mem_storage: true,
      num_replicas: 1,
    });
    try {
      const consumer = link.js.consumers.getConsumerFromInfo(info);
      let remaining = info.num_pending;
      while (remaining > 0) {
        const asked = Math.min(remaining, FETCH_BATCH);
        const messages = await consumer.fetch({ max_messages: asked, expires: Math.min(link.settings.requestTimeoutMs, 5_000) });
        let got = 0;
        let stopped = false;
        for await (const message of messages) {
          got += 1;
          if (!visitSafely({ seq: message.seq, time: Math.floor(message.info.timestampNanos / NS_PER_MS), subject: message.subject, message })) {
            stopped = true;
            messages.stop();
            break;
          }
        }
        remaining -= got;
        // Fewer than asked: the rest went (trimmed by the stream's limits, purged) while the read ran.
        if (stopped || got < asked) return;
      }
    } finally {
      link.jsm.consumers.delete(stream, info.name).catch(() => undefined);
    }
  });
  if (visitError) throw visitError.error;
}
