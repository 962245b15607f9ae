import { randomUUID } from 'node:crypto';
import { DuplicateTaskIdError, ParentEndedError, UnknownParentError } from '../../errors/store.errors.js';
import type { TaskRecord } from '../../models/task.model.js';
import { WRITE_NOTHING } from '../../storage/task-queue.store.js';
import { ids, newTask, reserveRequest, taskError, testClock } from '../fixtures.js';
import { type EngineHarness, rejection } from '../harness.js';
import { describe, expect, it } from '../test-globals.js';
import { endAs } from './steps.js';

export function describeEnqueueCases(h: EngineHarness): void {
  describe('enqueue', () => {
    it('stores a task with every field and returns its id', async () => {
      const t = testClock();
      const task = newTask({
        createdAt: t(0),
        priority: 3,
        tags: ['a', 'b'],
        description: 'a task',
        scheduleId: 'schedule-1',
        timeoutMs: 100,
        ttlMs: 60_000,
        expiresAt: t(60_000),
        resultTtlMs: 5000,
        key: 'key-1',
        dedupeWindowMs: 10_000,
        onSuccess: { task: 'notify', args: { format: 'omniq-json/1', data: '{"to":"ops"}' } },
        onFailure: { task: 'alert' },
        onParentFailure: 'run',
      });
      expect(await h.tasks.enqueue([task])).toEqual([{ id: task.id, created: true }]);
      const stored = await h.tasks.get(task.id);
      expect(stored).toMatchObject({ ...task, status: 'pending', attempts: 0 });
      expect(stored?.updatedAt).toBeInstanceOf(Date);
      expect(stored?.leaseToken).toBeUndefined();
      expect(stored?.workerId).toBeUndefined();
      expect(stored?.cancelledBy).toBeUndefined();
    });

    it('returns the outcomes of a batch in input order', async () => {
      const tasks = [newTask(), newTask(), newTask()];
      expect(await h.tasks.enqueue(tasks)).toEqual(tasks.map((task) => ({ id: task.id, created: true })));
    });

    it('marks a task scheduled when runAt is after createdAt, else pending', async () => {
      const t = testClock();
      const later = newTask({ createdAt: t(0), runAt: t(60_000) });
      const now = newTask({ createdAt: t(0), runAt: t(0) });
      const past = newTask({ createdAt: t(0), runAt: t(-60_000) });
      await h.tasks.enqueue([later, now, past]);
      expect((await h.tasks.get(later.id))?.status).toBe('scheduled');
      expect((await h.tasks.get(now.id))?.status).toBe('pending');
      expect((await h.tasks.get(past.id))?.status).toBe('pending');
    });

    it('returns the live holder of an idempotency key instead of storing another task', async () => {
      const holder = newTask({ key: 'order-42' });
      await h.tasks.enqueue([holder]);
      const duplicate = newTask({ key: 'order-42' });
      const other = newTask({ key: 'order-43' });
      const sameBatch = newTask({ key: 'order-43' });
      expect(await h.tasks.enqueue([duplicate, other, sameBatch])).toEqual([
        { id: holder.id, created: false },
        { id: other.id, created: true },
        { id: other.id, created: false },
      ]);
      expect(await h.tasks.get(duplicate.id)).toBeUndefined();
      expect(await h.tasks.get(sameBatch.id)).toBeUndefined();
      expect((await h.tasks.list()).total).toBe(2);
    });

    it('lets a key be used again once its holder is final', async () => {
      const holder = newTask({ key: 'nightly' });
      await h.tasks.enqueue([holder]);
      await endAs(h.tasks, holder, 'success');
      const next = newTask({ key: 'nightly' });
      expect(await h.tasks.enqueue([next])).toEqual([{ id: next.id, created: true }]);
    });

    it('keeps its own copies of the tasks it receives and returns', async () => {
      const task = newTask({ tags: ['original'] });
      const createdAt = task.createdAt.getTime();
      await h.tasks.enqueue([task]);
      task.tags.push('changed input');
      task.createdAt.setTime(0);
      const stored = (await h.tasks.get(task.id)) as TaskRecord;
      expect(stored.tags).toEqual(['original']);
      expect(stored.createdAt.getTime()).toBe(createdAt);

      const updatedAt = stored.updatedAt.getTime();
      stored.status = 'failed';
      stored.tags.push('changed output');
      stored.runAt.setTime(0);
      stored.updatedAt.setTime(0);
      const unchanged = await h.tasks.get(task.id);
      expect(unchanged).toMatchObject({ status: 'pending', tags: ['original'], runAt: new Date(createdAt) });
      expect(unchanged?.updatedAt.getTime()).toBe(updatedAt);

      const [reserved] = await h.tasks.reserve(reserveRequest());
      const leaseExpiresAt = reserved!.leaseExpiresAt as Date;
      const expiry = leaseExpiresAt.getTime();
      reserved!.attempts = 99;
      leaseExpiresAt.setTime(0);
      reserved!.dependsOn.push('changed output');
      const [held] = await h.tasks.getMany([task.id]);
      expect(held).toMatchObject({ attempts: 1, dependsOn: [], leaseExpiresAt: new Date(expiry) });
    });

    it('returns undefined for an unknown id', async () => {
      expect(await h.tasks.get(randomUUID())).toBeUndefined();
    });

    it('accepts dependencies on tasks of the same call, whatever their order in it', async () => {
      const parent = newTask();
      const child = newTask({ dependsOn: [parent.id] });
      expect(await h.tasks.enqueue([child, parent])).toEqual([
        { id: child.id, created: true },
        { id: parent.id, created: true },
      ]);
      expect(ids(await h.tasks.reserve(reserveRequest()))).toEqual([parent.id]);
    });
  });

  describe('enqueue checks (all or nothing)', () => {
    it('rejects an id already stored with DuplicateTaskIdError, and stores none of the batch', async () => {
      const stored = newTask();
      await h.tasks.enqueue([stored]);
      const fresh = newTask();
      const error = await rejection('enqueue of a stored id', () => h.tasks.enqueue([fresh, newTask({ id: stored.id })]));
      expect(error).toBeInstanceOf(DuplicateTaskIdError);
      expect(error).toMatchObject({ taskId: stored.id });
      expect(await h.tasks.get(fresh.id)).toBeUndefined();
      expect((await h.tasks.list()).total).toBe(1);
    });

    it('rejects an id given twice in one call, and stores neither', async () => {
      const twice = newTask();
      const other = newTask();
      const error = await rejection('enqueue of one id twice', () => h.tasks.enqueue([twice, other, { ...twice, name: 'again' }]));
      expect(error).toBeInstanceOf(DuplicateTaskIdError);
      expect(error).toMatchObject({ taskId: twice.id });
      expect((await h.tasks.list()).total).toBe(0);
    });

    it('rejects a parent neither stored nor in the call with UnknownParentError, storing nothing', async () => {
      const known = newTask();
      const missing = randomUUID();
      const orphan = newTask({ dependsOn: [known.id, missing] });
      const bystander = newTask();
      const error = await rejection('enqueue of an unknown parent', () => h.tasks.enqueue([bystander, known, orphan]));
      expect(error).toBeInstanceOf(UnknownParentError);
      expect(error).toMatchObject({ taskId: orphan.id, parentIds: [missing] });
      expect(await h.tasks.getMany([bystander.id, known.id, orphan.id])).toEqual([undefined, undefined, undefined]);
    });

    it('rejects a child that needs a parent which ended badly with ParentEndedError', async () => {
      const t = testClock();
      const failed = newTask({ name: 'failed' });
      const cancelled = newTask({ name: 'cancelled' });
      const expired = newTask({ name: 'expired', createdAt: t(-2000), expiresAt: t(-1000) });
      await h.tasks.enqueue([failed, cancelled, expired]);
      await endAs(h.tasks, failed, 'failed');
      await h.tasks.cancel(cancelled.id, taskError('not needed'), WRITE_NOTHING);
      await h.tasks.expireOverdue(t(0), 10, WRITE_NOTHING);

      for (const [parent, status] of [[failed, 'failed'], [cancelled, 'cancelled'], [expired, 'expired']] as const) {
        const child = newTask({ dependsOn: [parent.id], onParentFailure: 'cancel' });
        const bystander = newTask();
        const error = await rejection(`enqueue of a child of a ${status} parent`, () => h.tasks.enqueue([bystander, child]));
        expect(error).toBeInstanceOf(ParentEndedError);
        expect(error).toMatchObject({ taskId: child.id, parentId: parent.id, parentStatus: status });
        expect(await h.tasks.getMany([bystander.id, child.id])).toEqual([undefined, undefined]);
      }
    });

    it('accepts a child with onParentFailure "run" under a parent that ended badly: it is due at once', async () => {
      const parent = newTask({ name: 'parent' });
      await h.tasks.enqueue([parent]);
      await endAs(h.tasks, parent, 'failed');
      const child = newTask({ name: 'child', dependsOn: [parent.id], onParentFailure: 'run' });
      expect(await h.tasks.enqueue([child])).toEqual([{ id: child.id, created: true }]);
      expect(ids(await h.tasks.reserve(reserveRequest({ names: ['child'] })))).toEqual([child.id]);
    });
  });
}
