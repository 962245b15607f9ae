import { WRITE_NOTHING } from '../../storage/task-queue.store.js';
import { duplicates, ids, newTask, reserveRequest, taskError } from '../fixtures.js';
import type { EngineHarness } from '../harness.js';
import { describe, expect, it } from '../test-globals.js';
import { expectRejectedOrCancelled, running, tokenOf } from './steps.js';

export function describeRaceCases(h: EngineHarness): void {
  describe('races inside one instance', () => {
    it('hands each task to exactly one of many concurrent reserves', async () => {
      const tasks = Array.from({ length: 50 }, () => newTask());
      await h.tasks.enqueue(tasks);
      const batches = await Promise.all(
        Array.from({ length: 10 }, (_, i) => h.tasks.reserve(reserveRequest({ workerId: `worker-${i}`, limit: 10 }))),
      );
      const handedOut = batches.flatMap(ids);
      expect(duplicates(handedOut)).toEqual([]);
      expect(new Set(handedOut)).toEqual(new Set(ids(tasks)));
    });

    it('of concurrent enqueues with one key, exactly one creates a task and all name it', async () => {
      const attempts = Array.from({ length: 10 }, () => newTask({ key: 'once' }));
      const outcomes = (await Promise.all(attempts.map((task) => h.tasks.enqueue([task])))).map(([outcome]) => outcome!);
      const created = outcomes.filter((outcome) => outcome.created);
      expect(created).toHaveLength(1);
      expect(new Set(outcomes.map((outcome) => outcome.id))).toEqual(new Set([created[0]!.id]));
      expect((await h.tasks.list()).total).toBe(1);
    });

    it('a parent settling failed while its child is enqueued: the child is refused or cancelled, never left waiting', async () => {
      for (let round = 0; round < 20; round += 1) {
        const parent = await running(h.tasks, newTask({ name: `parent-${round}` }));
        const child = newTask({ name: 'child', dependsOn: [parent.id] });
        const [, enqueued] = await Promise.allSettled([
          h.tasks.settle([{ id: parent.id, token: tokenOf(parent), outcome: 'failed', error: taskError() }], WRITE_NOTHING),
          h.tasks.enqueue([child]),
        ]);
        await expectRejectedOrCancelled(h.tasks, enqueued, child.id, parent.id);
      }
    });
  });
}
