import type { NewTask } from '../../models/task.model.js';
import type { ScheduleRecord, ScheduleStatus } from '../../models/schedule.model.js';
import { meetsExpectation, type FireOutcome, type ScheduleAdvance, type ScheduleExpectation, type ScheduleStore } from '../../storage/schedule.store.js';
import { StoreLifecycle } from '../shared/store-lifecycle.js';
import type { MemoryStorage } from './memory-storage.js';
import { copyDate } from './memory-task-record.js';

function copySchedule(s: ScheduleRecord): ScheduleRecord {
  return {
    ...s,
    payload: { ...s.payload },
    at: copyDate(s.at),
    startAt: copyDate(s.startAt),
    endAt: copyDate(s.endAt),
    nextRunAt: copyDate(s.nextRunAt),
    lastRunAt: copyDate(s.lastRunAt),
    createdAt: new Date(s.createdAt.getTime()),
    updatedAt: new Date(s.updatedAt.getTime()),
    pausedAt: copyDate(s.pausedAt),
  };
}

/**
 * Schedules in the memory storage, beside the tasks they enqueue, shared by every engine on it. A
 * fire is one synchronous step (compare-and-set, enqueue, advance), so it cannot interleave with
 * another fire from any engine, and an enqueue that throws leaves the schedule where it was: the
 * tick is fired again rather than lost. It closes with its task queue.
 */
export class MemoryScheduleStore implements ScheduleStore {
  private readonly lifecycle = new StoreLifecycle('MemoryScheduleStore');

  constructor(private readonly storage: MemoryStorage) {}

  async saveSchedule(schedule: ScheduleRecord, expected?: ScheduleExpectation): Promise<boolean> {
    this.lifecycle.assertOpen('saveSchedule');
    if (expected && !meetsExpectation(this.storage.schedules.get(schedule.id), expected)) return false;
    this.storage.schedules.set(schedule.id, copySchedule(schedule));
    return true;
  }

  async getSchedule(id: string): Promise<ScheduleRecord | undefined> {
    this.lifecycle.assertOpen('getSchedule');
    const found = this.storage.schedules.get(id);
    return found && copySchedule(found);
  }

  async listSchedules(): Promise<ScheduleRecord[]> {
    this.lifecycle.assertOpen('listSchedules');
    return [...this.storage.schedules.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)).map(copySchedule);
  }

  async deleteSchedule(id: string): Promise<boolean> {
    this.lifecycle.assertOpen('deleteSchedule');
    return this.storage.schedules.delete(id);
  }

  async setScheduleStatus(id: string, status: ScheduleStatus, nextRunAt?: Date): Promise<ScheduleRecord | undefined> {
    this.lifecycle.assertOpen('setScheduleStatus');
    const found = this.storage.schedules.get(id);
    if (!found) return undefined;
    if (found.status !== status) {
      const now = new Date();
      found.status = status;
      found.nextRunAt = copyDate(nextRunAt);
      found.pausedAt = status === 'paused' ? now : undefined;
      found.updatedAt = now;
    }
    return copySchedule(found);
  }

  async dueSchedules(now: Date, limit: number): Promise<ScheduleRecord[]> {
    this.lifecycle.assertOpen('dueSchedules');
    return [...this.storage.schedules.values()]
      .filter((s) => s.status === 'active' && s.nextRunAt !== undefined && s.nextRunAt <= now)
      .sort((a, b) => a.nextRunAt!.getTime() - b.nextRunAt!.getTime())
      .slice(0, limit)
      .map(copySchedule);
  }

  async nextDueAt(): Promise<Date | undefined> {
    this.lifecycle.assertOpen('nextDueAt');
    let soonest: Date | undefined;
    for (const s of this.storage.schedules.values()) {
      if (s.status === 'active' && s.nextRunAt && (!soonest || s.nextRunAt < soonest)) soonest = s.nextRunAt;
    }
    return copyDate(soonest);
  }

  async fireSchedule(id: string, expectedNextRunAt: Date, advance: ScheduleAdvance, task?: NewTask): Promise<FireOutcome> {
    this.lifecycle.assertOpen('fireSchedule');
    const found = this.storage.schedules.get(id);
    if (!found || found.status !== 'active' || found.nextRunAt?.getTime() !== expectedNextRunAt.getTime()) return { claimed: false };
    // Enqueued before the schedule moves: when it throws, nothing has changed.
    const enqueued = task && this.storage.tasks.enqueue([task], Date.now())[0];
    found.status = advance.status;
    found.nextRunAt = copyDate(advance.nextRunAt);
    found.runCount = advance.runCount;
    found.lastRunAt = copyDate(advance.lastRunAt);
    found.updatedAt = new Date();
    if (enqueued === undefined) return { claimed: true };
    found.lastTaskId = enqueued.id;
    return { claimed: true, enqueued };
  }

  /** Called by the task queue's close(): from then on every call throws StoreClosedError. */
  close(): void {
    this.lifecycle.close();
  }
}
