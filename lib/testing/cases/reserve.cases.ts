import { ids, newTask, reserveRequest, testClock } from '../fixtures.js';
import type { EngineHarness } from '../harness.js';
import { describe, expect, it } from '../test-globals.js';
import { endAs } from './steps.js';

export function describeReserveCases(h: EngineHarness): void {
  describe('reserve', () => {
    it('marks what it hands out running under a new lease', async () => {
      const t = testClock();
      const task = newTask({ createdAt: t(0) });
      await h.tasks.enqueue([task]);
      const [reserved] = await h.tasks.reserve(reserveRequest({ now: t(1000), leaseMs: 30_000, workerId: 'worker-7' }));
      expect(reserved).toMatchObject({
        id: task.id,
        status: 'running',
        attempts: 1,
        workerId: 'worker-7',
        startedAt: t(1000),
        leaseExpiresAt: t(31_000),
        runAt: t(0),
      });
      expect(reserved?.leaseToken).toEqual(expect.any(String));
      expect(reserved?.leaseToken).not.toBe('');
      expect(await h.tasks.get(task.id)).toEqual(reserved);
    });

    it('takes queues in the order given and leaves other queues alone', async () => {
      const low = newTask({ queue: 'first', priority: -5 });
      const high = newTask({ queue: 'second', priority: 100 });
      const elsewhere = newTask({ queue: 'other', priority: 100 });
      await h.tasks.enqueue([high, elsewhere, low]);
      expect(ids(await h.tasks.reserve(reserveRequest({ queues: ['first', 'second'] })))).toEqual([low.id, high.id]);
      expect((await h.tasks.get(elsewhere.id))?.status).toBe('pending');
    });

    it('orders by priority (higher first), then runAt, then enqueue order', async () => {
      const t = testClock();
      const a = newTask({ priority: 0, runAt: t(-3000) });
      const b = newTask({ priority: 5, runAt: t(-1000) });
      const c = newTask({ priority: 5, runAt: t(-2000) });
      const d = newTask({ priority: 0, runAt: t(-3000) });
      const e = newTask({ priority: 0, runAt: t(-3000) });
      await h.tasks.enqueue([a, b, c]);
      await h.tasks.enqueue([d, e]);
      expect(ids(await h.tasks.reserve(reserveRequest({ now: t(0) })))).toEqual([c.id, b.id, a.id, d.id, e.id]);
    });

    it('returns at most limit tasks', async () => {
      await h.tasks.enqueue([newTask(), newTask(), newTask(), newTask(), newTask()]);
      const sizes: number[] = [];
      for (let i = 0; i < 4; i += 1) sizes.push((await h.tasks.reserve(reserveRequest({ limit: 2 }))).length);
      expect(sizes).toEqual([2, 2, 1, 0]);
    });

    it('holds a delayed task back until its runAt', async () => {
      const t = testClock();
      const task = newTask({ createdAt: t(0), runAt: t(60_000) });
      await h.tasks.enqueue([task]);
      expect(await h.tasks.reserve(reserveRequest({ now: t(0) }))).toEqual([]);
      expect(await h.tasks.reserve(reserveRequest({ now: t(59_999) }))).toEqual([]);
      expect(ids(await h.tasks.reserve(reserveRequest({ now: t(60_000) })))).toEqual([task.id]);
    });

    it('never hands a running task out again, whether its lease is live or lapsed', async () => {
      const t = testClock();
      const task = newTask({ createdAt: t(0) });
      await h.tasks.enqueue([task]);
      expect(await h.tasks.reserve(reserveRequest({ now: t(0), leaseMs: 10_000 }))).toHaveLength(1);
      expect(await h.tasks.reserve(reserveRequest({ now: t(0), workerId: 'worker-2' }))).toEqual([]);
      expect(await h.tasks.reserve(reserveRequest({ now: t(9_999), workerId: 'worker-2' }))).toEqual([]);
      expect(await h.tasks.reserve(reserveRequest({ now: t(3_600_000), workerId: 'worker-2' }))).toEqual([]);
      expect(await h.tasks.get(task.id)).toMatchObject({ status: 'running', workerId: 'worker-1', attempts: 1 });
    });

    it('filters by task name without losing or starving the other names', async () => {
      const others = Array.from({ length: 20 }, () => newTask({ name: 'other', priority: 10 }));
      const wanted = newTask({ name: 'wanted', priority: 0 });
      await h.tasks.enqueue([...others, wanted]);
      expect(ids(await h.tasks.reserve(reserveRequest({ names: ['wanted'], limit: 1 })))).toEqual([wanted.id]);
      expect(await h.tasks.reserve(reserveRequest({ names: ['wanted'] }))).toEqual([]);
      expect(new Set(ids(await h.tasks.reserve(reserveRequest({ limit: 100 }))))).toEqual(new Set(ids(others)));
    });

    it('merges several names by priority', async () => {
      const a1 = newTask({ name: 'a', priority: 1 });
      const b2 = newTask({ name: 'b', priority: 2 });
      const a3 = newTask({ name: 'a', priority: 3 });
      const c9 = newTask({ name: 'c', priority: 9 });
      await h.tasks.enqueue([a1, b2, a3, c9]);
      expect(ids(await h.tasks.reserve(reserveRequest({ names: ['a', 'b'] })))).toEqual([a3.id, b2.id, a1.id]);
    });

    it('never reserves a task whose expiresAt has come', async () => {
      const t = testClock();
      const expiring = newTask({ createdAt: t(0), expiresAt: t(10_000) });
      const lasting = newTask({ createdAt: t(0), expiresAt: t(20_000) });
      await h.tasks.enqueue([expiring, lasting]);
      expect(ids(await h.tasks.reserve(reserveRequest({ now: t(10_000) })))).toEqual([lasting.id]);
      expect((await h.tasks.get(expiring.id))?.status).toBe('pending');
    });

    it('holds a dependent task until every parent succeeded', async () => {
      const first = newTask({ name: 'parent' });
      const second = newTask({ name: 'parent' });
      const child = newTask({ name: 'child', dependsOn: [first.id, second.id], priority: 10 });
      await h.tasks.enqueue([first, second, child]);
      expect(await h.tasks.reserve(reserveRequest({ names: ['child'] }))).toEqual([]);
      await endAs(h.tasks, first, 'success');
      expect(await h.tasks.reserve(reserveRequest({ names: ['child'] }))).toEqual([]);
      await endAs(h.tasks, second, 'success');
      expect(ids(await h.tasks.reserve(reserveRequest()))).toEqual([child.id]);
    });

    it('reserves a dependent at once when its parent already succeeded', async () => {
      const parent = newTask();
      await h.tasks.enqueue([parent]);
      await endAs(h.tasks, parent, 'success');
      const child = newTask({ dependsOn: [parent.id] });
      await h.tasks.enqueue([child]);
      expect(ids(await h.tasks.reserve(reserveRequest()))).toEqual([child.id]);
    });

    it('reserves a free task behind many blocked ones', async () => {
      const t = testClock();
      const parent = newTask({ createdAt: t(0), runAt: t(3_600_000) });
      const blocked = Array.from({ length: 100 }, () => newTask({ priority: 10, dependsOn: [parent.id] }));
      const free = newTask({ priority: 0 });
      await h.tasks.enqueue([parent, ...blocked, free]);
      expect(ids(await h.tasks.reserve(reserveRequest({ limit: 1 })))).toEqual([free.id]);
    });

    it('skips paused queues and takes them again once resumed', async () => {
      const paused = newTask({ queue: 'paused', priority: 10 });
      const open = newTask({ queue: 'open' });
      await h.tasks.enqueue([paused, open]);
      expect(await h.tasks.pauseQueue('paused')).toBe(true);
      expect(ids(await h.tasks.reserve(reserveRequest({ queues: ['paused', 'open'] })))).toEqual([open.id]);
      expect(await h.tasks.reserve(reserveRequest({ queues: ['paused'] }))).toEqual([]);
      expect(await h.tasks.resumeQueue('paused')).toBe(true);
      expect(ids(await h.tasks.reserve(reserveRequest({ queues: ['paused', 'open'] })))).toEqual([paused.id]);
    });
  });
}
