/*
 * The task queue on a folder, shared by any number of processes.
 *
 * Claim protocol (how a task is never handed to two live leases):
 * 1. Each task is one file, `tasks/<id>.json`, holding the record (status, lease token and
 *    expiry included) plus a write generation `gen` and a unique revision `rev`.
 * 2. Every change (reserve, settle, extend, cancel, ...) writes the new record into the claim
 *    file `task-claims/<id>~<gen+1>`, created exclusively (`open(path, 'wx')`): of all processes
 *    that read generation `gen`, exactly one creates it; the others skip the task (reserve) or
 *    re-read and try again (the rest).
 * 3. The winner re-reads the task to check its `rev` is still the one it decided on, then renames
 *    its claim over the task: the write lands atomically and the claim is gone in one step. A
 *    write is therefore a compare-and-swap: no lost updates, no half-written files.
 * 4. A lease is data in the record. Reserving a running task whose lease expired is such a write,
 *    so it races the holder's own settle/extend for the same claim; exactly one lands, and the
 *    loser sees a new token when it re-reads and reports false (a stale token).
 * 5. A claim older than CLAIM_STALE_MS was left by a process that died mid-write; the next writer
 *    skips to the following generation. A writer whose own claim reaches half that age abandons
 *    its write, so a slow writer cannot land after being skipped.
 *
 * Finding work: `live/` and `done/` hold one empty marker per task, named `<id>~<gen>`; a reserve
 * lists `live/` and re-reads only tasks whose marker changed since its last look (see TaskFiles,
 * TaskIndex). Dependents are linked under their parents in `children/` (see TaskDependents),
 * idempotency keys live in `keys/` (see IdempotencyKeys), schedules in `schedules/` (see
 * FileScheduleStore).
 *
 * Cancelling a running task is a write like any other: it records `cancelRequestedAt` and keeps
 * the lease, so the holder's settle still lands, and its worker, in whatever process, finds the
 * request by reading the task file (`cancelRequested`).
 */
import { randomUUID } from 'node:crypto';
import { Logger } from '@nestjs/common';
import { DuplicateTaskIdError } from '../../errors/store.errors.js';
import { LIVE_TASK_STATUSES } from '../../models/task.model.js';
import type { NewTask, TaskError, TaskRecord, TaskStatus } from '../../models/task.model.js';
import type { ScheduleStore } from '../../storage/schedule.store.js';
import type {
  CancelOutcome,
  EnqueueOutcome,
  LeaseRef,
  Page,
  QueueStatusCount,
  ReserveRequest,
  Settlement,
  TaskListFilter,
  TaskQueueStore,
  Unsubscribe,
} from '../../storage/task-queue.store.js';
import { Listeners } from '../shared/listeners.js';
import { StoreLifecycle } from '../shared/store-lifecycle.js';
import { IO_CONCURRENCY, mapLimit, mapLimitByKey } from './concurrency.js';
import { FileScheduleStore } from './file-schedule.store.js';
import { CorruptFileError } from './file-store.errors.js';
import { IdempotencyKeys, type HolderState } from './idempotency-keys.js';
import { cloneTask, type TaskBody, type TaskVersion } from './task-codec.js';
import { TaskDependents } from './task-dependents.js';
import { TaskFiles } from './task-files.js';
import { countTasks, listTasks } from './task-queries.js';
import {
  cancelled,
  copyDate,
  FINAL,
  finished,
  holdsLease,
  isOverdue,
  isReservable,
  leased,
  parentDone,
  REQUEUEABLE,
  requeued,
  reserveOrder,
  settled,
  WAITING,
} from './task-transitions.js';
import { DELETE, type MutateOutcome } from './versioned-files.js';

const LIVE = new Set<TaskStatus>(LIVE_TASK_STATUSES);

/** Records handed to callers are copies: cached versions are shared and never modified. */
const copyRecord = cloneTask;
/** Progress is JSON data; a copy keeps the caller's object out of the cache. */
const copyJson = (value: unknown): unknown => (value === undefined ? undefined : JSON.parse(JSON.stringify(value)));

