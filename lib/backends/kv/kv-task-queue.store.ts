/*
 * The task queue on key-value records (see KvStorage), shared by any number of processes: the
 * file backend's on a folder, and any engine whose storage offers records with compare-and-swap.
 *
 * Claim protocol (how a task is never handed to two live leases):
 * 1. Each task is one record holding the task (status, lease token and expiry included); every
 *    change (reserve, settle, extend, cancel, ...) is a compare-and-swap on the version read
 *    (KvRecords.mutate): of all processes that read one version, exactly one write lands; the
 *    others skip the task (reserve) or re-read and try again (the rest). No lost updates, no
 *    half-written records.
 * 2. A lease is data in the record. Only reclaimLapsed (the maintenance leader) takes a running
 *    task back, by such a write; it races the holder's own settle/extend, exactly one lands, and
 *    the loser sees the other's change when it re-reads.
 *
 * A task's end touches other records (its result, events, dependents, callback tasks): the write
 * that ends it carries those effects as an outbox entry, applied right after and recovered by
 * the leader if the process dies first (see Outbox).
 *
 * Finding work: a reserve catches its index up with the live tasks (TaskIndex.refreshLive) and
 * claims from it. Dependents are linked under their parents (TaskLinks), idempotency keys are
 * records of their own (IdempotencyKeys), schedules too (KvScheduleStore); paused queues and
 * leader leases are control records.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { LoggerService } from '@nestjs/common';
import type { TaskEvent } from '../../models/event.model.js';
import type { NewTask, TaskError, TaskRecord, TaskStatus } from '../../models/task.model.js';
import type {
  CancelOutcome,
  EnqueueOutcome,
  LeaseRef,
  Page,
  QueueStatusCount,
  ReclaimReport,
  RequeueOutcome,
  ReserveRequest,
  SettleReport,
  Settlement,
  TaskListFilter,
  TaskQueueStore,
  TaskSelector,
  WriteScope,
} from '../../storage/task-queue.store.js';
import type { EventStore } from '../../storage/event.store.js';
import type { ResultStore } from '../../storage/result.store.js';
import { StoreLifecycle } from '../shared/store-lifecycle.js';
import { mapLimit, mapLimitByKey } from './kv-concurrency.js';
import { KvCoordination, LEASE_CODEC } from './kv-coordination.js';
import { IdempotencyKeys, KEY_CODEC } from './kv-idempotency-keys.js';
import { Outbox } from './kv-outbox.js';
import { PAUSES_CODEC, QueuePauses } from './kv-queue-pauses.js';
import { CLAIM_STALE_MS } from './kv-records.js';
import { KvScheduleStore, SCHEDULE_CODEC } from './kv-schedule.store.js';
import type { KvStorage, SharedNotifier } from './kv-storage.js';
import { cloneTask, type TaskBody, type TaskVersion } from './kv-task-codec.js';
import { TaskInserter } from './kv-task-enqueue.js';
import { TaskEnds } from './kv-task-ends.js';
import { TaskMaintenance } from './kv-task-maintenance.js';
import { countTasks, getTasks, listTasks, selectTasks } from './kv-task-queries.js';
import { KvTasks } from './kv-tasks.js';
import { copyDate, ENDED_BADLY, isReservable, isSetAside, leased, parentDone, parentDooms, reserveOrder, setAside } from './kv-task-transitions.js';

/**
 * The `enqueued` event of a task recovery stored. Its id is derived from the task's, so a
 * recovery repeated after a crash appends it again harmlessly (the event log keeps an id once).
 */
function recoveredEnqueue(task: TaskRecord, now: Date): TaskEvent {
  const hash = createHash('sha256').update(`omniq.recovered-enqueue:${task.id}`).digest('hex');
  const id = `${hash.slice(0, 8)}-${hash.slice(8, 12)}-4${hash.slice(13, 16)}-a${hash.slice(17, 20)}-${hash.slice(20, 32)}`;
  return {
    id,
    type: 'enqueued',
    timestamp: now,
    taskId: task.id,
    taskName: task.name,
    queue: task.queue,
    scheduleId: task.scheduleId,
    message: 'Stored by recovery: the process enqueueing it was killed before its enqueue returned',
  };
}

