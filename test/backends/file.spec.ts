import { randomUUID } from 'node:crypto';
import { mkdtemp, readdir, rename, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { jest } from '@jest/globals';
import { Logger } from '@nestjs/common';
import type { BackendContext } from '../../lib/backends/backend.registry.js';
import { CorruptFileError, fileBackend, fileStoreRoot } from '../../lib/backends/file/index.js';
import { SharedResources } from '../../lib/backends/shared-resources.js';
import type { EventStore } from '../../lib/storage/event.store.js';
import type { ResultStore } from '../../lib/storage/result.store.js';
import type { ScheduleAdvance, ScheduleStore } from '../../lib/storage/schedule.store.js';
import type { TaskQueueStore } from '../../lib/storage/task-queue.store.js';
import { describeEventStoreConformance } from '../conformance/event-store.conformance.js';
import { ids, newEvent, newResult, newTask, reserveRequest, taskError, testClock } from '../conformance/fixtures.js';
import { describeResultStoreConformance } from '../conformance/result-store.conformance.js';
import { describeScheduleStoreConformance, newSchedule } from '../conformance/schedule-store.conformance.js';
import { describeTaskQueueConformance } from '../conformance/task-queue.conformance.js';

const PROJECT = 'omniq-test';

/** Folders made by the test and stores it opened on them (simulated processes), undone after it. */
const folders: string[] = [];
const opened: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((store) => store.close()));
  await Promise.all(folders.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});

async function newFolder(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'omniq-file-'));
  folders.push(dir);
  return dir;
}

const contextFor = (dir: string, projectName = PROJECT): BackendContext => ({
  projectName,
  baseDir: dir,
  storageOptions: {},
  resources: new SharedResources(),
});

async function opening<S extends { close(): Promise<void> }>(store: Promise<S>): Promise<S> {
  opened.push(await store);
  return store;
}
const queueOn = (dir: string, projectName = PROJECT): Promise<TaskQueueStore> =>
  opening(fileBackend.createTaskQueue(`file://${dir}`, contextFor(dir, projectName)));
const resultsOn = (dir: string, projectName = PROJECT): Promise<ResultStore> =>
  opening(fileBackend.createResultStore(`file://${dir}`, contextFor(dir, projectName)));
const eventsOn = (dir: string, projectName = PROJECT): Promise<EventStore> =>
  opening(fileBackend.createEventStore(`file://${dir}`, contextFor(dir, projectName)));

// The conformance suites close their own stores; each gets an empty folder.
describeTaskQueueConformance('file', async () => {
  const dir = await newFolder();
  return fileBackend.createTaskQueue(`file://${dir}`, contextFor(dir));
});
describeResultStoreConformance('file', async () => {
  const dir = await newFolder();
  return fileBackend.createResultStore(`file://${dir}`, contextFor(dir));
});
describeEventStoreConformance('file', async () => {
  const dir = await newFolder();
  return fileBackend.createEventStore(`file://${dir}`, contextFor(dir));
});
describeScheduleStoreConformance('file', async () => {
  const dir = await newFolder();
  return fileBackend.createTaskQueue(`file://${dir}`, contextFor(dir));
});

const schedulesOf = (queue: TaskQueueStore): ScheduleStore => {
  if (!queue.schedules) throw new Error('the file task queue keeps no schedules');
  return queue.schedules;
};
/** The fire the scheduler makes for `tick`, advancing to `next`. */
const tickOf = (scheduleId: string, tick: Date, next: Date, runCount: number): [ScheduleAdvance, ReturnType<typeof newTask>] => [
  { nextRunAt: next, status: 'active', runCount, lastRunAt: tick },
  newTask({ scheduleId, key: `schedule:${scheduleId}:${tick.getTime()}` }),
];