/**
 * A TaskQueueStore on a folder (see the protocol above). Wake-ups reach listeners in this process
 * only; other processes find new work at their next poll.
 */
export class FileTaskQueueStore implements TaskQueueStore {
  readonly schedules: ScheduleStore;
  private readonly wakeListeners = new Listeners<string>();
  /** Tasks a reserve of this process is claiming: concurrent reserves pass over them. */
  private readonly reserving = new Set<string>();
  private lastSeq = 0;
  private readonly lifecycle = new StoreLifecycle('FileTaskQueueStore');

  private constructor(
    root: string,
    private readonly files: TaskFiles,
    private readonly keys: IdempotencyKeys,
    private readonly dependents: TaskDependents,
  ) {
    this.schedules = new FileScheduleStore(root, {
      enqueue: (tasks) => this.enqueue(tasks),
      assertOpen: (operation) => this.lifecycle.assertOpen(operation),
    });
  }

  /** Opens (creating if needed) the task queue and schedules kept in `root`, the project's folder. */
  static async open(root: string): Promise<FileTaskQueueStore> {
    const logger = new Logger('OmniQFileTaskQueue');
    await FileScheduleStore.prepare(root);
    const files = await TaskFiles.open(root, logger);
    return new FileTaskQueueStore(root, files, await IdempotencyKeys.open(root), await TaskDependents.open(root, files));
  }

  async enqueue(tasks: readonly NewTask[]): Promise<EnqueueOutcome[]> {
    this.lifecycle.assertOpen('enqueue');
    const ids = new Set<string>();
    for (const task of tasks) {
      if (ids.has(task.id)) throw new DuplicateTaskIdError(task.id);
      ids.add(task.id);
    }
    const stored = await mapLimit(tasks, IO_CONCURRENCY, (task) => this.files.exists(task.id));
    const duplicate = stored.indexOf(true);
    if (duplicate >= 0) throw new DuplicateTaskIdError(tasks[duplicate].id);

    const seqs = tasks.map(() => this.nextSeq());
    // Only the first task of the batch with a given key asks for it; later ones get its answer.
    const firstWithKey = new Map<string, number>();
    const askers = tasks.flatMap((task, index) => {
      if (task.key === undefined) return [index];
      if (firstWithKey.has(task.key)) return [];
      firstWithKey.set(task.key, index);
      return [index];
    });
    const outcomes = new Array<EnqueueOutcome>(tasks.length);
    await mapLimit(askers, IO_CONCURRENCY, async (index) => {
      outcomes[index] = await this.enqueueOne(tasks[index], seqs[index]);
    });
    const nowMs = Date.now();
    const woken = new Set<string>();
    tasks.forEach((task, index) => {
      outcomes[index] ??= { id: outcomes[firstWithKey.get(task.key as string) as number].id, created: false };
      if (outcomes[index].created && task.runAt.getTime() <= nowMs) woken.add(task.queue);
    });
    this.wake(woken);
    return outcomes;
  }

  async reserve(request: ReserveRequest): Promise<TaskRecord[]> {
    this.lifecycle.assertOpen('reserve');
    // Copied: the caller's Date must not become the record's startedAt.
    const now = copyDate(request.now ?? new Date());
    const nowMs = now.getTime();
    const queueRank = new Map<string, number>();
    request.queues.forEach((queue, rank) => queueRank.set(queue, queueRank.get(queue) ?? rank));
    const names = request.names && new Set(request.names);
    const wanted = (task: TaskRecord): boolean =>
      queueRank.has(task.queue) && (names === undefined || names.has(task.name)) && isReservable(task, nowMs);

    await this.files.index.refreshLive();
    const candidates = this.files.index.versions().filter((version) => wanted(version.body.task));
    candidates.sort((a, b) => reserveOrder(a, b, queueRank));

    const leaseExpiresAt = new Date(nowMs + request.leaseMs);
    const lease = (body: TaskBody): TaskBody | undefined =>
      wanted(body.task) ? leased(body, request.workerId, now, leaseExpiresAt, randomUUID()) : undefined;

    const parents = new Map<string, TaskStatus | undefined>();
    const reserved: { rank: number; task: TaskRecord }[] = [];
    let next = 0;
    while (reserved.length < request.limit && next < candidates.length) {
      // Claim as many as are still needed at once; those lost to other processes are replaced
      // by the next candidates in order.
      const batch: number[] = [];
      while (batch.length < request.limit - reserved.length && next < candidates.length) {
        const rank = next++;
        const task = candidates[rank].body.task;
        if (this.reserving.has(task.id) || !(await this.dependenciesMet(task, parents)) || this.reserving.has(task.id)) continue;
        this.reserving.add(task.id);
        batch.push(rank);
      }
      const won = await Promise.all(
        batch.map((rank) => this.claimTask(candidates[rank], lease).finally(() => this.reserving.delete(candidates[rank].body.task.id))),
      );
      won.forEach((task, i) => task && reserved.push({ rank: batch[i], task }));
    }
    return reserved.sort((a, b) => a.rank - b.rank).map(({ task }) => task);
  }