/** A parent's status for reserve: undefined while live, 'gone' once purged. */
type ParentStatus = TaskStatus | 'gone' | undefined;

const LIVE_SELECTABLE: readonly TaskStatus[] = ['pending', 'scheduled', 'running', 'retrying'];
const REQUEUEABLE: readonly TaskStatus[] = [...ENDED_BADLY];

/** Progress is JSON data; a copy keeps the caller's object out of the cache. */
const copyJson = (value: unknown): unknown => (value === undefined ? undefined : JSON.parse(JSON.stringify(value)));

/** What the task queue is built from: its storage, and the engine's other stores it writes through. */
export interface KvQueueParts {
  /** Names the store in the StoreClosedError of a call after close(). */
  storeName: string;
  storage: KvStorage;
  notifier: SharedNotifier;
  results: ResultStore;
  events: EventStore;
  logger: LoggerService;
  scheduleLogger: LoggerService;
}

/** A TaskQueueStore on key-value records (see the protocol above). */
export class KvTaskQueueStore implements TaskQueueStore {
  readonly schedules: KvScheduleStore;
  readonly notifier: SharedNotifier;
  readonly coordination: KvCoordination;
  readonly colocated: { readonly results: ResultStore; readonly events: EventStore };
  /** Tasks a reserve of this process is claiming: concurrent reserves pass over them. */
  private readonly reserving = new Set<string>();
  private readonly lifecycle: StoreLifecycle;
  private readonly storage: KvStorage;
  private readonly tasks: KvTasks;
  private readonly outbox: Outbox;
  private readonly inserter: TaskInserter;
  private readonly maintenance: TaskMaintenance;
  private readonly ends: TaskEnds;
  private readonly pauses: QueuePauses;
  private readonly events: EventStore;

  private constructor(parts: KvQueueParts) {
    const { storage } = parts;
    this.storage = storage;
    this.lifecycle = new StoreLifecycle(parts.storeName);
    this.notifier = parts.notifier.acquire();
    this.colocated = { results: parts.results, events: parts.events };
    this.events = parts.events;
    const tasks = (this.tasks = new KvTasks(storage.tasks, storage.ioConcurrency));
    const dependents = storage.links;
    const keys = new IdempotencyKeys(storage.records('keys', KEY_CODEC));
    this.pauses = new QueuePauses(storage.records('control', PAUSES_CODEC));
    this.coordination = new KvCoordination(storage.records('control', LEASE_CODEC), (operation) => this.lifecycle.assertOpen(operation));
    this.schedules = new KvScheduleStore(
      storage.records('schedules', SCHEDULE_CODEC),
      {
        enqueue: (newTasks) => this.enqueue(newTasks),
        taskExists: (id) => tasks.exists(id),
        assertOpen: (operation) => this.lifecycle.assertOpen(operation),
      },
      parts.scheduleLogger,
    );
    const wake = (queues: Iterable<string>): Promise<void> => this.wake(queues);
    this.outbox = new Outbox({ tasks, dependents, enqueue: (newTasks) => this.store(newTasks), results: parts.results, events: parts.events, wake, logger: parts.logger });
    this.inserter = new TaskInserter(tasks, keys, dependents, storage.journals);
    this.maintenance = new TaskMaintenance({ tasks, keys, dependents, outbox: this.outbox, wake });
    this.ends = new TaskEnds({ tasks, outbox: this.outbox, inserter: this.inserter, wake, notify: (channel, messages) => this.notifier.notify(channel, messages) });
  }

  /**
   * Opens the task queue and schedules on `parts.storage`, and finishes the enqueues that
   * processes killed mid-batch left (see BatchJournals): their `enqueued` events go to this
   * engine's event log, the one a core using this engine reads.
   */
  static async open(parts: KvQueueParts): Promise<KvTaskQueueStore> {
    const store = new KvTaskQueueStore(parts);
    await store.recoverBatches(true);
    return store;
  }

  async enqueue(tasks: readonly NewTask[]): Promise<EnqueueOutcome[]> {
    this.lifecycle.assertOpen('enqueue');
    return this.store(tasks);
  }

  /** Enqueue's work; the outbox stores callback tasks through it. */
  private async store(tasks: readonly NewTask[]): Promise<EnqueueOutcome[]> {
    return this.inserter.insert(tasks, (created) => this.stored(created));
  }

