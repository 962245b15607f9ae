import type { NewTask, TaskRecord } from '../../models/task.model.js';
import { parentFailedError, unrunOutcome } from '../../storage/outcomes.js';
import { WRITE_NOTHING, type WriteScope } from '../../storage/task-queue.store.js';
import { ids, newResult, newTask, reserveRequest, taskError, testClock, WRITE_ALL } from '../fixtures.js';
import type { EngineHarness } from '../harness.js';
import { describe, expect, it } from '../test-globals.js';
import { endAs, endedBy, reserveOnly, tokenOf } from './steps.js';

export function describeCascadeCases(h: EngineHarness): void {
  /** A parent and three generations of dependents that need it to succeed. */
  async function family(): Promise<{ parent: NewTask; generations: NewTask[] }> {
    const parent = newTask({ name: 'parent' });
    const child = newTask({ name: 'child', dependsOn: [parent.id] });
    const grandchild = newTask({ name: 'grandchild', dependsOn: [child.id] });
    const greatGrandchild = newTask({ name: 'great-grandchild', dependsOn: [grandchild.id] });
    await h.tasks.enqueue([parent, child, grandchild, greatGrandchild]);
    return { parent, generations: [child, grandchild, greatGrandchild] };
  }

  /** Fails `parent` in one settle carrying its own result; returns the report's ended records. */
  async function failWithResult(parent: NewTask, scope: WriteScope): Promise<readonly TaskRecord[]> {
    const reserved = await reserveOnly(h.tasks, parent);
    const result = newResult({ taskId: parent.id, taskName: parent.name, status: 'failed', value: undefined, error: taskError() });
    const [report] = await h.tasks.settle([{ id: parent.id, token: tokenOf(reserved), outcome: 'failed', error: taskError(), result }], scope);
    return endedBy(report);
  }

  describe('dependencies and cascades', () => {
    it('a parent failing with three levels of dependents cancels them all in one settle, with results and events', async () => {
      const { parent, generations } = await family();
      const ended = await failWithResult(parent, WRITE_ALL);
      expect(new Set(ids(ended))).toEqual(new Set(ids(generations)));
      const causes = [parent, ...generations];
      for (const [index, task] of generations.entries()) {
        const cause = (await h.tasks.get(causes[index]!.id)) as TaskRecord;
        const stored = (await h.tasks.get(task.id)) as TaskRecord;
        expect(stored).toMatchObject({ status: 'cancelled', cancelledBy: cause.id, lastError: parentFailedError(cause), attempts: 0 });
        expect(stored.completedAt).toBeInstanceOf(Date);
        expect(ended.find((record) => record.id === task.id)).toEqual(stored);
        expect(await h.results.get(task.id)).toEqual(unrunOutcome(stored).result);
        const events = await h.events.query({ taskId: task.id });
        expect(events).toHaveLength(1);
        expect(events[0]).toMatchObject({ type: 'cancelled', taskId: task.id, queue: task.queue, error: parentFailedError(cause) });
      }
    });

    it('with scope false the cascade changes the tasks but writes no results or events', async () => {
      const { parent, generations } = await family();
      const ended = await failWithResult(parent, WRITE_NOTHING);
      expect(new Set(ids(ended))).toEqual(new Set(ids(generations)));
      for (const task of generations) {
        expect((await h.tasks.get(task.id))?.status).toBe('cancelled');
        expect(await h.results.get(task.id)).toBeUndefined();
        expect(await h.events.query({ taskId: task.id })).toEqual([]);
      }
      expect(await h.results.get(parent.id)).toBeUndefined();
    });

    it('a parent ending cancelled cancels its dependents too; a dependent of a success is left alone', async () => {
      const cancelled = newTask({ name: 'parent' });
      const succeeded = newTask({ name: 'parent' });
      const doomed = newTask({ name: 'child', dependsOn: [cancelled.id] });
      const fine = newTask({ name: 'child', dependsOn: [succeeded.id] });
      await h.tasks.enqueue([cancelled, succeeded, doomed, fine]);
      expect(ids(endedBy(await endAs(h.tasks, cancelled, 'cancelled')))).toEqual([doomed.id]);
      expect(endedBy(await endAs(h.tasks, succeeded, 'success'))).toEqual([]);
      expect(await h.tasks.get(doomed.id)).toMatchObject({ status: 'cancelled', cancelledBy: cancelled.id });
      expect(ids(await h.tasks.reserve(reserveRequest({ names: ['child'] })))).toEqual([fine.id]);
    });

    it('a dependent with onParentFailure "run" becomes reservable when its parent fails', async () => {
      const parent = newTask({ name: 'parent' });
      const strict = newTask({ name: 'child', dependsOn: [parent.id], onParentFailure: 'cancel' });
      const lenient = newTask({ name: 'child', dependsOn: [parent.id], onParentFailure: 'run' });
      await h.tasks.enqueue([parent, strict, lenient]);
      expect(await h.tasks.reserve(reserveRequest({ names: ['child'] }))).toEqual([]);
      expect(ids(endedBy(await endAs(h.tasks, parent, 'failed')))).toEqual([strict.id]);
      expect(ids(await h.tasks.reserve(reserveRequest({ names: ['child'] })))).toEqual([lenient.id]);
    });

    it('a "run" dependent waits until every parent ended, and is due at once when they already had', async () => {
      const a = newTask({ name: 'parent' });
      const b = newTask({ name: 'parent' });
      await h.tasks.enqueue([a, b]);
      const child = newTask({ name: 'child', dependsOn: [a.id, b.id], onParentFailure: 'run' });
      await h.tasks.enqueue([child]);
      await endAs(h.tasks, a, 'cancelled');
      expect(await h.tasks.reserve(reserveRequest({ names: ['child'] }))).toEqual([]);
      await endAs(h.tasks, b, 'success');
      const late = newTask({ name: 'child', dependsOn: [a.id], onParentFailure: 'run' });
      await h.tasks.enqueue([late]);
      expect(ids(await h.tasks.reserve(reserveRequest({ names: ['child'] })))).toEqual([child.id, late.id]);
    });

    it('an ended task keeps its key for its dedupe window only', async () => {
      const t = testClock();
      const windowed = newTask({ name: 'w', key: 'report', dedupeWindowMs: 60_000 });
      await h.tasks.enqueue([windowed]);
      await endAs(h.tasks, windowed, 'success', { at: t(0) });
      expect(await h.tasks.enqueue([newTask({ key: 'report' })])).toEqual([{ id: windowed.id, created: false }]);
      const expired = newTask({ name: 'w', key: 'stale', dedupeWindowMs: 1_000 });
      await h.tasks.enqueue([expired]);
      await endAs(h.tasks, expired, 'success', { at: t(-5_000) });
      const fresh = newTask({ key: 'stale' });
      expect(await h.tasks.enqueue([fresh])).toEqual([{ id: fresh.id, created: true }]);
    });
  });

  describe('requeue revives what a parent’s end cancelled', () => {
    it('requeue of the parent brings its cancelled generations back to waiting, and deletes their results', async () => {
      const { parent, generations } = await family();
      await failWithResult(parent, WRITE_ALL);
      const outcome = await h.tasks.requeue(parent.id, WRITE_ALL);
      expect(outcome).toMatchObject({ changed: true, task: { id: parent.id, status: 'pending', attempts: 0 } });
      expect(new Set(ids(outcome?.revived ?? []))).toEqual(new Set(ids(generations)));
      for (const task of generations) {
        const stored = (await h.tasks.get(task.id)) as TaskRecord;
        expect(['pending', 'scheduled']).toContain(stored.status);
        expect(stored.cancelledBy).toBeUndefined();
        expect(outcome?.revived.find((record) => record.id === task.id)).toEqual(stored);
        expect(await h.results.get(task.id)).toBeUndefined();
      }
      expect(await h.results.get(parent.id)).toBeUndefined();

      const now = new Date(Date.now() + 1);
      const again = await h.tasks.reserve(reserveRequest({ now, limit: 10 }));
      expect(ids(again)).toEqual([parent.id]);
      await h.tasks.settle([{ id: parent.id, token: tokenOf(again[0]!), outcome: 'success' }], WRITE_NOTHING);
      expect(ids(await h.tasks.reserve(reserveRequest({ now, limit: 10 })))).toEqual([generations[0]!.id]);
    });

    it('revives only the dependents this parent’s end cancelled, and keeps results without scope.results', async () => {
      const p = newTask({ name: 'p' });
      const q = newTask({ name: 'q' });
      const ofP = newTask({ name: 'child', dependsOn: [p.id] });
      const ofQ = newTask({ name: 'child', dependsOn: [q.id] });
      await h.tasks.enqueue([p, q, ofP, ofQ]);
      await failWithResult(p, WRITE_ALL);
      await failWithResult(q, WRITE_ALL);
      const outcome = await h.tasks.requeue(p.id, WRITE_NOTHING);
      expect(ids(outcome?.revived ?? [])).toEqual([ofP.id]);
      expect((await h.tasks.get(ofQ.id))?.status).toBe('cancelled');
      expect(await h.results.get(ofP.id)).toMatchObject({ taskId: ofP.id, status: 'cancelled' });
      expect(await h.results.get(p.id)).toMatchObject({ taskId: p.id, status: 'failed' });
    });
  });
}
