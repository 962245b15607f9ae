import { Inject, Injectable, Logger } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { OMNIQ_EVENT_STORE } from '../omniq.constants.js';
import type { TaskEvent } from '../models/event.model.js';
import type { EventStore } from '../storage/event.store.js';
import { MicroBatcher } from '../utils/micro-batcher.js';

export type NewEvent = Omit<TaskEvent, 'id' | 'timestamp'> & { timestamp?: Date };

/**
 * Appends lifecycle events in batches. Recording an event never fails the task it describes: a
 * store error is logged and the event dropped.
 */
@Injectable()
export class EventRecorder {
  private readonly logger = new Logger('OmniQEvents');
  private readonly batcher: MicroBatcher<TaskEvent, void>;

  constructor(@Inject(OMNIQ_EVENT_STORE) store: EventStore) {
    this.batcher = new MicroBatcher((events) => store.append(events));
  }

  record(event: NewEvent): Promise<void> {
    const full: TaskEvent = { ...event, id: randomUUID(), timestamp: event.timestamp ?? new Date() };
    return this.batcher.push(full).catch((error: unknown) => {
      this.logger.error(`Could not record ${full.type} event of task ${full.taskId ?? '-'}: ${String(error)}`);
    });
  }

  drain(): Promise<void> {
    return this.batcher.drain();
  }
}
