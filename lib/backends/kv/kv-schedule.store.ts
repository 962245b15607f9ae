/*
 * Schedules on a key-value storage, shared by every process on it.
 *
 * Each schedule is one record (its key is the id when it is a plain name, else a hash of it, see
 * recordKey; the id itself is inside the record): every change is a compare-and-swap, so writers
 * in different processes never lose each other's updates. (The folder keeps them as
 * `schedules/<key>.json`, with claims in `schedule-claims/`.)
 *
 * Fire protocol (one claim and one task per tick, across processes and crashes):
 * 1. Claim: one compare-and-swap checks that the schedule is active, its nextRunAt still equals
 *    the tick and no earlier fire is still open, then advances it and records the fire's task in
 *    the record (`pendingTask`). Of all racing processes exactly one such write lands; the others
 *    re-read, see the schedule advanced and report `claimed: false` without touching the queue.
 *    A slow loser therefore enqueues nothing, even after the winner's task finished and its
 *    idempotency key (which dedupes only live tasks and those within their dedupe window)
 *    stopped counting.
 * 2. Enqueue the recorded task.
 * 3. Close: a second compare-and-swap drops `pendingTask` and sets `lastTaskId`.
 * A process that dies between 1 and 3 leaves the task recorded, not lost: whoever next meets the
 * open fire (dueSchedules, which every scheduler polls; the schedule's next fire; its delete)
 * does steps 2 and 3 for it. Doing them twice, or racing the live winner, is harmless: the task's
 * id is fixed in the record, so of several enqueues of it one creates it and the others get
 * DuplicateTaskIdError. (Only a task finished and purged within a finisher's few milliseconds
 * between reading the record and enqueueing could be stored twice.)
 *
 * Enqueueing before the claim would instead make every racer's task visible to workers until the
 * losers removed theirs, so a loser's task could run; claiming first means no task exists that
 * the schedule does not name. A fire whose task id is already stored is refused before its claim
 * (DuplicateTaskIdError), so the tick stays to fire with another task.
 */
import type { LoggerService } from '@nestjs/common';
import { DuplicateTaskIdError } from '../../errors/store.errors.js';
import type { ScheduleRecord, ScheduleStatus } from '../../models/schedule.model.js';
import type { NewTask } from '../../models/task.model.js';
import { meetsExpectation, type FireOutcome, type ScheduleAdvance, type ScheduleExpectation, type ScheduleStore } from '../../storage/schedule.store.js';
import type { EnqueueOutcome } from '../../storage/task-queue.store.js';
import { IO_CONCURRENCY, mapLimit } from './kv-concurrency.js';
import { DELETE, type CorruptRecordError, type KvRecords, type RecordCodec, type Versioned } from './kv-records.js';
import { NEW_TASK_DATES, recordKey, reviveDates } from './kv-task-codec.js';
import { copyDate } from './kv-task-transitions.js';

const SCHEDULE_DATES = ['at', 'startAt', 'endAt', 'nextRunAt', 'lastRunAt', 'createdAt', 'updatedAt', 'pausedAt'];
const STATUSES = new Set<string>(['active', 'paused', 'expired', 'disabled'] satisfies ScheduleStatus[]);

/** A schedule's stored content: the record, and the task of a fire claimed but not yet closed. */
export interface ScheduleBody {
  schedule: ScheduleRecord;
  pendingTask?: NewTask;
}

type ScheduleVersion = Versioned<ScheduleBody>;

function reviveSchedule(parsed: unknown): ScheduleRecord {
  const schedule = parsed as Record<string, unknown> | null | undefined;
  if (typeof schedule !== 'object' || schedule === null) throw new Error('no schedule in the file');
  if (typeof schedule.id !== 'string' || !STATUSES.has(schedule.status as string) || typeof schedule.runCount !== 'number') {
    throw new Error('the schedule lacks an id, a valid status or a run count');
  }
  reviveDates(schedule, SCHEDULE_DATES);
  return schedule as unknown as ScheduleRecord;
}

export const SCHEDULE_CODEC: RecordCodec<ScheduleBody> = {
  format: 'omniq.schedule/1',
  revive(body) {
    const schedule = reviveSchedule(body.schedule);
    const task = body.pendingTask as Record<string, unknown> | null | undefined;
    if (task === undefined) return { schedule };
    if (typeof task !== 'object' || task === null || typeof task.id !== 'string') throw new Error('the pending task lacks an id');
    reviveDates(task, NEW_TASK_DATES);
    return { schedule, pendingTask: task as unknown as NewTask };
  },
};

