import { randomUUID } from 'node:crypto';
import { WRITE_NOTHING } from '../../storage/task-queue.store.js';
import { ids, newEvent, newResult, newTask, reserveRequest, taskError, testClock, WRITE_ALL, NO_LAPSE_LIMIT } from '../fixtures.js';
import type { EngineHarness } from '../harness.js';
import { describe, expect, it } from '../test-globals.js';
import { HELD_PLAIN, NOT_HELD, running, tokenOf } from './steps.js';

export function describeLeaseCases(h: EngineHarness): void {
  describe('leases: extend, lapse and reclaim', () => {
    it('extends live leases so the task is not reclaimed, and reports which were held', async () => {
      const task = await running(h.tasks, newTask(), { leaseMs: 1000 });
      const before = Date.now();
      const held = await h.tasks.extendLeases(
        [
          { id: task.id, token: tokenOf(task) },
          { id: task.id, token: 'not-the-token' },
          { id: randomUUID(), token: 'whatever' },
        ],
        60_000,
      );
      expect(held).toEqual([true, false, false]);
      const extended = await h.tasks.get(task.id);
      expect(extended?.leaseExpiresAt?.getTime()).toBeGreaterThanOrEqual(before + 60_000);
      expect(extended?.leaseToken).toBe(task.leaseToken);
      expect(await h.tasks.reclaimLapsed(new Date(before + 30_000), 10, WRITE_NOTHING, NO_LAPSE_LIMIT)).toEqual({ tasks: [], ended: [] });
      expect((await h.tasks.get(task.id))?.status).toBe('running');
    });

    it('a lapsed lease nobody reclaimed is still its holder’s: progress, extend and settle succeed', async () => {
      const t = testClock();
      const task = await running(h.tasks, newTask({ createdAt: t(-60_000) }), { now: t(-60_000), leaseMs: 1000 });
      expect(task.leaseExpiresAt!.getTime()).toBeLessThanOrEqual(Date.now());
      expect(await h.tasks.reserve(reserveRequest({ workerId: 'worker-2' }))).toEqual([]);
      expect(await h.tasks.setProgress(task.id, tokenOf(task), 0.5)).toBe(true);
      const before = Date.now();
      expect(await h.tasks.extendLeases([{ id: task.id, token: tokenOf(task) }], 30_000)).toEqual([true]);
      expect((await h.tasks.get(task.id))?.leaseExpiresAt?.getTime()).toBeGreaterThanOrEqual(before + 30_000);
      expect(await h.tasks.settle([{ id: task.id, token: tokenOf(task), outcome: 'success' }], WRITE_NOTHING)).toEqual([HELD_PLAIN]);
      expect((await h.tasks.get(task.id))?.status).toBe('success');
    });

    it('reclaimLapsed sends lapsed tasks back to pending, attempts unchanged, and leaves live leases alone', async () => {
      const t = testClock();
      const lapsed = await running(h.tasks, newTask({ queue: 'a', createdAt: t(0) }), { now: t(0), leaseMs: 1000 });
      const live = await running(h.tasks, newTask({ queue: 'b', createdAt: t(0) }), { now: t(0), leaseMs: 60_000 });
      expect(await h.tasks.reclaimLapsed(t(999), 10, WRITE_NOTHING, NO_LAPSE_LIMIT)).toEqual({ tasks: [], ended: [] });
      const { tasks: reclaimed } = await h.tasks.reclaimLapsed(t(1001), 10, WRITE_NOTHING, NO_LAPSE_LIMIT);
      expect(ids(reclaimed)).toEqual([lapsed.id]);
      expect(reclaimed[0]).toMatchObject({ status: 'pending', attempts: 1, lapses: 1 });
      const stored = await h.tasks.get(lapsed.id);
      expect(stored).toEqual(reclaimed[0]);
      expect(stored?.leaseToken).toBeUndefined();
      expect(stored?.workerId).toBeUndefined();
      expect(stored?.leaseExpiresAt).toBeUndefined();
      expect(await h.tasks.get(live.id)).toEqual(live);
    });

    it('reclaims at most limit tasks per call', async () => {
      const t = testClock();
      await h.tasks.enqueue([1, 2, 3].map(() => newTask({ createdAt: t(0) })));
      expect(await h.tasks.reserve(reserveRequest({ now: t(0), leaseMs: 1000 }))).toHaveLength(3);
      expect((await h.tasks.reclaimLapsed(t(5000), 2, WRITE_NOTHING, NO_LAPSE_LIMIT)).tasks).toHaveLength(2);
      expect((await h.tasks.reclaimLapsed(t(5000), 2, WRITE_NOTHING, NO_LAPSE_LIMIT)).tasks).toHaveLength(1);
      expect((await h.tasks.reclaimLapsed(t(5000), 2, WRITE_NOTHING, NO_LAPSE_LIMIT)).tasks).toHaveLength(0);
    });

    it('after a reclaim the task is reservable again and the old token is rejected for good', async () => {
      const t = testClock();
      const first = await running(h.tasks, newTask({ createdAt: t(0) }), { now: t(0), leaseMs: 1000 });
      await h.tasks.reclaimLapsed(t(2000), 10, WRITE_NOTHING, NO_LAPSE_LIMIT);
      const [second] = await h.tasks.reserve(reserveRequest({ now: t(2000), workerId: 'worker-2' }));
      expect(second).toMatchObject({ id: first.id, status: 'running', attempts: 2, workerId: 'worker-2' });
      expect(second?.leaseToken).not.toBe(first.leaseToken);

      const oldToken = tokenOf(first);
      expect(await h.tasks.settle([{ id: first.id, token: oldToken, outcome: 'success' }], WRITE_NOTHING)).toEqual([NOT_HELD]);
      expect(await h.tasks.extendLeases([{ id: first.id, token: oldToken }], 60_000)).toEqual([false]);
      expect(await h.tasks.setProgress(first.id, oldToken, 1)).toBe(false);
      expect(await h.tasks.get(first.id)).toEqual(second);
      expect(await h.tasks.settle([{ id: first.id, token: tokenOf(second!), outcome: 'success' }], WRITE_NOTHING)).toEqual([HELD_PLAIN]);
    });

    it('records a `reclaimed` event naming the lost attempt with scope.events, none without', async () => {
      const t = testClock();
      const recorded = await running(h.tasks, newTask({ queue: 'a', createdAt: t(0) }), { now: t(0), leaseMs: 1000, workerId: 'frozen' });
      await h.tasks.reclaimLapsed(t(2000), 10, WRITE_ALL, NO_LAPSE_LIMIT);
      const events = await h.events.query({ taskId: recorded.id });
      expect(events).toHaveLength(1);
      expect(events[0]).toMatchObject({ type: 'reclaimed', taskId: recorded.id, queue: 'a', workerId: 'frozen', attempt: 1 });

      const silent = await running(h.tasks, newTask({ queue: 'b', createdAt: t(0) }), { now: t(0), leaseMs: 1000 });
      await h.tasks.reclaimLapsed(t(2000), 10, WRITE_NOTHING, NO_LAPSE_LIMIT);
      expect((await h.tasks.get(silent.id))?.status).toBe('pending');
      expect(await h.events.query({ taskId: silent.id })).toEqual([]);
    });

    it('keeps the cancel request of a reclaimed task, so its next holder ends it unrun', async () => {
      const t = testClock();
      const task = await running(h.tasks, newTask({ createdAt: t(0) }), { now: t(0), leaseMs: 1000 });
      const requested = await h.tasks.cancel(task.id, taskError('stop'), WRITE_NOTHING);
      const requestedAt = requested?.task.cancelRequestedAt;
      expect(requestedAt).toBeInstanceOf(Date);
      await h.tasks.reclaimLapsed(t(2000), 10, WRITE_NOTHING, NO_LAPSE_LIMIT);
      expect(await h.tasks.get(task.id)).toMatchObject({ status: 'pending', cancelRequestedAt: requestedAt });
      const [next] = await h.tasks.reserve(reserveRequest({ now: t(2000), workerId: 'worker-2' }));
      expect(next).toMatchObject({ id: task.id, cancelRequestedAt: requestedAt });
      expect(await h.tasks.cancelRequested([task.id])).toEqual([task.id]);
    });

    it('a frozen worker settling late changes nothing: the result, task and timeline keep the live attempt', async () => {
      const t = testClock();
      const task = newTask({ createdAt: t(0) });
      const frozen = await running(h.tasks, task, { now: t(0), leaseMs: 1000, workerId: 'frozen' });
      expect(ids((await h.tasks.reclaimLapsed(t(2000), 10, WRITE_ALL, NO_LAPSE_LIMIT)).tasks)).toEqual([task.id]);
      const [live] = await h.tasks.reserve(reserveRequest({ now: t(2000), workerId: 'live' }));
      expect(live?.id).toBe(task.id);

      const r2 = newResult({ taskId: task.id, status: 'success', attempts: 2, workerId: 'live' });
      const completed = newEvent({ type: 'completed', taskId: task.id, attempt: 2, workerId: 'live' });
      const liveReport = await h.tasks.settle(
        [{ id: task.id, token: tokenOf(live!), outcome: 'success', at: t(2500), result: r2, events: [completed] }],
        WRITE_ALL,
      );
      expect(liveReport).toEqual([HELD_PLAIN]);

      const r1 = newResult({ taskId: task.id, status: 'failed', attempts: 1, workerId: 'frozen', value: undefined, error: taskError() });
      const failed = newEvent({ type: 'failed', taskId: task.id, attempt: 1, workerId: 'frozen' });
      const lateReport = await h.tasks.settle(
        [{ id: task.id, token: tokenOf(frozen), outcome: 'failed', error: taskError(), at: t(3000), result: r1, events: [failed] }],
        WRITE_ALL,
      );
      expect(lateReport).toEqual([NOT_HELD]);
      expect(await h.results.get(task.id)).toEqual(r2);
      expect(await h.tasks.get(task.id)).toMatchObject({ status: 'success', attempts: 2, completedAt: t(2500) });
      const ends = await h.events.query({ taskId: task.id, types: ['completed', 'failed'] });
      expect(ends).toEqual([completed]);
      expect((await h.events.query({ taskId: task.id, types: ['reclaimed'] })).map((event) => event.workerId)).toEqual(['frozen']);
    });
  });
}