  async settle(settlements: readonly Settlement[]): Promise<boolean[]> {
    this.lifecycle.assertOpen('settle');
    const now = new Date();
    const woken = new Set<string>();
    const results = await mapLimitByKey(settlements, (s) => s.id, IO_CONCURRENCY, async (settlement) => {
      const task = await this.changeHeld(settlement.id, settlement.token, (held) => settled(held, settlement, now));
      if (task === undefined) return false;
      if (FINAL.has(task.status)) this.childQueuesOf(task.id, woken);
      if (WAITING.has(task.status) && task.runAt.getTime() <= now.getTime()) woken.add(task.queue);
      return true;
    });
    this.wake(woken);
    return results;
  }

  async extendLeases(leases: readonly LeaseRef[], leaseMs: number): Promise<boolean[]> {
    this.lifecycle.assertOpen('extendLeases');
    return mapLimitByKey(leases, (lease) => lease.id, IO_CONCURRENCY, async ({ id, token }) => {
      const now = new Date();
      const task = await this.changeHeld(id, token, (held) => ({ ...held, leaseExpiresAt: new Date(now.getTime() + leaseMs), updatedAt: now }));
      return task !== undefined;
    });
  }

  async setProgress(id: string, token: string, progress: unknown): Promise<boolean> {
    this.lifecycle.assertOpen('setProgress');
    const stored = copyJson(progress);
    return (await this.changeHeld(id, token, (held) => ({ ...held, progress: stored, updatedAt: new Date() }))) !== undefined;
  }

  async expireOverdue(now?: Date, limit = Number.POSITIVE_INFINITY): Promise<TaskRecord[]> {
    this.lifecycle.assertOpen('expireOverdue');
    const at = copyDate(now ?? new Date());
    await this.files.index.refreshLive();
    const overdue = this.files.index.versions().filter((version) => isOverdue(version.body.task, at.getTime()));
    overdue.sort((a, b) => (a.body.task.expiresAt as Date).getTime() - (b.body.task.expiresAt as Date).getTime());
    const expire = (body: TaskBody): TaskBody | undefined =>
      isOverdue(body.task, at.getTime()) ? { seq: body.seq, task: finished(body.task, 'expired', at) } : undefined;
    const expired: TaskRecord[] = [];
    for (let next = 0; expired.length < limit && next < overdue.length; ) {
      const batch = overdue.slice(next, next + Math.min(limit - expired.length, IO_CONCURRENCY));
      next += batch.length;
      for (const task of await Promise.all(batch.map((version) => this.claimTask(version, expire)))) if (task) expired.push(task);
    }
    const woken = new Set<string>();
    for (const task of expired) this.childQueuesOf(task.id, woken);
    this.wake(woken);
    return expired;
  }

