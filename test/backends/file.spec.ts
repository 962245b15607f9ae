import { randomUUID } from 'node:crypto';
import { mkdtemp, readdir, readFile, rename, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { jest } from '@jest/globals';
import { Logger } from '@nestjs/common';
import { fileBackend, fileStoreRoot, RECOVER_AFTER_MS } from '../../lib/backends/file/index.js';
import { TaskDependents } from '../../lib/backends/file/task-dependents.js';
import { TaskInserter } from '../../lib/backends/kv/kv-task-enqueue.js';
import { TaskEnds } from '../../lib/backends/kv/kv-task-ends.js';
import type { TaskRecord } from '../../lib/models/task.model.js';
import type { BackendContext, StorageEngine } from '../../lib/storage/engine.js';
import type { ScheduleAdvance, ScheduleStore } from '../../lib/storage/schedule.store.js';
import { WRITE_NOTHING, type TaskQueueStore } from '../../lib/storage/task-queue.store.js';
import { MAX_ATOMIC_ENQUEUE } from '../../lib/errors/store.errors.js';
import { ids, newEvent, newResult, newSchedule, newTask, NO_LAPSE_LIMIT, reserveRequest, taskError, testClock, WRITE_ALL } from '../../lib/testing/fixtures.js';

/*
 * What is particular to the file backend. The behaviour every backend shares, across instances
 * too, is the conformance suite's (test/conformance); here: folders, the claim and marker files,
 * crash repair, the outbox, and engines opened on one folder as separate processes would.
 */

const PROJECT = 'omniq-test';

/** Folders made by the test and engines it opened on them (simulated processes), undone after it. */
const folders: string[] = [];
const opened: StorageEngine[] = [];
afterEach(async () => {
  jest.restoreAllMocks();
  await Promise.all(opened.splice(0).map((engine) => engine.close()));
  await Promise.all(folders.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});

async function newFolder(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'omniq-file-'));
  folders.push(dir);
  return dir;
}

const contextFor = (dir: string, projectName = PROJECT): BackendContext => ({ projectName, baseDir: dir, storageOptions: {} });
const rootOf = (dir: string): string => fileStoreRoot(`file://${dir}`, contextFor(dir));

/** An engine on `dir`, as one process would open it; closed after the test. */
async function engineOn(dir: string, projectName = PROJECT): Promise<StorageEngine> {
  const engine = await fileBackend.open(`file://${dir}`, contextFor(dir, projectName));
  opened.push(engine);
  return engine;
}

const tokenOf = (task: TaskRecord): string => task.leaseToken as string;

const schedulesOf = (queue: TaskQueueStore): ScheduleStore => {
  if (!queue.schedules) throw new Error('the file task queue keeps no schedules');
  return queue.schedules;
};

/** The fire the scheduler makes for `tick`, advancing to `next`. */
const tickOf = (scheduleId: string, tick: Date, next: Date, runCount: number): [ScheduleAdvance, ReturnType<typeof newTask>] => [
  { nextRunAt: next, status: 'active', runCount, lastRunAt: tick },
  newTask({ scheduleId, key: `schedule:${scheduleId}:${tick.getTime()}` }),
];

/** What a process killed at some point leaves: the call never returns, nothing after it runs. */
const killed = (): Promise<never> => new Promise<never>(() => undefined);

/**
 * Makes call number `call` of `target[method]` (an object's, or a prototype's for every
 * instance) the point where the process dies, before or after the call did its work; resolves
 * once it got there. Restore the mocks then, so the surviving process calls the real methods.
 */
