import { WRITE_NOTHING } from '../../storage/task-queue.store.js';
import { ids, newTask, NO_LAPSE_LIMIT, reserveRequest, testClock, WRITE_ALL } from '../fixtures.js';
import type { EngineHarness } from '../harness.js';
import { describe, expect, it } from '../test-globals.js';
import { running } from './steps.js';

/** A clock step longer than every lease these cases take (1 s). */
const LAPSE_MS = 2_000;

export function describeLapseCases(h: EngineHarness): void {
  describe('lapses: poison tasks end as dead letters', () => {
    /** Reserves the task again at `now` and lets that lease lapse; returns what reclaimLapsed reported. */
    async function lapseAgain(taskId: string, now: Date, maxLapses: number, workerId = 'crashing') {
      const reserved = await h.tasks.reserve(reserveRequest({ now, leaseMs: 1_000, workerId }));
      expect(ids(reserved)).toEqual([taskId]);
      return h.tasks.reclaimLapsed(new Date(now.getTime() + LAPSE_MS), 10, WRITE_ALL, maxLapses);
    }

    it('counts every lapse and ends the task failed at maxLapses, naming the worker, with its event and result', async () => {
      const t = testClock();
      const task = await running(h.tasks, newTask({ createdAt: t(0), storeResult: true }), { now: t(0), leaseMs: 1_000, workerId: 'w1' });
      const first = await h.tasks.reclaimLapsed(t(LAPSE_MS), 10, WRITE_ALL, 2);
      expect(first.tasks).toEqual([expect.objectContaining({ id: task.id, status: 'pending', lapses: 1, attempts: 1 })]);
      expect(first.ended).toEqual([]);

      const second = await lapseAgain(task.id, t(LAPSE_MS), 2, 'w2');
      const [dead] = second.tasks;
      expect(dead).toMatchObject({ id: task.id, status: 'failed', lapses: 2, attempts: 2 });
      expect(dead?.lastError).toMatchObject({ name: 'TaskLapsedError' });
      expect(dead?.lastError?.message).toContain('w2');
      expect(dead?.completedAt).toEqual(t(2 * LAPSE_MS));
      expect(dead?.leaseToken).toBeUndefined();
      expect(await h.tasks.get(task.id)).toEqual(dead);
      expect(await h.tasks.reserve(reserveRequest({ now: t(3 * LAPSE_MS) }))).toEqual([]);

      const timeline = await h.events.query({ taskId: task.id });
      expect(timeline.map((event) => event.type)).toEqual(['reclaimed', 'reclaimed', 'failed']);
      expect(timeline[2]?.error).toMatchObject({ name: 'TaskLapsedError' });
      expect(await h.results.get(task.id)).toMatchObject({ status: 'failed', error: { name: 'TaskLapsedError' } });
    });

    it('maxLapses 1 ends a task at its first lapse; lapses below the limit leave it waiting', async () => {
      const t = testClock();
      const once = await running(h.tasks, newTask({ createdAt: t(0) }), { now: t(0), leaseMs: 1_000 });
      const report = await h.tasks.reclaimLapsed(t(LAPSE_MS), 10, WRITE_NOTHING, 1);
      expect(report.tasks).toEqual([expect.objectContaining({ id: once.id, status: 'failed', lapses: 1 })]);
      expect(await h.events.query({ taskId: once.id })).toEqual([]);
    });

    it('a dead letter frees its key and cancels the dependents that needed it; requeue resets lapses and revives them', async () => {
      const t = testClock();
      const parent = newTask({ createdAt: t(0), key: 'poison' });
      const child = newTask({ createdAt: t(0), dependsOn: [parent.id] });
      await h.tasks.enqueue([parent, child]);
      expect(ids(await h.tasks.reserve(reserveRequest({ now: t(0), leaseMs: 1_000 })))).toEqual([parent.id]);
      const report = await h.tasks.reclaimLapsed(t(LAPSE_MS), 10, WRITE_ALL, 1);
      expect(ids(report.tasks)).toEqual([parent.id]);
      expect(report.ended).toEqual([expect.objectContaining({ id: child.id, status: 'cancelled', cancelledBy: parent.id })]);
      expect((await h.events.query({ taskId: child.id })).map((event) => event.type)).toEqual(['cancelled']);

      const again = newTask({ createdAt: t(LAPSE_MS), key: 'poison' });
      expect(await h.tasks.enqueue([again])).toEqual([{ id: again.id, created: true }]);

      const requeued = await h.tasks.requeue(parent.id, WRITE_NOTHING);
      expect(requeued?.task).toMatchObject({ status: 'pending', lapses: 0, attempts: 0 });
      expect(ids(requeued?.revived ?? [])).toEqual([child.id]);
    });

    it('lapsedFrom sets from how many lapses maxLapsed counts a task', async () => {
      const t = testClock();
      const once = [newTask({ createdAt: t(0) }), newTask({ createdAt: t(1) })];
      await h.tasks.enqueue(once);
      expect(await h.tasks.reserve(reserveRequest({ now: t(2), leaseMs: 1_000 }))).toHaveLength(2);
      expect((await h.tasks.reclaimLapsed(t(LAPSE_MS), 10, WRITE_NOTHING, NO_LAPSE_LIMIT)).tasks).toHaveLength(2);
      const reserved = await h.tasks.reserve(reserveRequest({ now: t(LAPSE_MS + 1), limit: 10, maxLapsed: 0, lapsedFrom: 2 }));
      expect(ids(reserved)).toEqual(ids(once));
    });

    it('reserve takes at most maxLapsed tasks that lapsed before, passing over the rest, and leaves them waiting', async () => {
      const t = testClock();
      const suspects = [newTask({ createdAt: t(0) }), newTask({ createdAt: t(1) })];
      await h.tasks.enqueue(suspects);
      expect(await h.tasks.reserve(reserveRequest({ now: t(2), leaseMs: 1_000 }))).toHaveLength(2);
      expect((await h.tasks.reclaimLapsed(t(LAPSE_MS), 10, WRITE_NOTHING, NO_LAPSE_LIMIT)).tasks).toHaveLength(2);
      const fresh = [newTask({ createdAt: t(LAPSE_MS + 1) }), newTask({ createdAt: t(LAPSE_MS + 2) })];
      await h.tasks.enqueue(fresh);

      const none = await h.tasks.reserve(reserveRequest({ now: t(LAPSE_MS + 3), limit: 10, maxLapsed: 0 }));
      expect(ids(none)).toEqual(ids(fresh));
      await h.tasks.settle(
        none.map((task) => ({ id: task.id, token: task.leaseToken!, outcome: 'release' as const })),
        WRITE_NOTHING,
      );
      const one = await h.tasks.reserve(reserveRequest({ now: t(LAPSE_MS + 4), limit: 10, maxLapsed: 1 }));
      expect(ids(one).sort()).toEqual([suspects[0]!.id, ...ids(fresh)].sort());
      const rest = await h.tasks.reserve(reserveRequest({ now: t(LAPSE_MS + 5), limit: 10 }));
      expect(ids(rest)).toEqual([suspects[1]!.id]);
    });
  });
}