  async cancel(id: string, error?: TaskError): Promise<CancelOutcome | undefined> {
    this.lifecycle.assertOpen('cancel');
    const outcome = await this.files.mutate(
      id,
      (body) => {
        const task = cancelled(body.task, new Date(), error);
        return task && { seq: body.seq, task };
      },
      { onBusy: 'wait' },
    );
    if (outcome.kind === 'written' && FINAL.has(outcome.after.body.task.status)) {
      const woken = new Set<string>();
      this.childQueuesOf(id, woken);
      this.wake(woken);
    }
    const task = resultingRecord(outcome);
    return task && { task, changed: outcome.kind === 'written' };
  }

  async cancelRequested(ids: readonly string[]): Promise<string[]> {
    this.lifecycle.assertOpen('cancelRequested');
    // The files, not the index: a request another process wrote a moment ago must be seen.
    const requested = await mapLimit(ids, IO_CONCURRENCY, async (id) => {
      const task = (await this.files.readOrReport(id))?.body.task;
      return task?.status === 'running' && task.cancelRequestedAt !== undefined;
    });
    return ids.filter((_, i) => requested[i]);
  }

  async dependentsOf(id: string): Promise<TaskRecord[]> {
    this.lifecycle.assertOpen('dependentsOf');
    return (await this.dependents.waitingChildren(id)).map((version) => copyRecord(version.body.task));
  }

  async requeue(id: string): Promise<TaskRecord | undefined> {
    this.lifecycle.assertOpen('requeue');
    const outcome = await this.files.mutate(
      id,
      (body) => (REQUEUEABLE.has(body.task.status) ? { seq: body.seq, task: requeued(body.task, new Date()) } : undefined),
      { onBusy: 'wait' },
    );
    if (outcome.kind === 'written') {
      const task = outcome.after.body.task;
      if (task.key !== undefined) await this.keys.claim(task.key, task.id, (holder) => this.holderState(holder));
      this.wake([task.queue]);
    }
    return resultingRecord(outcome);
  }

  async get(id: string): Promise<TaskRecord | undefined> {
    this.lifecycle.assertOpen('get');
    const version = await this.files.read(id);
    return version && copyRecord(version.body.task);
  }

  async list(filter: TaskListFilter = {}): Promise<Page<TaskRecord>> {
    this.lifecycle.assertOpen('list');
    return listTasks(this.files, filter);
  }

  async counts(): Promise<QueueStatusCount[]> {
    this.lifecycle.assertOpen('counts');
    return countTasks(this.files);
  }

  async purgeFinished(before: Date): Promise<number> {
    this.lifecycle.assertOpen('purgeFinished');
    const cutoff = before.getTime();
    const isPurgeable = (status: TaskStatus, completedAtMs: number | undefined): boolean =>
      FINAL.has(status) && completedAtMs !== undefined && completedAtMs < cutoff;
    await this.files.index.refreshAll();
    const purgeable = this.files.index.summaries().filter((task) => isPurgeable(task.status, task.completedAtMs));
    const purged = await mapLimit(purgeable, IO_CONCURRENCY, async ({ id }) => {
      const outcome = await this.files.mutate(
        id,
        ({ task }) => (isPurgeable(task.status, task.completedAt?.getTime()) ? DELETE : undefined),
        { onBusy: 'wait' },
      );
      if (outcome.kind !== 'deleted') return false;
      const { key, dependsOn } = outcome.before.body.task;
      if (key !== undefined) await this.keys.release(key, id);
      await this.dependents.unlink(id, dependsOn);
      return true;
    });
    return purged.filter(Boolean).length;
  }

  onWake(listener: (queue: string) => void): Unsubscribe {
    this.lifecycle.assertOpen('onWake');
    return this.wakeListeners.add(listener);
  }

  async close(): Promise<void> {
    if (this.lifecycle.close()) this.wakeListeners.clear();
  }

  /** Enqueue order, also across processes: microseconds since the epoch, strictly increasing here. */
  private nextSeq(): number {
    this.lastSeq = Math.max(this.lastSeq + 1, Date.now() * 1000);
    return this.lastSeq;
  }

