import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileBackend } from '../../lib/backends/file/index.js';
import type { StorageEngine } from '../../lib/storage/engine.js';
import { ids, newEvent } from '../../lib/testing/fixtures.js';

/** The `enqueued` events of a 150,000-task enqueueMany: one append call of some 40 MB. */
const BIG = 150_000;
/**
 * Appends beside it must wait for at most a slice of it, not for all of it (before the fix, the
 * whole append): a share of its duration, so that a loaded machine slows both alike.
 */
const MAX_SHARE = 0.25;

/*
 * A long write beside live workers on the file backend (issue 11, item 3): the event log's append
 * lock was held for the whole of a huge append, so every other process's workers waited seconds
 * to record an event. Now a big append takes the lock once per slice of about 1 MB. Two engines
 * on one folder contend for the lock through its files, as two processes do.
 */
describe('file backend: a huge event append beside other appenders', () => {
  let dir: string;
  const engines: StorageEngine[] = [];

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'omniq-file-long-append-'));
  });

  afterEach(async () => {
    await Promise.all(engines.splice(0).map((engine) => engine.close()));
    await rm(dir, { recursive: true, force: true });
  });

  const open = async (): Promise<StorageEngine> => {
    const engine = await fileBackend.open(`file://${dir}`, { projectName: 'faults', baseDir: dir, storageOptions: {} });
    engines.push(engine);
    return engine;
  };

  it('keeps every other append waiting for no more than a slice of it', async () => {
    const [bulk, worker] = [await open(), await open()];
    const big = Array.from({ length: BIG }, () => newEvent({ message: 'enqueued by a long call' }));
    let bulkDone = false;
    const bulkAppend = bulk.events.append(big).then(() => (bulkDone = true));

    const bulkStarted = Date.now();
    const waits: number[] = [];
    const small = Array.from({ length: 5 }, () => newEvent());
    for (const event of small) {
      const startedAt = Date.now();
      await worker.events.append([event]);
      waits.push(Date.now() - startedAt);
    }
    // Measured while the big append was still going, or the waits prove nothing.
    const measuredDuringBulk = !bulkDone;
    await bulkAppend;
    const bulkMs = Date.now() - bulkStarted;
    expect(measuredDuringBulk).toBe(true);
    expect(Math.max(...waits)).toBeLessThan(bulkMs * MAX_SHARE);
    const logged = new Set(ids(await (await open()).events.query({ limit: BIG + 10 })));
    expect(logged.size).toBe(BIG + small.length);
  }, 120_000);
});
