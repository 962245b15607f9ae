import { Injectable } from '@nestjs/common';
import type { TaskRecord } from '../models/task.model.js';
import type { ResultRecord } from '../models/result.model.js';
import type { TaskEvent } from '../models/event.model.js';
import { leaseEvent, unrunOutcome } from '../storage/outcomes.js';
import { EventRecorder } from '../events/event.recorder.js';
import { OmniQStores } from '../omniq-stores.js';
import type { ReclaimReport } from '../storage/task-queue.store.js';

/**
 * Writes what a task-queue transition could not write itself: when the result or event store is
 * not the queue's colocated one, the results and events of the tasks the transition reports it
 * ended, reclaimed or released are written here, after it (and only for what it did).
 */
@Injectable()
export class StoreOutcomes {
  constructor(
    private readonly stores: OmniQStores,
    private readonly recorder: EventRecorder,
  ) {}

  /** Tasks a transition ended unrun (cancelled, expired, cancelled by a cascade). */
  async endedUnrun(tasks: readonly TaskRecord[]): Promise<void> {
    if (tasks.length === 0) return;
    const { scope } = this.stores;
    if (scope.results && scope.events) return;
    const now = new Date();
    const outcomes = tasks.map((task) => unrunOutcome(task, now));
    await this.write(
      outcomes.map((outcome) => outcome.event),
      outcomes.flatMap((outcome) => (outcome.result ? [outcome.result] : [])),
    );
  }

  /**
   * What a reclaim did, the tasks as they are now: their `reclaimed` events name the lost
   * attempt's number (the worker that held it is known only to the queue's own events); the dead
   * letters and the dependents their ends cancelled get their outcomes after them.
   */
  async reclaimed(report: ReclaimReport): Promise<void> {
    if (!this.stores.scope.events && report.tasks.length > 0) await this.write(report.tasks.map((task) => leaseEvent(task, 'reclaimed')), []);
    await this.endedUnrun([...report.tasks.filter((task) => task.status === 'failed'), ...report.ended]);
  }

  /** Events first, then results: once a result is readable its timeline is complete. */
  async write(events: readonly TaskEvent[], results: readonly ResultRecord[]): Promise<void> {
    const { scope, resultStore } = this.stores;
    if (!scope.events && events.length > 0) await this.recorder.recordNow(events);
    if (!scope.results && results.length > 0) await resultStore.put(results);
  }
}
