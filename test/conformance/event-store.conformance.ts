import { firstValueFrom, take, toArray } from 'rxjs';
import type { TaskEvent } from '../../lib/models/event.model.js';
import type { EventStore } from '../../lib/storage/event.store.js';
import { ids, newEvent, taskError, testClock, useFreshStore } from './fixtures.js';

/**
 * The event-store contract, as every backend must keep it. `factory` must return a new, empty
 * store; each test closes it.
 */
export function describeEventStoreConformance(backendName: string, factory: () => Promise<EventStore>): void {
  describe(`EventStore conformance: ${backendName}`, () => {
    const store = useFreshStore(factory);

    it('stores a batch with every field and returns it by timestamp, then append order', async () => {
      const t = testClock();
      const detailed = newEvent({
        type: 'failed',
        timestamp: t(2000),
        scheduleId: 'schedule-1',
        workerId: 'worker-1',
        attempt: 2,
        durationMs: 40,
        message: 'handler threw',
        error: taskError(),
        data: { retryAt: '2030-01-01T00:00:00.000Z', final: true },
      });
      const first = newEvent({ timestamp: t(1000) });
      const tie = newEvent({ timestamp: t(2000), type: 'started' });
      await store().append([detailed, first]);
      await store().append([tie]);
      const events = await store().query();
      expect(ids(events)).toEqual(ids([first, detailed, tie]));
      expect(events[1]).toEqual(detailed);
    });

    it('keeps its own copies of the events it receives and returns', async () => {
      const t = testClock();
      const event = newEvent({ timestamp: t(0), data: { nested: { n: 1 } } });
      await store().append([event]);
      event.timestamp.setTime(0);
      (event.data as { nested: { n: number } }).nested.n = 2;
      const [stored] = await store().query();
      expect(stored).toMatchObject({ timestamp: t(0), data: { nested: { n: 1 } } });
      stored.type = 'expired';
      expect((await store().query())[0].type).toBe('enqueued');
    });

    it('filters by task, schedule, types and queue', async () => {
      const t = testClock();
      const a = newEvent({ timestamp: t(1), type: 'enqueued', queue: 'mail', scheduleId: 'daily' });
      const b = newEvent({ timestamp: t(2), type: 'started', queue: 'mail', taskId: a.taskId });
      const c = newEvent({ timestamp: t(3), type: 'completed', queue: 'reports', scheduleId: 'daily' });
      const d = newEvent({ timestamp: t(4), type: 'schedule_paused', scheduleId: 'daily' });
      delete d.taskId;
      delete d.queue;
      await store().append([a, b, c, d]);
      expect(ids(await store().query({ taskId: a.taskId }))).toEqual(ids([a, b]));
      expect(ids(await store().query({ scheduleId: 'daily' }))).toEqual(ids([a, c, d]));
      expect(ids(await store().query({ types: ['started', 'completed'] }))).toEqual(ids([b, c]));
      expect(ids(await store().query({ queue: 'mail' }))).toEqual(ids([a, b]));
      expect(ids(await store().query({ queue: 'mail', types: ['started'] }))).toEqual(ids([b]));
    });

    it('bounds by since (inclusive) and until (exclusive)', async () => {
      const t = testClock();
      const events = [0, 1000, 2000, 3000].map((offset) => newEvent({ timestamp: t(offset) }));
      await store().append(events);
      expect(ids(await store().query({ since: t(1000) }))).toEqual(ids(events.slice(1)));
      expect(ids(await store().query({ until: t(2000) }))).toEqual(ids(events.slice(0, 2)));
      expect(ids(await store().query({ since: t(1000), until: t(3000) }))).toEqual(ids(events.slice(1, 3)));
    });

    it('returns at most limit events, 1,000 by default', async () => {
      const t = testClock();
      const events = Array.from({ length: 1001 }, (_, i) => newEvent({ timestamp: t(i) }));
      await store().append(events);
      expect(ids(await store().query({ limit: 3 }))).toEqual(ids(events.slice(0, 3)));
      const page = await store().query();
      expect(page).toHaveLength(1000);
      expect(page[999].id).toBe(events[999].id);
    });

    it('orders by timestamp then append order, or exactly reversed for desc', async () => {
      const t = testClock();
      const old = newEvent({ timestamp: t(0) });
      const tieFirst = newEvent({ timestamp: t(1000) });
      const tieSecond = newEvent({ timestamp: t(1000) });
      const late = newEvent({ timestamp: t(2000) });
      await store().append([tieFirst, late]);
      await store().append([tieSecond, old]);
      expect(ids(await store().query())).toEqual(ids([old, tieFirst, tieSecond, late]));
      expect(ids(await store().query({ order: 'desc' }))).toEqual(ids([late, tieSecond, tieFirst, old]));
      expect(ids(await store().query({ order: 'desc', limit: 2 }))).toEqual(ids([late, tieSecond]));
    });

    it('purges events older than the cutoff', async () => {
      const t = testClock();
      const events = [0, 1000, 2000].map((offset) => newEvent({ timestamp: t(offset) }));
      await store().append(events);
      expect(await store().purgeOlderThan(t(1000))).toBe(1);
      expect(ids(await store().query())).toEqual(ids(events.slice(1)));
      expect(await store().purgeOlderThan(t(1000))).toBe(0);
    });

    it('streams every event appended after subscription', async () => {
      const before = newEvent();
      await store().append([before]);
      const streamed = firstValueFrom(store().stream().pipe(take(2), toArray()));
      const after = [newEvent({ type: 'started' }), newEvent({ type: 'completed' })];
      await store().append(after);
      expect(ids(await streamed)).toEqual(ids(after));
    });

    it('completes the stream on close, idempotently, and rejects calls after close', async () => {
      const received: TaskEvent[] = [];
      const completed = new Promise<void>((resolve) => {
        store().stream().subscribe({ next: (event) => received.push(event), complete: resolve });
      });
      await store().close();
      await completed;
      await expect(store().close()).resolves.toBeUndefined();
      await expect(store().append([newEvent()])).rejects.toThrow(/close/i);
      await expect(store().query()).rejects.toThrow(/close/i);
      expect(received).toEqual([]);
    });
  });
}
