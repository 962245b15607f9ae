import type { NewTask, TaskRecord } from '../../lib/models/task.model.js';
import type { TaskQueueStore } from '../../lib/storage/task-queue.store.js';
import { ids, newTask, reserveRequest, taskError, testClock, useFreshStore } from './fixtures.js';

/**
 * Dependencies, their failure policy, dependents, callbacks kept on the task, and idempotency
 * keys held after the task ended. Declared by describeTaskQueueConformance.
 */
export function describeTaskWorkflowConformance(factory: () => Promise<TaskQueueStore>): void {
  describe('task workflows', () => {
    const store = useFreshStore(factory);

    async function settleAs(task: NewTask, outcome: 'success' | 'failed' | 'cancelled', at?: Date): Promise<void> {
      const [reserved] = await store().reserve(reserveRequest({ queues: [task.queue], names: [task.name], limit: 1 }));
      expect(reserved?.id).toBe(task.id);
      const token = (reserved as TaskRecord).leaseToken as string;
      const settlement =
        outcome === 'failed'
          ? { id: task.id, token, outcome, error: taskError(), at }
          : { id: task.id, token, outcome, at };
      expect(await store().settle([settlement])).toEqual([true]);
    }

    it('a child with onParentFailure "cancel" stays blocked after a parent failed; with "run" it becomes due', async () => {
      const parent = newTask({ name: 'parent' });
      const strict = newTask({ name: 'child', dependsOn: [parent.id], onParentFailure: 'cancel' });
      const lenient = newTask({ name: 'child', dependsOn: [parent.id], onParentFailure: 'run' });
      await store().enqueue([parent, strict, lenient]);
      expect(await store().reserve(reserveRequest({ names: ['child'] }))).toEqual([]);
      await settleAs(parent, 'failed');
      expect(ids(await store().reserve(reserveRequest({ names: ['child'] })))).toEqual([lenient.id]);
    });

    it('a "run" child waits until every parent ended, and is due at once when they already had', async () => {
      const a = newTask({ name: 'parent' });
      const b = newTask({ name: 'parent' });
      await store().enqueue([a, b]);
      const child = newTask({ name: 'child', dependsOn: [a.id, b.id], onParentFailure: 'run' });
      await store().enqueue([child]);
      await settleAs(a, 'cancelled');
      expect(await store().reserve(reserveRequest({ names: ['child'] }))).toEqual([]);
      await settleAs(b, 'success');
      const late = newTask({ name: 'child', dependsOn: [a.id], onParentFailure: 'run' });
      await store().enqueue([late]);
      expect(ids(await store().reserve(reserveRequest({ names: ['child'] })))).toEqual([child.id, late.id]);
    });

    it('lists the waiting dependents of a task in enqueue order', async () => {
      const parent = newTask({ name: 'parent' });
      const first = newTask({ dependsOn: [parent.id] });
      const unrelated = newTask();
      const second = newTask({ dependsOn: ['elsewhere', parent.id] });
      await store().enqueue([parent, first, unrelated, second]);
      expect(ids(await store().dependentsOf(parent.id))).toEqual([first.id, second.id]);
      await store().cancel(first.id);
      expect(ids(await store().dependentsOf(parent.id))).toEqual([second.id]);
      expect(await store().dependentsOf(unrelated.id)).toEqual([]);
    });

    it('keeps callbacks and the failure policy on the task', async () => {
      const task = newTask({
        onParentFailure: 'run',
        onSuccess: { task: 'notify', args: { format: 'omniq-json/1', data: '{"to":"ops"}' } },
        onFailure: { task: 'alert' },
      });
      await store().enqueue([task]);
      expect(await store().get(task.id)).toMatchObject({
        onParentFailure: 'run',
        onSuccess: { task: 'notify', args: { format: 'omniq-json/1', data: '{"to":"ops"}' } },
        onFailure: { task: 'alert' },
      });
    });

    it('an ended task keeps its key for its dedupe window only', async () => {
      const t = testClock();
      const windowed = newTask({ name: 'w', key: 'report', dedupeWindowMs: 60_000 });
      await store().enqueue([windowed]);
      await settleAs(windowed, 'success', t(0));
      expect(await store().enqueue([newTask({ key: 'report' })])).toEqual([{ id: windowed.id, created: false }]);
      const expired = newTask({ name: 'w', key: 'stale', dedupeWindowMs: 1_000 });
      await store().enqueue([expired]);
      await settleAs(expired, 'success', t(-5_000));
      const fresh = newTask({ key: 'stale' });
      expect(await store().enqueue([fresh])).toEqual([{ id: fresh.id, created: true }]);
    });
  });
}
