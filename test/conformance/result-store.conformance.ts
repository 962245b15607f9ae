import { randomUUID } from 'node:crypto';
import type { ResultRecord } from '../../lib/models/result.model.js';
import type { ResultStore } from '../../lib/storage/result.store.js';
import { newResult, nextNotification, taskError, testClock, useFreshStore } from './fixtures.js';

/**
 * The result-store contract, as every backend must keep it. `factory` must return a new, empty
 * store; each test closes it.
 */
export function describeResultStoreConformance(backendName: string, factory: () => Promise<ResultStore>): void {
  describe(`ResultStore conformance: ${backendName}`, () => {
    const store = useFreshStore(factory);

    it('returns a stored result with every field, and undefined for an unknown task', async () => {
      const t = testClock();
      const result = newResult({ scheduleId: 'schedule-1', expiresAt: t(60_000) });
      const failed = newResult({ status: 'failed', value: undefined, error: taskError('bad input') });
      await store().put([result, failed]);
      expect(await store().get(result.taskId)).toEqual(result);
      expect(await store().get(failed.taskId)).toEqual(failed);
      expect(await store().get(randomUUID())).toBeUndefined();
    });

    it('keeps one result per task: a later put replaces it', async () => {
      const first = newResult({ status: 'failed', attempts: 1 });
      const second = newResult({ taskId: first.taskId, status: 'success', attempts: 2 });
      await store().put([first]);
      await store().put([second]);
      expect(await store().get(first.taskId)).toEqual(second);
    });

    it('keeps its own copies of the results it receives and returns', async () => {
      const result = newResult();
      const completedAt = result.completedAt.getTime();
      await store().put([result]);
      result.completedAt.setTime(0);
      result.attempts = 99;
      const stored = (await store().get(result.taskId)) as ResultRecord;
      expect(stored.completedAt.getTime()).toBe(completedAt);
      expect(stored.attempts).toBe(1);
      stored.createdAt.setTime(0);
      stored.status = 'expired';
      expect(await store().get(result.taskId)).toMatchObject({ status: 'success', createdAt: new Date(completedAt - 1000) });
    });

    it('hides an expired result, and purgeExpired deletes only expired ones', async () => {
      const t = testClock();
      const expired = newResult({ expiresAt: t(-1000) });
      const later = newResult({ expiresAt: t(60_000) });
      const forever = newResult();
      await store().put([expired, later, forever]);
      expect(await store().get(expired.taskId)).toBeUndefined();
      expect(await store().get(later.taskId)).toEqual(later);

      expect(await store().purgeExpired(t(0))).toBe(1);
      expect(await store().purgeExpired(t(60_000))).toBe(1);
      expect(await store().purgeExpired(t(3_600_000))).toBe(0);
      expect(await store().delete(later.taskId)).toBe(false);
      expect(await store().get(forever.taskId)).toEqual(forever);
    });

    it('finds the most recently completed live result of a schedule', async () => {
      const t = testClock();
      const older = newResult({ scheduleId: 'nightly', completedAt: t(-20_000) });
      const newest = newResult({ scheduleId: 'nightly', completedAt: t(-5_000), status: 'failed', error: taskError() });
      const middle = newResult({ scheduleId: 'nightly', completedAt: t(-10_000) });
      const otherSchedule = newResult({ scheduleId: 'hourly', completedAt: t(0) });
      const unscheduled = newResult({ completedAt: t(1000) });
      await store().put([older, newest, middle, otherSchedule, unscheduled]);
      expect(await store().latestForSchedule('nightly')).toEqual(newest);
      expect(await store().latestForSchedule('hourly')).toEqual(otherSchedule);
      expect(await store().latestForSchedule('unknown')).toBeUndefined();

      await store().delete(newest.taskId);
      expect(await store().latestForSchedule('nightly')).toEqual(middle);
      const expiredLater = newResult({ scheduleId: 'nightly', completedAt: t(0), expiresAt: t(-1) });
      await store().put([expiredLater]);
      expect(await store().latestForSchedule('nightly')).toEqual(middle);
    });

    it('deletes a result and reports whether there was one', async () => {
      const result = newResult();
      await store().put([result]);
      expect(await store().delete(result.taskId)).toBe(true);
      expect(await store().get(result.taskId)).toBeUndefined();
      expect(await store().delete(result.taskId)).toBe(false);
    });

    it('notifies listeners with the task id of each result put', async () => {
      const first = newResult();
      const second = newResult();
      const seen: string[] = [];
      const both = nextNotification<string>(
        (listener) => store().onResult(listener),
        (taskId) => seen.push(taskId) === 2,
      );
      await store().put([first, second]);
      await both;
      expect(seen.sort()).toEqual([first.taskId, second.taskId].sort());
    });

    it('stops notifying a listener once unsubscribed', async () => {
      const dropped: string[] = [];
      store().onResult((taskId) => dropped.push(taskId))();
      const result = newResult();
      const notified = nextNotification<string>((listener) => store().onResult(listener));
      await store().put([result]);
      expect(await notified).toBe(result.taskId);
      expect(dropped).toEqual([]);
    });

    it('closes idempotently and rejects calls after close', async () => {
      await store().close();
      await expect(store().close()).resolves.toBeUndefined();
      await expect(store().put([newResult()])).rejects.toThrow(/close/i);
      await expect(store().get(randomUUID())).rejects.toThrow(/close/i);
    });
  });
}