  /** After a chunk of new tasks landed: the cascade repair (see TaskEnds.cancelDoomed), and workers woken for the due ones. */
  private async stored(created: readonly TaskRecord[]): Promise<void> {
    await this.ends.cancelDoomed(created);
    const nowMs = Date.now();
    await this.wake(created.filter((task) => task.runAt.getTime() <= nowMs).map((task) => task.queue));
  }

  /**
   * Rolls the batches of processes killed mid-enqueue forward (or back, see TaskInserter.recover).
   * The caller never heard of the tasks this stores, nor recorded their `enqueued` events: with
   * `events`, they are written here.
   */
  private async recoverBatches(events: boolean): Promise<void> {
    const created = await this.inserter.recover();
    if (created.length === 0) return;
    await this.stored(created);
    if (events) await this.events.append(created.map((task) => recoveredEnqueue(task, new Date())));
  }

  async reserve(request: ReserveRequest): Promise<TaskRecord[]> {
    this.lifecycle.assertOpen('reserve');
    // Copied: the caller's Date must not become the record's startedAt.
    const now = copyDate(request.now ?? new Date());
    const nowMs = now.getTime();
    const paused = await this.pauses.paused();
    const queueRank = new Map<string, number>();
    request.queues.forEach((queue, rank) => !paused.has(queue) && queueRank.set(queue, queueRank.get(queue) ?? rank));
    const names = request.names && new Set(request.names);
    const wanted = ({ task }: TaskBody): boolean =>
      queueRank.has(task.queue) && (names === undefined || names.has(task.name)) && isReservable(task, nowMs);

    await this.tasks.index.refreshLive();
    const versions = this.tasks.index.versions();
    await this.setAside(versions.filter((version) => isSetAside(version.body.task)), now);
    const candidates = versions.filter((version) => wanted(version.body));
    candidates.sort((a, b) => reserveOrder(a, b, queueRank));

    const leaseExpiresAt = new Date(nowMs + request.leaseMs);
    const lease = (body: TaskBody): TaskBody | undefined =>
      wanted(body) ? leased(body, request.workerId, now, leaseExpiresAt, randomUUID()) : undefined;

    const parents = new Map<string, ParentStatus>();
    const dooming = new Set<string>();
    const reserved: { rank: number; task: TaskRecord }[] = [];
    const maxLapsed = request.maxLapsed ?? Number.POSITIVE_INFINITY;
    const lapsedFrom = request.lapsedFrom ?? 1;
    /** Tasks that lapsed before, claimed or being claimed by this call. */
    let lapsedTaken = 0;
    let next = 0;
    while (reserved.length < request.limit && next < candidates.length) {
      // Claim as many as are still needed at once, up to the storage's concurrency (a claim kept waiting
      // for the disk past CLAIM_STALE_MS / 2 gives up); those lost to other processes are
      // replaced by the next candidates in order.
      const batch: number[] = [];
      while (batch.length < Math.min(request.limit - reserved.length, this.tasks.concurrency) && next < candidates.length) {
        const rank = next++;
        const task = candidates[rank]!.body.task;
        if (task.lapses >= lapsedFrom && lapsedTaken >= maxLapsed) continue;
        if (this.reserving.has(task.id) || !(await this.dependenciesMet(task, parents, dooming)) || this.reserving.has(task.id)) continue;
        this.reserving.add(task.id);
        if (task.lapses >= lapsedFrom) lapsedTaken += 1;
        batch.push(rank);
      }
      const won = await Promise.all(
        batch.map((rank) => this.tasks.claim(candidates[rank]!, lease).finally(() => this.reserving.delete(candidates[rank]!.body.task.id))),
      );
      won.forEach((version, i) => {
        if (version) reserved.push({ rank: batch[i]!, task: cloneTask(version.body.task) });
        else if (candidates[batch[i]!]!.body.task.lapses >= lapsedFrom) lapsedTaken -= 1;
      });
    }
    await this.ends.cancelDependentsOf([...dooming], CLAIM_STALE_MS);
    return reserved.sort((a, b) => a.rank - b.rank).map(({ task }) => task);
  }

