import { Inject, Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { OMNIQ_CONFIG, OMNIQ_EVENT_STORE } from '../omniq.constants.js';
import type { OmniQConfig } from '../config/omniq-config.js';
import { createLogger, type OmniQLogger } from '../config/omniq-logger.js';
import type { TaskEvent } from '../models/event.model.js';
import type { EventStore } from '../storage/event.store.js';
import { MicroBatcher } from '../utils/micro-batcher.js';

function complete(event: NewEvent): TaskEvent {
  return { ...event, id: randomUUID(), timestamp: event.timestamp ?? new Date() };
}

export type NewEvent = Omit<TaskEvent, 'id' | 'timestamp'> & { timestamp?: Date };

/**
 * Appends lifecycle events in batches. Recording an event never fails the task it describes: a
 * store error is logged and the event dropped.
 */
@Injectable()
export class EventRecorder {
  private readonly logger: OmniQLogger;
  private readonly batcher: MicroBatcher<TaskEvent, void>;

  constructor(
    @Inject(OMNIQ_EVENT_STORE) private readonly store: EventStore,
    @Inject(OMNIQ_CONFIG) config: OmniQConfig,
  ) {
    this.logger = createLogger('OmniQEvents', config.logging);
    this.batcher = new MicroBatcher((events) => store.append(events));
  }

  record(event: NewEvent): Promise<void> {
    const full = complete(event);
    return this.batcher.push(full).catch((error: unknown) => this.reportLoss([full], error));
  }

  /** Appends at once, bypassing the batch (the caller batches): for writes that must precede others. */
  async recordNow(events: readonly NewEvent[]): Promise<void> {
    if (events.length === 0) return;
    const full = events.map(complete);
    await this.store.append(full).catch((error: unknown) => this.reportLoss(full, error));
  }

  private reportLoss(events: readonly TaskEvent[], error: unknown): void {
    const first = events[0]!;
    this.logger.error(`Could not record ${events.length} event(s) (first: ${first.type} of task ${first.taskId ?? '-'}): ${String(error)}`);
  }

  drain(): Promise<void> {
    return this.batcher.drain();
  }
}
