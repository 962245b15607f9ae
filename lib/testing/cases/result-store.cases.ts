import { randomUUID } from 'node:crypto';
import type { ResultRecord } from '../../models/result.model.js';
import { newResult, taskError, testClock } from '../fixtures.js';
import type { EngineHarness } from '../harness.js';
import { describe, expect, it } from '../test-globals.js';

export function describeResultStoreCases(h: EngineHarness): void {
  describe('result store', () => {
    it('returns a stored result with every field, and undefined for an unknown task', async () => {
      const t = testClock();
      const result = newResult({ scheduleId: 'schedule-1', expiresAt: t(60_000) });
      const failed = newResult({ status: 'failed', value: undefined, error: taskError('bad input') });
      await h.results.put([result, failed]);
      expect(await h.results.get(result.taskId)).toEqual(result);
      expect(await h.results.get(failed.taskId)).toEqual(failed);
      expect(await h.results.get(randomUUID())).toBeUndefined();
    });

    it('keeps one result per task: a later put replaces it', async () => {
      const first = newResult({ status: 'failed', attempts: 1 });
      const second = newResult({ taskId: first.taskId, status: 'success', attempts: 2 });
      await h.results.put([first]);
      await h.results.put([second]);
      expect(await h.results.get(first.taskId)).toEqual(second);
    });

    it('keeps its own copies of the results it receives and returns', async () => {
      const result = newResult();
      const completedAt = result.completedAt.getTime();
      await h.results.put([result]);
      result.completedAt.setTime(0);
      result.attempts = 99;
      const stored = (await h.results.get(result.taskId)) as ResultRecord;
      expect(stored.completedAt.getTime()).toBe(completedAt);
      expect(stored.attempts).toBe(1);
      stored.createdAt.setTime(0);
      stored.status = 'expired';
      expect(await h.results.get(result.taskId)).toMatchObject({ status: 'success', createdAt: new Date(completedAt - 1000) });
    });

    it('hides an expired result, and purgeExpired deletes only expired ones, at most limit per call', async () => {
      const t = testClock();
      const expired = newResult({ expiresAt: t(-1000) });
      const alsoExpired = newResult({ expiresAt: t(-500) });
      const later = newResult({ expiresAt: t(60_000) });
      const forever = newResult();
      await h.results.put([expired, alsoExpired, later, forever]);
      expect(await h.results.get(expired.taskId)).toBeUndefined();
      expect(await h.results.get(later.taskId)).toEqual(later);

      expect(await h.results.purgeExpired(t(0), 1)).toBe(1);
      expect(await h.results.purgeExpired(t(0))).toBe(1);
      expect(await h.results.purgeExpired(t(60_000))).toBe(1);
      expect(await h.results.purgeExpired(t(3_600_000))).toBe(0);
      expect(await h.results.delete(later.taskId)).toBe(false);
      expect(await h.results.get(forever.taskId)).toEqual(forever);
    });

    it('purgeCompletedBefore deletes results completed before the cutoff, expired or not, at most limit per call', async () => {
      const t = testClock();
      const oldest = newResult({ scheduleId: 'nightly', completedAt: t(-30_000) });
      const old = newResult({ completedAt: t(-20_000), expiresAt: t(3_600_000) });
      const expiredOld = newResult({ completedAt: t(-10_000), expiresAt: t(-5_000) });
      const atCutoff = newResult({ scheduleId: 'nightly', completedAt: t(0) });
      const recent = newResult({ completedAt: t(5_000) });
      await h.results.put([oldest, old, expiredOld, atCutoff, recent]);

      expect(await h.results.purgeCompletedBefore(t(0), 2)).toBe(2);
      expect(await h.results.purgeCompletedBefore(t(0))).toBe(1);
      expect(await h.results.purgeCompletedBefore(t(0))).toBe(0);
      for (const gone of [oldest, old, expiredOld]) expect(await h.results.delete(gone.taskId)).toBe(false);
      expect(await h.results.get(atCutoff.taskId)).toEqual(atCutoff);
      expect(await h.results.get(recent.taskId)).toEqual(recent);
      expect(await h.results.latestForSchedule('nightly')).toEqual(atCutoff);
    });

    it('finds the most recently completed live result of a schedule', async () => {
      const t = testClock();
      const older = newResult({ scheduleId: 'nightly', completedAt: t(-20_000) });
      const newest = newResult({ scheduleId: 'nightly', completedAt: t(-5_000), status: 'failed', error: taskError() });
      const middle = newResult({ scheduleId: 'nightly', completedAt: t(-10_000) });
      const otherSchedule = newResult({ scheduleId: 'hourly', completedAt: t(0) });
      const unscheduled = newResult({ completedAt: t(1000) });
      await h.results.put([older, newest, middle, otherSchedule, unscheduled]);
      expect(await h.results.latestForSchedule('nightly')).toEqual(newest);
      expect(await h.results.latestForSchedule('hourly')).toEqual(otherSchedule);
      expect(await h.results.latestForSchedule('unknown')).toBeUndefined();

      await h.results.delete(newest.taskId);
      expect(await h.results.latestForSchedule('nightly')).toEqual(middle);
      const expiredLater = newResult({ scheduleId: 'nightly', completedAt: t(0), expiresAt: t(-1) });
      await h.results.put([expiredLater]);
      expect(await h.results.latestForSchedule('nightly')).toEqual(middle);
    });

    it('deletes a result and reports whether there was one', async () => {
      const result = newResult();
      await h.results.put([result]);
      expect(await h.results.delete(result.taskId)).toBe(true);
      expect(await h.results.get(result.taskId)).toBeUndefined();
      expect(await h.results.delete(result.taskId)).toBe(false);
    });

    it('notifies the task id of each result put', async () => {
      const first = newResult();
      const second = newResult();
      const seen = h.record(h.results.notifier, 'result');
      const both = [h.message(h.results.notifier, 'result', first.taskId), h.message(h.results.notifier, 'result', second.taskId)];
      await h.results.put([first, second]);
      await Promise.all(both);
      expect(seen).toEqual(expect.arrayContaining([first.taskId, second.taskId]));
    });

    it('stops notifying a listener once unsubscribed', async () => {
      const dropped: string[] = [];
      h.results.notifier.listen('result', (taskId) => dropped.push(taskId))();
      const result = newResult();
      const notified = h.message(h.results.notifier, 'result', result.taskId);
      await h.results.put([result]);
      await notified;
      expect(dropped).toEqual([]);
    });
  });
}
