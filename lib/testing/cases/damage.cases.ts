import { newTask, reserveRequest, testClock } from '../fixtures.js';
import type { DamageField, EngineHarness } from '../harness.js';
import { describe, expect, it } from '../test-globals.js';

/** How each backend may name a field in `damaged`: as the model does, or as its storage column. */
const FIELD_NAMES: Readonly<Record<Exclude<DamageField, 'payload'>, RegExp>> = {
  status: /status/i,
  runAt: /run_?at/i,
  tags: /tags/i,
  dependsOn: /depends_?on/i,
  lastError: /last_?error/i,
};

const GOOD_TASKS = 20;

/**
 * Records damaged in the storage (a bad disk, a manual edit, an old bug) must not stop a queue:
 * reserve sets the damaged one aside and hands out every other task, and reads show it flagged
 * instead of failing the whole page.
 */
export function describeDamageCases(h: EngineHarness): void {
  const fields = (h.target.damageFields ?? (Object.keys(FIELD_NAMES) as DamageField[])).filter(
    (field): field is Exclude<DamageField, 'payload'> => field !== 'payload',
  );
  const damage = h.target.damage;
  if (damage === undefined || fields.length === 0) return;

  describe('damaged records', () => {
    for (const field of fields) {
      it(`a task whose ${field} is damaged is set aside; the ${GOOD_TASKS} others run and reads flag it`, async () => {
        const t = testClock();
        const good = Array.from({ length: GOOD_TASKS }, (_, i) => newTask({ createdAt: t(i + 1) }));
        const bad = newTask({ createdAt: t(0) });
        await h.tasks.enqueue([bad, ...good]);
        await damage.call(h.target, h.engine, bad.id, field);

        const flagged = await h.tasks.get(bad.id);
        expect(flagged?.id).toBe(bad.id);
        expect(flagged?.damaged).toMatch(FIELD_NAMES[field]);
        const [many] = await h.tasks.getMany([bad.id]);
        expect(many?.damaged).toMatch(FIELD_NAMES[field]);
        const page = await h.tasks.list({ limit: 100 });
        expect(page.total).toBe(GOOD_TASKS + 1);
        expect(page.items.find((task) => task.id === bad.id)?.damaged).toMatch(FIELD_NAMES[field]);
        const counted = (await h.tasks.counts()).reduce((sum, row) => sum + row.count, 0);
        expect(counted).toBeGreaterThanOrEqual(GOOD_TASKS);

        const reserved = await h.tasks.reserve(reserveRequest({ now: t(1_000), limit: 50 }));
        expect(reserved.map((task) => task.id).sort()).toEqual(good.map((task) => task.id).sort());
        expect(await h.tasks.reserve(reserveRequest({ now: t(2_000), limit: 50 }))).toEqual([]);

        const setAside = await h.tasks.get(bad.id);
        expect(setAside?.status).not.toBe('running');
        if (field !== 'status') {
          expect(setAside?.status).toBe('failed');
          expect(setAside?.lastError?.name).toBe('DamagedTaskError');
          expect(setAside?.lastError?.message).toMatch(FIELD_NAMES[field]);
        }
      });
    }

    if (fields.includes('status')) {
      it('a record with a status that is no status is never reserved, even once its task is due', async () => {
        const t = testClock();
        const bad = newTask({ createdAt: t(0) });
        await h.tasks.enqueue([bad]);
        await damage.call(h.target, h.engine, bad.id, 'status');
        for (const now of [t(0), t(60_000), t(3_600_000)]) {
          expect(await h.tasks.reserve(reserveRequest({ now, limit: 10 }))).toEqual([]);
        }
        expect((await h.tasks.get(bad.id))?.damaged).toMatch(/status/i);
      });
    }
  });
}
