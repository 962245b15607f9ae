import { randomUUID } from 'node:crypto';
import type { TaskRecord } from '../../lib/models/task.model.js';
import type { TaskQueueStore } from '../../lib/storage/task-queue.store.js';
import { ids, newTask, reserveRequest, testClock, useFreshStore } from './fixtures.js';
import { describeTaskLifecycleConformance } from './task-queue-lifecycle.conformance.js';
import { describeTaskWorkflowConformance } from './task-queue-workflow.conformance.js';

/**
 * The task-queue contract, as every backend must keep it. `factory` must return a new, empty
 * store; each test closes it.
 */
export function describeTaskQueueConformance(backendName: string, factory: () => Promise<TaskQueueStore>): void {
  describe(`TaskQueueStore conformance: ${backendName}`, () => {
    describeEnqueueConformance(factory);
    describeReserveConformance(factory);
    describeTaskLifecycleConformance(factory);
    describeTaskWorkflowConformance(factory);
  });
}

function describeEnqueueConformance(factory: () => Promise<TaskQueueStore>): void {
  describe('enqueue', () => {
    const store = useFreshStore(factory);

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
      });
      expect(await store().enqueue([task])).toEqual([{ id: task.id, created: true }]);
      const stored = await store().get(task.id);
      expect(stored).toMatchObject({ ...task, status: 'pending', attempts: 0 });
      expect(stored?.updatedAt).toBeInstanceOf(Date);
      expect(stored?.leaseToken).toBeUndefined();
      expect(stored?.workerId).toBeUndefined();
    });

    it('returns the outcomes of a batch in input order', async () => {
      const tasks = [newTask(), newTask(), newTask()];
      const outcomes = await store().enqueue(tasks);
      expect(outcomes).toEqual(tasks.map((task) => ({ id: task.id, created: true })));
    });

    it('marks a task scheduled when runAt is after createdAt, else pending', async () => {
      const t = testClock();
      const later = newTask({ createdAt: t(0), runAt: t(60_000) });
      const now = newTask({ createdAt: t(0), runAt: t(0) });
      const past = newTask({ createdAt: t(0), runAt: t(-60_000) });
      await store().enqueue([later, now, past]);
      expect((await store().get(later.id))?.status).toBe('scheduled');
      expect((await store().get(now.id))?.status).toBe('pending');
      expect((await store().get(past.id))?.status).toBe('pending');
    });

    it('returns the live holder of an idempotency key instead of storing another task', async () => {
      const holder = newTask({ key: 'order-42' });
      await store().enqueue([holder]);
      const duplicate = newTask({ key: 'order-42' });
      const other = newTask({ key: 'order-43' });
      const sameBatch = newTask({ key: 'order-43' });
      expect(await store().enqueue([duplicate, other, sameBatch])).toEqual([
        { id: holder.id, created: false },
        { id: other.id, created: true },
        { id: other.id, created: false },
      ]);
      expect(await store().get(duplicate.id)).toBeUndefined();
      expect(await store().get(sameBatch.id)).toBeUndefined();
      expect((await store().list()).total).toBe(2);
    });

    it('lets a key be used again once its holder is final', async () => {
      const holder = newTask({ key: 'nightly' });
      await store().enqueue([holder]);
      const [reserved] = await store().reserve(reserveRequest());
      await store().settle([{ id: holder.id, token: reserved.leaseToken as string, outcome: 'success' }]);
      const next = newTask({ key: 'nightly' });
      expect(await store().enqueue([next])).toEqual([{ id: next.id, created: true }]);
    });

    it('keeps its own copies of the tasks it receives and returns', async () => {
      const task = newTask({ tags: ['original'] });
      const createdAt = task.createdAt.getTime();
      await store().enqueue([task]);
      task.tags.push('changed input');
      task.createdAt.setTime(0);
      const stored = (await store().get(task.id)) as TaskRecord;
      expect(stored.tags).toEqual(['original']);
      expect(stored.createdAt.getTime()).toBe(createdAt);

      const updatedAt = stored.updatedAt.getTime();
      stored.status = 'failed';
      stored.tags.push('changed output');
      stored.runAt.setTime(0);
      stored.updatedAt.setTime(0);
      const unchanged = await store().get(task.id);
      expect(unchanged).toMatchObject({ status: 'pending', tags: ['original'], runAt: new Date(createdAt) });
      expect(unchanged?.updatedAt.getTime()).toBe(updatedAt);

      const [reserved] = await store().reserve(reserveRequest());
      const leaseExpiresAt = reserved.leaseExpiresAt as Date;
      const expiry = leaseExpiresAt.getTime();
      reserved.attempts = 99;
      leaseExpiresAt.setTime(0);
      reserved.dependsOn.push('changed output');
      const held = await store().get(task.id);
      expect(held).toMatchObject({ attempts: 1, dependsOn: [], leaseExpiresAt: new Date(expiry) });
    });

    it('returns undefined for an unknown id', async () => {
      expect(await store().get(randomUUID())).toBeUndefined();
    });
  });
}

