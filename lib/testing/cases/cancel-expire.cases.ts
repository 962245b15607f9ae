import { randomUUID } from 'node:crypto';
import type { TaskRecord } from '../../models/task.model.js';
import { parentFailedError, unrunOutcome } from '../../storage/outcomes.js';
import { WRITE_NOTHING } from '../../storage/task-queue.store.js';
import { ids, newTask, reserveRequest, taskError, testClock, WRITE_ALL, NO_LAPSE_LIMIT } from '../fixtures.js';
import type { EngineHarness } from '../harness.js';
import { describe, expect, it } from '../test-globals.js';
import { HELD_PLAIN, running, tokenOf } from './steps.js';

export function describeCancelAndExpiryCases(h: EngineHarness): void {
  describe('cancel', () => {
    it('cancels a waiting task and frees its idempotency key', async () => {
      const task = newTask({ key: 'report' });
      await h.tasks.enqueue([task]);
      const error = taskError('not needed');
      const outcome = await h.tasks.cancel(task.id, error, WRITE_NOTHING);
      expect(outcome?.changed).toBe(true);
      const cancelled = outcome?.task;
      expect(cancelled).toMatchObject({ id: task.id, status: 'cancelled', lastError: error });
      expect(cancelled?.completedAt).toBeInstanceOf(Date);
      expect(outcome?.ended).toEqual([cancelled]);
      expect(await h.tasks.get(task.id)).toEqual(cancelled);
      expect(await h.tasks.cancel(task.id, taskError('again'), WRITE_NOTHING)).toEqual({ task: cancelled, changed: false, ended: [] });
      expect(await h.tasks.reserve(reserveRequest())).toEqual([]);
      const next = newTask({ key: 'report' });
      expect(await h.tasks.enqueue([next])).toEqual([{ id: next.id, created: true }]);
    });

    it('ends a waiting task with its dependents, the task first, writing their results and events with the scope', async () => {
      const parent = newTask({ name: 'parent' });
      const child = newTask({ name: 'child', dependsOn: [parent.id] });
      const grandchild = newTask({ name: 'grandchild', dependsOn: [child.id] });
      await h.tasks.enqueue([parent, child, grandchild]);
      const error = taskError('called off');
      const outcome = await h.tasks.cancel(parent.id, error, WRITE_ALL);
      expect(outcome?.ended[0]?.id).toBe(parent.id);
      expect(new Set(ids(outcome?.ended.slice(1) ?? []))).toEqual(new Set([child.id, grandchild.id]));
      const stored = (await h.tasks.getMany([parent.id, child.id, grandchild.id])) as TaskRecord[];
      expect(stored.map((record) => record.status)).toEqual(['cancelled', 'cancelled', 'cancelled']);
      expect(stored[1]).toMatchObject({ cancelledBy: parent.id, lastError: parentFailedError(stored[0]!) });
      expect(stored[2]).toMatchObject({ cancelledBy: child.id });
      expect(await h.results.get(parent.id)).toEqual(unrunOutcome(stored[0]!).result);
      expect(await h.results.get(parent.id)).toMatchObject({ status: 'cancelled', error });
      for (const record of stored) {
        const events = await h.events.query({ taskId: record.id });
        expect(events.map((event) => event.type)).toEqual(['cancelled']);
      }
    });

    it('writes no results or events for what it ends when the scope is false', async () => {
      const task = newTask();
      await h.tasks.enqueue([task]);
      await h.tasks.cancel(task.id, taskError(), WRITE_NOTHING);
      expect(await h.results.get(task.id)).toBeUndefined();
      expect(await h.events.query({ taskId: task.id })).toEqual([]);
    });

    it('marks a running task cancel-requested (once) and keeps its lease valid for the holder to settle', async () => {
      const task = await running(h.tasks, newTask());
      const other = await running(h.tasks, newTask());
      const first = await h.tasks.cancel(task.id, taskError('stop'), WRITE_ALL);
      expect(first).toMatchObject({ changed: true, ended: [] });
      const requested = first?.task;
      expect(requested).toMatchObject({ status: 'running', leaseToken: tokenOf(task) });
      expect(requested?.cancelRequestedAt).toBeInstanceOf(Date);
      const second = await h.tasks.cancel(task.id, taskError('stop'), WRITE_ALL);
      expect(second).toMatchObject({ changed: false, ended: [] });
      expect(second?.task.cancelRequestedAt).toEqual(requested?.cancelRequestedAt);
      expect(await h.tasks.cancelRequested([task.id, other.id, randomUUID()])).toEqual([task.id]);
      expect(await h.results.get(task.id)).toBeUndefined();
      expect(await h.tasks.settle([{ id: task.id, token: tokenOf(task), outcome: 'cancelled' }], WRITE_NOTHING)).toEqual([HELD_PLAIN]);
      expect(await h.tasks.cancelRequested([task.id])).toEqual([]);
      expect((await h.tasks.get(task.id))?.status).toBe('cancelled');
    });

    it('returns undefined for an unknown id', async () => {
      expect(await h.tasks.cancel(randomUUID(), taskError(), WRITE_NOTHING)).toBeUndefined();
    });
  });

  describe('expireOverdue', () => {
    it('expires only waiting tasks past their expiresAt, and returns them', async () => {
      const t = testClock();
      const busy = await running(h.tasks, newTask({ queue: 'busy', createdAt: t(0), expiresAt: t(1000) }), { now: t(0), leaseMs: 60_000 });
      const pending = newTask({ createdAt: t(0), expiresAt: t(1000) });
      const scheduled = newTask({ createdAt: t(0), runAt: t(5000), expiresAt: t(2000) });
      const retrying = await running(h.tasks, newTask({ queue: 'retry', createdAt: t(0), expiresAt: t(2500) }), { now: t(0) });
      await h.tasks.settle([{ id: retrying.id, token: tokenOf(retrying), outcome: 'retry', error: taskError(), retryAt: t(2000) }], WRITE_NOTHING);
      const future = newTask({ createdAt: t(0), expiresAt: t(60_000) });
      const forever = newTask({ createdAt: t(0) });
      await h.tasks.enqueue([pending, scheduled, future, forever]);

      const expired = await h.tasks.expireOverdue(t(3000), 100, WRITE_NOTHING);
      expect(new Set(ids(expired))).toEqual(new Set([pending.id, scheduled.id, retrying.id]));
      for (const record of expired) {
        expect(record).toMatchObject({ status: 'expired', completedAt: expect.any(Date) });
        expect(await h.tasks.get(record.id)).toEqual(record);
      }
      expect((await h.tasks.get(busy.id))?.status).toBe('running');
      const reserved = await h.tasks.reserve(reserveRequest({ queues: ['default', 'retry'], now: t(6000) }));
      expect(ids(reserved)).toEqual([future.id, forever.id]);
    });

    it('expires at most limit tasks per call', async () => {
      const t = testClock();
      await h.tasks.enqueue([1, 2, 3].map(() => newTask({ createdAt: t(0), expiresAt: t(1000) })));
      expect(await h.tasks.expireOverdue(t(2000), 2, WRITE_NOTHING)).toHaveLength(2);
      expect(await h.tasks.expireOverdue(t(2000), 2, WRITE_NOTHING)).toHaveLength(1);
      expect(await h.tasks.expireOverdue(t(2000), 2, WRITE_NOTHING)).toHaveLength(0);
    });

    it('leaves a running task whose lease lapsed alone until it is reclaimed, then expires it', async () => {
      const t = testClock();
      const task = await running(h.tasks, newTask({ createdAt: t(0), expiresAt: t(5000) }), { now: t(0), leaseMs: 1000 });
      expect(await h.tasks.expireOverdue(t(6000), 10, WRITE_NOTHING)).toEqual([]);
      expect((await h.tasks.get(task.id))?.status).toBe('running');
      await h.tasks.reclaimLapsed(t(6000), 10, WRITE_NOTHING, NO_LAPSE_LIMIT);
      expect(ids(await h.tasks.expireOverdue(t(6000), 10, WRITE_NOTHING))).toEqual([task.id]);
      const expired = await h.tasks.get(task.id);
      expect(expired).toMatchObject({ status: 'expired' });
      expect(expired?.leaseToken).toBeUndefined();
    });

    it('cancels the dependents of an expired task in the same step, with results and events', async () => {
      const t = testClock();
      const parent = newTask({ name: 'parent', createdAt: t(0), expiresAt: t(1000), ttlMs: 1000 });
      const child = newTask({ name: 'child', dependsOn: [parent.id] });
      await h.tasks.enqueue([parent, child]);
      const ended = await h.tasks.expireOverdue(t(2000), 10, WRITE_ALL);
      expect(ids(ended)).toEqual([parent.id, child.id]);
      const [expired, cancelled] = (await h.tasks.getMany([parent.id, child.id])) as TaskRecord[];
      expect(expired).toMatchObject({ status: 'expired' });
      expect(cancelled).toMatchObject({ status: 'cancelled', cancelledBy: parent.id, lastError: parentFailedError(expired!) });
      expect(await h.results.get(parent.id)).toEqual(unrunOutcome(expired!).result);
      expect(await h.results.get(child.id)).toEqual(unrunOutcome(cancelled!).result);
      expect((await h.events.query({ taskId: parent.id })).map((event) => event.type)).toEqual(['expired']);
      expect((await h.events.query({ taskId: child.id })).map((event) => event.type)).toEqual(['cancelled']);
    });
  });

  describe('promoteDue and nextDueAt', () => {
    it('moves due scheduled and retrying tasks to pending, at most limit per call, and tells when the next falls due', async () => {
      const t = testClock();
      const soon = newTask({ createdAt: t(0), runAt: t(1000) });
      const later = newTask({ createdAt: t(0), runAt: t(3000) });
      const retrying = await running(h.tasks, newTask({ queue: 'retry', createdAt: t(0) }), { now: t(0) });
      await h.tasks.settle([{ id: retrying.id, token: tokenOf(retrying), outcome: 'retry', error: taskError(), retryAt: t(2000) }], WRITE_NOTHING);
      await h.tasks.enqueue([soon, later]);
      expect(await h.tasks.nextDueAt()).toEqual(t(1000));
      expect(await h.tasks.promoteDue(t(500), 10)).toBe(0);
      expect(await h.tasks.promoteDue(t(2500), 1)).toBe(1);
      expect(await h.tasks.promoteDue(t(2500), 10)).toBe(1);
      const [a, b, c] = (await h.tasks.getMany([soon.id, retrying.id, later.id])) as TaskRecord[];
      expect([a!.status, b!.status, c!.status]).toEqual(['pending', 'pending', 'scheduled']);
      expect(b).toMatchObject({ attempts: 1, lastError: taskError() });
      expect(await h.tasks.nextDueAt()).toEqual(t(3000));
      expect(await h.tasks.promoteDue(t(3500), 10)).toBe(1);
      expect(await h.tasks.nextDueAt()).toBeUndefined();
    });
  });
}
