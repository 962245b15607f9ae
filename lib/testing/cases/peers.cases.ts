import { WRITE_NOTHING } from '../../storage/task-queue.store.js';
import { duplicates, ids, newEvent, newResult, newSchedule, newTask, reserveRequest, taskError, testClock, WRITE_ALL, NO_LAPSE_LIMIT } from '../fixtures.js';
import type { EngineHarness } from '../harness.js';
import { describe, expect, it } from '../test-globals.js';
import { expectRejectedOrCancelled, HELD_PLAIN, NOT_HELD, running, tokenOf } from './steps.js';

export function describePeerCases(h: EngineHarness): void {
  describe('across instances on one storage', () => {
    it('a peer sees the tasks, results, events and paused queues the first instance stored', async () => {
      const peer = await h.peer();
      const task = newTask();
      await h.tasks.enqueue([task]);
      const result = newResult({ taskId: task.id });
      const event = newEvent({ taskId: task.id });
      await h.results.put([result]);
      await h.events.append([event]);
      await h.tasks.pauseQueue('held');
      expect(await peer.tasks.get(task.id)).toEqual(await h.tasks.get(task.id));
      expect(await peer.results.get(task.id)).toEqual(result);
      expect(await peer.events.query({ taskId: task.id })).toEqual([event]);
      expect(await peer.tasks.pausedQueues()).toEqual(['held']);
      await peer.tasks.enqueue([newTask({ queue: 'held' })]);
      expect(await peer.tasks.reserve(reserveRequest({ queues: ['held'] }))).toEqual([]);
    });

    it('two instances reserving 200 tasks concurrently hand each out exactly once', async () => {
      const peer = await h.peer();
      const tasks = Array.from({ length: 200 }, () => newTask());
      await h.tasks.enqueue(tasks);
      const handedOut: string[] = [];
      for (let round = 0; round < 50; round += 1) {
        const batches = await Promise.all(
          Array.from({ length: 16 }, (_, i) =>
            (i % 2 === 0 ? h.tasks : peer.tasks).reserve(reserveRequest({ workerId: `worker-${i}`, limit: 15 })),
          ),
        );
        const reserved = batches.flatMap(ids);
        if (reserved.length === 0) break;
        handedOut.push(...reserved);
      }
      expect(duplicates(handedOut)).toEqual([]);
      expect(new Set(handedOut)).toEqual(new Set(ids(tasks)));
    });

    it('a peer reclaims a lapsed lease and re-runs the task; the old holder’s token is rejected from then on', async () => {
      const t = testClock();
      const peer = await h.peer();
      const first = await running(h.tasks, newTask({ createdAt: t(0) }), { now: t(0), leaseMs: 1000, workerId: 'lost' });
      expect(ids((await peer.tasks.reclaimLapsed(t(2000), 10, WRITE_ALL, NO_LAPSE_LIMIT)).tasks)).toEqual([first.id]);
      const [second] = await peer.tasks.reserve(reserveRequest({ now: t(2000), workerId: 'rescuer' }));
      expect(second).toMatchObject({ id: first.id, attempts: 2, workerId: 'rescuer' });
      expect(await h.tasks.extendLeases([{ id: first.id, token: tokenOf(first) }], 60_000)).toEqual([false]);
      expect(await h.tasks.settle([{ id: first.id, token: tokenOf(first), outcome: 'success' }], WRITE_ALL)).toEqual([NOT_HELD]);
      expect(await peer.tasks.settle([{ id: first.id, token: tokenOf(second!), outcome: 'success' }], WRITE_ALL)).toEqual([HELD_PLAIN]);
      const reclaimed = await h.events.query({ taskId: first.id, types: ['reclaimed'] });
      expect(reclaimed).toHaveLength(1);
      expect(reclaimed[0]).toMatchObject({ workerId: 'lost', attempt: 1 });
    });

    it('the same idempotency key enqueued from both at once creates one task', async () => {
      const peer = await h.peer();
      const keys = Array.from({ length: 10 }, (_, i) => `order-${i}`);
      const outcomes = await Promise.all(
        keys.flatMap((key) => [h.tasks.enqueue([newTask({ key })]), peer.tasks.enqueue([newTask({ key })])]),
      );
      for (const [index, key] of keys.entries()) {
        const pair = [outcomes[2 * index]![0]!, outcomes[2 * index + 1]![0]!];
        expect({ key, created: pair.filter((outcome) => outcome.created).length, sameId: pair[0]!.id === pair[1]!.id }).toEqual({
          key,
          created: 1,
          sameId: true,
        });
      }
      expect((await h.tasks.list()).total).toBe(keys.length);
    });

    it('racing schedule fires from both instances: exactly one claims the tick', async () => {
      const t = testClock();
      const peer = await h.peer();
      const schedule = newSchedule({ nextRunAt: t(0) });
      await h.schedules.saveSchedule(schedule);
      const peerSchedules = peer.tasks.schedules;
      if (!peerSchedules) throw new Error(`${h.target.name}: the peer engine has no schedule store`);
      const advance = { nextRunAt: t(1000), status: 'active' as const, runCount: 1, lastRunAt: t(0) };
      const outcomes = await Promise.all(
        Array.from({ length: 8 }, (_, i) =>
          (i % 2 === 0 ? h.schedules : peerSchedules).fireSchedule(schedule.id, t(0), advance, newTask({ scheduleId: schedule.id })),
        ),
      );
      expect(outcomes.filter((outcome) => outcome.claimed)).toHaveLength(1);
      expect((await h.tasks.list()).total).toBe(1);
      expect(await peerSchedules.getSchedule(schedule.id)).toMatchObject({ runCount: 1, nextRunAt: t(1000) });
    });

    it('a cancel requested on a peer reaches the holder: a control message, or cancelRequested where it cannot notify', async () => {
      const peer = await h.peer();
      const task = await running(h.tasks, newTask());
      const heard = h.engine.capabilities.crossProcessNotify ? h.message(h.tasks.notifier, 'control', `cancel:${task.id}`) : undefined;
      const outcome = await peer.tasks.cancel(task.id, taskError('stop'), WRITE_ALL);
      expect(outcome).toMatchObject({ changed: true, ended: [], task: { status: 'running' } });
      if (heard) await heard;
      expect(await h.tasks.cancelRequested([task.id])).toEqual([task.id]);
      expect(await h.tasks.settle([{ id: task.id, token: tokenOf(task), outcome: 'cancelled' }], WRITE_NOTHING)).toEqual([HELD_PLAIN]);
    });

    it('wake, result and control messages of a peer reach this instance when the engine notifies across processes', async () => {
      const peer = await h.peer();
      const cross = h.engine.capabilities.crossProcessNotify;
      const task = newTask({ queue: 'shared' });
      const result = newResult({ taskId: task.id });
      const heard = cross
        ? [
            h.message(h.tasks.notifier, 'wake', 'shared'),
            h.message(h.results.notifier, 'result', task.id),
            h.message(h.tasks.notifier, 'control', 'pause:other'),
          ]
        : [];
      await peer.tasks.enqueue([task]);
      await peer.results.put([result]);
      await peer.tasks.pauseQueue('other');
      await Promise.all(heard);
      expect((await h.tasks.get(task.id))?.status).toBe('pending');
      expect(await h.results.get(task.id)).toEqual(result);
      expect(await h.tasks.pausedQueues()).toEqual(['other']);
    });

    it('a parent settling failed on one instance while its child is enqueued on the other never strands the child', async () => {
      const peer = await h.peer();
      for (let round = 0; round < 10; round += 1) {
        const parent = await running(h.tasks, newTask({ name: `parent-${round}` }));
        const child = newTask({ name: 'child', dependsOn: [parent.id] });
        const [, enqueued] = await Promise.allSettled([
          h.tasks.settle([{ id: parent.id, token: tokenOf(parent), outcome: 'failed', error: taskError() }], WRITE_NOTHING),
          peer.tasks.enqueue([child]),
        ]);
        await expectRejectedOrCancelled(h.tasks, enqueued, child.id, parent.id);
      }
    });
  });
}
