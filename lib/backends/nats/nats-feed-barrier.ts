import { StoreClosedError } from '../../errors/store.errors.js';
import type { NatsLink } from './nats-connection.js';
import { NatsStorageError } from './nats-storage.error.js';

interface SeqWaiter {
  readonly seq: number;
  resolve(): void;
  reject(error: Error): void;
}

/**
 * How a reader fed by a NatsFeed tells it has seen every write that landed before a call: the
 * call publishes a barrier message on a subject the feed reads (`subject`), and resolves once the
 * feed handed on a message at or past the barrier's sequence (a stream delivers in order). Calls
 * in one turn of the event loop share one barrier, written after every one of them began.
 */
export class FeedBarrier {
  private processed = 0;
  private readonly waiters = new Set<SeqWaiter>();
  private barrier: Promise<void> | undefined;

  constructor(
    private readonly link: NatsLink,
    /** A subject the feed reads that holds no record (its messages are skipped by the reader). */
    private readonly subject: string,
    /** Names the wait in errors: `catching up with the task bucket`. */
    private readonly operation: string,
  ) {}

  /** Resolves once the feed has passed every write that landed before this call. */
  caughtUp(): Promise<void> {
    this.barrier ??= Promise.resolve().then(() => {
      this.barrier = undefined;
      return this.sync();
    });
    return this.barrier;
  }

  /** The feed handed on the message at `seq`. */
  passed(seq: number): void {
    this.processed = seq;
    for (const waiter of this.waiters) {
      if (waiter.seq > seq) continue;
      this.waiters.delete(waiter);
      waiter.resolve();
    }
  }

  /** Rejects the waits still open: the feed stopped for good. */
  close(storeName: string): void {
    for (const waiter of [...this.waiters]) waiter.reject(new StoreClosedError(storeName, this.operation));
    this.waiters.clear();
  }

  private async sync(): Promise<void> {
    const ack = await this.link.call(this.operation, () => this.link.publish(this.subject, ''));
    if (this.processed >= ack.seq) return;
    const ms = this.link.settings.requestTimeoutMs;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        reject(new NatsStorageError(this.link.shownUrl, this.operation, new Error(`the feed did not catch up within storageOptions.requestTimeoutMs (${ms} ms)`)));
      }, ms);
      const waiter: SeqWaiter = {
        seq: ack.seq,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      };
      this.waiters.add(waiter);
    });
  }
}
