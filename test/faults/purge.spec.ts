import { Injectable } from '@nestjs/common';
import { NonRetryableError, Task, type EnqueueItem } from '../../lib/index.js';
import { MemoryEngine } from '../../lib/backends/memory/memory.engine.js';
import { eventually } from '../support/eventually.js';
import { createTestApp, type TestApp } from '../support/test-app.js';

const TASKS = 20_000;
const BATCH = 1_000;

@Injectable()
class PurgeTasks {
  @Task('purge.echo')
  echo(n: number): number {
    return n;
  }

  @Task('purge.fail', { maxRetries: 0 })
  fail(): never {
    throw new NonRetryableError('failed on purpose');
  }

  @Task('purge.tick')
  tick(): void {}
}

/**
 * How many entries each map, set, heap and log of a memory engine's storage holds. Read through
 * the engine's private fields: the sizes are what the heap grows with, and no public call reports them.
 */
function memorySizes(engine: MemoryEngine): Record<string, number> {
  const storage = engine['storage'];
  const tasks = storage.tasks;
  const index = tasks['index'];
  const heaps = [...index['ready'].values()].flatMap((byName) => [...byName.values()]);
  return {
    tasks: tasks.slots.size,
    liveKeys: tasks['liveKeys'].size,
    heldKeys: tasks['heldKeys'].size,
    dependents: tasks['dependents'].size,
    children: tasks['children'].size,
    nonZeroStatusCounts: [...tasks['statusCounts'].values()].flatMap((byStatus) => [...byStatus.values()]).filter((n) => n !== 0).length,
    readyHeapEntries: heaps.reduce((sum, heap) => sum + heap['entries'].length, 0),
    delayedHeap: index['delayed']['entries'].length,
    leaseHeap: index['leases']['entries'].length,
    expiryHeap: index['expiries']['entries'].length,
    results: storage.results['byTask'].size,
    resultsBySchedule: storage.results['bySchedule'].size,
    events: storage.events.log['events'].length,
  };
}

/** Every kind of task that leaves something behind: keys with a dedupe window, chains, failures, TTLs. */
function batch(from: number): EnqueueItem[] {
  const items: EnqueueItem[] = [];
  for (let n = from; n < from + BATCH; n += 4) {
    items.push(
      { name: 'purge.echo', payload: n, options: { id: `t-${n}`, key: `key-${n}`, dedupeWindowMs: 1 } },
      { name: 'purge.echo', payload: n + 1, options: { id: `t-${n + 1}`, dependsOn: [`t-${n}`], ttlMs: 600_000 } },
      { name: 'purge.fail', payload: n + 2, options: { id: `t-${n + 2}` } },
      { name: 'purge.echo', payload: n + 3, options: { id: `t-${n + 3}`, dependsOn: [`t-${n + 2}`], onParentFailure: 'run' } },
    );
  }
  return items;
}

describe('purgeHistory keeps the memory backend bounded', () => {
  let engine: MemoryEngine;
  let app: TestApp;

  beforeEach(async () => {
    engine = new MemoryEngine();
    app = await createTestApp(
      { taskQueue: engine.tasks, resultStore: engine.results, eventStore: engine.events, worker: { concurrency: 100, pollIntervalMs: 20 } },
      [PurgeTasks],
    );
  });
  afterEach(async () => {
    await app.close();
    await engine.close();
  });

  it(`after ${TASKS.toLocaleString('en')} tasks ran and were purged, every map of the engine is empty again`, async () => {
    const ticker = await app.omniq.createSchedule('purge.ticker', { task: 'purge.tick', every: 20, maxRuns: 5 });
    for (let from = 0; from < TASKS; from += BATCH) await app.omniq.enqueueMany(batch(from));
    await eventually(async () => (await app.omniq.getSchedule(ticker.id))?.status === 'expired', 20_000, 'the schedule to fire its 5 ticks');
    const ended = await eventually(async () => {
      const stats = (await app.omniq.stats())['default'] ?? {};
      const live = (stats.pending ?? 0) + (stats.scheduled ?? 0) + (stats.running ?? 0) + (stats.retrying ?? 0);
      return live === 0 && stats;
    }, 60_000, 'every task to end');
    expect(ended).toEqual({ success: (TASKS * 3) / 4 + 5, failed: TASKS / 4 });
    expect(memorySizes(engine)).toMatchObject({ tasks: TASKS + 5, results: TASKS + 5, resultsBySchedule: 1 });

    const purged = await app.omniq.purgeHistory(new Date(Date.now() + 1_000));

    expect(purged).toMatchObject({ tasks: TASKS + 5, results: TASKS + 5 });
    expect(purged.events).toBeGreaterThanOrEqual(3 * (TASKS + 5));
    expect(memorySizes(engine)).toEqual({
      tasks: 0,
      liveKeys: 0,
      heldKeys: 0,
      dependents: 0,
      children: 0,
      nonZeroStatusCounts: 0,
      readyHeapEntries: 0,
      delayedHeap: 0,
      leaseHeap: 0,
      expiryHeap: 0,
      results: 0,
      resultsBySchedule: 0,
      events: 0,
    });
  }, 120_000);
});