/** A deep copy made the way the record stores it, so no object of the caller's ends up shared. */
const copySchedule = (schedule: ScheduleRecord): ScheduleRecord => reviveSchedule(JSON.parse(JSON.stringify(schedule)));

const byId = (a: ScheduleRecord, b: ScheduleRecord): number => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

/** Is the schedule still waiting to fire at `tickMs`? (The precondition of a fire's claim.) */
const awaitsTick = (schedule: ScheduleRecord, tickMs: number): boolean =>
  schedule.status === 'active' && schedule.nextRunAt?.getTime() === tickMs;

/** What the schedule store needs from the task queue it enqueues into. */
export interface ScheduleTaskSink {
  enqueue(tasks: readonly NewTask[]): Promise<EnqueueOutcome[]>;
  /** Whether a task with this id is stored. */
  taskExists(id: string): Promise<boolean>;
  assertOpen(operation: string): void;
}

/** A ScheduleStore on key-value records (see the fire protocol above). */
export class KvScheduleStore implements ScheduleStore {
  private readonly reportedCorrupt = new Set<string>();

  constructor(
    private readonly records: KvRecords<ScheduleBody>,
    private readonly queue: ScheduleTaskSink,
    private readonly logger: LoggerService,
  ) {}

  async saveSchedule(schedule: ScheduleRecord, expected?: ScheduleExpectation): Promise<boolean> {
    this.queue.assertOpen('saveSchedule');
    const record = copySchedule(schedule);
    const key = recordKey(record.id);
    for (;;) {
      if (!expected || expected.absent) {
        if (await this.records.create(key, { schedule: record })) return true;
        if (expected?.absent) return false;
      }
      // A replacement keeps an open fire: it was claimed, so its task must still be enqueued.
      const outcome = await this.records.mutate(
        key,
        (current) => (expected && !meetsExpectation(current.schedule, expected) ? undefined : { schedule: record, pendingTask: current.pendingTask }),
        { onBusy: 'wait' },
      );
      if (outcome.kind === 'written') return true;
      if (outcome.kind !== 'missing' || expected) return false;
    }
  }

  async getSchedule(id: string): Promise<ScheduleRecord | undefined> {
    this.queue.assertOpen('getSchedule');
    return (await this.records.read(recordKey(id)))?.body.schedule;
  }

  async listSchedules(): Promise<ScheduleRecord[]> {
    this.queue.assertOpen('listSchedules');
    return (await this.readAll()).map((version) => version.body.schedule).sort(byId);
  }

  async deleteSchedule(id: string): Promise<boolean> {
    this.queue.assertOpen('deleteSchedule');
    const key = recordKey(id);
    for (;;) {
      const outcome = await this.records.mutate(key, (body) => (body.pendingTask ? undefined : DELETE), { onBusy: 'wait' });
      if (outcome.kind !== 'unchanged') return outcome.kind === 'deleted';
      // An open fire was claimed: its task is enqueued before the record that names it goes.
      await this.finishFire(key, outcome.current.body.pendingTask!);
    }
  }

  async setScheduleStatus(id: string, status: ScheduleStatus, nextRunAt?: Date): Promise<ScheduleRecord | undefined> {
    this.queue.assertOpen('setScheduleStatus');
    const now = new Date();
    const outcome = await this.records.mutate(
      recordKey(id),
      (body) => {
        if (body.schedule.status === status) return undefined;
        const pausedAt = status === 'paused' ? copyDate(now) : undefined;
        return { ...body, schedule: { ...body.schedule, status, nextRunAt: nextRunAt && copyDate(nextRunAt), pausedAt, updatedAt: now } };
      },
      { onBusy: 'wait' },
    );
    if (outcome.kind === 'written') return outcome.after.body.schedule;
    if (outcome.kind === 'unchanged') return outcome.current.body.schedule;
    return undefined;
  }

