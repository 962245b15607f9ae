import type { TaskRecord } from '../../models/task.model.js';
import { WRITE_NOTHING } from '../../storage/task-queue.store.js';
import { countMap, duplicates, ids, newEvent, newResult, newTask, reserveRequest, textDifference, WRITE_ALL } from '../fixtures.js';
import type { EngineHarness } from '../harness.js';
import { describe, expect, it } from '../test-globals.js';
import { running, tokenOf } from './steps.js';

const BATCH = 10_000;
const BATCH_TIMEOUT_MS = 180_000;

/** Text a careless encoding loses: NUL, lone surrogates of both halves, an astral pair. */
const AWKWARD = 'nul \u0000 high \ud800 low \udc00 pair \ud83d\ude00 reversed \udc00\ud800 end \u0000';
const MEGABYTE = `${AWKWARD}${'0123456789abcdef'.repeat(65_536)}${AWKWARD}`;

export function describeVolumeCases(h: EngineHarness): void {
  describe('batches of 10,000', () => {
    it(
      'enqueues, reserves and settles 10,000 tasks in single calls',
      async () => {
        const tasks = Array.from({ length: BATCH }, (_, i) => newTask({ priority: i % 7 }));
        const outcomes = await h.tasks.enqueue(tasks);
        expect(outcomes.filter((outcome) => outcome.created)).toHaveLength(BATCH);
        expect(outcomes.map((outcome) => outcome.id)).toEqual(ids(tasks));

        const reserved: TaskRecord[] = [];
        for (let call = 0; call < BATCH; call += 1) {
          const batch = await h.tasks.reserve(reserveRequest({ limit: BATCH - reserved.length }));
          if (batch.length === 0) break;
          reserved.push(...batch);
        }
        expect(duplicates(ids(reserved))).toEqual([]);
        expect(reserved).toHaveLength(BATCH);

        const reports = await h.tasks.settle(
          reserved.map((task) => ({ id: task.id, token: tokenOf(task), outcome: 'success' as const })),
          WRITE_NOTHING,
        );
        expect(reports.filter((report) => report.held)).toHaveLength(BATCH);
        expect(countMap(await h.tasks.counts())).toEqual({ 'default/success': BATCH });
        expect((await h.tasks.list({ limit: 1 })).total).toBe(BATCH);
      },
      BATCH_TIMEOUT_MS,
    );
  });

  describe('payloads that must round-trip exactly', () => {
    it('keeps NUL, lone surrogates and a 1 MB payload in tasks, as stored and as reserved', async () => {
      const awkward = newTask({ queue: 'awkward', payload: { format: 'opaque', data: AWKWARD }, description: AWKWARD });
      const big = newTask({ queue: 'big', payload: { format: 'opaque', data: MEGABYTE } });
      await h.tasks.enqueue([awkward, big]);
      expect(textDifference((await h.tasks.get(awkward.id))?.payload.data, AWKWARD)).toBe('equal');
      expect(textDifference((await h.tasks.get(awkward.id))?.description, AWKWARD)).toBe('equal');
      expect(textDifference((await h.tasks.get(big.id))?.payload.data, MEGABYTE)).toBe('equal');
      const [reserved] = await h.tasks.reserve(reserveRequest({ queues: ['big'] }));
      expect(textDifference(reserved?.payload.data, MEGABYTE)).toBe('equal');
      const [listed] = (await h.tasks.list({ queue: 'awkward' })).items;
      expect(textDifference(listed?.payload.data, AWKWARD)).toBe('equal');
    });

    it('keeps them in errors, results and events written by settle, and in results put directly', async () => {
      const task = await running(h.tasks, newTask());
      const error = { name: 'Error', message: AWKWARD };
      const result = newResult({ taskId: task.id, status: 'failed', value: { format: 'opaque', data: MEGABYTE }, error });
      const event = newEvent({ type: 'failed', taskId: task.id, message: AWKWARD, error, data: { detail: AWKWARD } });
      await h.tasks.settle([{ id: task.id, token: tokenOf(task), outcome: 'failed', error, result, events: [event] }], WRITE_ALL);
      expect(textDifference((await h.tasks.get(task.id))?.lastError?.message, AWKWARD)).toBe('equal');
      const stored = await h.results.get(task.id);
      expect(textDifference(stored?.value?.data, MEGABYTE)).toBe('equal');
      expect(textDifference(stored?.error?.message, AWKWARD)).toBe('equal');
      const [recorded] = await h.events.query({ taskId: task.id });
      expect(textDifference(recorded?.message, AWKWARD)).toBe('equal');
      expect(textDifference(recorded?.data?.['detail'] as string | undefined, AWKWARD)).toBe('equal');

      const direct = newResult({ value: { format: 'opaque', data: AWKWARD } });
      await h.results.put([direct]);
      expect(textDifference((await h.results.get(direct.taskId))?.value?.data, AWKWARD)).toBe('equal');
    });
  });
}