  /**
   * Ends damaged records failed, never run (see TaskQueueStore.reserve); the process whose write
   * lands logs it. Their dependents are left waiting: the damage may have hit `dependsOn` itself,
   * and a repaired and requeued task frees them.
   */
  private async setAside(damaged: readonly TaskVersion[], now: Date): Promise<void> {
    if (damaged.length === 0) return;
    const landed = await this.tasks.claimUpTo(damaged, damaged.length, (body) =>
      isSetAside(body.task) ? { ...body, task: setAside(body.task, now), endScope: undefined } : undefined,
    );
    for (const { body } of landed) this.tasks.reportSetAside(body.task);
  }

  async settle(settlements: readonly Settlement[], scope: WriteScope): Promise<SettleReport[]> {
    this.lifecycle.assertOpen('settle');
    return this.ends.settle(settlements, scope);
  }

  async extendLeases(leases: readonly LeaseRef[], leaseMs: number): Promise<boolean[]> {
    this.lifecycle.assertOpen('extendLeases');
    return mapLimitByKey(leases, (lease) => lease.id, this.tasks.concurrency, async ({ id, token }) => {
      const now = new Date();
      const extended = await this.tasks.mutateHeld(id, token, (body) => ({ ...body, task: { ...body.task, leaseExpiresAt: new Date(now.getTime() + leaseMs), updatedAt: now } }));
      return extended !== undefined;
    });
  }

  async setProgress(id: string, token: string, progress: unknown): Promise<boolean> {
    this.lifecycle.assertOpen('setProgress');
    const stored = copyJson(progress);
    return (await this.tasks.mutateHeld(id, token, (body) => ({ ...body, task: { ...body.task, progress: stored, updatedAt: new Date() } }))) !== undefined;
  }

  async cancel(id: string, error: TaskError, scope: WriteScope): Promise<CancelOutcome | undefined> {
    this.lifecycle.assertOpen('cancel');
    return (await this.ends.cancelMany([id], error, scope))[0];
  }

  async cancelRequested(ids: readonly string[]): Promise<string[]> {
    this.lifecycle.assertOpen('cancelRequested');
    // The records, not the index: a request another process wrote a moment ago must be seen.
    const requested = await mapLimit(ids, this.tasks.concurrency, async (id) => {
      const task = (await this.tasks.readOrReport(id))?.body.task;
      return task?.status === 'running' && task.cancelRequestedAt !== undefined;
    });
    return ids.filter((_, i) => requested[i]);
  }

  async requeue(id: string, scope: WriteScope): Promise<RequeueOutcome | undefined> {
    this.lifecycle.assertOpen('requeue');
    return this.ends.requeue(id, scope);
  }

  async requeueWhere(selector: TaskSelector, limit: number, scope: WriteScope): Promise<TaskRecord[]> {
    this.lifecycle.assertOpen('requeueWhere');
    const candidates = await selectTasks(this.tasks, selector, REQUEUEABLE);
    const requeued: TaskRecord[] = [];
    for (let next = 0; requeued.length < limit && next < candidates.length; ) {
      const batch = candidates.slice(next, next + Math.min(limit - requeued.length, this.tasks.concurrency));
      next += batch.length;
      const outcomes = await mapLimit(batch, this.tasks.concurrency, ({ id }) => this.ends.requeue(id, scope));
      for (const outcome of outcomes) if (outcome?.changed) requeued.push(outcome.task);
    }
    return requeued;
  }

  async cancelWhere(selector: TaskSelector, error: TaskError, limit: number, scope: WriteScope): Promise<{ changed: number; ended: TaskRecord[] }> {
    this.lifecycle.assertOpen('cancelWhere');
    const candidates = await selectTasks(this.tasks, selector, LIVE_SELECTABLE);
    let changed = 0;
    const ended: TaskRecord[] = [];
    for (let next = 0; changed < limit && next < candidates.length; ) {
      const batch = candidates.slice(next, next + Math.min(limit - changed, this.tasks.concurrency));
      next += batch.length;
      for (const outcome of await this.ends.cancelMany(batch.map(({ id }) => id), error, scope)) {
        if (!outcome?.changed) continue;
        changed += 1;
        ended.push(...outcome.ended);
      }
    }
    return { changed, ended };
  }

  async get(id: string): Promise<TaskRecord | undefined> {
    this.lifecycle.assertOpen('get');
    return (await this.tasks.readOrReport(id))?.body.task;
  }

