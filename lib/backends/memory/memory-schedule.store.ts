import type { NewTask } from '../../models/task.model.js';
import type { ScheduleRecord, ScheduleStatus } from '../../models/schedule.model.js';
import type { FireOutcome, ScheduleAdvance, ScheduleStore } from '../../storage/schedule.store.js';
import type { TaskQueueStore } from '../../storage/task-queue.store.js';
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
 * Schedules in process memory, beside the memory task queue they enqueue into. JavaScript runs
 * one fire at a time, so the compare-and-set and the enqueue cannot interleave with another fire.
 */
export class MemoryScheduleStore implements ScheduleStore {
  private readonly schedules = new Map<string, ScheduleRecord>();

  constructor(private readonly queue: TaskQueueStore) {}

  async saveSchedule(schedule: ScheduleRecord): Promise<void> {
    this.schedules.set(schedule.id, copySchedule(schedule));
  }

  async getSchedule(id: string): Promise<ScheduleRecord | undefined> {
    const found = this.schedules.get(id);
    return found && copySchedule(found);
  }

  async listSchedules(): Promise<ScheduleRecord[]> {
    return [...this.schedules.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)).map(copySchedule);
  }

  async deleteSchedule(id: string): Promise<boolean> {
    return this.schedules.delete(id);
  }

  async setScheduleStatus(id: string, status: ScheduleStatus, nextRunAt?: Date): Promise<ScheduleRecord | undefined> {
    const found = this.schedules.get(id);
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
    return [...this.schedules.values()]
      .filter((s) => s.status === 'active' && s.nextRunAt !== undefined && s.nextRunAt <= now)
      .sort((a, b) => a.nextRunAt!.getTime() - b.nextRunAt!.getTime())
      .slice(0, limit)
      .map(copySchedule);
  }

  async nextDueAt(): Promise<Date | undefined> {
    let soonest: Date | undefined;
    for (const s of this.schedules.values()) {
      if (s.status === 'active' && s.nextRunAt && (!soonest || s.nextRunAt < soonest)) soonest = s.nextRunAt;
    }
    return copyDate(soonest);
  }

  async fireSchedule(id: string, expectedNextRunAt: Date, advance: ScheduleAdvance, task?: NewTask): Promise<FireOutcome> {
    const found = this.schedules.get(id);
    if (!found || found.status !== 'active' || found.nextRunAt?.getTime() !== expectedNextRunAt.getTime()) return { claimed: false };
    found.status = advance.status;
    found.nextRunAt = copyDate(advance.nextRunAt);
    found.runCount = advance.runCount;
    found.lastRunAt = copyDate(advance.lastRunAt);
    found.updatedAt = new Date();
    if (!task) return { claimed: true };
    const [enqueued] = await this.queue.enqueue([task]);
    found.lastTaskId = enqueued!.id;
    return { claimed: true, enqueued };
  }
}