describe('file backend', () => {
  describe('folder from the URL', () => {
    it('puts each project in its own folder under an absolute, relative or default path', () => {
      const context = contextFor('/srv/base');
      expect(fileStoreRoot('file:///var/omniq', context)).toBe(`/var/omniq/${PROJECT}`);
      expect(fileStoreRoot('file://./omniq_data', context)).toBe(resolve('omniq_data', PROJECT));
      expect(fileStoreRoot('file://data', context)).toBe(resolve('data', PROJECT));
      expect(fileStoreRoot('file://', context)).toBe(`/srv/base/${PROJECT}`);
    });

    it('rejects a project name that is not one plain folder name, and URLs of other schemes', () => {
      expect(() => fileStoreRoot('file:///tmp/x', contextFor('/tmp', '../escape'))).toThrow(/projectName "\.\.\/escape"/);
      expect(() => fileStoreRoot('file:///tmp/x', contextFor('/tmp', '..'))).toThrow(/projectName/);
      expect(() => fileStoreRoot('memory://', contextFor('/tmp'))).toThrow(/not a file:\/\/ URL/);
    });
  });

  describe('two processes on one folder', () => {
    it('never hand one task to both, however their reserves interleave', async () => {
      const dir = await newFolder();
      const [first, second] = [await queueOn(dir), await queueOn(dir)];
      const tasks = Array.from({ length: 100 }, (_, i) => newTask({ priority: i % 3 }));
      await first.enqueue(tasks.slice(0, 50));
      await second.enqueue(tasks.slice(50));

      const handedOut: string[] = [];
      for (let round = 0; round < 10 && handedOut.length < 100; round++) {
        const batches = await Promise.all(
          [first, second, first, second].map((store, i) => store.reserve(reserveRequest({ workerId: `w${i}`, limit: 7 }))),
        );
        handedOut.push(...batches.flatMap(ids));
      }
      expect(handedOut).toHaveLength(100);
      expect(new Set(handedOut)).toEqual(new Set(ids(tasks)));
      expect(await first.reserve(reserveRequest())).toEqual([]);
      expect(await second.reserve(reserveRequest())).toEqual([]);
    });

    it('let one take over a lapsed lease and reject the old holder’s token', async () => {
      const dir = await newFolder();
      const [first, second] = [await queueOn(dir), await queueOn(dir)];
      const t = testClock();
      const task = newTask({ createdAt: t(0) });
      await first.enqueue([task]);
      const [held] = await first.reserve(reserveRequest({ now: t(0), leaseMs: 1000 }));
      expect(await second.reserve(reserveRequest({ now: t(999) }))).toEqual([]);
      const [taken] = await second.reserve(reserveRequest({ now: t(1000), workerId: 'worker-2' }));
      expect(taken).toMatchObject({ id: task.id, attempts: 2, workerId: 'worker-2' });

      const stale = { id: task.id, token: held.leaseToken as string };
      expect(await first.settle([{ ...stale, outcome: 'success' }])).toEqual([false]);
      expect(await first.extendLeases([stale], 60_000)).toEqual([false]);
      expect(await first.setProgress(task.id, stale.token, 1)).toBe(false);
      expect(await first.settle([{ id: task.id, token: taken.leaseToken as string, outcome: 'success' }])).toEqual([true]);
      expect((await second.get(task.id))?.status).toBe('success');
    });

    it('share idempotency keys: of concurrent enqueues with one key, exactly one is stored', async () => {
      const dir = await newFolder();
      const [first, second] = [await queueOn(dir), await queueOn(dir)];
      const attempts = Array.from({ length: 10 }, () => newTask({ key: 'nightly-report' }));
      const outcomes = (await Promise.all(attempts.map((task, i) => (i % 2 ? first : second).enqueue([task])))).flat();
      const created = outcomes.filter((outcome) => outcome.created);
      expect(created).toHaveLength(1);
      expect(new Set(outcomes.map((outcome) => outcome.id))).toEqual(new Set([created[0].id]));
      expect((await first.list()).total).toBe(1);
    });

    it('see a cancel requested through the other, which leaves the holder’s lease to settle', async () => {
      const dir = await newFolder();
      const [holder, canceller] = [await queueOn(dir), await queueOn(dir)];
      const [task, other] = [newTask(), newTask()];
      await holder.enqueue([task, other]);
      const [held] = await holder.reserve(reserveRequest({ limit: 2 }));
      expect(await holder.cancelRequested([task.id, other.id])).toEqual([]);

      const requested = await canceller.cancel(task.id);
      expect(requested).toMatchObject({ changed: true, task: { status: 'running', leaseToken: held.leaseToken } });
      expect(await holder.cancelRequested([task.id, other.id])).toEqual([task.id]);
      expect(await holder.settle([{ id: task.id, token: held.leaseToken as string, outcome: 'cancelled' }])).toEqual([true]);
      expect(await canceller.cancelRequested([task.id])).toEqual([]);
      expect((await canceller.get(task.id))?.status).toBe('cancelled');
    });

    it('find dependents the other enqueued, and keep a key through the other’s dedupe window', async () => {
      const dir = await newFolder();
      const [first, second] = [await queueOn(dir), await queueOn(dir)];
      const parent = newTask({ name: 'parent', key: 'import', dedupeWindowMs: 60_000 });
      await first.enqueue([parent]);
      const child = newTask({ name: 'child', dependsOn: [parent.id], onParentFailure: 'run' });
      await second.enqueue([child]);
      expect(ids(await first.dependentsOf(parent.id))).toEqual([child.id]);

      const [held] = await first.reserve(reserveRequest({ names: ['parent'] }));
      await first.settle([{ id: parent.id, token: held.leaseToken as string, outcome: 'failed', error: taskError() }]);
      expect(await second.enqueue([newTask({ key: 'import' })])).toEqual([{ id: parent.id, created: false }]);
      const [running] = await second.reserve(reserveRequest({ names: ['child'] }));
      expect(running.id).toBe(child.id);
      expect(await first.dependentsOf(parent.id)).toEqual([]);

      // Links go with the tasks that made them.
      await second.settle([{ id: child.id, token: running.leaseToken as string, outcome: 'success' }]);
      expect(await first.purgeFinished(new Date(Date.now() + 1000))).toBe(2);
      expect(await readdir(join(fileStoreRoot(`file://${dir}`, contextFor(dir)), 'children'))).toEqual([]);
    });

    it('see each other’s results and events, and lose no event to concurrent appends and purges', async () => {
      const dir = await newFolder();
      const [resultsA, resultsB] = [await resultsOn(dir), await resultsOn(dir)];
      const result = newResult();
      await resultsA.put([result]);
      expect(await resultsB.get(result.taskId)).toEqual(result);

      const [eventsA, eventsB] = [await eventsOn(dir), await eventsOn(dir)];
      const t = testClock();
      const old = Array.from({ length: 20 }, (_, i) => newEvent({ timestamp: t(-60_000 + i) }));
      await eventsA.append(old);
      const recent = Array.from({ length: 60 }, (_, i) => newEvent({ timestamp: t(i) }));
      const [, purged] = await Promise.all([
        Promise.all(recent.map((event, i) => (i % 2 ? eventsA : eventsB).append([event]))),
        eventsB.purgeOlderThan(t(-1000)),
      ]);
      expect(purged).toBe(20);
      for (const store of [eventsA, eventsB]) {
        expect(new Set(ids(await store.query()))).toEqual(new Set(ids(recent)));
      }
    });

    it('fire each schedule tick exactly once, with one task, whichever process claims it', async () => {
      const dir = await newFolder();
      const [first, second] = [await queueOn(dir), await queueOn(dir)];
      const t = testClock();
      // An id that is no plain file name: stored under a hash of it.
      const schedule = newSchedule({ id: 'reports/nightly: eu~1', nextRunAt: t(0) });
      await schedulesOf(first).saveSchedule(schedule);
      const fired: string[] = [];
      for (let round = 0; round < 10; round++) {
        const [advance, task] = tickOf(schedule.id, t(round * 1000), t((round + 1) * 1000), round + 1);
        const outcomes = await Promise.all(
          [first, second, first, second].map((store) => schedulesOf(store).fireSchedule(schedule.id, t(round * 1000), advance, { ...task, id: randomUUID() })),
        );
        const claimed = outcomes.flatMap((outcome) => (outcome.claimed ? [outcome] : []));
        expect(claimed).toHaveLength(1);
        expect(claimed[0].enqueued?.created).toBe(true);
        fired.push(claimed[0].enqueued?.id as string);
      }
      expect(ids((await second.list()).items)).toEqual(fired);
      expect(await schedulesOf(second).getSchedule(schedule.id)).toMatchObject({ runCount: 10, nextRunAt: t(10_000), lastTaskId: fired[9] });
      expect(await schedulesOf(second).listSchedules()).toEqual([await schedulesOf(first).getSchedule(schedule.id)]);
    });

    it('let a late fire of a tick enqueue nothing, even after the winner’s task finished', async () => {
      const dir = await newFolder();
      const [first, second] = [await queueOn(dir), await queueOn(dir)];
      const t = testClock();
      const schedule = newSchedule({ nextRunAt: t(0) });
      await schedulesOf(first).saveSchedule(schedule);
      const [advance, task] = tickOf(schedule.id, t(0), t(1000), 1);
      expect(await schedulesOf(first).fireSchedule(schedule.id, t(0), advance, task)).toEqual({ claimed: true, enqueued: { id: task.id, created: true } });
      const [held] = await second.reserve(reserveRequest());
      await second.settle([{ id: held.id, token: held.leaseToken as string, outcome: 'success' }]);

      // Same tick, same key, but the key no longer dedupes: the finished holder is not live.
      const late = { ...task, id: randomUUID() };
      expect(await schedulesOf(second).fireSchedule(schedule.id, t(0), advance, late)).toEqual({ claimed: false });
      expect(ids((await first.list()).items)).toEqual([task.id]);
    });

    it('finish a fire whose process died between claiming it and enqueueing its task', async () => {
      const dir = await newFolder();
      const [dying, survivor] = [await queueOn(dir), await queueOn(dir)];
      const t = testClock();
      const schedule = newSchedule({ nextRunAt: t(0) });
      await schedulesOf(dying).saveSchedule(schedule);
      const dieInEnqueue = async (tick: number): Promise<string> => {
        const [advance, task] = tickOf(schedule.id, t(tick), t(tick + 1000), tick / 1000 + 1);
        const killed = jest.spyOn(dying, 'enqueue').mockRejectedValueOnce(new Error('killed'));
        await expect(schedulesOf(dying).fireSchedule(schedule.id, t(tick), advance, task)).rejects.toThrow('killed');
        killed.mockRestore();
        expect(await survivor.get(task.id)).toBeUndefined();
        return task.id;
      };

      // The next fire of the schedule enqueues the open fire's task before its own.
      const lost = await dieInEnqueue(0);
      const [advance, next] = tickOf(schedule.id, t(1000), t(2000), 2);
      expect(await schedulesOf(survivor).fireSchedule(schedule.id, t(1000), advance, next)).toEqual({ claimed: true, enqueued: { id: next.id, created: true } });
      expect(ids((await survivor.list()).items)).toEqual([lost, next.id]);

      // A scheduler's poll finishes it even when the schedule is not due.
      const alsoLost = await dieInEnqueue(2000);
      expect(await schedulesOf(survivor).dueSchedules(t(2500), 10)).toEqual([]);
      expect(ids((await survivor.list()).items)).toEqual([lost, next.id, alsoLost]);
      expect(await schedulesOf(survivor).getSchedule(schedule.id)).toMatchObject({ runCount: 3, nextRunAt: t(3000), lastTaskId: alsoLost });

      // So does deleting the schedule.
      const lastLost = await dieInEnqueue(3000);
      expect(await schedulesOf(survivor).deleteSchedule(schedule.id)).toBe(true);
      expect((await survivor.get(lastLost))?.status).toBe('pending');
      expect(await schedulesOf(survivor).listSchedules()).toEqual([]);
    });

    it('pass over a task another process is writing, and skip past a claim its crashed writer left', async () => {
      const dir = await newFolder();
      const store = await queueOn(dir);
      const [busy, orphaned] = [newTask({ priority: 1 }), newTask()];
      await store.enqueue([busy, orphaned]);
      const claims = join(fileStoreRoot(`file://${dir}`, contextFor(dir)), 'task-claims');
      await writeFile(join(claims, `${busy.id}~1`), '');
      await writeFile(join(claims, `${orphaned.id}~1`), '');
      const longAgo = new Date(Date.now() - 60_000);
      await utimes(join(claims, `${orphaned.id}~1`), longAgo, longAgo);

      expect(ids(await store.reserve(reserveRequest()))).toEqual([orphaned.id]);
      expect(await readdir(claims)).toEqual([`${busy.id}~1`]);
    });
  });

  describe('durability', () => {
    it('keeps tasks, leases, keys, results and events across close and reopen', async () => {
      const dir = await newFolder();
      const t = testClock();
      const parent = newTask({ createdAt: t(0), key: 'parent' });
      const child = newTask({ createdAt: t(0), dependsOn: [parent.id] });
      const later = newTask({ createdAt: t(0), runAt: t(60_000) });
      const before = await queueOn(dir);
      await before.enqueue([parent, child, later]);
      const [held] = await before.reserve(reserveRequest({ now: t(0) }));
      await before.setProgress(parent.id, held.leaseToken as string, { step: 1 });
      const snapshot = await before.list();
      await (await resultsOn(dir)).put([newResult({ taskId: parent.id })]);
      const event = newEvent({ taskId: parent.id });
      await (await eventsOn(dir)).append([event]);
      await Promise.all(opened.splice(0).map((store) => store.close()));

      const after = await queueOn(dir);
      expect(await after.list()).toEqual(snapshot);
      expect(await after.get(parent.id)).toMatchObject({ status: 'running', progress: { step: 1 }, leaseToken: held.leaseToken });
      expect(await after.enqueue([newTask({ key: 'parent' })])).toEqual([{ id: parent.id, created: false }]);
      expect(await after.reserve(reserveRequest({ now: t(1) }))).toEqual([]);
      expect(await after.settle([{ id: parent.id, token: held.leaseToken as string, outcome: 'success' }])).toEqual([true]);
      expect(ids(await after.reserve(reserveRequest({ now: t(60_000) })))).toEqual([child.id, later.id]);
      expect((await (await resultsOn(dir)).get(parent.id))?.taskId).toBe(parent.id);
      expect(ids(await (await eventsOn(dir)).query({ taskId: parent.id }))).toEqual([event.id]);
    });

    it('repairs what a crash between a task write and its marker leaves behind', async () => {
      const dir = await newFolder();
      const root = fileStoreRoot(`file://${dir}`, contextFor(dir));
      const before = await queueOn(dir);
      const [ended, waiting] = [newTask(), newTask()];
      await before.enqueue([ended, waiting]);
      const [held] = await before.reserve(reserveRequest({ limit: 1 }));
      await before.settle([{ id: ended.id, token: held.leaseToken as string, outcome: 'success' }]);
      // As if the process died after writing the final record, before moving its marker, and
      // another died between an enqueue's marker and its task file.
      await rename(join(root, 'done', `${ended.id}~2`), join(root, 'live', `${ended.id}~1`));
      const ghost = join(root, 'live', `${randomUUID()}~0`);
      await writeFile(ghost, '');
      const longAgo = new Date(Date.now() - 60_000);
      await utimes(ghost, longAgo, longAgo);

      const after = await queueOn(dir);
      expect(ids(await after.reserve(reserveRequest()))).toEqual([waiting.id]);
      expect(await after.counts()).toEqual(
        expect.arrayContaining([
          { queue: 'default', status: 'success', count: 1 },
          { queue: 'default', status: 'running', count: 1 },
        ]),
      );
      expect((await after.counts()).length).toBe(2);
      expect((await readdir(join(root, 'live'))).sort()).toEqual([`${waiting.id}~1`]);
      expect(await readdir(join(root, 'done'))).toEqual([`${ended.id}~2`]);
    });

    it('drops a dependents link left by an enqueue that died before storing its task, once it is old', async () => {
      const dir = await newFolder();
      const store = await queueOn(dir);
      const parent = newTask();
      const child = newTask({ dependsOn: [parent.id] });
      await store.enqueue([parent, child]);
      const links = join(fileStoreRoot(`file://${dir}`, contextFor(dir)), 'children', parent.id);
      const [dead, inFlight] = [randomUUID(), randomUUID()];
      await writeFile(join(links, dead), '');
      await writeFile(join(links, inFlight), '');
      const longAgo = new Date(Date.now() - 60_000);
      await utimes(join(links, dead), longAgo, longAgo);

      expect(ids(await store.dependentsOf(parent.id))).toEqual([child.id]);
      expect((await readdir(links)).sort()).toEqual([child.id, inFlight].sort());
    });

    it('keeps projects that share a folder apart', async () => {
      const dir = await newFolder();
      const [mine, theirs] = [await queueOn(dir, 'mine'), await queueOn(dir, 'theirs')];
      const task = newTask({ key: 'shared-key' });
      await mine.enqueue([task]);
      expect(await theirs.get(task.id)).toBeUndefined();
      expect(await theirs.reserve(reserveRequest())).toEqual([]);
      expect((await theirs.enqueue([newTask({ key: 'shared-key' })]))[0].created).toBe(true);
      expect(ids(await mine.reserve(reserveRequest()))).toEqual([task.id]);

      const result = newResult({ taskId: task.id });
      await (await resultsOn(dir, 'mine')).put([result]);
      expect(await (await resultsOn(dir, 'theirs')).get(task.id)).toBeUndefined();
      await (await eventsOn(dir, 'mine')).append([newEvent()]);
      expect(await (await eventsOn(dir, 'theirs')).query()).toEqual([]);
    });
  });

  describe('damaged files', () => {
    let logged: ReturnType<typeof jest.spyOn>;
    beforeEach(() => {
      logged = jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
    });
    afterEach(() => logged.mockRestore());

    it('skips a corrupt task file with one logged error, and keeps running the others', async () => {
      const dir = await newFolder();
      const store = await queueOn(dir);
      const tasks = [newTask(), newTask(), newTask()];
      await store.enqueue(tasks);
      const damaged = join(fileStoreRoot(`file://${dir}`, contextFor(dir)), 'tasks', `${tasks[1].id}.json`);
      await writeFile(damaged, '{"format":"omniq.task/1", "gen": 0, "rev": "x", "body": {');
      const fresh = await queueOn(dir);

      expect(ids(await fresh.reserve(reserveRequest()))).toEqual([tasks[0].id, tasks[2].id]);
      expect(await fresh.reserve(reserveRequest())).toEqual([]);
      expect((await fresh.list()).total).toBe(2);
      await expect(fresh.get(tasks[1].id)).rejects.toThrow(CorruptFileError);
      expect(logged).toHaveBeenCalledTimes(1);
      expect(String(logged.mock.calls[0][0])).toContain(damaged);
    });

    it('skips a damaged line of the event log', async () => {
      const dir = await newFolder();
      const events = await eventsOn(dir);
      const [first, second] = [newEvent(), newEvent()];
      await events.append([first]);
      await writeFile(join(fileStoreRoot(`file://${dir}`, contextFor(dir)), 'events.jsonl'), 'not json\n', { flag: 'a' });
      await events.append([second]);
      expect(ids(await (await eventsOn(dir)).query())).toEqual(ids([first, second]));
      expect(logged).toHaveBeenCalledWith(expect.stringContaining('damaged line'));
    });
  });
});