  async dueSchedules(now: Date, limit: number): Promise<ScheduleRecord[]> {
    this.queue.assertOpen('dueSchedules');
    let versions = await this.readAll();
    const open = versions.filter((version) => version.body.pendingTask !== undefined);
    if (open.length > 0) {
      // Every scheduler polls here, so fires left open by a dead process are finished within a
      // poll. Read again: the caller's overlap check needs the `lastTaskId` they set.
      await mapLimit(open, IO_CONCURRENCY, ({ body }) => this.finishFire(recordKey(body.schedule.id), body.pendingTask!));
      versions = await this.readAll();
    }
    const nowMs = now.getTime();
    return versions
      .map((version) => version.body.schedule)
      .filter((schedule) => schedule.status === 'active' && schedule.nextRunAt !== undefined && schedule.nextRunAt.getTime() <= nowMs)
      .sort((a, b) => a.nextRunAt!.getTime() - b.nextRunAt!.getTime())
      .slice(0, limit);
  }

  async nextDueAt(): Promise<Date | undefined> {
    this.queue.assertOpen('nextDueAt');
    let soonest: Date | undefined;
    for (const { body } of await this.readAll()) {
      const next = body.schedule.status === 'active' ? body.schedule.nextRunAt : undefined;
      if (next !== undefined && (soonest === undefined || next < soonest)) soonest = next;
    }
    return soonest;
  }

  async fireSchedule(id: string, expectedNextRunAt: Date, advance: ScheduleAdvance, task?: NewTask): Promise<FireOutcome> {
    this.queue.assertOpen('fireSchedule');
    const key = recordKey(id);
    const tickMs = expectedNextRunAt.getTime();
    const now = new Date();
    // Checked before the claim: once claimed, the fire's task is enqueued whatever it takes, and
    // a duplicate id then means another finisher stored it.
    if (task && (await this.queue.taskExists(task.id))) throw new DuplicateTaskIdError(task.id);
    for (;;) {
      const outcome = await this.records.mutate(
        key,
        (body) => {
          if (!awaitsTick(body.schedule, tickMs) || body.pendingTask) return undefined;
          const schedule: ScheduleRecord = {
            ...body.schedule,
            status: advance.status,
            nextRunAt: advance.nextRunAt && copyDate(advance.nextRunAt),
            runCount: advance.runCount,
            lastRunAt: advance.lastRunAt && copyDate(advance.lastRunAt),
            updatedAt: now,
          };
          return { schedule, pendingTask: task };
        },
        { onBusy: 'wait' },
      );
      if (outcome.kind === 'written') return task ? { claimed: true, enqueued: await this.finishFire(key, task) } : { claimed: true };
      if (outcome.kind !== 'unchanged' || !awaitsTick(outcome.current.body.schedule, tickMs)) return { claimed: false };
      // The tick is due but the previous fire is still open (its process died or is slow): its
      // task goes first, and the claim is tried again.
      await this.finishFire(key, outcome.current.body.pendingTask!);
    }
  }

  /**
   * Steps 2 and 3 of the fire protocol: enqueues the open fire's task, then closes the fire. Safe
   * to repeat and to run in several processes at once.
   */
  private async finishFire(key: string, task: NewTask): Promise<EnqueueOutcome> {
    const enqueued = await this.enqueueOnce(task);
    await this.records.mutate(
      key,
      (body) => (body.pendingTask?.id === task.id ? { schedule: { ...body.schedule, lastTaskId: enqueued.id } } : undefined),
      { onBusy: 'wait' },
    );
    return enqueued;
  }

  /**
   * Enqueues a fire's task. Task ids are never reused, so a duplicate id means another finisher of
   * the same fire stored it: the fire's own task exists, which is `created` from the fire's view.
   */
  private async enqueueOnce(task: NewTask): Promise<EnqueueOutcome> {
    try {
      const [enqueued] = await this.queue.enqueue([task]);
      return enqueued;
    } catch (error) {
      if (!(error instanceof DuplicateTaskIdError)) throw error;
      return { id: task.id, created: true };
    }
  }

  /** Every schedule; a damaged one is logged once and left out, so the others still fire. */
  private readAll(): Promise<ScheduleVersion[]> {
    return this.records.list((error) => this.reportCorrupt(error));
  }

  private reportCorrupt(error: CorruptRecordError): void {
    if (this.reportedCorrupt.has(error.location)) return;
    this.reportedCorrupt.add(error.location);
    this.logger.error(`Skipping a damaged schedule ${error.medium}: ${error.message}`);
  }
}
