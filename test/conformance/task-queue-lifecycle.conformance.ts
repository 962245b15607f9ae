import { randomUUID } from 'node:crypto';
import type { NewTask, TaskRecord } from '../../lib/models/task.model.js';
import type { ReserveRequest, TaskQueueStore } from '../../lib/storage/task-queue.store.js';
import { ids, newTask, nextNotification, reserveRequest, taskError, testClock, useFreshStore } from './fixtures.js';

/**
 * What happens to a task after it was reserved: settlement, expiry, cancel and requeue, and the
 * read, purge, wake and close operations. Declared by describeTaskQueueConformance.
 */
export function describeTaskLifecycleConformance(factory: () => Promise<TaskQueueStore>): void {
  describe('task lifecycle', () => {
    const store = useFreshStore(factory);

    /** Enqueues `task` and reserves it alone (through its own queue). */
    async function running(task: NewTask, request: Partial<ReserveRequest> = {}): Promise<TaskRecord> {
      await store().enqueue([task]);
      const [reserved] = await store().reserve(reserveRequest({ queues: [task.queue], limit: 1, ...request }));
      expect(reserved?.id).toBe(task.id);
      return reserved;
    }
    const tokenOf = (record: TaskRecord): string => record.leaseToken as string;

    describe('settle', () => {
      it('success: marks the task succeeded and ends the lease', async () => {
        const t = testClock();
        const task = await running(newTask({ createdAt: t(0) }), { now: t(0) });
        const results = await store().settle([{ id: task.id, token: tokenOf(task), outcome: 'success', at: t(500) }]);
        expect(results).toEqual([true]);
        const settled = await store().get(task.id);
        expect(settled).toMatchObject({ status: 'success', completedAt: t(500), attempts: 1 });
        expect(settled?.workerId).toBeUndefined();
        expect(settled?.leaseToken).toBeUndefined();
        expect(settled?.leaseExpiresAt).toBeUndefined();
      });

      it('failed: marks the task failed with the error', async () => {
        const t = testClock();
        const task = await running(newTask({ createdAt: t(0) }), { now: t(0) });
        const error = taskError('no luck');
        await store().settle([{ id: task.id, token: tokenOf(task), outcome: 'failed', error, at: t(700) }]);
        const settled = await store().get(task.id);
        expect(settled).toMatchObject({ status: 'failed', lastError: error, completedAt: t(700) });
        expect(settled?.leaseToken).toBeUndefined();
      });

      it('retry: waits until retryAt, then runs the next attempt', async () => {
        const t = testClock();
        const task = await running(newTask({ createdAt: t(0) }), { now: t(0) });
        const error = taskError('try again');
        await store().settle([{ id: task.id, token: tokenOf(task), outcome: 'retry', error, retryAt: t(5000) }]);
        const waiting = await store().get(task.id);
        expect(waiting).toMatchObject({ status: 'retrying', runAt: t(5000), lastError: error, attempts: 1 });
        expect(waiting?.leaseToken).toBeUndefined();
        expect(waiting?.workerId).toBeUndefined();
        expect(await store().reserve(reserveRequest({ now: t(4999) }))).toEqual([]);
        const [again] = await store().reserve(reserveRequest({ now: t(5000) }));
        expect(again).toMatchObject({ id: task.id, status: 'running', attempts: 2 });
      });

      it('cancelled: marks the task cancelled, with the error when given', async () => {
        const t = testClock();
        const withError = await running(newTask({ createdAt: t(0) }), { now: t(0) });
        const withoutError = await running(newTask({ createdAt: t(0) }), { now: t(0) });
        const error = taskError('aborted');
        await store().settle([
          { id: withError.id, token: tokenOf(withError), outcome: 'cancelled', error, at: t(300) },
          { id: withoutError.id, token: tokenOf(withoutError), outcome: 'cancelled', at: t(300) },
        ]);
        const cancelled = await store().get(withError.id);
        expect(cancelled).toMatchObject({ status: 'cancelled', lastError: error, completedAt: t(300) });
        const plain = await store().get(withoutError.id);
        expect(plain).toMatchObject({ status: 'cancelled', completedAt: t(300) });
        expect(plain?.lastError).toBeUndefined();
        expect(plain?.leaseToken).toBeUndefined();
      });

      it('release: gives the task back due at once, without counting the attempt', async () => {
        const task = await running(newTask());
        const before = Date.now();
        await store().settle([{ id: task.id, token: tokenOf(task), outcome: 'release' }]);
        const after = Date.now();
        const released = (await store().get(task.id)) as TaskRecord;
        expect(released).toMatchObject({ status: 'pending', attempts: 0 });
        expect(released.leaseToken).toBeUndefined();
        expect(released.workerId).toBeUndefined();
        expect(released.runAt.getTime()).toBeGreaterThanOrEqual(before);
        expect(released.runAt.getTime()).toBeLessThanOrEqual(after);
        const [again] = await store().reserve(reserveRequest({ now: new Date(after) }));
        expect(again).toMatchObject({ id: task.id, attempts: 1 });
      });

      it('rejects a stale token or unknown id and leaves the task untouched', async () => {
        const task = await running(newTask());
        const before = await store().get(task.id);
        const results = await store().settle([
          { id: task.id, token: 'not-the-token', outcome: 'success' },
          { id: randomUUID(), token: tokenOf(task), outcome: 'success' },
        ]);
        expect(results).toEqual([false, false]);
        expect(await store().get(task.id)).toEqual(before);

        expect(await store().settle([{ id: task.id, token: tokenOf(task), outcome: 'success' }])).toEqual([true]);
        const settled = await store().get(task.id);
        const late = await store().settle([{ id: task.id, token: tokenOf(task), outcome: 'failed', error: taskError() }]);
        expect(late).toEqual([false]);
        expect(await store().get(task.id)).toEqual(settled);
      });

      it('reports each entry of a batch in input order', async () => {
        const a = await running(newTask());
        const b = await running(newTask());
        const results = await store().settle([
          { id: a.id, token: tokenOf(a), outcome: 'success' },
          { id: b.id, token: 'stale', outcome: 'success' },
          { id: b.id, token: tokenOf(b), outcome: 'failed', error: taskError() },
        ]);
        expect(results).toEqual([true, false, true]);
        expect((await store().get(b.id))?.status).toBe('failed');
      });
    });

    describe('setProgress', () => {
      it('stores JSON progress on the held task, visible through get, and rejects a stale token', async () => {
        const task = await running(newTask());
        expect(await store().setProgress(task.id, tokenOf(task), { done: 3, of: 10, stage: 'upload' })).toBe(true);
        expect((await store().get(task.id))?.progress).toEqual({ done: 3, of: 10, stage: 'upload' });
        expect(await store().setProgress(task.id, tokenOf(task), 0.5)).toBe(true);
        expect((await store().get(task.id))?.progress).toBe(0.5);
        expect(await store().setProgress(task.id, 'stale', 0.9)).toBe(false);
        expect(await store().setProgress(randomUUID(), tokenOf(task), 0.9)).toBe(false);
        expect((await store().get(task.id))?.progress).toBe(0.5);
      });
    });

    describe('expireOverdue', () => {
      it('expires only waiting tasks past their expiresAt, and returns them', async () => {
        const t = testClock();
        const busyTask = newTask({ queue: 'busy', createdAt: t(0), expiresAt: t(1000) });
        const busy = await running(busyTask, { now: t(0), leaseMs: 60_000 });
        const pending = newTask({ createdAt: t(0), expiresAt: t(1000) });
        const scheduled = newTask({ createdAt: t(0), runAt: t(5000), expiresAt: t(2000) });
        const retrying = await running(newTask({ queue: 'retry', createdAt: t(0), expiresAt: t(2500) }), { now: t(0) });
        await store().settle([
          { id: retrying.id, token: tokenOf(retrying), outcome: 'retry', error: taskError(), retryAt: t(2000) },
        ]);
        const future = newTask({ createdAt: t(0), expiresAt: t(60_000) });
        const forever = newTask({ createdAt: t(0) });
        await store().enqueue([pending, scheduled, future, forever]);

        const expired = await store().expireOverdue(t(3000));
        expect(new Set(ids(expired))).toEqual(new Set([pending.id, scheduled.id, retrying.id]));
        for (const record of expired) {
          expect(record).toMatchObject({ status: 'expired', completedAt: expect.any(Date) });
          expect(await store().get(record.id)).toMatchObject({ status: 'expired' });
        }
        expect((await store().get(busy.id))?.status).toBe('running');
        expect(ids(await store().reserve(reserveRequest({ queues: ['default', 'retry'], now: t(6000) })))).toEqual([
          future.id,
          forever.id,
        ]);
      });

      it('expires at most limit tasks per call', async () => {
        const t = testClock();
        await store().enqueue([1, 2, 3].map(() => newTask({ createdAt: t(0), expiresAt: t(1000) })));
        expect(await store().expireOverdue(t(2000), 2)).toHaveLength(2);
        expect(await store().expireOverdue(t(2000), 2)).toHaveLength(1);
        expect(await store().expireOverdue(t(2000), 2)).toHaveLength(0);
      });

      it('treats a running task whose lease lapsed as waiting, so it expires', async () => {
        const t = testClock();
        const task = await running(newTask({ createdAt: t(0), expiresAt: t(5000) }), { now: t(0), leaseMs: 1000 });
        expect(ids(await store().expireOverdue(t(6000)))).toEqual([task.id]);
        const expired = await store().get(task.id);
        expect(expired).toMatchObject({ status: 'expired' });
        expect(expired?.leaseToken).toBeUndefined();
      });
    });

    describe('cancel', () => {
      it('cancels a waiting task and frees its idempotency key', async () => {
        const task = newTask({ key: 'report' });
        await store().enqueue([task]);
        const error = taskError('not needed');
        const outcome = await store().cancel(task.id, error);
        expect(outcome?.changed).toBe(true);
        const cancelled = outcome?.task;
        expect(cancelled).toMatchObject({ id: task.id, status: 'cancelled', lastError: error });
        expect(cancelled?.completedAt).toBeInstanceOf(Date);
        expect(await store().get(task.id)).toEqual(cancelled);
        expect(await store().cancel(task.id, taskError('again'))).toEqual({ task: cancelled, changed: false });
        expect(await store().reserve(reserveRequest())).toEqual([]);
        const next = newTask({ key: 'report' });
        expect(await store().enqueue([next])).toEqual([{ id: next.id, created: true }]);
      });

      it('marks a running task cancel-requested (once) and keeps its lease valid for the holder to settle', async () => {
        const task = await running(newTask());
        const other = await running(newTask());
        const first = await store().cancel(task.id, taskError('stop'));
        expect(first?.changed).toBe(true);
        const requested = first?.task;
        expect(requested).toMatchObject({ status: 'running', leaseToken: tokenOf(task) });
        expect(requested?.cancelRequestedAt).toBeInstanceOf(Date);
        const second = await store().cancel(task.id);
        expect(second?.changed).toBe(false);
        expect(second?.task.cancelRequestedAt).toEqual(requested?.cancelRequestedAt);
        expect(await store().cancelRequested([task.id, other.id, randomUUID()])).toEqual([task.id]);
        expect(await store().settle([{ id: task.id, token: tokenOf(task), outcome: 'cancelled' }])).toEqual([true]);
        expect(await store().cancelRequested([task.id])).toEqual([]);
        expect((await store().get(task.id))?.status).toBe('cancelled');
      });

      it('returns undefined for an unknown id', async () => {
        expect(await store().cancel(randomUUID())).toBeUndefined();
      });
    });

    describe('requeue', () => {
      it('sends a failed task back to pending with attempts reset, and wakes workers', async () => {
        const task = await running(newTask({ queue: 'mail' }));
        await store().settle([{ id: task.id, token: tokenOf(task), outcome: 'failed', error: taskError() }]);
        const woken = nextNotification<string>((listener) => store().onWake(listener), (queue) => queue === 'mail');
        const requeued = await store().requeue(task.id);
        expect(requeued).toMatchObject({ id: task.id, status: 'pending', attempts: 0 });
        expect(await woken).toBe('mail');
        const [again] = await store().reserve(reserveRequest({ queues: ['mail'], now: new Date(Date.now() + 1) }));
        expect(again).toMatchObject({ id: task.id, attempts: 1 });
      });

      it('clears the cancel request of a task cancelled while running: the requeued task runs anew', async () => {
        const task = await running(newTask());
        await store().cancel(task.id);
        await store().settle([{ id: task.id, token: tokenOf(task), outcome: 'cancelled' }]);
        const requeued = await store().requeue(task.id);
        expect(requeued?.status).toBe('pending');
        expect(requeued?.cancelRequestedAt).toBeUndefined();
      });

      it('gives a requeued expired task a fresh ttl', async () => {
        const t = testClock();
        const task = newTask({ createdAt: t(-120_000), ttlMs: 60_000, expiresAt: t(-60_000) });
        await store().enqueue([task]);
        await store().expireOverdue(t(0));
        const requeued = (await store().requeue(task.id)) as TaskRecord;
        expect(requeued.status).toBe('pending');
        expect(requeued.expiresAt?.getTime()).toBeGreaterThanOrEqual(t(60_000).getTime());
        expect(ids(await store().reserve(reserveRequest({ now: new Date(Date.now() + 1) })))).toEqual([task.id]);
      });

      it('returns a task that is not failed, cancelled or expired unchanged', async () => {
        const waiting = newTask();
        await store().enqueue([waiting]);
        const stored = await store().get(waiting.id);
        expect(await store().requeue(waiting.id)).toEqual(stored);
        const busy = await running(newTask({ queue: 'busy' }));
        expect(await store().requeue(busy.id)).toEqual(busy);
        expect(await store().requeue(randomUUID())).toBeUndefined();
      });
    });

    describe('list, counts and purgeFinished', () => {
      it('lists oldest first, filtered by queue, status and name, with paging', async () => {
        const a1 = newTask({ queue: 'a', name: 'x' });
        const a2 = newTask({ queue: 'a', name: 'y' });
        const b1 = newTask({ queue: 'b', name: 'x' });
        const a3 = newTask({ queue: 'a', name: 'x' });
        await store().enqueue([a1, a2, b1, a3]);
        await store().reserve(reserveRequest({ queues: ['a'], limit: 1 }));

        expect(ids((await store().list()).items)).toEqual(ids([a1, a2, b1, a3]));
        expect(ids((await store().list({ queue: 'a' })).items)).toEqual(ids([a1, a2, a3]));
        expect(ids((await store().list({ status: 'running' })).items)).toEqual([a1.id]);
        const live = await store().list({ status: ['pending', 'running'], queue: 'a' });
        expect(ids(live.items)).toEqual(ids([a1, a2, a3]));
        expect(ids((await store().list({ name: 'x' })).items)).toEqual(ids([a1, b1, a3]));
        const page = await store().list({ offset: 1, limit: 2 });
        expect(page).toMatchObject({ total: 4, offset: 1, limit: 2 });
        expect(ids(page.items)).toEqual(ids([a2, b1]));
        expect((await store().list({ queue: 'a', status: 'pending', limit: 1 })).total).toBe(2);
      });

      it('counts tasks per queue and status, only non-zero rows', async () => {
        const t = testClock();
        await store().enqueue([newTask({ queue: 'a' }), newTask({ queue: 'a' }), newTask({ queue: 'a' })]);
        await store().enqueue([newTask({ queue: 'b', createdAt: t(0), runAt: t(60_000) })]);
        await store().reserve(reserveRequest({ queues: ['a'], limit: 1 }));
        const counts = await store().counts();
        expect(counts).toHaveLength(3);
        expect(counts).toEqual(
          expect.arrayContaining([
            { queue: 'a', status: 'pending', count: 2 },
            { queue: 'a', status: 'running', count: 1 },
            { queue: 'b', status: 'scheduled', count: 1 },
          ]),
        );
      });

      it('purges final tasks completed before the cutoff, and nothing else', async () => {
        const t = testClock();
        const old = await running(newTask({ queue: 'old' }));
        const recent = await running(newTask({ queue: 'recent' }));
        const live = newTask();
        await store().enqueue([live]);
        await store().settle([
          { id: old.id, token: tokenOf(old), outcome: 'success', at: t(1000) },
          { id: recent.id, token: tokenOf(recent), outcome: 'failed', error: taskError(), at: t(5000) },
        ]);
        expect(await store().purgeFinished(t(3000))).toBe(1);
        expect(await store().get(old.id)).toBeUndefined();
        expect(await store().purgeFinished(t(5000))).toBe(0);
        expect(await store().purgeFinished(t(10_000))).toBe(1);
        expect(await store().get(recent.id)).toBeUndefined();
        expect((await store().get(live.id))?.status).toBe('pending');
      });
    });

    describe('onWake and close', () => {
      it('wakes listeners with the queue of a due task when it is enqueued', async () => {
        const woken = nextNotification<string>((listener) => store().onWake(listener), (queue) => queue === 'mail');
        await store().enqueue([newTask({ queue: 'mail' })]);
        expect(await woken).toBe('mail');
      });

      it('wakes listeners when a task is released', async () => {
        const task = await running(newTask({ queue: 'mail' }));
        const woken = nextNotification<string>((listener) => store().onWake(listener), (queue) => queue === 'mail');
        await store().settle([{ id: task.id, token: tokenOf(task), outcome: 'release' }]);
        expect(await woken).toBe('mail');
      });

      it('stops calling a listener once unsubscribed', async () => {
        const dropped: string[] = [];
        store().onWake((queue) => dropped.push(queue))();
        const woken = nextNotification<string>((listener) => store().onWake(listener));
        await store().enqueue([newTask({ queue: 'mail' })]);
        await woken;
        expect(dropped).toEqual([]);
      });

      it('closes idempotently and rejects calls after close', async () => {
        await store().close();
        await expect(store().close()).resolves.toBeUndefined();
        await expect(store().enqueue([newTask()])).rejects.toThrow(/close/i);
        await expect(store().reserve(reserveRequest())).rejects.toThrow(/close/i);
        await expect(store().get(randomUUID())).rejects.toThrow(/close/i);
      });
    });
  });
}
