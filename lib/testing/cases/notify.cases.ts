import { WRITE_NOTHING } from '../../storage/task-queue.store.js';
import { newResult, newTask, taskError, testClock, WRITE_ALL, NO_LAPSE_LIMIT } from '../fixtures.js';
import type { EngineHarness } from '../harness.js';
import { describe, expect, it } from '../test-globals.js';
import { endAs, running, tokenOf } from './steps.js';

export function describeNotifyCases(h: EngineHarness): void {
  describe('notifications on one instance', () => {
    it('wakes listeners with the queue of a due task when it is enqueued', async () => {
      const woken = h.message(h.tasks.notifier, 'wake', 'mail');
      await h.tasks.enqueue([newTask({ queue: 'mail' })]);
      expect(await woken).toBe('mail');
    });

    it('wakes listeners when a task is released, requeued or reclaimed', async () => {
      const t = testClock();
      const released = await running(h.tasks, newTask({ queue: 'released' }));
      const wokenByRelease = h.message(h.tasks.notifier, 'wake', 'released');
      await h.tasks.settle([{ id: released.id, token: tokenOf(released), outcome: 'release' }], WRITE_NOTHING);
      await wokenByRelease;

      const failed = newTask({ queue: 'requeued' });
      await h.tasks.enqueue([failed]);
      await endAs(h.tasks, failed, 'failed');
      const wokenByRequeue = h.message(h.tasks.notifier, 'wake', 'requeued');
      await h.tasks.requeue(failed.id, WRITE_NOTHING);
      await wokenByRequeue;

      await running(h.tasks, newTask({ queue: 'reclaimed', createdAt: t(0) }), { now: t(0), leaseMs: 1000 });
      const wokenByReclaim = h.message(h.tasks.notifier, 'wake', 'reclaimed');
      await h.tasks.reclaimLapsed(t(2000), 10, WRITE_NOTHING, NO_LAPSE_LIMIT);
      await wokenByReclaim;
    });

    it('wakes the queue of dependents a success unblocks, and of tasks promoteDue moves', async () => {
      const t = testClock();
      const parent = newTask({ queue: 'parents' });
      const child = newTask({ queue: 'children', dependsOn: [parent.id] });
      await h.tasks.enqueue([parent, child]);
      const unblocked = h.message(h.tasks.notifier, 'wake', 'children');
      await endAs(h.tasks, parent, 'success');
      await unblocked;

      await h.tasks.enqueue([newTask({ queue: 'delayed', createdAt: t(0), runAt: t(1000) })]);
      const promoted = h.message(h.tasks.notifier, 'wake', 'delayed');
      expect(await h.tasks.promoteDue(t(1500), 10)).toBe(1);
      await promoted;
    });

    it('tells control listeners of a cancel request for a running task, and of pause and resume', async () => {
      const task = await running(h.tasks, newTask({ queue: 'work' }));
      const cancelRequest = h.message(h.tasks.notifier, 'control', `cancel:${task.id}`);
      await h.tasks.cancel(task.id, taskError('stop'), WRITE_NOTHING);
      await cancelRequest;

      const paused = h.message(h.tasks.notifier, 'control', 'pause:work');
      await h.tasks.pauseQueue('work');
      await paused;
      const resumed = h.message(h.tasks.notifier, 'control', 'resume:work');
      const woken = h.message(h.tasks.notifier, 'wake', 'work');
      await h.tasks.resumeQueue('work');
      await Promise.all([resumed, woken]);
    });

    it('announces the task id of every result stored: by put, by settle and by a cancel', async () => {
      const first = newResult();
      const second = newResult();
      const heard = [h.message(h.results.notifier, 'result', first.taskId), h.message(h.results.notifier, 'result', second.taskId)];
      await h.results.put([first, second]);
      await Promise.all(heard);

      const settled = await running(h.tasks, newTask());
      const bySettle = h.message(h.results.notifier, 'result', settled.id);
      await h.tasks.settle(
        [{ id: settled.id, token: tokenOf(settled), outcome: 'success', result: newResult({ taskId: settled.id }) }],
        WRITE_ALL,
      );
      await bySettle;

      const waiting = newTask();
      await h.tasks.enqueue([waiting]);
      const byCancel = h.message(h.results.notifier, 'result', waiting.id);
      await h.tasks.cancel(waiting.id, taskError(), WRITE_ALL);
      await byCancel;
    });

    it('calls listeners asynchronously, and a throwing listener does not stop the others', async () => {
      const heard: string[] = [];
      const notifier = h.tasks.notifier;
      const stopThrowing = notifier.listen('wake', () => {
        throw new Error('a listener that throws (expected by the conformance suite)');
      });
      const stopRecording = notifier.listen('wake', (queue) => heard.push(queue));
      try {
        const delivered = h.message(notifier, 'wake', 'direct');
        const sending = notifier.notify('wake', ['direct']);
        expect(heard).toEqual([]);
        await sending;
        await delivered;
        expect(heard).toContain('direct');
      } finally {
        stopThrowing();
        stopRecording();
      }
    });

    it('stops calling a listener once unsubscribed', async () => {
      const dropped: string[] = [];
      h.tasks.notifier.listen('wake', (queue) => dropped.push(queue))();
      const woken = h.message(h.tasks.notifier, 'wake', 'mail');
      await h.tasks.enqueue([newTask({ queue: 'mail' })]);
      await woken;
      expect(dropped).toEqual([]);
    });
  });
}
