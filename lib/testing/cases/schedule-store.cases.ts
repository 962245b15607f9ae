import { DuplicateTaskIdError } from '../../errors/store.errors.js';
import { newSchedule, newTask, testClock } from '../fixtures.js';
import { type EngineHarness, rejection } from '../harness.js';
import { describe, expect, it } from '../test-globals.js';

/** The schedule part of the engine (engine.tasks.schedules): storage, due queries and the atomic fire. */
export function describeScheduleStoreCases(h: EngineHarness): void {
  describe('schedule store', () => {
    it('saves, replaces, lists by id, and deletes schedules, handing out copies', async () => {
      const b = newSchedule({ id: 'b', cron: '*/5 * * * * *', kind: 'cron', tz: 'Europe/Berlin', everyMs: undefined });
      const a = newSchedule({ id: 'a', startAt: new Date('2030-01-01T00:00:00Z'), maxRuns: 3 });
      await h.schedules.saveSchedule(b);
      await h.schedules.saveSchedule(a);
      expect(await h.schedules.getSchedule('b')).toEqual(b);
      expect((await h.schedules.listSchedules()).map((s) => s.id)).toEqual(['a', 'b']);
      const copy = (await h.schedules.getSchedule('a'))!;
      copy.nextRunAt!.setTime(0);
      copy.status = 'paused';
      expect(await h.schedules.getSchedule('a')).toEqual(a);
      await h.schedules.saveSchedule({ ...a, specHash: 'hash-2', runCount: 2 });
      expect(await h.schedules.getSchedule('a')).toMatchObject({ specHash: 'hash-2', runCount: 2 });
      expect(await h.schedules.deleteSchedule('a')).toBe(true);
      expect(await h.schedules.deleteSchedule('a')).toBe(false);
      expect(await h.schedules.getSchedule('a')).toBeUndefined();
    });

    it('saves only while the stored schedule meets the expectation, so replicas reconciling at once never rewind a fire', async () => {
      const t = testClock();
      const s = newSchedule({ id: 'cas', nextRunAt: t(0) });
      expect(await h.schedules.saveSchedule(s, { absent: true })).toBe(true);
      expect(await h.schedules.saveSchedule({ ...s, specHash: 'other' }, { absent: true })).toBe(false);
      const read = (await h.schedules.getSchedule('cas'))!;
      await h.schedules.fireSchedule('cas', t(0), { nextRunAt: t(1_000), status: 'active', runCount: 1, lastRunAt: t(0) });
      const stale = { specHash: read.specHash, status: read.status, runCount: read.runCount, nextRunAt: read.nextRunAt };
      expect(await h.schedules.saveSchedule({ ...s, specHash: 'changed' }, stale)).toBe(false);
      expect(await h.schedules.getSchedule('cas')).toMatchObject({ runCount: 1, nextRunAt: t(1_000), specHash: s.specHash });
      const fresh = (await h.schedules.getSchedule('cas'))!;
      const expected = { specHash: fresh.specHash, status: fresh.status, runCount: fresh.runCount, nextRunAt: fresh.nextRunAt };
      expect(await h.schedules.saveSchedule({ ...fresh, specHash: 'changed' }, expected)).toBe(true);
      expect((await h.schedules.getSchedule('cas'))?.specHash).toBe('changed');
      expect(await h.schedules.saveSchedule({ ...s, id: 'missing' }, expected)).toBe(false);
      expect(await h.schedules.getSchedule('missing')).toBeUndefined();
    });

    it('sets the status with its next fire time, once', async () => {
      const t = testClock();
      const s = newSchedule({ nextRunAt: t(1_000) });
      await h.schedules.saveSchedule(s);
      const paused = await h.schedules.setScheduleStatus(s.id, 'paused');
      expect(paused).toMatchObject({ status: 'paused' });
      expect(paused?.nextRunAt).toBeUndefined();
      expect(paused?.pausedAt).toBeInstanceOf(Date);
      expect(await h.schedules.setScheduleStatus(s.id, 'paused', t(5_000))).toEqual(paused);
      const resumed = await h.schedules.setScheduleStatus(s.id, 'active', t(9_000));
      expect(resumed).toMatchObject({ status: 'active', nextRunAt: t(9_000) });
      expect(resumed?.pausedAt).toBeUndefined();
      expect(await h.schedules.setScheduleStatus('missing', 'paused')).toBeUndefined();
    });

    it('lists due active schedules soonest first, and the soonest next fire', async () => {
      const t = testClock();
      await h.schedules.saveSchedule(newSchedule({ id: 'late', nextRunAt: t(300) }));
      await h.schedules.saveSchedule(newSchedule({ id: 'early', nextRunAt: t(100) }));
      await h.schedules.saveSchedule(newSchedule({ id: 'future', nextRunAt: t(5_000) }));
      await h.schedules.saveSchedule(newSchedule({ id: 'paused', status: 'paused', nextRunAt: t(50) }));
      expect((await h.schedules.dueSchedules(t(1_000), 10)).map((s) => s.id)).toEqual(['early', 'late']);
      expect((await h.schedules.dueSchedules(t(1_000), 1)).map((s) => s.id)).toEqual(['early']);
      expect(await h.schedules.nextDueAt()).toEqual(t(100));
    });

    it('fires once per expected time: the compare-and-set enqueues the task atomically', async () => {
      const t = testClock();
      const s = newSchedule({ nextRunAt: t(0) });
      await h.schedules.saveSchedule(s);
      const task = newTask({ scheduleId: s.id, key: `schedule:${s.id}:${t(0).getTime()}` });
      const outcome = await h.schedules.fireSchedule(s.id, t(0), { nextRunAt: t(1_000), status: 'active', runCount: 1, lastRunAt: t(0) }, task);
      expect(outcome).toEqual({ claimed: true, enqueued: { id: task.id, created: true } });
      expect(await h.schedules.getSchedule(s.id)).toMatchObject({ nextRunAt: t(1_000), runCount: 1, lastRunAt: t(0), lastTaskId: task.id });
      expect((await h.tasks.get(task.id))?.scheduleId).toBe(s.id);
      const again = await h.schedules.fireSchedule(s.id, t(0), { nextRunAt: t(1_000), status: 'active', runCount: 1 }, newTask());
      expect(again).toEqual({ claimed: false });
      expect((await h.tasks.list()).total).toBe(1);
    });

    it('lets exactly one of many racing fires claim a tick', async () => {
      const t = testClock();
      const s = newSchedule({ nextRunAt: t(0) });
      await h.schedules.saveSchedule(s);
      const outcomes = await Promise.all(
        Array.from({ length: 8 }, () => h.schedules.fireSchedule(s.id, t(0), { nextRunAt: t(1_000), status: 'active', runCount: 1 }, newTask({ scheduleId: s.id }))),
      );
      expect(outcomes.filter((o) => o.claimed)).toHaveLength(1);
      expect((await h.tasks.list()).total).toBe(1);
    });

    it('does not fire a paused schedule, and advances without a task when none is given', async () => {
      const t = testClock();
      const paused = newSchedule({ status: 'paused', nextRunAt: t(0) });
      await h.schedules.saveSchedule(paused);
      expect(await h.schedules.fireSchedule(paused.id, t(0), { nextRunAt: t(1_000), status: 'active', runCount: 1 }, newTask())).toEqual({ claimed: false });
      const skipping = newSchedule({ nextRunAt: t(0) });
      await h.schedules.saveSchedule(skipping);
      expect(await h.schedules.fireSchedule(skipping.id, t(0), { nextRunAt: t(1_000), status: 'active', runCount: 0 })).toEqual({ claimed: true });
      expect(await h.schedules.getSchedule(skipping.id)).toMatchObject({ nextRunAt: t(1_000), runCount: 0 });
      expect((await h.tasks.list()).total).toBe(0);
    });

    it('expires a schedule through its last fire', async () => {
      const t = testClock();
      const s = newSchedule({ nextRunAt: t(0), maxRuns: 1 });
      await h.schedules.saveSchedule(s);
      await h.schedules.fireSchedule(s.id, t(0), { status: 'expired', runCount: 1, lastRunAt: t(0) }, newTask());
      const expired = await h.schedules.getSchedule(s.id);
      expect(expired).toMatchObject({ status: 'expired', runCount: 1 });
      expect(expired?.nextRunAt).toBeUndefined();
      expect(await h.schedules.dueSchedules(t(10_000), 10)).toEqual([]);
    });

    it('a fire whose task cannot be stored changes nothing, so the tick is not lost', async () => {
      const t = testClock();
      const s = newSchedule({ nextRunAt: t(0) });
      await h.schedules.saveSchedule(s);
      const stored = newTask();
      await h.tasks.enqueue([stored]);
      const advance = { nextRunAt: t(1_000), status: 'active' as const, runCount: 1, lastRunAt: t(0) };
      const error = await rejection('fireSchedule with a stored task id', () => h.schedules.fireSchedule(s.id, t(0), advance, newTask({ id: stored.id })));
      expect(error).toBeInstanceOf(DuplicateTaskIdError);
      expect(await h.schedules.getSchedule(s.id)).toEqual(s);
      const retried = newTask({ scheduleId: s.id });
      expect(await h.schedules.fireSchedule(s.id, t(0), advance, retried)).toEqual({ claimed: true, enqueued: { id: retried.id, created: true } });
    });

    it('a fire whose task key is held claims the tick and names the holder', async () => {
      const t = testClock();
      const s = newSchedule({ nextRunAt: t(0) });
      await h.schedules.saveSchedule(s);
      const holder = newTask({ key: 'one-at-a-time' });
      await h.tasks.enqueue([holder]);
      const outcome = await h.schedules.fireSchedule(s.id, t(0), { nextRunAt: t(1_000), status: 'active', runCount: 1 }, newTask({ key: 'one-at-a-time' }));
      expect(outcome).toEqual({ claimed: true, enqueued: { id: holder.id, created: false } });
      expect((await h.tasks.list()).total).toBe(1);
    });
  });
}
