import { randomUUID } from 'node:crypto';
import type { TaskRecord } from '../../models/task.model.js';
import { WRITE_NOTHING } from '../../storage/task-queue.store.js';
import { newEvent, newResult, newTask, reserveRequest, taskError, testClock, WRITE_ALL } from '../fixtures.js';
import type { EngineHarness } from '../harness.js';
import { describe, expect, it } from '../test-globals.js';
import { HELD_PLAIN, NOT_HELD, running, tokenOf } from './steps.js';

export function describeSettleCases(h: EngineHarness): void {
  describe('settle', () => {
    it('success: marks the task succeeded and ends the lease', async () => {
      const t = testClock();
      const task = await running(h.tasks, newTask({ createdAt: t(0) }), { now: t(0) });
      const reports = await h.tasks.settle([{ id: task.id, token: tokenOf(task), outcome: 'success', at: t(500) }], WRITE_NOTHING);
      expect(reports).toEqual([HELD_PLAIN]);
      const settled = await h.tasks.get(task.id);
      expect(settled).toMatchObject({ status: 'success', completedAt: t(500), attempts: 1 });
      expect(settled?.workerId).toBeUndefined();
      expect(settled?.leaseToken).toBeUndefined();
      expect(settled?.leaseExpiresAt).toBeUndefined();
    });

    it('failed: marks the task failed with the error', async () => {
      const t = testClock();
      const task = await running(h.tasks, newTask({ createdAt: t(0) }), { now: t(0) });
      const error = taskError('no luck');
      const reports = await h.tasks.settle([{ id: task.id, token: tokenOf(task), outcome: 'failed', error, at: t(700) }], WRITE_NOTHING);
      expect(reports).toEqual([HELD_PLAIN]);
      const settled = await h.tasks.get(task.id);
      expect(settled).toMatchObject({ status: 'failed', lastError: error, completedAt: t(700) });
      expect(settled?.leaseToken).toBeUndefined();
    });

    it('retry: waits until retryAt, then runs the next attempt', async () => {
      const t = testClock();
      const task = await running(h.tasks, newTask({ createdAt: t(0) }), { now: t(0) });
      const error = taskError('try again');
      const reports = await h.tasks.settle([{ id: task.id, token: tokenOf(task), outcome: 'retry', error, retryAt: t(5000) }], WRITE_NOTHING);
      expect(reports).toEqual([HELD_PLAIN]);
      const waiting = await h.tasks.get(task.id);
      expect(waiting).toMatchObject({ status: 'retrying', runAt: t(5000), lastError: error, attempts: 1 });
      expect(waiting?.leaseToken).toBeUndefined();
      expect(waiting?.workerId).toBeUndefined();
      expect(await h.tasks.reserve(reserveRequest({ now: t(4999) }))).toEqual([]);
      const [again] = await h.tasks.reserve(reserveRequest({ now: t(5000) }));
      expect(again).toMatchObject({ id: task.id, status: 'running', attempts: 2 });
    });

    it('cancelled: marks the task cancelled, with the error when given', async () => {
      const t = testClock();
      const withError = await running(h.tasks, newTask({ createdAt: t(0) }), { now: t(0) });
      const withoutError = await running(h.tasks, newTask({ createdAt: t(0) }), { now: t(0) });
      const error = taskError('aborted');
      const reports = await h.tasks.settle(
        [
          { id: withError.id, token: tokenOf(withError), outcome: 'cancelled', error, at: t(300) },
          { id: withoutError.id, token: tokenOf(withoutError), outcome: 'cancelled', at: t(300) },
        ],
        WRITE_NOTHING,
      );
      expect(reports).toEqual([HELD_PLAIN, HELD_PLAIN]);
      expect(await h.tasks.get(withError.id)).toMatchObject({ status: 'cancelled', lastError: error, completedAt: t(300) });
      const plain = await h.tasks.get(withoutError.id);
      expect(plain).toMatchObject({ status: 'cancelled', completedAt: t(300) });
      expect(plain?.lastError).toBeUndefined();
      expect(plain?.leaseToken).toBeUndefined();
    });

    it('release: gives the task back due at once, without counting the attempt', async () => {
      const task = await running(h.tasks, newTask());
      const before = Date.now();
      expect(await h.tasks.settle([{ id: task.id, token: tokenOf(task), outcome: 'release' }], WRITE_NOTHING)).toEqual([HELD_PLAIN]);
      const after = Date.now();
      const released = (await h.tasks.get(task.id)) as TaskRecord;
      expect(released).toMatchObject({ status: 'pending', attempts: 0 });
      expect(released.leaseToken).toBeUndefined();
      expect(released.workerId).toBeUndefined();
      expect(released.runAt.getTime()).toBeGreaterThanOrEqual(before);
      expect(released.runAt.getTime()).toBeLessThanOrEqual(after);
      const [again] = await h.tasks.reserve(reserveRequest({ now: new Date(after) }));
      expect(again).toMatchObject({ id: task.id, attempts: 1 });
    });

    it('release with scope.events records one `released` event naming the attempt', async () => {
      const task = await running(h.tasks, newTask(), { workerId: 'worker-9' });
      await h.tasks.settle([{ id: task.id, token: tokenOf(task), outcome: 'release' }], WRITE_ALL);
      const events = await h.events.query({ taskId: task.id });
      expect(events).toHaveLength(1);
      expect(events[0]).toMatchObject({ type: 'released', taskId: task.id, workerId: 'worker-9', attempt: 1 });
    });

    it('rejects a stale token or unknown id and leaves the task untouched', async () => {
      const task = await running(h.tasks, newTask());
      const before = await h.tasks.get(task.id);
      const reports = await h.tasks.settle(
        [
          { id: task.id, token: 'not-the-token', outcome: 'success' },
          { id: randomUUID(), token: tokenOf(task), outcome: 'success' },
        ],
        WRITE_NOTHING,
      );
      expect(reports).toEqual([NOT_HELD, NOT_HELD]);
      expect(await h.tasks.get(task.id)).toEqual(before);

      expect(await h.tasks.settle([{ id: task.id, token: tokenOf(task), outcome: 'success' }], WRITE_NOTHING)).toEqual([HELD_PLAIN]);
      const settled = await h.tasks.get(task.id);
      const late = await h.tasks.settle([{ id: task.id, token: tokenOf(task), outcome: 'failed', error: taskError() }], WRITE_NOTHING);
      expect(late).toEqual([NOT_HELD]);
      expect(await h.tasks.get(task.id)).toEqual(settled);
    });

    it('reports each entry of a batch in input order', async () => {
      const a = await running(h.tasks, newTask());
      const b = await running(h.tasks, newTask());
      const reports = await h.tasks.settle(
        [
          { id: a.id, token: tokenOf(a), outcome: 'success' },
          { id: b.id, token: 'stale', outcome: 'success' },
          { id: b.id, token: tokenOf(b), outcome: 'failed', error: taskError() },
        ],
        WRITE_NOTHING,
      );
      expect(reports).toEqual([HELD_PLAIN, NOT_HELD, HELD_PLAIN]);
      expect((await h.tasks.get(b.id))?.status).toBe('failed');
    });
  });

  describe('settle: results, events and outbox in the same step', () => {
    it('writes the settlement result and events when the scope says so and the lease is held', async () => {
      const task = await running(h.tasks, newTask());
      const result = newResult({ taskId: task.id });
      const completed = newEvent({ type: 'completed', taskId: task.id });
      await h.tasks.settle([{ id: task.id, token: tokenOf(task), outcome: 'success', result, events: [completed] }], WRITE_ALL);
      expect(await h.results.get(task.id)).toEqual(result);
      expect(await h.events.query({ taskId: task.id })).toEqual([completed]);
    });

    it('writes only what the scope names', async () => {
      const resultsOnly = await running(h.tasks, newTask());
      const eventsOnly = await running(h.tasks, newTask());
      const neither = await running(h.tasks, newTask());
      const carrying = (task: TaskRecord) => ({
        id: task.id,
        token: tokenOf(task),
        outcome: 'success' as const,
        result: newResult({ taskId: task.id }),
        events: [newEvent({ type: 'completed', taskId: task.id })],
      });
      await h.tasks.settle([carrying(resultsOnly)], { results: true, events: false });
      await h.tasks.settle([carrying(eventsOnly)], { results: false, events: true });
      await h.tasks.settle([carrying(neither)], WRITE_NOTHING);
      expect(await h.results.get(resultsOnly.id)).toMatchObject({ taskId: resultsOnly.id });
      expect(await h.events.query({ taskId: resultsOnly.id })).toEqual([]);
      expect(await h.results.get(eventsOnly.id)).toBeUndefined();
      expect(await h.events.query({ taskId: eventsOnly.id })).toHaveLength(1);
      expect(await h.results.get(neither.id)).toBeUndefined();
      expect(await h.events.query({ taskId: neither.id })).toEqual([]);
    });

    it('writes nothing at all for a stale token: no task change, result, event or outbox task', async () => {
      const task = await running(h.tasks, newTask());
      const callback = newTask({ name: 'callback' });
      const reports = await h.tasks.settle(
        [
          {
            id: task.id,
            token: 'stale',
            outcome: 'failed',
            error: taskError(),
            result: newResult({ taskId: task.id, status: 'failed' }),
            events: [newEvent({ type: 'failed', taskId: task.id })],
            enqueue: [callback],
          },
        ],
        WRITE_ALL,
      );
      expect(reports).toEqual([NOT_HELD]);
      expect((await h.tasks.get(task.id))?.status).toBe('running');
      expect(await h.results.get(task.id)).toBeUndefined();
      expect(await h.events.query({ taskId: task.id })).toEqual([]);
      expect(await h.tasks.get(callback.id)).toBeUndefined();
    });

    it('stores the outbox tasks of a held settlement, keys working as in enqueue', async () => {
      const holder = newTask({ name: 'holder', key: 'alert' });
      await h.tasks.enqueue([holder]);
      const task = await running(h.tasks, newTask());
      const callback = newTask({ name: 'callback', queue: 'callbacks' });
      const keyed = newTask({ name: 'callback', key: 'alert' });
      const [report] = await h.tasks.settle(
        [{ id: task.id, token: tokenOf(task), outcome: 'success', enqueue: [callback, keyed] }],
        WRITE_NOTHING,
      );
      expect(report).toEqual({
        held: true,
        ended: [],
        enqueued: [
          { id: callback.id, created: true },
          { id: holder.id, created: false },
        ],
      });
      expect(await h.tasks.get(keyed.id)).toBeUndefined();
      const [reserved] = await h.tasks.reserve(reserveRequest({ queues: ['callbacks'] }));
      expect(reserved).toMatchObject({ id: callback.id, name: 'callback', attempts: 1 });
    });
  });

  describe('setProgress', () => {
    it('stores JSON progress on the held task, visible through get, and rejects a stale token', async () => {
      const task = await running(h.tasks, newTask());
      expect(await h.tasks.setProgress(task.id, tokenOf(task), { done: 3, of: 10, stage: 'upload' })).toBe(true);
      expect((await h.tasks.get(task.id))?.progress).toEqual({ done: 3, of: 10, stage: 'upload' });
      expect(await h.tasks.setProgress(task.id, tokenOf(task), 0.5)).toBe(true);
      expect((await h.tasks.get(task.id))?.progress).toBe(0.5);
      expect(await h.tasks.setProgress(task.id, 'stale', 0.9)).toBe(false);
      expect(await h.tasks.setProgress(randomUUID(), tokenOf(task), 0.9)).toBe(false);
      expect((await h.tasks.get(task.id))?.progress).toBe(0.5);
    });
  });
}