function describeReserveConformance(factory: () => Promise<TaskQueueStore>): void {
  describe('reserve', () => {
    const store = useFreshStore(factory);

    it('marks what it hands out running under a new lease', async () => {
      const t = testClock();
      const task = newTask({ createdAt: t(0) });
      await store().enqueue([task]);
      const [reserved] = await store().reserve(reserveRequest({ now: t(1000), leaseMs: 30_000, workerId: 'worker-7' }));
      expect(reserved).toMatchObject({
        id: task.id,
        status: 'running',
        attempts: 1,
        workerId: 'worker-7',
        startedAt: t(1000),
        leaseExpiresAt: t(31_000),
        runAt: t(0),
      });
      expect(reserved.leaseToken).toEqual(expect.any(String));
      expect(reserved.leaseToken).not.toBe('');
      expect(await store().get(task.id)).toEqual(reserved);
    });

    it('takes queues in the order given and leaves other queues alone', async () => {
      const low = newTask({ queue: 'first', priority: -5 });
      const high = newTask({ queue: 'second', priority: 100 });
      const elsewhere = newTask({ queue: 'other', priority: 100 });
      await store().enqueue([high, elsewhere, low]);
      expect(ids(await store().reserve(reserveRequest({ queues: ['first', 'second'] })))).toEqual([low.id, high.id]);
      expect((await store().get(elsewhere.id))?.status).toBe('pending');
    });

    it('orders by priority (higher first), then runAt, then enqueue order', async () => {
      const t = testClock();
      const a = newTask({ priority: 0, runAt: t(-3000) });
      const b = newTask({ priority: 5, runAt: t(-1000) });
      const c = newTask({ priority: 5, runAt: t(-2000) });
      const d = newTask({ priority: 0, runAt: t(-3000) });
      const e = newTask({ priority: 0, runAt: t(-3000) });
      await store().enqueue([a, b, c]);
      await store().enqueue([d, e]);
      expect(ids(await store().reserve(reserveRequest({ now: t(0) })))).toEqual([c.id, b.id, a.id, d.id, e.id]);
    });

    it('returns at most limit tasks', async () => {
      await store().enqueue([newTask(), newTask(), newTask(), newTask(), newTask()]);
      const sizes: number[] = [];
      for (let i = 0; i < 4; i += 1) sizes.push((await store().reserve(reserveRequest({ limit: 2 }))).length);
      expect(sizes).toEqual([2, 2, 1, 0]);
    });

    it('holds a delayed task back until its runAt', async () => {
      const t = testClock();
      const task = newTask({ createdAt: t(0), runAt: t(60_000) });
      await store().enqueue([task]);
      expect(await store().reserve(reserveRequest({ now: t(0) }))).toEqual([]);
      expect(await store().reserve(reserveRequest({ now: t(59_999) }))).toEqual([]);
      expect(ids(await store().reserve(reserveRequest({ now: t(60_000) })))).toEqual([task.id]);
    });

    it('never hands a task out again while its lease is live', async () => {
      const t = testClock();
      await store().enqueue([newTask({ createdAt: t(0) })]);
      expect(await store().reserve(reserveRequest({ now: t(0), leaseMs: 10_000 }))).toHaveLength(1);
      expect(await store().reserve(reserveRequest({ now: t(0), workerId: 'worker-2' }))).toEqual([]);
      expect(await store().reserve(reserveRequest({ now: t(9_999), workerId: 'worker-2' }))).toEqual([]);
    });

    it('hands each task to exactly one of many concurrent reserves', async () => {
      const tasks = Array.from({ length: 50 }, () => newTask());
      await store().enqueue(tasks);
      const batches = await Promise.all(
        Array.from({ length: 10 }, (_, i) => store().reserve(reserveRequest({ workerId: `worker-${i}`, limit: 10 }))),
      );
      const handedOut = batches.flatMap(ids);
      expect(handedOut).toHaveLength(50);
      expect(new Set(handedOut)).toEqual(new Set(ids(tasks)));
    });

    it('makes a task whose lease lapsed reservable again and rejects the old token', async () => {
      const t = testClock();
      const task = newTask({ createdAt: t(0) });
      await store().enqueue([task]);
      const [first] = await store().reserve(reserveRequest({ now: t(0), leaseMs: 1000 }));
      const [second] = await store().reserve(reserveRequest({ now: t(1000), workerId: 'worker-2' }));
      expect(second).toMatchObject({ id: task.id, status: 'running', attempts: 2, workerId: 'worker-2' });
      expect(second.leaseToken).not.toBe(first.leaseToken);

      const oldToken = first.leaseToken as string;
      expect(await store().settle([{ id: task.id, token: oldToken, outcome: 'success' }])).toEqual([false]);
      expect(await store().extendLeases([{ id: task.id, token: oldToken }], 60_000)).toEqual([false]);
      expect(await store().get(task.id)).toEqual(second);
      const settled = await store().settle([{ id: task.id, token: second.leaseToken as string, outcome: 'success' }]);
      expect(settled).toEqual([true]);
    });

    it('extends live leases so the task is not reclaimed, and reports which were held', async () => {
      const task = newTask();
      await store().enqueue([task]);
      const [reserved] = await store().reserve(reserveRequest({ leaseMs: 1000 }));
      const before = Date.now();
      const held = await store().extendLeases(
        [
          { id: task.id, token: reserved.leaseToken as string },
          { id: task.id, token: 'not-the-token' },
          { id: randomUUID(), token: 'whatever' },
        ],
        60_000,
      );
      expect(held).toEqual([true, false, false]);
      const extended = await store().get(task.id);
      expect(extended?.leaseExpiresAt?.getTime()).toBeGreaterThanOrEqual(before + 60_000);
      expect(extended?.leaseToken).toBe(reserved.leaseToken);
      const later = await store().reserve(reserveRequest({ now: new Date(before + 30_000), workerId: 'worker-2' }));
      expect(later).toEqual([]);
    });

    it('filters by task name without losing or starving the other names', async () => {
      const others = Array.from({ length: 20 }, () => newTask({ name: 'other', priority: 10 }));
      const wanted = newTask({ name: 'wanted', priority: 0 });
      await store().enqueue([...others, wanted]);
      expect(ids(await store().reserve(reserveRequest({ names: ['wanted'], limit: 1 })))).toEqual([wanted.id]);
      expect(await store().reserve(reserveRequest({ names: ['wanted'] }))).toEqual([]);
      expect(new Set(ids(await store().reserve(reserveRequest({ limit: 100 }))))).toEqual(new Set(ids(others)));
    });

    it('merges several names by priority', async () => {
      const a1 = newTask({ name: 'a', priority: 1 });
      const b2 = newTask({ name: 'b', priority: 2 });
      const a3 = newTask({ name: 'a', priority: 3 });
      const c9 = newTask({ name: 'c', priority: 9 });
      await store().enqueue([a1, b2, a3, c9]);
      expect(ids(await store().reserve(reserveRequest({ names: ['a', 'b'] })))).toEqual([a3.id, b2.id, a1.id]);
    });

    it('never reserves a task whose expiresAt has come', async () => {
      const t = testClock();
      const expiring = newTask({ createdAt: t(0), expiresAt: t(10_000) });
      const lasting = newTask({ createdAt: t(0), expiresAt: t(20_000) });
      await store().enqueue([expiring, lasting]);
      expect(ids(await store().reserve(reserveRequest({ now: t(10_000) })))).toEqual([lasting.id]);
      expect((await store().get(expiring.id))?.status).toBe('pending');
    });

    it('holds a dependent task until every parent succeeded', async () => {
      const first = newTask();
      const second = newTask();
      const child = newTask({ dependsOn: [first.id, second.id], priority: 10 });
      await store().enqueue([first, second, child]);
      const parents = await store().reserve(reserveRequest());
      expect(ids(parents)).toEqual([first.id, second.id]);

      await store().settle([{ id: first.id, token: parents[0].leaseToken as string, outcome: 'success' }]);
      expect(await store().reserve(reserveRequest())).toEqual([]);
      await store().settle([{ id: second.id, token: parents[1].leaseToken as string, outcome: 'success' }]);
      expect(ids(await store().reserve(reserveRequest()))).toEqual([child.id]);
    });

    it('keeps a dependent blocked when its parent failed', async () => {
      const parent = newTask();
      const child = newTask({ dependsOn: [parent.id] });
      await store().enqueue([parent, child]);
      const [reserved] = await store().reserve(reserveRequest());
      const error = { name: 'Error', message: 'parent failed' };
      await store().settle([{ id: parent.id, token: reserved.leaseToken as string, outcome: 'failed', error }]);
      expect(await store().reserve(reserveRequest())).toEqual([]);
      expect((await store().get(child.id))?.status).toBe('pending');
    });

    it('reserves a dependent at once when its parent already succeeded', async () => {
      const parent = newTask();
      await store().enqueue([parent]);
      const [reserved] = await store().reserve(reserveRequest());
      await store().settle([{ id: parent.id, token: reserved.leaseToken as string, outcome: 'success' }]);
      const child = newTask({ dependsOn: [parent.id] });
      await store().enqueue([child]);
      expect(ids(await store().reserve(reserveRequest()))).toEqual([child.id]);
    });

    it('reserves a free task behind many blocked ones', async () => {
      const t = testClock();
      const parent = newTask({ createdAt: t(0), runAt: t(3_600_000) });
      const blocked = Array.from({ length: 100 }, () => newTask({ priority: 10, dependsOn: [parent.id] }));
      const free = newTask({ priority: 0 });
      await store().enqueue([parent, ...blocked, free]);
      expect(ids(await store().reserve(reserveRequest({ limit: 1 })))).toEqual([free.id]);
    });
  });
}
