import { randomUUID } from 'node:crypto';
import type { TaskRecord } from '../../models/task.model.js';
import { WRITE_NOTHING } from '../../storage/task-queue.store.js';
import { ids, newTask, reserveRequest, taskError, testClock, WRITE_ALL } from '../fixtures.js';
import type { EngineHarness } from '../harness.js';
import { describe, expect, it } from '../test-globals.js';
import { endAs, HELD_PLAIN, running, tokenOf } from './steps.js';

export function describeBulkCases(h: EngineHarness): void {
  describe('requeue', () => {
    it('sends a failed task back to pending with attempts reset, due at once', async () => {
      const task = newTask({ queue: 'mail' });
      await h.tasks.enqueue([task]);
      await endAs(h.tasks, task, 'failed');
      const outcome = await h.tasks.requeue(task.id, WRITE_NOTHING);
      expect(outcome).toMatchObject({ changed: true, revived: [], task: { id: task.id, status: 'pending', attempts: 0 } });
      expect(await h.tasks.get(task.id)).toEqual(outcome?.task);
      const [again] = await h.tasks.reserve(reserveRequest({ queues: ['mail'], now: new Date(Date.now() + 1) }));
      expect(again).toMatchObject({ id: task.id, attempts: 1 });
    });

    it('clears the cancel request of a task cancelled while running: the requeued task runs anew', async () => {
      const task = await running(h.tasks, newTask());
      await h.tasks.cancel(task.id, taskError('stop'), WRITE_NOTHING);
      await h.tasks.settle([{ id: task.id, token: tokenOf(task), outcome: 'cancelled' }], WRITE_NOTHING);
      const outcome = await h.tasks.requeue(task.id, WRITE_NOTHING);
      expect(outcome?.task.status).toBe('pending');
      expect(outcome?.task.cancelRequestedAt).toBeUndefined();
    });

    it('gives a requeued expired task a fresh ttl', async () => {
      const t = testClock();
      const task = newTask({ createdAt: t(-120_000), ttlMs: 60_000, expiresAt: t(-60_000) });
      await h.tasks.enqueue([task]);
      await h.tasks.expireOverdue(t(0), 10, WRITE_NOTHING);
      const requeued = (await h.tasks.requeue(task.id, WRITE_NOTHING))?.task as TaskRecord;
      expect(requeued.status).toBe('pending');
      expect(requeued.expiresAt?.getTime()).toBeGreaterThanOrEqual(t(60_000).getTime());
      expect(ids(await h.tasks.reserve(reserveRequest({ now: new Date(Date.now() + 1) })))).toEqual([task.id]);
    });

    it('holds the key of the requeued task again', async () => {
      const task = newTask({ key: 'invoice-7' });
      await h.tasks.enqueue([task]);
      await endAs(h.tasks, task, 'failed');
      await h.tasks.requeue(task.id, WRITE_NOTHING);
      expect(await h.tasks.enqueue([newTask({ key: 'invoice-7' })])).toEqual([{ id: task.id, created: false }]);
    });

    it('returns a task that is not failed, cancelled or expired unchanged', async () => {
      const waiting = newTask();
      await h.tasks.enqueue([waiting]);
      const stored = await h.tasks.get(waiting.id);
      expect(await h.tasks.requeue(waiting.id, WRITE_NOTHING)).toEqual({ task: stored, changed: false, revived: [] });
      const busy = await running(h.tasks, newTask({ queue: 'busy' }));
      expect(await h.tasks.requeue(busy.id, WRITE_NOTHING)).toEqual({ task: busy, changed: false, revived: [] });
      expect(await h.tasks.requeue(randomUUID(), WRITE_NOTHING)).toBeUndefined();
    });
  });

  describe('bulk admin by selector', () => {
    it('requeueWhere requeues failed, cancelled and expired tasks matching, oldest first, in bounded calls', async () => {
      const t = testClock();
      const failed = newTask({ name: 'failed', queue: 'bulk' });
      const ofFailed = newTask({ name: 'child', queue: 'bulk', dependsOn: [failed.id] });
      const cancelled = newTask({ name: 'cancelled', queue: 'bulk' });
      const expired = newTask({ name: 'expired', queue: 'bulk', createdAt: t(-2000), expiresAt: t(-1000) });
      const succeeded = newTask({ name: 'succeeded', queue: 'bulk' });
      const elsewhere = newTask({ name: 'failed', queue: 'other' });
      await h.tasks.enqueue([failed, ofFailed, cancelled, expired, succeeded, elsewhere]);
      await endAs(h.tasks, failed, 'failed');
      await endAs(h.tasks, elsewhere, 'failed');
      await endAs(h.tasks, succeeded, 'success');
      await h.tasks.cancel(cancelled.id, taskError(), WRITE_NOTHING);
      await h.tasks.expireOverdue(t(0), 10, WRITE_NOTHING);

      expect(await h.tasks.requeueWhere({ queue: 'bulk', status: 'pending' }, 10, WRITE_NOTHING)).toEqual([]);
      const byStatus = await h.tasks.requeueWhere({ queue: 'bulk', status: 'failed' }, 10, WRITE_NOTHING);
      expect(ids(byStatus)).toEqual([failed.id]);
      expect(byStatus[0]).toMatchObject({ status: 'pending', attempts: 0 });
      expect((await h.tasks.get(ofFailed.id))?.cancelledBy).toBeUndefined();
      expect(['pending', 'scheduled']).toContain((await h.tasks.get(ofFailed.id))?.status);
      expect(ids(await h.tasks.requeueWhere({ queue: 'bulk' }, 1, WRITE_NOTHING))).toEqual([cancelled.id]);
      expect(ids(await h.tasks.requeueWhere({ queue: 'bulk' }, 10, WRITE_NOTHING))).toEqual([expired.id]);
      expect(await h.tasks.requeueWhere({ queue: 'bulk' }, 10, WRITE_NOTHING)).toEqual([]);
      expect((await h.tasks.getMany([succeeded.id, elsewhere.id])).map((record) => record?.status)).toEqual(['success', 'failed']);
    });

    it('cancelWhere cancels waiting tasks and asks running ones to stop, passing over those already asked', async () => {
      const asked = await running(h.tasks, newTask({ name: 'asked', queue: 'bulk' }));
      await h.tasks.cancel(asked.id, taskError('stop'), WRITE_NOTHING);
      const busy = await running(h.tasks, newTask({ name: 'busy', queue: 'bulk' }));
      const t = testClock();
      const waiting = [newTask({ queue: 'bulk' }), newTask({ queue: 'bulk', createdAt: t(0), runAt: t(60_000) })];
      const child = newTask({ name: 'child', queue: 'elsewhere', dependsOn: [waiting[0]!.id] });
      const untouched = newTask({ queue: 'other' });
      await h.tasks.enqueue([...waiting, child, untouched]);

      const first = await h.tasks.cancelWhere({ queue: 'bulk' }, taskError('bulk stop'), 1, WRITE_NOTHING);
      expect(first.changed).toBe(1);
      expect(first.ended).toEqual([]);
      expect(new Set(await h.tasks.cancelRequested([asked.id, busy.id]))).toEqual(new Set([asked.id, busy.id]));
      const rest = await h.tasks.cancelWhere({ queue: 'bulk' }, taskError('bulk stop'), 10, WRITE_NOTHING);
      expect(rest.changed).toBe(2);
      expect(new Set(ids(rest.ended))).toEqual(new Set([...ids(waiting), child.id]));
      expect(rest.ended.every((record) => record.status === 'cancelled')).toBe(true);
      expect(await h.tasks.cancelWhere({ queue: 'bulk' }, taskError(), 10, WRITE_NOTHING)).toEqual({ changed: 0, ended: [] });
      expect((await h.tasks.get(untouched.id))?.status).toBe('pending');
      expect(await h.tasks.settle([{ id: busy.id, token: tokenOf(busy), outcome: 'cancelled' }], WRITE_NOTHING)).toEqual([HELD_PLAIN]);
    });

    it('cancelWhere by name writes the results and events of what it ends with the scope', async () => {
      const matching = [newTask({ name: 'x' }), newTask({ name: 'x' })];
      const other = newTask({ name: 'y' });
      await h.tasks.enqueue([...matching, other]);
      const outcome = await h.tasks.cancelWhere({ name: 'x', status: ['pending'] }, taskError('x off'), 10, WRITE_ALL);
      expect(outcome.changed).toBe(2);
      expect(ids(outcome.ended)).toEqual(ids(matching));
      for (const task of matching) {
        expect(await h.results.get(task.id)).toMatchObject({ status: 'cancelled', error: taskError('x off') });
        expect((await h.events.query({ taskId: task.id })).map((event) => event.type)).toEqual(['cancelled']);
      }
      expect((await h.tasks.get(other.id))?.status).toBe('pending');
    });
  });

  describe('queue pause and resume', () => {
    it('pauses and resumes once each, lists paused queues by name, and lets running tasks go on', async () => {
      const task = await running(h.tasks, newTask({ queue: 'b' }));
      expect(await h.tasks.pauseQueue('b')).toBe(true);
      expect(await h.tasks.pauseQueue('b')).toBe(false);
      expect(await h.tasks.pauseQueue('a')).toBe(true);
      expect(await h.tasks.pausedQueues()).toEqual(['a', 'b']);
      expect(await h.tasks.settle([{ id: task.id, token: tokenOf(task), outcome: 'success' }], WRITE_NOTHING)).toEqual([HELD_PLAIN]);
      expect(await h.tasks.resumeQueue('a')).toBe(true);
      expect(await h.tasks.resumeQueue('a')).toBe(false);
      expect(await h.tasks.resumeQueue('never-paused')).toBe(false);
      expect(await h.tasks.pausedQueues()).toEqual(['b']);
    });
  });
}
