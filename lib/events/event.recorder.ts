import { Inject, Injectable } from '@nestjs/common';
import { newUuid } from '../utils/uuid.js';
import { OMNIQ_CONFIG, OMNIQ_EVENT_STORE } from '../omniq.constants.js';
import type { OmniQConfig } from '../config/omniq-config.js';
import { createLogger, type OmniQLogger } from '../config/omniq-logger.js';
import type { TaskEvent } from '../models/event.model.js';
import type { EventStore } from '../storage/event.store.js';

export type NewEvent = Omit<TaskEvent, 'id' | 'timestamp'> & { timestamp?: Date };

/** Gives a new event its id and time. The recorder owns the object it is handed, so no copy is made. */
function complete(event: NewEvent): TaskEvent {
  const full = event as TaskEvent;
  full.id = newUuid();
  full.timestamp = event.timestamp ?? new Date();
  return full;
}

/**
 * Appends lifecycle events in batches: everything recorded while one append is in flight goes in
 * the next (group commit), and each batch shares one promise rather than one per event, since a
 * busy worker records several events per task. Appends run one after another, in the order they
 * were asked for. Recording an event never fails the task it describes: a store error is logged
 * and the batch dropped.
 */
@Injectable()
export class EventRecorder {
  private readonly logger: OmniQLogger;
  private buffer: TaskEvent[] = [];
  private nextFlush: Promise<void> | undefined;
  private inFlight: Promise<void> = Promise.resolve();

  constructor(
    @Inject(OMNIQ_EVENT_STORE) private readonly store: EventStore,
    @Inject(OMNIQ_CONFIG) config: OmniQConfig,
  ) {
    this.logger = createLogger('OmniQEvents', config.logging);
  }

  /** Queues the event; the promise settles once its batch is written (or its loss logged). */
  record(event: NewEvent): Promise<void> {
    this.buffer.push(complete(event));
    return (this.nextFlush ??= this.flush());
  }

  /**
   * Appends at once, bypassing the wait for a batch (the caller batches): for writes that must
   * precede others. Events recorded before are appended first, in the same write, so the log
   * keeps the order in which things happened.
   */
  recordNow(events: readonly NewEvent[]): Promise<void> {
    return this.appendBuffered(events.map(complete));
  }

  /** Resolves once every event recorded so far is written. */
  async drain(): Promise<void> {
    while (this.nextFlush) await this.nextFlush;
    await this.inFlight;
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
      const batch = this.buffer.length === 0 ? events : this.buffer.concat(events);
      this.buffer = [];
      if (batch.length === 0) return;
      try {
        await this.store.append(batch);
      } catch (error) {
        this.reportLoss(batch, error);
      }
    }).catch(() => undefined);
    return this.inFlight;
  }

  private reportLoss(events: readonly TaskEvent[], error: unknown): void {
    const first = events[0]!;
    this.logger.error(`Could not record ${events.length} event(s) (first: ${first.type} of task ${first.taskId ?? '-'}): ${String(error)}`);
  }
}
