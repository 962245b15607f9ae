import { firstValueFrom, take, toArray } from 'rxjs';
import { ids, newEvent, newTask, taskError, testClock, WRITE_ALL } from '../fixtures.js';
import type { EngineHarness } from '../harness.js';
import { describe, expect, it } from '../test-globals.js';
import { running, tokenOf } from './steps.js';

export function describeEventStoreCases(h: EngineHarness): void {
  describe('event store', () => {
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
      await h.events.append([detailed, first]);
      await h.events.append([tie]);
      const events = await h.events.query();
      expect(ids(events)).toEqual(ids([first, detailed, tie]));
      expect(events[1]).toEqual(detailed);
    });

    it('keeps its own copies of the events it receives and returns', async () => {
      const t = testClock();
      const event = newEvent({ timestamp: t(0), data: { nested: { n: 1 } } });
      await h.events.append([event]);
      event.timestamp.setTime(0);
      (event.data as { nested: { n: number } }).nested.n = 2;
      const [stored] = await h.events.query();
      expect(stored).toMatchObject({ timestamp: t(0), data: { nested: { n: 1 } } });
      stored.type = 'expired';
      expect((await h.events.query())[0].type).toBe('enqueued');
    });

    it('filters by task, schedule, types and queue', async () => {
      const t = testClock();
      const a = newEvent({ timestamp: t(1), type: 'enqueued', queue: 'mail', scheduleId: 'daily' });
      const b = newEvent({ timestamp: t(2), type: 'started', queue: 'mail', taskId: a.taskId });
      const c = newEvent({ timestamp: t(3), type: 'completed', queue: 'reports', scheduleId: 'daily' });
      const d = newEvent({ timestamp: t(4), type: 'schedule_paused', scheduleId: 'daily' });
      delete d.taskId;
      delete d.queue;
      await h.events.append([a, b, c, d]);
      expect(ids(await h.events.query({ taskId: a.taskId }))).toEqual(ids([a, b]));
      expect(ids(await h.events.query({ scheduleId: 'daily' }))).toEqual(ids([a, c, d]));
      expect(ids(await h.events.query({ types: ['started', 'completed'] }))).toEqual(ids([b, c]));
      expect(ids(await h.events.query({ queue: 'mail' }))).toEqual(ids([a, b]));
      expect(ids(await h.events.query({ queue: 'mail', types: ['started'] }))).toEqual(ids([b]));
    });

    it('bounds by since (inclusive) and until (exclusive)', async () => {
      const t = testClock();
      const events = [0, 1000, 2000, 3000].map((offset) => newEvent({ timestamp: t(offset) }));
      await h.events.append(events);
      expect(ids(await h.events.query({ since: t(1000) }))).toEqual(ids(events.slice(1)));
      expect(ids(await h.events.query({ until: t(2000) }))).toEqual(ids(events.slice(0, 2)));
      expect(ids(await h.events.query({ since: t(1000), until: t(3000) }))).toEqual(ids(events.slice(1, 3)));
    });

    it('returns at most limit events, 1,000 by default', async () => {
      const t = testClock();
      const events = Array.from({ length: 1001 }, (_, i) => newEvent({ timestamp: t(i) }));
      await h.events.append(events);
      expect(ids(await h.events.query({ limit: 3 }))).toEqual(ids(events.slice(0, 3)));
      const page = await h.events.query();
      expect(page).toHaveLength(1000);
      expect(page[999].id).toBe(events[999].id);
    });

    it('orders by timestamp then append order, or exactly reversed for desc', async () => {
      const t = testClock();
      const old = newEvent({ timestamp: t(0) });
      const tieFirst = newEvent({ timestamp: t(1000) });
      const tieSecond = newEvent({ timestamp: t(1000) });
      const late = newEvent({ timestamp: t(2000) });
      await h.events.append([tieFirst, late]);
      await h.events.append([tieSecond, old]);
      expect(ids(await h.events.query())).toEqual(ids([old, tieFirst, tieSecond, late]));
      expect(ids(await h.events.query({ order: 'desc' }))).toEqual(ids([late, tieSecond, tieFirst, old]));
      expect(ids(await h.events.query({ order: 'desc', limit: 2 }))).toEqual(ids([late, tieSecond]));
    });

    it('purges events older than the cutoff', async () => {
      const t = testClock();
      const events = [0, 1000, 2000].map((offset) => newEvent({ timestamp: t(offset) }));
      await h.events.append(events);
      expect(await h.events.purgeOlderThan(t(1000))).toBe(1);
      expect(ids(await h.events.query())).toEqual(ids(events.slice(1)));
      expect(await h.events.purgeOlderThan(t(1000))).toBe(0);
    });

    it('streams every event appended after subscription', async () => {
      const before = newEvent();
      await h.events.append([before]);
      const streamed = firstValueFrom(h.events.stream().pipe(take(2), toArray()));
      const after = [newEvent({ type: 'started' }), newEvent({ type: 'completed' })];
      await h.events.append(after);
      expect(ids(await streamed)).toEqual(ids(after));
    });

    it('streams the events a settlement writes in its own step', async () => {
      const task = await running(h.tasks, newTask());
      const completed = newEvent({ type: 'completed', taskId: task.id });
      const streamed = firstValueFrom(h.events.stream().pipe(take(1)));
      await h.tasks.settle([{ id: task.id, token: tokenOf(task), outcome: 'success', events: [completed] }], WRITE_ALL);
      expect(await streamed).toEqual(completed);
    });
  });
}