  async getMany(ids: readonly string[]): Promise<(TaskRecord | undefined)[]> {
    this.lifecycle.assertOpen('getMany');
    return getTasks(this.tasks, ids);
  }

  async list(filter: TaskListFilter = {}): Promise<Page<TaskRecord>> {
    this.lifecycle.assertOpen('list');
    return listTasks(this.tasks, filter);
  }

  async counts(): Promise<QueueStatusCount[]> {
    this.lifecycle.assertOpen('counts');
    return countTasks(this.tasks);
  }

  async pauseQueue(queue: string): Promise<boolean> {
    this.lifecycle.assertOpen('pauseQueue');
    const paused = await this.pauses.pause(queue);
    if (paused) await this.notifier.notify('control', [`pause:${queue}`]);
    return paused;
  }

  async resumeQueue(queue: string): Promise<boolean> {
    this.lifecycle.assertOpen('resumeQueue');
    const resumed = await this.pauses.resume(queue);
    if (resumed) {
      await this.notifier.notify('control', [`resume:${queue}`]);
      await this.wake([queue]);
    }
    return resumed;
  }

  async pausedQueues(): Promise<string[]> {
    this.lifecycle.assertOpen('pausedQueues');
    return [...(await this.pauses.paused())].sort();
  }

  async reclaimLapsed(now: Date, limit: number, scope: WriteScope, maxLapses: number): Promise<ReclaimReport> {
    this.lifecycle.assertOpen('reclaimLapsed');
    return this.maintenance.reclaimLapsed(now, limit, scope, maxLapses);
  }

  async promoteDue(now: Date, limit: number): Promise<number> {
    this.lifecycle.assertOpen('promoteDue');
    return this.maintenance.promoteDue(now, limit);
  }

  async nextDueAt(): Promise<Date | undefined> {
    this.lifecycle.assertOpen('nextDueAt');
    return this.maintenance.nextDueAt();
  }

  async expireOverdue(now: Date, limit: number, scope: WriteScope): Promise<TaskRecord[]> {
    this.lifecycle.assertOpen('expireOverdue');
    return this.maintenance.expireOverdue(now, limit, scope);
  }

  async purgeFinished(before: Date, limit = Number.POSITIVE_INFINITY): Promise<number> {
    this.lifecycle.assertOpen('purgeFinished');
    return this.maintenance.purgeFinished(before, limit);
  }

  async recoverPending(now: Date, scope: WriteScope): Promise<TaskRecord[]> {
    this.lifecycle.assertOpen('recoverPending');
    await this.recoverBatches(scope.events);
    await this.storage.housekeeping();
    return this.outbox.recover(now, scope);
  }

  async close(): Promise<void> {
    if (this.lifecycle.close()) this.notifier.release();
  }

  /** `parents` caches parent statuses for one reserve; `dooming` collects parents that hold a task back for good. */
  private async dependenciesMet(task: TaskRecord, parents: Map<string, ParentStatus>, dooming: Set<string>): Promise<boolean> {
    for (const parentId of task.dependsOn) {
      if (!parents.has(parentId)) parents.set(parentId, await this.parentStatus(parentId));
      const status = parents.get(parentId);
      // A parent that is gone was purged, so it had ended: the wait for it is over.
      if (status === 'gone' || parentDone(task, status)) continue;
      if (parentDooms(task, status)) dooming.add(parentId);
      return false;
    }
    return true;
  }

  /** What reserve needs of a parent's status, read from its record only when the index cannot tell. */
  private async parentStatus(id: string): Promise<ParentStatus> {
    const index = this.tasks.index;
    const ended = index.finalStatus(id);
    // Success is final for good. Any other final status seen before is superseded by a requeue,
    // which the live listing (refreshed by this reserve) shows; a live parent has not ended.
    if (ended === 'success') return ended;
    if (index.isLive(id)) return undefined;
    if (ended !== undefined) return ended;
    const version = await this.tasks.readOrReport(id);
    // A damaged record proves nothing: the parent counts as live.
    return version === undefined ? ((await this.tasks.exists(id)) ? undefined : 'gone') : version.body.task.status;
  }

  private async wake(queues: Iterable<string>): Promise<void> {
    await this.notifier.notify('wake', [...new Set(queues)]);
  }
}