function dieAt(target: object, method: string, call: number, when: 'before' | 'after'): Promise<void> {
  type Method = (...args: unknown[]) => Promise<unknown>;
  const original = (target as Record<string, Method>)[method]!;
  let calls = 0;
  return new Promise((reached) => {
    jest.spyOn(target as Record<string, Method>, method).mockImplementation(async function (this: unknown, ...args: unknown[]) {
      calls += 1;
      if (calls < call) return original.apply(this, args);
      if (calls === call && when === 'after') await original.apply(this, args);
      reached();
      return killed();
    });
  });
}

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

    it('opens an engine whose stores are one atomic domain, notifying across processes through the folder', async () => {
      const engine = await engineOn(await newFolder());
      expect(engine.tasks.colocated).toEqual({ results: engine.results, events: engine.events });
      expect(engine.tasks.colocated.results).toBe(engine.results);
      expect(engine.results.notifier).toBe(engine.tasks.notifier);
      expect(engine.capabilities).toEqual({ crossProcessNotify: true, atomicCompletion: true });
    });
  });

  describe('engines on one folder, as separate processes', () => {
    it('never hand one task to both, however their reserves interleave', async () => {
      const dir = await newFolder();
      const [first, second] = [(await engineOn(dir)).tasks, (await engineOn(dir)).tasks];
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

    it('let exactly one of a lapsed holder’s settle and the other’s reclaim win, task by task', async () => {
      const dir = await newFolder();
      const [holder, leader] = [(await engineOn(dir)).tasks, (await engineOn(dir)).tasks];
      const t = testClock();
      const tasks = Array.from({ length: 40 }, () => newTask({ createdAt: t(0) }));
      await holder.enqueue(tasks);
      const held = await holder.reserve(reserveRequest({ now: t(0), leaseMs: 1000, limit: 40 }));

      const [reports, reclaimed] = await Promise.all([
        holder.settle(held.map((task) => ({ id: task.id, token: tokenOf(task), outcome: 'success' as const })), WRITE_ALL),
        leader.reclaimLapsed(t(5000), 100, WRITE_ALL, NO_LAPSE_LIMIT),
      ]);
      const taken = new Set(ids(reclaimed.tasks));
      for (const [index, task] of held.entries()) {
        const stored = await leader.get(task.id);
        // The settle and the reclaim write the same file: one lands, the other sees its change.
        expect({ held: reports[index]!.held, reclaimed: taken.has(task.id) }).toEqual({ held: !taken.has(task.id), reclaimed: taken.has(task.id) });
        expect(stored?.status).toBe(taken.has(task.id) ? 'pending' : 'success');
      }
    });

    it('elect one leader of many racing tryLead calls on both, and hand over with a higher fence on resign', async () => {
      const dir = await newFolder();
      const [a, b] = [(await engineOn(dir)).tasks.coordination, (await engineOn(dir)).tasks.coordination];
      const holders = Array.from({ length: 12 }, (_, i) => `instance-${i}`);
      const tries = (except?: string) =>
        Promise.all(holders.filter((holder) => holder !== except).map((holder, i) => (i % 2 ? a : b).tryLead('maintenance', holder, 60_000)));

      const first = await tries();
      const leaders = first.filter((lead) => lead.leader);
      expect(leaders).toHaveLength(1);
      const leader = leaders[0]!.holder as string;
      expect(first.every((lead) => lead.holder === leader && lead.fence === leaders[0]!.fence)).toBe(true);

      const renewed = await tries();
      expect(renewed.filter((lead) => lead.leader).map((lead) => lead.holder)).toEqual([leader]);
      await (holders.indexOf(leader) % 2 ? a : b).resign('maintenance', leader);
      const next = (await tries(leader)).filter((lead) => lead.leader);
      expect(next).toHaveLength(1);
      expect(next[0]!.holder).not.toBe(leader);
      expect(next[0]!.fence).toBeGreaterThan(leaders[0]!.fence);
    });

    it('see each other’s results and events, and lose no event to concurrent appends and purges', async () => {
      const dir = await newFolder();
      const [a, b] = [await engineOn(dir), await engineOn(dir)];
      const result = newResult();
      await a.results.put([result]);
      expect(await b.results.get(result.taskId)).toEqual(result);

      const t = testClock();
      const old = Array.from({ length: 20 }, (_, i) => newEvent({ timestamp: t(-60_000 + i) }));
      await a.events.append(old);
      const recent = Array.from({ length: 60 }, (_, i) => newEvent({ timestamp: t(i) }));
      const [, purged] = await Promise.all([
        Promise.all(recent.map((event, i) => (i % 2 ? a : b).events.append([event]))),
        b.events.purgeOlderThan(t(-1000)),
      ]);
      expect(purged).toBe(20);
      for (const engine of [a, b]) expect(new Set(ids(await engine.events.query()))).toEqual(new Set(ids(recent)));
    });

    it('hear each other’s notifications through the watched folder', async () => {
      const dir = await newFolder();
      const [a, b] = [await engineOn(dir), await engineOn(dir)];
      const heard = new Promise<string>((resolve) => b.tasks.notifier.listen('wake', resolve));
      await a.tasks.enqueue([newTask({ queue: 'mail' })]);
      expect(await heard).toBe('mail');
    });

    it('fire each schedule tick exactly once, with one task, whichever process claims it', async () => {
      const dir = await newFolder();
      const [first, second] = [(await engineOn(dir)).tasks, (await engineOn(dir)).tasks];
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
        expect(claimed[0]!.enqueued?.created).toBe(true);
        fired.push(claimed[0]!.enqueued?.id as string);
      }
      expect(ids((await second.list()).items)).toEqual(fired);
      expect(await schedulesOf(second).getSchedule(schedule.id)).toMatchObject({ runCount: 10, nextRunAt: t(10_000), lastTaskId: fired[9] });
    });

    it('let a late fire of a tick enqueue nothing, even after the winner’s task finished', async () => {
      const dir = await newFolder();
      const [first, second] = [(await engineOn(dir)).tasks, (await engineOn(dir)).tasks];
      const t = testClock();
      const schedule = newSchedule({ nextRunAt: t(0) });
      await schedulesOf(first).saveSchedule(schedule);
      const [advance, task] = tickOf(schedule.id, t(0), t(1000), 1);
      expect(await schedulesOf(first).fireSchedule(schedule.id, t(0), advance, task)).toEqual({ claimed: true, enqueued: { id: task.id, created: true } });
      const [held] = await second.reserve(reserveRequest());
      await second.settle([{ id: held!.id, token: tokenOf(held!), outcome: 'success' }], WRITE_NOTHING);

      // Same tick, same key, but the key no longer dedupes: the finished holder is not live.
      const late = { ...task, id: randomUUID() };
      expect(await schedulesOf(second).fireSchedule(schedule.id, t(0), advance, late)).toEqual({ claimed: false });
      expect(ids((await first.list()).items)).toEqual([task.id]);
    });

    it('finish a fire whose process died between claiming it and enqueueing its task', async () => {
      const dir = await newFolder();
      const [dying, survivor] = [(await engineOn(dir)).tasks, (await engineOn(dir)).tasks];
      const t = testClock();
      const schedule = newSchedule({ nextRunAt: t(0) });
      await schedulesOf(dying).saveSchedule(schedule);
      const dieInEnqueue = async (tick: number): Promise<string> => {
        const [advance, task] = tickOf(schedule.id, t(tick), t(tick + 1000), tick / 1000 + 1);
        const failing = jest.spyOn(dying, 'enqueue').mockRejectedValueOnce(new Error('killed'));
        await expect(schedulesOf(dying).fireSchedule(schedule.id, t(tick), advance, task)).rejects.toThrow('killed');
        failing.mockRestore();
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

      // So does deleting the schedule.
      const lastLost = await dieInEnqueue(3000);
      expect(await schedulesOf(survivor).deleteSchedule(schedule.id)).toBe(true);
      expect((await survivor.get(lastLost))?.status).toBe('pending');
    });

    it('pass over a task another process is writing, and skip past a claim its crashed writer left', async () => {
      const dir = await newFolder();
      const store = (await engineOn(dir)).tasks;
      const [busy, orphaned] = [newTask({ priority: 1 }), newTask()];
      await store.enqueue([busy, orphaned]);
      const claims = join(rootOf(dir), 'task-claims');
      await writeFile(join(claims, `${busy.id}~1`), '');
      await writeFile(join(claims, `${orphaned.id}~1`), '');
      const longAgo = new Date(Date.now() - 60_000);
      await utimes(join(claims, `${orphaned.id}~1`), longAgo, longAgo);

      expect(ids(await store.reserve(reserveRequest()))).toEqual([orphaned.id]);
      expect(await readdir(claims)).toEqual([`${busy.id}~1`]);
    });
  });

  describe('outbox: a process killed between a task’s end and its effects', () => {
    /** A parent with a callback, a dependent and the dependent’s own dependent. */
    async function family(store: TaskQueueStore) {
      const parent = newTask({ name: 'parent' });
      const child = newTask({ name: 'child', dependsOn: [parent.id] });
      const grandchild = newTask({ name: 'grandchild', dependsOn: [child.id] });
      await store.enqueue([parent, child, grandchild]);
      const [running] = await store.reserve(reserveRequest({ names: ['parent'] }));
      return { parent: running!, child, grandchild, callback: newTask({ name: 'callback', queue: 'callbacks' }) };
    }

    // Each point, in the order the store reaches it: [where it dies, the object and method, which call, before or after it].
    const points: Array<[string, (engine: StorageEngine) => object, string, number, 'before' | 'after']> = [
      ['right after the task’s own write', (engine) => engine.results, 'put', 1, 'before'],
      ['after writing the parent’s result', (engine) => engine.results, 'put', 1, 'after'],
      ['after appending the parent’s events', (engine) => engine.events, 'append', 1, 'after'],
      ['after storing the callback', () => TaskInserter.prototype, 'insert', 1, 'after'],
      ['after cancelling the child, before its result', (engine) => engine.results, 'put', 2, 'before'],
      ['with everything written but the last entry’s removal', (engine) => engine.events, 'append', 3, 'after'],
    ];

    it.each(points)('finishes the cascade and the callback exactly once when it dies %s', async (_where, objectOf, method, call, when) => {
      const dir = await newFolder();
      const [dying, survivor] = [await engineOn(dir), await engineOn(dir)];
      const { parent, child, grandchild, callback } = await family(dying.tasks);
      const died = dieAt(objectOf(dying), method, call, when);
      const failed = newEvent({ type: 'failed', taskId: parent.id });
      void dying.tasks.settle(
        [
          {
            id: parent.id,
            token: tokenOf(parent),
            outcome: 'failed',
            error: taskError(),
            result: newResult({ taskId: parent.id, status: 'failed', value: undefined, error: taskError() }),
            events: [failed],
            enqueue: [callback],
          },
        ],
        WRITE_ALL,
      );
      await died;
      jest.restoreAllMocks();
      // The end, its result and its event are all there from the task's own write on.
      expect((await survivor.tasks.get(parent.id))?.status).toBe('failed');
      expect(await survivor.results.get(parent.id)).toMatchObject({ status: 'failed' });
      expect(await survivor.events.query({ taskId: parent.id })).toEqual([failed]);
      // Its effects are still the dying process's to apply, for all the survivor can tell.
      expect(await survivor.tasks.recoverPending!(new Date(), WRITE_ALL)).toEqual([]);
      expect(await readdir(join(rootOf(dir), 'pending'))).not.toEqual([]);

      const ended = await survivor.tasks.recoverPending!(new Date(Date.now() + RECOVER_AFTER_MS), WRITE_ALL);
      expect(ids(ended).every((id) => id === child.id || id === grandchild.id)).toBe(true);
      const [storedParent, storedChild, storedGrandchild] = (await survivor.tasks.getMany([parent.id, child.id, grandchild.id])) as TaskRecord[];
      expect(storedParent).toMatchObject({ status: 'failed' });
      expect(storedChild).toMatchObject({ status: 'cancelled', cancelledBy: parent.id });
      expect(storedGrandchild).toMatchObject({ status: 'cancelled', cancelledBy: child.id });
      expect((await survivor.tasks.list({ name: 'callback' })).items.map((task) => task.id)).toEqual([callback.id]);
      expect(await survivor.results.get(parent.id)).toMatchObject({ status: 'failed' });
      for (const task of [child, grandchild]) {
        expect(await survivor.results.get(task.id)).toMatchObject({ status: 'cancelled' });
        expect((await survivor.events.query({ taskId: task.id })).map((event) => event.type)).toEqual(['cancelled']);
      }
      expect(await survivor.events.query({ taskId: parent.id })).toEqual([failed]);
      expect(await readdir(join(rootOf(dir), 'pending'))).toEqual([]);
      expect(await survivor.tasks.recoverPending!(new Date(Date.now() + RECOVER_AFTER_MS), WRITE_ALL)).toEqual([]);
    });

    it('cancels a child stored after its parent’s cascade, when the process storing it died before looking at the parent again', async () => {
      const dir = await newFolder();
      const [dying, survivor] = [await engineOn(dir), await engineOn(dir)];
      const t = testClock();
      const parent = newTask({ name: 'parent' });
      await survivor.tasks.enqueue([parent]);
      const [running] = await survivor.tasks.reserve(reserveRequest());

      // The dying enqueue checks the parent (running), is held up before storing the child...
      const link = TaskDependents.prototype.link;
      let release!: () => void;
      const held = new Promise<void>((resolve) => (release = resolve));
      const checked = new Promise<void>((resolve) => {
        jest.spyOn(TaskDependents.prototype, 'link').mockImplementationOnce(async function (this: TaskDependents, ...args) {
          resolve();
          await held;
          return link.apply(this, args);
        });
      });
      // ...and dies right after storing it, before it would read the parent again.
      const stored = new Promise<void>((resolve) => {
        jest.spyOn(TaskEnds.prototype, 'cancelDoomed').mockImplementationOnce(() => {
          resolve();
          return killed();
        });
      });
      const child = newTask({ name: 'child', dependsOn: [parent.id] });
      void dying.tasks.enqueue([child]);
      await checked;
      // Meanwhile the parent fails, long enough ago that its own cascade had its chance; it finds no child.
      const [report] = await survivor.tasks.settle([{ id: parent.id, token: tokenOf(running!), outcome: 'failed', error: taskError(), at: t(-10_000) }], WRITE_ALL);
      expect(report).toEqual({ held: true, ended: [], enqueued: [] });
      release();
      await stored;
      jest.restoreAllMocks();
      expect((await survivor.tasks.get(child.id))?.status).toBe('pending');

      // The next reserve that meets it, in any process, repairs the cascade.
      expect(await survivor.tasks.reserve(reserveRequest())).toEqual([]);
      expect(await survivor.tasks.get(child.id)).toMatchObject({ status: 'cancelled', cancelledBy: parent.id });
      expect((await survivor.events.query({ taskId: child.id })).map((event) => event.type)).toEqual(['cancelled']);
    });
  });

  describe('durability', () => {
    it('keeps tasks, leases, keys, results and events across close and reopen', async () => {
      const dir = await newFolder();
      const t = testClock();
      const parent = newTask({ createdAt: t(0), key: 'parent' });
      const child = newTask({ createdAt: t(0), dependsOn: [parent.id] });
      const later = newTask({ createdAt: t(0), runAt: t(60_000) });
      const before = await engineOn(dir);
      await before.tasks.enqueue([parent, child, later]);
      const [held] = await before.tasks.reserve(reserveRequest({ now: t(0) }));
      await before.tasks.setProgress(parent.id, tokenOf(held!), { step: 1 });
      await before.tasks.pauseQueue('paused');
      const snapshot = await before.tasks.list();
      await before.results.put([newResult({ taskId: parent.id })]);
      const event = newEvent({ taskId: parent.id });
      await before.events.append([event]);
      await Promise.all(opened.splice(0).map((engine) => engine.close()));

      const after = await engineOn(dir);
      expect(await after.tasks.list()).toEqual(snapshot);
      expect(await after.tasks.get(parent.id)).toMatchObject({ status: 'running', progress: { step: 1 }, leaseToken: held!.leaseToken });
      expect(await after.tasks.enqueue([newTask({ key: 'parent' })])).toEqual([{ id: parent.id, created: false }]);
      expect(await after.tasks.pausedQueues()).toEqual(['paused']);
      expect(await after.tasks.reserve(reserveRequest({ now: t(1) }))).toEqual([]);
      expect(await after.tasks.settle([{ id: parent.id, token: tokenOf(held!), outcome: 'success' }], WRITE_NOTHING)).toEqual([
        { held: true, ended: [], enqueued: [] },
      ]);
      expect(ids(await after.tasks.reserve(reserveRequest({ now: t(60_000) })))).toEqual([child.id, later.id]);
      expect((await after.results.get(parent.id))?.taskId).toBe(parent.id);
      expect(ids(await after.events.query({ taskId: parent.id }))).toEqual([event.id]);
    });

    it('repairs what a crash between a task write and its marker leaves behind', async () => {
      const dir = await newFolder();
      const root = rootOf(dir);
      const before = (await engineOn(dir)).tasks;
      const [ended, waiting] = [newTask(), newTask()];
      await before.enqueue([ended, waiting]);
      const [held] = await before.reserve(reserveRequest({ limit: 1 }));
      await before.settle([{ id: ended.id, token: tokenOf(held!), outcome: 'success' }], WRITE_NOTHING);
      // As if the process died after writing the final record, before moving its marker, and
      // another died between an enqueue's marker and its task file.
      await rename(join(root, 'done', `${ended.id}~2`), join(root, 'live', `${ended.id}~1`));
      const ghost = join(root, 'live', `${randomUUID()}~0`);
      await writeFile(ghost, '');
      const longAgo = new Date(Date.now() - 60_000);
      await utimes(ghost, longAgo, longAgo);

      const after = (await engineOn(dir)).tasks;
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

    it('drops a dependents link an enqueue left when it died before storing its task, once it is old', async () => {
      const dir = await newFolder();
      const store = (await engineOn(dir)).tasks;
      const parent = newTask({ name: 'parent' });
      const child = newTask({ name: 'child', dependsOn: [parent.id] });
      await store.enqueue([parent, child]);
      const links = join(rootOf(dir), 'children', parent.id);
      const [dead, inFlight] = [randomUUID(), randomUUID()];
      await writeFile(join(links, dead), '');
      await writeFile(join(links, inFlight), '');
      const longAgo = new Date(Date.now() - 60_000);
      await utimes(join(links, dead), longAgo, longAgo);

      const [running] = await store.reserve(reserveRequest({ names: ['parent'] }));
      const [report] = await store.settle([{ id: parent.id, token: tokenOf(running!), outcome: 'failed', error: taskError() }], WRITE_NOTHING);
      expect(report).toMatchObject({ held: true, ended: [{ id: child.id, status: 'cancelled' }] });
      expect((await readdir(links)).sort()).toEqual([child.id, inFlight].sort());

      // Links go with the tasks that made them.
      await rm(join(links, inFlight));
      expect(await store.purgeFinished(new Date(Date.now() + 1000))).toBe(2);
      expect(await readdir(join(rootOf(dir), 'children'))).toEqual([]);
    });

    it('keeps projects that share a folder apart', async () => {
      const dir = await newFolder();
      const [mine, theirs] = [await engineOn(dir, 'mine'), await engineOn(dir, 'theirs')];
      const task = newTask({ key: 'shared-key' });
      await mine.tasks.enqueue([task]);
      expect(await theirs.tasks.get(task.id)).toBeUndefined();
      expect(await theirs.tasks.reserve(reserveRequest())).toEqual([]);
      expect((await theirs.tasks.enqueue([newTask({ key: 'shared-key' })]))[0]!.created).toBe(true);
      expect(ids(await mine.tasks.reserve(reserveRequest()))).toEqual([task.id]);

      await mine.results.put([newResult({ taskId: task.id })]);
      expect(await theirs.results.get(task.id)).toBeUndefined();
      await mine.events.append([newEvent()]);
      expect(await theirs.events.query()).toEqual([]);
    });
  });

  describe('ids, batches and purges', () => {
    it('rejects an id or key with a NUL or a lone surrogate by name (ids become file names), and keeps such payloads exactly', async () => {
      const store = (await engineOn(await newFolder())).tasks;
      for (const id of ['a\u0000b', 'lone-\ud800', 'lone-\udc00-first']) {
        await expect(store.enqueue([newTask({ id })])).rejects.toThrow(/option id = .* is invalid; expected text without NUL characters or lone surrogates/);
      }
      await expect(store.enqueue([newTask({ key: 'k\ud83d' })])).rejects.toThrow(/option key = .* is invalid/);
      expect((await store.list()).total).toBe(0);

      const data = JSON.stringify({ text: 'nul \u0000, lone \ud800 and \udfff, pair \ud83d\ude00' });
      const task = newTask({ id: 'pair-\ud83d\ude00 and spaces', payload: { format: 'omniq-json/1', data } });
      await store.enqueue([task]);
      expect((await store.get(task.id))?.payload.data).toBe(data);
      expect((await (await engineOn(await newFolder())).tasks.get(task.id))).toBeUndefined();
    });

    it('stores a call longer than one chunk with parents before their children, whatever the input order', async () => {
      const dir = await newFolder();
      const store = (await engineOn(dir)).tasks;
      const t = testClock();
      const parent = newTask({ createdAt: t(0), name: 'parent' });
      const child = newTask({ createdAt: t(0), name: 'child', dependsOn: [parent.id] });
      const filler = Array.from({ length: MAX_ATOMIC_ENQUEUE }, () => newTask({ createdAt: t(0), name: 'filler' }));
      // The child comes first, the parent last: in input order they would land in different chunks.
      const outcomes = await store.enqueue([child, ...filler, parent]);
      expect(outcomes.every((outcome) => outcome.created)).toBe(true);
      expect(outcomes[0]).toEqual({ id: child.id, created: true });
      expect((await store.list({ limit: 1 })).total).toBe(MAX_ATOMIC_ENQUEUE + 2);
      expect(ids(await store.reserve(reserveRequest({ now: t(1), names: ['child', 'parent'] })))).toEqual([parent.id]);
      expect(await readdir(join(rootOf(dir), 'batches'))).toEqual([]);
    });

    it('leaves nothing of a purged task: file, markers, key, dependents links, claims and outbox markers all go', async () => {
      const dir = await newFolder();
      const root = rootOf(dir);
      const store = (await engineOn(dir)).tasks;
      const parent = newTask({ key: 'purge-me', dedupeWindowMs: 0 });
      const child = newTask({ dependsOn: [parent.id] });
      await store.enqueue([parent, child]);
      for (const outcome of ['success', 'failed'] as const) {
        const [held] = await store.reserve(reserveRequest());
        await store.settle([{ id: held!.id, token: tokenOf(held!), outcome, error: taskError() }], WRITE_ALL);
      }
      expect(await store.purgeFinished(new Date(Date.now() + 1000))).toBe(2);
      for (const folder of ['tasks', 'task-claims', 'live', 'done', 'pending', 'keys', 'key-claims', 'children', 'batches']) {
        expect({ folder, left: await readdir(join(root, folder)) }).toEqual({ folder, left: [] });
      }
      expect((await store.enqueue([newTask({ key: 'purge-me' })]))[0]!.created).toBe(true);
    });
  });

  describe('big records', () => {
    it('settles a task with a 35 MB payload and result while its lease is being extended, and keeps both exactly', async () => {
      const engine = await engineOn(await newFolder());
      const store = engine.tasks;
      // 20 million characters, 35 MB of UTF-8, in the payload and again in the result.
      const data = JSON.stringify('x'.repeat(10_000_000) + '\u00e9\u4e2d'.repeat(5_000_000));
      const task = newTask({ payload: { format: 'omniq-json/1', data } });
      await store.enqueue([task]);
      const [held] = await store.reserve(reserveRequest());
      const lease = { id: task.id, token: tokenOf(held!) };

      // Heartbeats back to back for as long as the settle runs (each rewrites the same file, and
      // computes quicker than the settle): the settle must still land, and the beats then fail.
      let settling = true;
      const beats: boolean[] = [];
      const deadline = Date.now() + 50_000;
      const heartbeat = (async () => {
        while (settling && Date.now() < deadline) beats.push(...(await store.extendLeases([lease], 30_000)));
      })();
      const [report] = await store
        .settle([{ ...lease, outcome: 'success', result: newResult({ taskId: task.id, value: { format: 'omniq-json/1', data } }) }], WRITE_ALL)
        .finally(() => (settling = false));
      await heartbeat;

      expect(report?.held).toBe(true);
      expect(beats[0]).toBe(true);
      expect(await store.extendLeases([lease], 30_000)).toEqual([false]);
      const stored = await store.get(task.id);
      expect(stored?.status).toBe('success');
      expect(stored?.payload.data === data).toBe(true);
      expect((await engine.results.get(task.id))?.value?.data === data).toBe(true);
    }, 60_000);
  });

  describe('damaged files', () => {
    let logged: ReturnType<typeof jest.spyOn>;
    beforeEach(() => {
      logged = jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
    });

    /** Rewrites a task's file through `edit` of its stored record, as a fresh engine would then read it. */
    async function editTask(dir: string, id: string, edit: (task: Record<string, unknown>) => void): Promise<void> {
      const path = join(rootOf(dir), 'tasks', `${id}.json`);
      const envelope = JSON.parse(await readFile(path, 'utf8')) as { body: { task: Record<string, unknown> } };
      edit(envelope.body.task);
      await writeFile(path, JSON.stringify(envelope));
    }

    it('moves a task file that is not JSON out of the queue, logged once, and keeps running the others', async () => {
      const dir = await newFolder();
      const store = (await engineOn(dir)).tasks;
      const tasks = [newTask(), newTask(), newTask()];
      await store.enqueue(tasks);
      const damaged = join(rootOf(dir), 'tasks', `${tasks[1]!.id}.json`);
      await writeFile(damaged, '{"format":"omniq.task/1", "gen": 0, "rev": "x", "body": {');
      const fresh = (await engineOn(dir)).tasks;

      expect(ids(await fresh.reserve(reserveRequest()))).toEqual([tasks[0]!.id, tasks[2]!.id]);
      expect(await fresh.reserve(reserveRequest())).toEqual([]);
      expect((await fresh.list()).total).toBe(2);
      expect(await fresh.get(tasks[1]!.id)).toBeUndefined();
      expect(await fresh.getMany(ids(tasks))).toEqual([expect.objectContaining({ id: tasks[0]!.id }), undefined, expect.objectContaining({ id: tasks[2]!.id })]);
      const aside = await readdir(join(rootOf(dir), 'damaged'));
      expect(aside).toEqual([expect.stringMatching(new RegExp(`^${tasks[1]!.id}\\..+\\.json$`))]);
      expect(await readFile(join(rootOf(dir), 'damaged', aside[0]!), 'utf8')).toContain('"body": {');
      expect(logged).toHaveBeenCalledTimes(1);
      expect(String(logged.mock.calls[0]![0])).toContain(damaged);
      expect(String(logged.mock.calls[0]![0])).toContain(join(rootOf(dir), 'damaged', aside[0]!));
    });

    it('leaves a record of another format in place (a newer version may share the folder), skipped and logged once', async () => {
      const dir = await newFolder();
      const store = (await engineOn(dir)).tasks;
      const tasks = [newTask(), newTask()];
      await store.enqueue(tasks);
      const foreign = join(rootOf(dir), 'tasks', `${tasks[0]!.id}.json`);
      await writeFile(foreign, JSON.stringify({ format: 'omniq.task/2', gen: 0, rev: 'x', body: {} }));
      const fresh = (await engineOn(dir)).tasks;

      expect(ids(await fresh.reserve(reserveRequest()))).toEqual([tasks[1]!.id]);
      expect(await fresh.get(tasks[0]!.id)).toBeUndefined();
      expect(await readFile(foreign, 'utf8')).toContain('omniq.task/2');
      expect(await readdir(join(rootOf(dir), 'damaged'))).toEqual([]);
      expect(logged).toHaveBeenCalledTimes(1);
      expect(String(logged.mock.calls[0]![0])).toContain('omniq.task/2');
    });

    it('sets a task file without its payload aside as failed, naming the field, instead of running it into a TypeError', async () => {
      const dir = await newFolder();
      const store = (await engineOn(dir)).tasks;
      const [bad, good] = [newTask(), newTask()];
      await store.enqueue([bad, good]);
      await editTask(dir, bad.id, (task) => delete task.payload);
      const fresh = (await engineOn(dir)).tasks;

      expect(ids(await fresh.reserve(reserveRequest()))).toEqual([good.id]);
      const stored = await fresh.get(bad.id);
      expect(stored).toMatchObject({ status: 'failed', attempts: 0, damaged: 'field payload is missing', lastError: { name: 'DamagedTaskError' } });
      expect(stored?.lastError?.message).toContain('payload');
      expect(await fresh.reserve(reserveRequest())).toEqual([]);
      expect(await (await engineOn(dir)).tasks.reserve(reserveRequest())).toEqual([]);
      expect(logged).toHaveBeenCalledTimes(1);
      expect(String(logged.mock.calls[0]![0])).toMatch(new RegExp(`Task ${bad.id} .*payload`));
    });

    it('reads a record stored before lapses were counted as never lapsed', async () => {
      const dir = await newFolder();
      const task = newTask();
      await (await engineOn(dir)).tasks.enqueue([task]);
      await editTask(dir, task.id, (stored) => delete stored.lapses);
      const fresh = (await engineOn(dir)).tasks;
      const read = await fresh.get(task.id);
      expect(read).toMatchObject({ lapses: 0 });
      expect(read?.damaged).toBeUndefined();
      expect(ids(await fresh.reserve(reserveRequest({ maxLapsed: 0 })))).toEqual([task.id]);
      expect(logged).not.toHaveBeenCalled();
    });

    it('skips a damaged line of the event log', async () => {
      const dir = await newFolder();
      const events = (await engineOn(dir)).events;
      const [first, second] = [newEvent(), newEvent()];
      await events.append([first]);
      await writeFile(join(rootOf(dir), 'events.jsonl'), 'not json\n', { flag: 'a' });
      await events.append([second]);
      expect(ids(await (await engineOn(dir)).events.query())).toEqual(ids([first, second]));
      expect(logged).toHaveBeenCalledWith(expect.stringContaining('damaged line'));
    });
  });
});
