import { Inject, Injectable, type BeforeApplicationShutdown } from '@nestjs/common';
import { newUuid } from '../utils/uuid.js';
import { OMNIQ_CONFIG, OMNIQ_EVENT_STORE } from '../omniq.constants.js';
import type { OmniQConfig } from '../config/omniq-config.js';
import { createLogger, type OmniQLogger } from '../config/omniq-logger.js';
import type { TaskEvent } from '../models/event.model.js';
import type { EventStore } from '../storage/event.store.js';
import { describeError } from '../utils/describe-error.js';

const RETRY_FIRST_MS = 100;
const RETRY_MAX_MS = 5_000;
/** Events held for a retry while the store fails; beyond this the oldest are given up (and reported). */
const MAX_HELD = 100_000;

export type NewEvent = Omit<TaskEvent, 'id' | 'timestamp'> & { id?: string; timestamp?: Date };

/** Gives a new event its id and time (unless it has them). The event's object becomes the stored one: no copy is made. */
export function completeEvent(event: NewEvent): TaskEvent {
  const full = event as TaskEvent;
  full.id ??= newUuid();
  full.timestamp ??= new Date();
  return full;
}

/**
 * Appends lifecycle events in batches: everything recorded while one append is in flight goes in
 * the next (group commit), and each batch shares one promise rather than one per event, since a
 * busy worker records several events per task. Appends run one after another, in the order they
 * were asked for. Recording an event never fails the task it describes: when the store fails, the
 * batch is kept (ahead of newer events) and retried with backoff, from 100 ms up to every 5 s,
 * until it is written or the application shuts down; only then, or past 100,000 held events, are
 * events given up, and that is logged as an error. While events wait for a retry, a timeline
 * read meanwhile lacks them.
 */
@Injectable()
export class EventRecorder implements BeforeApplicationShutdown {
  private readonly logger: OmniQLogger;
  private buffer: TaskEvent[] = [];
  private nextFlush: Promise<void> | undefined;
  private inFlight: Promise<void> = Promise.resolve();
  private retryTimer: NodeJS.Timeout | undefined;
  private retryDelayMs = 0;
  /** Set at application shutdown: from then on a failed append is reported as lost, not retried. */
  private final = false;

  constructor(
    @Inject(OMNIQ_EVENT_STORE) private readonly store: EventStore,
    @Inject(OMNIQ_CONFIG) config: OmniQConfig,
  ) {
    this.logger = createLogger('OmniQEvents', config.logging);
  }

  /** Queues the event; the promise settles once its batch was tried (written, or held for a retry and the failure logged). */
  record(event: NewEvent): Promise<void> {
    this.buffer.push(completeEvent(event));
    return (this.nextFlush ??= this.flush());
  }

  /**
   * Appends at once, bypassing the wait for a batch (the caller batches): for writes that must
   * precede others. Events recorded before are appended first, in the same write, so the log
   * keeps the order in which things happened.
   */
  recordNow(events: readonly NewEvent[]): Promise<void> {
    return this.appendBuffered(events.map(completeEvent));
  }

  /** Resolves once every event recorded so far was tried (events held for a retry stay held). */
  async drain(): Promise<void> {
    while (this.nextFlush) await this.nextFlush;
    await this.inFlight;
  }

  /** At shutdown held events get one last try; after it, nothing is held and no retry is pending. */
  async beforeApplicationShutdown(): Promise<void> {
    this.final = true;
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    await this.drain();
    await this.appendBuffered([]);
  }

  private async flush(): Promise<void> {
    // One macrotask's worth of events share the batch.
    await new Promise<void>((resolve) => setImmediate(resolve));
    this.nextFlush = undefined;
    await this.appendBuffered([]);
  }

  /** Appends, after the append in flight, everything buffered by then followed by `events`. */
  private appendBuffered(events: TaskEvent[]): Promise<void> {
    // Never rejects (a logger that throws included), or every later append would be skipped.
    this.inFlight = this.inFlight.then(async () => {
      // While a retry is pending the store is failing: newer events wait behind the held ones.
      if (this.retryTimer !== undefined) return void this.buffer.push(...events);
      const batch = this.buffer.length === 0 ? events : this.buffer.concat(events);
      this.buffer = [];
      if (batch.length === 0) return;
      try {
        await this.store.append(batch);
        this.retryDelayMs = 0;
      } catch (error) {
        this.holdForRetry(batch, error);
      }
    }).catch(() => undefined);
    return this.inFlight;
  }

  /** Puts a failed batch back ahead of newer events and schedules a retry (or reports it lost at shutdown). */
  private holdForRetry(batch: TaskEvent[], error: unknown): void {
    if (this.final) return this.reportLoss(batch, error);
    this.buffer = batch.concat(this.buffer);
    if (this.buffer.length > MAX_HELD) this.reportLoss(this.buffer.splice(0, this.buffer.length - MAX_HELD), error);
    this.retryDelayMs = Math.min(RETRY_MAX_MS, this.retryDelayMs === 0 ? RETRY_FIRST_MS : this.retryDelayMs * 2);
    this.retryTimer ??= setTimeout(() => {
      this.retryTimer = undefined;
      void this.appendBuffered([]);
    }, this.retryDelayMs);
    this.logger.warn(`Could not record ${batch.length} event(s): ${describeError(error)}; retrying in ${this.retryDelayMs} ms`);
  }

  private reportLoss(events: readonly TaskEvent[], error: unknown): void {
    const first = events[0]!;
    this.logger.error(`Lost ${events.length} event(s) (first: ${first.type} of task ${first.taskId ?? '-'}): ${describeError(error)}`);
  }
}
