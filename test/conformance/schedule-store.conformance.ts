import { randomUUID } from 'node:crypto';
import type { ScheduleRecord } from '../../lib/models/schedule.model.js';
import type { ScheduleStore } from '../../lib/storage/schedule.store.js';
import type { TaskQueueStore } from '../../lib/storage/task-queue.store.js';
import { newTask, testClock, useFreshStore } from './fixtures.js';

export function newSchedule(overrides: Partial<ScheduleRecord> = {}): ScheduleRecord {
  const now = new Date();
  return {
    id: `schedule-${randomUUID()}`,
    kind: 'interval',
    everyMs: 1_000,
    taskName: 'conformance.task',
    payload: { format: 'omniq-json/1', data: '{}' },
    missed: 'skip',
    overlap: false,
    source: 'runtime',
    specHash: 'hash-1',
    status: 'active',
    nextRunAt: new Date(now.getTime() + 1_000),
    runCount: 0,
    createdAt: now,
    updatedAt: now,
    ...overrides,
  };
}

/** The schedule part of a task-queue backend: storage, due queries and the atomic fire. */
export function describeScheduleStoreConformance(backendName: string, factory: () => Promise<TaskQueueStore>): void {
  describe(`schedule store conformance: ${backendName}`, () => {
    const queue = useFreshStore(factory);
    const store = (): ScheduleStore => {
      const schedules = queue().schedules;
      if (!schedules) throw new Error(`${backendName} keeps no schedules`);
      return schedules;
    };

    it('saves, replaces, lists by id, and deletes schedules, handing out copies', async () => {
      const b = newSchedule({ id: 'b', cron: '*/5 * * * * *', kind: 'cron', tz: 'Europe/Berlin', everyMs: undefined });
      const a = newSchedule({ id: 'a', startAt: new Date('2030-01-01T00:00:00Z'), maxRuns: 3 });
      await store().saveSchedule(b);
      await store().saveSchedule(a);
      expect(await store().getSchedule('b')).toEqual(b);
      expect((await store().listSchedules()).map((s) => s.id)).toEqual(['a', 'b']);
      const copy = (await store().getSchedule('a'))!;
      copy.nextRunAt!.setTime(0);
      copy.status = 'paused';
      expect(await store().getSchedule('a')).toEqual(a);
      await store().saveSchedule({ ...a, specHash: 'hash-2', runCount: 2 });
      expect(await store().getSchedule('a')).toMatchObject({ specHash: 'hash-2', runCount: 2 });
      expect(await store().deleteSchedule('a')).toBe(true);
      expect(await store().deleteSchedule('a')).toBe(false);
      expect(await store().getSchedule('a')).toBeUndefined();
    });

    it('sets the status with its next fire time, once', async () => {
      const t = testClock();
      const s = newSchedule({ nextRunAt: t(1_000) });
      await store().saveSchedule(s);
      const paused = await store().setScheduleStatus(s.id, 'paused');
      expect(paused).toMatchObject({ status: 'paused' });
      expect(paused?.nextRunAt).toBeUndefined();
      expect(paused?.pausedAt).toBeInstanceOf(Date);
      expect(await store().setScheduleStatus(s.id, 'paused', t(5_000))).toEqual(paused);
      const resumed = await store().setScheduleStatus(s.id, 'active', t(9_000));
      expect(resumed).toMatchObject({ status: 'active', nextRunAt: t(9_000) });
      expect(resumed?.pausedAt).toBeUndefined();
      expect(await store().setScheduleStatus('missing', 'paused')).toBeUndefined();
    });

    it('lists due active schedules soonest first, and the soonest next fire', async () => {
      const t = testClock();
      await store().saveSchedule(newSchedule({ id: 'late', nextRunAt: t(300) }));
      await store().saveSchedule(newSchedule({ id: 'early', nextRunAt: t(100) }));
      await store().saveSchedule(newSchedule({ id: 'future', nextRunAt: t(5_000) }));
      await store().saveSchedule(newSchedule({ id: 'paused', status: 'paused', nextRunAt: t(50) }));
      expect((await store().dueSchedules(t(1_000), 10)).map((s) => s.id)).toEqual(['early', 'late']);
      expect((await store().dueSchedules(t(1_000), 1)).map((s) => s.id)).toEqual(['early']);
      expect(await store().nextDueAt()).toEqual(t(100));
    });

    it('fires once per expected time: the compare-and-set enqueues the task atomically', async () => {
      const t = testClock();
      const s = newSchedule({ nextRunAt: t(0) });
      await store().saveSchedule(s);
      const task = newTask({ scheduleId: s.id, key: `schedule:${s.id}:${t(0).getTime()}` });
      const outcome = await store().fireSchedule(s.id, t(0), { nextRunAt: t(1_000), status: 'active', runCount: 1, lastRunAt: t(0) }, task);
      expect(outcome).toEqual({ claimed: true, enqueued: { id: task.id, created: true } });
      expect(await store().getSchedule(s.id)).toMatchObject({ nextRunAt: t(1_000), runCount: 1, lastRunAt: t(0), lastTaskId: task.id });
      expect((await queue().get(task.id))?.scheduleId).toBe(s.id);
      const again = await store().fireSchedule(s.id, t(0), { nextRunAt: t(1_000), status: 'active', runCount: 1 }, newTask());
      expect(again).toEqual({ claimed: false });
      expect((await queue().list()).total).toBe(1);
    });

    it('lets exactly one of many racing fires claim a tick', async () => {
      const t = testClock();
      const s = newSchedule({ nextRunAt: t(0) });
      await store().saveSchedule(s);
      const outcomes = await Promise.all(
        Array.from({ length: 8 }, () => store().fireSchedule(s.id, t(0), { nextRunAt: t(1_000), status: 'active', runCount: 1 }, newTask({ scheduleId: s.id }))),
      );
      expect(outcomes.filter((o) => o.claimed)).toHaveLength(1);
      expect((await queue().list()).total).toBe(1);
    });

    it('does not fire a paused schedule, and advances without a task when none is given', async () => {
      const t = testClock();
      const paused = newSchedule({ status: 'paused', nextRunAt: t(0) });
      await store().saveSchedule(paused);
      expect(await store().fireSchedule(paused.id, t(0), { nextRunAt: t(1_000), status: 'active', runCount: 1 }, newTask())).toEqual({ claimed: false });
      const skipping = newSchedule({ nextRunAt: t(0) });
      await store().saveSchedule(skipping);
      expect(await store().fireSchedule(skipping.id, t(0), { nextRunAt: t(1_000), status: 'active', runCount: 0 })).toEqual({ claimed: true });
      expect(await store().getSchedule(skipping.id)).toMatchObject({ nextRunAt: t(1_000), runCount: 0 });
      expect((await queue().list()).total).toBe(0);
    });

    it('expires a schedule through its last fire', async () => {
      const t = testClock();
      const s = newSchedule({ nextRunAt: t(0), maxRuns: 1 });
      await store().saveSchedule(s);
      await store().fireSchedule(s.id, t(0), { status: 'expired', runCount: 1, lastRunAt: t(0) }, newTask());
      const expired = await store().getSchedule(s.id);
      expect(expired).toMatchObject({ status: 'expired', runCount: 1 });
      expect(expired?.nextRunAt).toBeUndefined();
      expect(await store().dueSchedules(t(10_000), 10)).toEqual([]);
    });
  });
}