  private async enqueueOne(task: NewTask, seq: number): Promise<EnqueueOutcome> {
    if (task.key !== undefined) {
      const holder = await this.keys.claim(task.key, task.id, (id) => this.holderState(id));
      if (holder !== task.id) return { id: holder, created: false };
    }
    const record = cloneTask({
      ...task,
      status: task.runAt.getTime() > task.createdAt.getTime() ? 'scheduled' : 'pending',
      attempts: 0,
      updatedAt: task.createdAt,
    });
    // Linked first, so that no stored task is missing from its parents' dependents. A link left
    // by a lost race for the id names the winner, whose record decides whether it counts.
    await this.dependents.link(task.id, task.dependsOn);
    if (!(await this.files.create(record, seq))) throw new DuplicateTaskIdError(task.id);
    return { id: task.id, created: true };
  }

  /**
   * Read from the holder's own file, so every process judges a key alike: an ended task keeps
   * holding it until its completedAt plus its dedupe window.
   */
  private async holderState(id: string): Promise<HolderState> {
    const task = (await this.files.readOrReport(id))?.body.task;
    if (task === undefined) return 'missing';
    if (LIVE.has(task.status)) return 'holds';
    const { completedAt, dedupeWindowMs } = task;
    if (completedAt === undefined || dedupeWindowMs === undefined) return 'released';
    return completedAt.getTime() + dedupeWindowMs > Date.now() ? 'holds' : 'released';
  }

  /** `parents` caches parent statuses for one reserve. */
  private async dependenciesMet(task: TaskRecord, parents: Map<string, TaskStatus | undefined>): Promise<boolean> {
    for (const parentId of task.dependsOn) {
      if (!parents.has(parentId)) parents.set(parentId, await this.parentStatus(parentId));
      if (!parentDone(task, parents.get(parentId))) return false;
    }
    return true;
  }

  /** What reserve needs of a parent's status, read from its file only when the index cannot tell. */
  private async parentStatus(id: string): Promise<TaskStatus | undefined> {
    const index = this.files.index;
    const ended = index.finalStatus(id);
    // Success is final for good. Any other final status seen before is superseded by a requeue,
    // which the live listing (refreshed by this reserve) shows; a live parent has not ended.
    if (ended === 'success') return ended;
    if (index.isLive(id)) return undefined;
    return ended ?? (await this.files.readOrReport(id))?.body.task.status;
  }

  /** Adds the queues of this process's known dependents of `parentId` (it ended: some may be due). */
  private childQueuesOf(parentId: string, woken: Set<string>): void {
    for (const queue of this.files.index.childQueues(parentId)) woken.add(queue);
  }

  /** Applies `change` to a candidate from the index, giving up if another writer holds it. */
  private async claimTask(version: TaskVersion, change: (body: TaskBody) => TaskBody | undefined): Promise<TaskRecord | undefined> {
    try {
      const outcome = await this.files.mutate(version.body.task.id, change, { onBusy: 'skip', known: version });
      return outcome.kind === 'written' ? copyRecord(outcome.after.body.task) : undefined;
    } catch (error) {
      if (!(error instanceof CorruptFileError)) throw error;
      this.files.reportCorrupt(error.path, error);
      return undefined;
    }
  }

  /** Changes a task only while `token` is its live lease; the updated record, else undefined. */
  private async changeHeld(id: string, token: string, change: (task: TaskRecord) => TaskRecord): Promise<TaskRecord | undefined> {
    try {
      const outcome = await this.files.mutate(
        id,
        (body) => (holdsLease(body.task, token) ? { seq: body.seq, task: change(body.task) } : undefined),
        { onBusy: 'wait' },
      );
      return outcome.kind === 'written' ? outcome.after.body.task : undefined;
    } catch (error) {
      // A damaged file cannot prove the token: the lease counts as lost.
      if (!(error instanceof CorruptFileError)) throw error;
      this.files.reportCorrupt(error.path, error);
      return undefined;
    }
  }

  private wake(queues: Iterable<string>): void {
    this.wakeListeners.notifyAll(queues);
  }
}

function resultingRecord(outcome: MutateOutcome<TaskBody>): TaskRecord | undefined {
  if (outcome.kind === 'written') return copyRecord(outcome.after.body.task);
  if (outcome.kind === 'unchanged') return copyRecord(outcome.current.body.task);
  return undefined;
}
