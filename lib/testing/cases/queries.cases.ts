import { randomUUID } from 'node:crypto';
import { WRITE_NOTHING } from '../../storage/task-queue.store.js';
import { countMap, ids, newTask, reserveRequest, taskError, testClock, NO_LAPSE_LIMIT } from '../fixtures.js';
import type { EngineHarness } from '../harness.js';
import { describe, expect, it } from '../test-globals.js';
import { endAs, reserveOnly, running, tokenOf } from './steps.js';

export function describeQueryCases(h: EngineHarness): void {
  describe('list, getMany, counts and purgeFinished', () => {
    it('lists oldest first, filtered by queue, status and name, with offset paging', async () => {
      const a1 = newTask({ queue: 'a', name: 'x' });
      const a2 = newTask({ queue: 'a', name: 'y' });
      const b1 = newTask({ queue: 'b', name: 'x' });
      const a3 = newTask({ queue: 'a', name: 'x' });
      await h.tasks.enqueue([a1, a2, b1, a3]);
      await h.tasks.reserve(reserveRequest({ queues: ['a'], limit: 1 }));

      expect(ids((await h.tasks.list()).items)).toEqual(ids([a1, a2, b1, a3]));
      expect(ids((await h.tasks.list({ queue: 'a' })).items)).toEqual(ids([a1, a2, a3]));
      expect(ids((await h.tasks.list({ status: 'running' })).items)).toEqual([a1.id]);
      const live = await h.tasks.list({ status: ['pending', 'running'], queue: 'a' });
      expect(ids(live.items)).toEqual(ids([a1, a2, a3]));
      expect(ids((await h.tasks.list({ name: 'x' })).items)).toEqual(ids([a1, b1, a3]));
      const page = await h.tasks.list({ offset: 1, limit: 2 });
      expect(page).toMatchObject({ total: 4, offset: 1, limit: 2 });
      expect(ids(page.items)).toEqual(ids([a2, b1]));
      expect((await h.tasks.list({ queue: 'a', status: 'pending', limit: 1 })).total).toBe(2);
    });

    it('pages with a cursor that stays put while tasks are added and removed', async () => {
      const tasks = Array.from({ length: 5 }, (_, i) => newTask({ name: `t${i}` }));
      for (const task of tasks) await h.tasks.enqueue([task]);
      const first = await h.tasks.list({ limit: 2 });
      expect(ids(first.items)).toEqual(ids(tasks.slice(0, 2)));
      expect(first.total).toBe(5);
      expect(first.nextCursor).toEqual(expect.any(String));

      await h.tasks.cancel(tasks[1]!.id, taskError(), WRITE_NOTHING);
      expect(await h.tasks.purgeFinished(new Date(Date.now() + 60_000))).toBe(1);
      const added = newTask({ name: 'added' });
      await h.tasks.enqueue([added]);

      const second = await h.tasks.list({ limit: 2, after: first.nextCursor });
      expect(ids(second.items)).toEqual(ids(tasks.slice(2, 4)));
      expect(second.total).toBe(5);
      const third = await h.tasks.list({ limit: 2, after: second.nextCursor });
      expect(ids(third.items)).toEqual([tasks[4]!.id, added.id]);
      expect(third.nextCursor).toBeUndefined();
      const filtered = await h.tasks.list({ limit: 1, name: 't3', after: first.nextCursor });
      expect(ids(filtered.items)).toEqual([tasks[3]!.id]);
    });

    it('gets many tasks in the order asked, undefined for unknown ids', async () => {
      const a = newTask();
      const b = newTask();
      await h.tasks.enqueue([a, b]);
      const unknown = randomUUID();
      const found = await h.tasks.getMany([b.id, unknown, a.id, b.id]);
      expect(found.map((record) => record?.id)).toEqual([b.id, undefined, a.id, b.id]);
      expect(await h.tasks.getMany([])).toEqual([]);
    });

    it('counts tasks per queue and status, only non-zero rows', async () => {
      const t = testClock();
      await h.tasks.enqueue([newTask({ queue: 'a' }), newTask({ queue: 'a' }), newTask({ queue: 'a' })]);
      await h.tasks.enqueue([newTask({ queue: 'b', createdAt: t(0), runAt: t(60_000) })]);
      await h.tasks.reserve(reserveRequest({ queues: ['a'], limit: 1 }));
      const counts = await h.tasks.counts();
      expect(counts).toHaveLength(3);
      expect(counts).toEqual(
        expect.arrayContaining([
          { queue: 'a', status: 'pending', count: 2 },
          { queue: 'a', status: 'running', count: 1 },
          { queue: 'b', status: 'scheduled', count: 1 },
        ]),
      );
    });

    it('keeps counts exact through every transition', async () => {
      const t = testClock();
      const counted = async (): Promise<Record<string, number>> => countMap(await h.tasks.counts());
      const a = newTask({ name: 'a', createdAt: t(0) });
      const b = newTask({ name: 'b', createdAt: t(0), runAt: t(60_000) });
      await h.tasks.enqueue([a, b]);
      expect(await counted()).toEqual({ 'default/pending': 1, 'default/scheduled': 1 });
      const first = await reserveOnly(h.tasks, a, { now: t(0), leaseMs: 1000 });
      expect(await counted()).toEqual({ 'default/running': 1, 'default/scheduled': 1 });
      await h.tasks.reclaimLapsed(t(2000), 10, WRITE_NOTHING, NO_LAPSE_LIMIT);
      expect(await counted()).toEqual({ 'default/pending': 1, 'default/scheduled': 1 });
      expect(first.attempts).toBe(1);
      const second = await reserveOnly(h.tasks, a, { now: t(2000) });
      await h.tasks.settle([{ id: a.id, token: tokenOf(second), outcome: 'retry', error: taskError(), retryAt: t(3000) }], WRITE_NOTHING);
      expect(await counted()).toEqual({ 'default/retrying': 1, 'default/scheduled': 1 });
      const third = await reserveOnly(h.tasks, a, { now: t(3000) });
      await h.tasks.settle([{ id: a.id, token: tokenOf(third), outcome: 'release' }], WRITE_NOTHING);
      expect(await counted()).toEqual({ 'default/pending': 1, 'default/scheduled': 1 });
      await endAs(h.tasks, a, 'success');
      expect(await counted()).toEqual({ 'default/success': 1, 'default/scheduled': 1 });
      expect(await h.tasks.promoteDue(t(60_000), 10)).toBe(1);
      expect(await counted()).toEqual({ 'default/success': 1, 'default/pending': 1 });
      await endAs(h.tasks, b, 'failed', { request: { now: t(60_000) } });
      expect(await counted()).toEqual({ 'default/success': 1, 'default/failed': 1 });

      const c = newTask({ name: 'c', queue: 'q2' });
      const d = newTask({ name: 'd', queue: 'q2', createdAt: t(0), expiresAt: t(1000) });
      await h.tasks.enqueue([c, d]);
      await h.tasks.cancel(c.id, taskError(), WRITE_NOTHING);
      await h.tasks.expireOverdue(t(2000), 10, WRITE_NOTHING);
      expect(await counted()).toEqual({ 'default/success': 1, 'default/failed': 1, 'q2/cancelled': 1, 'q2/expired': 1 });
      await h.tasks.requeue(b.id, WRITE_NOTHING);
      expect(await counted()).toEqual({ 'default/success': 1, 'default/pending': 1, 'q2/cancelled': 1, 'q2/expired': 1 });
      await h.tasks.purgeFinished(new Date(Date.now() + 60_000));
      expect(await counted()).toEqual({ 'default/pending': 1 });
    });

    it('purges final tasks completed before the cutoff, at most limit per call, and nothing else', async () => {
      const t = testClock();
      const old = await running(h.tasks, newTask({ queue: 'old' }));
      const older = await running(h.tasks, newTask({ queue: 'old' }));
      const recent = await running(h.tasks, newTask({ queue: 'recent' }));
      const live = newTask();
      await h.tasks.enqueue([live]);
      await h.tasks.settle(
        [
          { id: old.id, token: tokenOf(old), outcome: 'success', at: t(1000) },
          { id: older.id, token: tokenOf(older), outcome: 'cancelled', at: t(500) },
          { id: recent.id, token: tokenOf(recent), outcome: 'failed', error: taskError(), at: t(5000) },
        ],
        WRITE_NOTHING,
      );
      expect(await h.tasks.purgeFinished(t(3000), 1)).toBe(1);
      expect(await h.tasks.purgeFinished(t(3000), 1)).toBe(1);
      expect(await h.tasks.getMany([old.id, older.id])).toEqual([undefined, undefined]);
      expect(await h.tasks.purgeFinished(t(5000))).toBe(0);
      expect(await h.tasks.purgeFinished(t(10_000))).toBe(1);
      expect(await h.tasks.get(recent.id)).toBeUndefined();
      expect((await h.tasks.get(live.id))?.status).toBe('pending');
    });
  });
}
