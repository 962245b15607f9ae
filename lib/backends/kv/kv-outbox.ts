/*
 * The outbox of the key-value task queue: how a transition that spans many records stays
 * all-or-nothing.
 *
 * A transition (settle, cancel, expiry, requeue, a cascade step) writes the task's new state and
 * a PendingEffects entry in the one compare-and-swap of the task's record, so either both land or
 * neither does. The entry names everything else the transition does: callback tasks to store,
 * the result and events to write, and whether the task's dependents must follow its state. Right
 * after, the same call applies the entry (`drain`), then removes it with a second
 * compare-and-swap. Every effect is idempotent:
 * - callback tasks have fixed ids: an id already stored means an earlier try stored it;
 * - a result put writes the same result again; events carry fixed ids, and the event store keeps
 *   one event per id;
 * - dependents are reconciled with the task's current state, each change a compare-and-swap that
 *   reports "unchanged" the second time; a dependent that changes gets its own entry in the same
 *   write, so its own effects (its unrun result and event, its dependents) survive a crash too.
 *
 * Until an entry's result and events are in their own stores, the engine's result and event
 * stores read them from the entry (see OutboxView): the task's end, its result and its events
 * become visible at one instant, the task's write.
 *
 * A process that dies anywhere in between leaves the entry in the record, where
 * TaskRecords.withPending finds it. The maintenance leader's `recover` takes over entries older than
 * RECOVER_AFTER_MS (restamping them first, so two leaders never both do) and applies them. A
 * long drain renews the stamps of the entries it is about to apply, and one whose entries still
 * got half that old stops before its next step, so a live applier and a recoverer never work on
 * one entry at the same time: the rule claims follow too.
 */
import type { LoggerService } from '@nestjs/common';
import { DuplicateTaskIdError } from '../../errors/store.errors.js';
import type { NewTask, TaskRecord } from '../../models/task.model.js';
import type { EventStore } from '../../storage/event.store.js';
import { parentFailedError } from '../../storage/outcomes.js';
import type { ResultStore } from '../../storage/result.store.js';
import type { EnqueueOutcome, WriteScope } from '../../storage/task-queue.store.js';
import { mapLimit } from './kv-concurrency.js';
import { EntryLog, lastEntry, newReport, pendingEntry, unrunEntry, type OutboxItem } from './kv-outbox-entries.js';
import { cloneTask, type PendingEffects, type TaskBody, type TaskVersion } from './kv-task-codec.js';
import type { TaskLinks } from './kv-task-records.js';
import type { KvTasks } from './kv-tasks.js';
import { cancelledByParent, ENDED_BADLY, FINAL, parentDooms, revived, WAITING } from './kv-task-transitions.js';

/** How old an entry must be before recovery takes it over from an applier presumed dead. */
export const RECOVER_AFTER_MS = 30_000;
/** Entries applied together: bounds how long one step takes, so stamps renewed before it stay fresh through it. */
const DRAIN_CHUNK = 500;
/** A parent that keeps changing between reconcile rounds is left to its own newer entry. */
const RECONCILE_ROUNDS = 3;

export interface OutboxDeps {
  tasks: KvTasks;
  dependents: TaskLinks;
  /** The store's own enqueue, for callback tasks. */
  enqueue(tasks: readonly NewTask[]): Promise<EnqueueOutcome[]>;
  results: Pick<ResultStore, 'put' | 'delete'>;
  events: Pick<EventStore, 'append'>;
  wake(queues: Iterable<string>): Promise<void>;
  logger: LoggerService;
}

class LeftForRecovery extends Error {}

export class Outbox {
  constructor(private readonly deps: OutboxDeps) {}

  /**
   * Applies entries just written (or taken over), level by level down the dependents they
   * change, in chunks of DRAIN_CHUNK. A chunk's entries are cleared once its effects are done
   * and the entries of the dependents it changed are written, so a crash at any point leaves
   * every unfinished effect in some entry. Never throws: what it could not finish stays in the
   * records for `recover`, and the transition that wrote the entries stands.
   */
  async drain(items: readonly OutboxItem[]): Promise<void> {
    try {
      for (let level = [...items]; level.length > 0; ) {
        const next: OutboxItem[] = [];
        for (let start = 0; start < level.length; start += DRAIN_CHUNK) {
          const chunk = await this.keepFresh(level.slice(start, start + DRAIN_CHUNK));
          await this.writeResults(chunk);
          this.assertFresh(chunk);
          await this.deps.events.append(chunk.flatMap(({ entry }) => entry.events ?? []));
          this.assertFresh(chunk);
          await this.storeCallbacks(chunk);
          this.assertFresh(chunk);
          next.push(...(await mapLimit(chunk, this.deps.tasks.concurrency, async (item) => (item.entry.dependents ? this.reconcile(item) : []))).flat());
          await mapLimit(chunk, this.deps.tasks.concurrency, (item) => this.clear(item));
        }
        level = next;
      }
    } catch (error) {
      const why = error instanceof LeftForRecovery ? `their writes took over ${RECOVER_AFTER_MS / 2} ms` : (error as Error).message;
      this.deps.logger.warn(`Effects of ${items.length} task transition(s) are left for maintenance to finish: ${why}`);
    }
  }

  /**
   * Renews the stamps of the chunk's entries that are getting old (a long cascade), so recovery
   * never takes over an entry this drain is still applying; drops those recovery already took.
   */
  private async keepFresh(chunk: OutboxItem[]): Promise<OutboxItem[]> {
    const renewAfter = RECOVER_AFTER_MS / 4;
    const kept = await mapLimit(chunk, this.deps.tasks.concurrency, async (item) => {
      if (Date.now() - item.entry.at < renewAfter) return item;
      const at = Date.now();
      const renewed = await this.deps.tasks.mutate(
        item.taskId,
        (body) => {
          const mine = body.pending?.some((entry) => entry.id === item.entry.id && entry.at === item.entry.at);
          return mine ? { ...body, pending: body.pending!.map((entry) => (entry.id === item.entry.id ? { ...entry, at } : entry)) } : undefined;
        },
        { onBusy: 'wait' },
      );
      return renewed.kind === 'written' ? { ...item, entry: { ...item.entry, at }, written: renewed.after } : undefined;
    });
    return kept.filter((item): item is OutboxItem => item !== undefined);
  }

  /** Stops before a step when an entry got old enough for recovery to be near taking it over. */
  private assertFresh(chunk: readonly OutboxItem[]): void {
    const now = Date.now();
    if (chunk.some(({ entry }) => now - entry.at >= RECOVER_AFTER_MS / 2)) throw new LeftForRecovery();
  }

  /**
   * Finishes the entries older than RECOVER_AFTER_MS at `now`; their tasks' dependents it changes
   * take their effects' scope from `scope`. Returns the tasks it ended.
   */
  async recover(now: Date, scope: WriteScope): Promise<TaskRecord[]> {
    const report = newReport();
    const pending = await this.deps.tasks.records.withPending();
    await mapLimit(pending, this.deps.tasks.concurrency, async (version) => {
      const isStale = (entry: PendingEffects): boolean => entry.at + RECOVER_AFTER_MS <= now.getTime();
      if (!version.body.pending!.some(isStale)) return;
      const takenAt = Date.now();
      const taken = await this.deps.tasks.mutate(
        version.body.task.id,
        (body) => (body.pending?.some(isStale) ? { ...body, pending: body.pending.map((entry) => (isStale(entry) ? { ...entry, at: takenAt } : entry)) } : undefined),
        { onBusy: 'skip', known: version },
      );
      if (taken.kind !== 'written') return;
      const taskId = taken.after.body.task.id;
      // One entry at a time, oldest first: a requeue's entry must not overtake the end before it.
      for (const entry of taken.after.body.pending!) {
        if (entry.at === takenAt) await this.drain([{ taskId, entry: { ...entry, scope }, report }]);
      }
    });
    return report.changed.filter((task) => FINAL.has(task.status));
  }

  /** Wakes the queues of a task's waiting dependents: its end may have made them reservable. */
  async wakeDependents(parentIds: readonly string[]): Promise<void> {
    const queues = new Set<string>();
    await mapLimit(parentIds, this.deps.tasks.concurrency, async (parentId) => {
      for (const child of await this.deps.dependents.children(parentId)) {
        if (WAITING.has(child.body.task.status)) queues.add(child.body.task.queue);
      }
    });
    await this.deps.wake(queues);
  }

  private async storeCallbacks(level: readonly OutboxItem[]): Promise<void> {
    await mapLimit(level, this.deps.tasks.concurrency, async ({ entry, report }) => {
      for (const [index, task] of (entry.enqueue ?? []).entries()) report.enqueued[index] = await this.storeCallback(task);
    });
  }

  private async storeCallback(task: NewTask): Promise<EnqueueOutcome> {
    try {
      const [outcome] = await this.deps.enqueue([task]);
      return outcome!;
    } catch (error) {
      // Ids are never reused: the id is taken because an earlier try of this entry stored it.
      if (error instanceof DuplicateTaskIdError && error.taskId === task.id) return { id: task.id, created: true };
      throw error;
    }
  }

  private async writeResults(level: readonly OutboxItem[]): Promise<void> {
    const results = level.flatMap(({ entry }) => (entry.result ? [entry.result] : []));
    if (results.length > 0) await this.deps.results.put(results);
    const deleted = level.filter(({ entry }) => entry.deleteResult).map(({ taskId }) => taskId);
    await mapLimit(deleted, this.deps.tasks.concurrency, (taskId) => this.deps.results.delete(taskId));
  }

  /**
   * Brings the dependents of the item's task in line with its state, as it is now: when it ended
   * failed, cancelled or expired, cancels the waiting ones that need it to succeed; otherwise
   * revives those it had cancelled. It reads the task again afterwards, and goes round again if it
   * changed meanwhile: a requeue racing a cascade (each writes its own record first and reads the
   * other's after) is then seen by one of them at least.
   */
  private async reconcile(item: OutboxItem): Promise<OutboxItem[]> {
    const changed: OutboxItem[] = [];
    const scope = item.entry.scope;
    let parent = await this.currentTask(item.taskId);
    for (let round = 0; parent !== undefined && round < RECONCILE_ROUNDS; round++) {
      const children = await this.deps.dependents.children(item.taskId);
      if (children.length === 0) break;
      const doomed = ENDED_BADLY.has(parent.status);
      const now = new Date();
      const queues = new Set<string>();
      await mapLimit(children, this.deps.tasks.concurrency, async (child) => {
        const after = doomed ? await this.cancelChild(child, parent!, scope, now) : await this.reviveChild(child, parent!, scope, now);
        if (after !== undefined) {
          const entry = lastEntry(after);
          changed.push({ taskId: after.body.task.id, entry, report: item.report, written: after });
          item.report.changed.push(cloneTask(after.body.task));
        } else if (WAITING.has(child.body.task.status) && FINAL.has(parent!.status)) {
          queues.add(child.body.task.queue);
        }
      });
      await this.deps.wake(queues);
      const again = await this.currentTask(item.taskId);
      if (again === undefined || ENDED_BADLY.has(again.status) === doomed) break;
      parent = again;
    }
    return changed;
  }

  private async cancelChild(child: TaskVersion, cause: TaskRecord, scope: WriteScope, now: Date): Promise<TaskVersion | undefined> {
    const log = new EntryLog();
    const outcome = await this.deps.tasks.mutate(
      child.body.task.id,
      (body) => {
        const task = body.task;
        if (!WAITING.has(task.status) || !task.dependsOn.includes(cause.id) || !parentDooms(task, cause.status)) return undefined;
        const ended = cancelledByParent(task, cause, now);
        return log.append({ ...body, endScope: { ...scope } }, ended, unrunEntry(ended, scope, now));
      },
      { onBusy: 'wait', known: child },
    );
    return outcome.kind === 'written' ? outcome.after : undefined;
  }

  private async reviveChild(child: TaskVersion, parent: TaskRecord, scope: WriteScope, now: Date): Promise<TaskVersion | undefined> {
    const cancelledByIt = (body: TaskBody): boolean => body.task.status === 'cancelled' && body.task.cancelledBy === parent.id;
    if (!cancelledByIt(child.body)) return undefined;
    // Another parent that ended badly keeps it cancelled, from now on because of that one.
    const other = await this.doomingParent(child.body.task, parent.id);
    const log = new EntryLog();
    const outcome = await this.deps.tasks.mutate(
      child.body.task.id,
      (body) => {
        if (!cancelledByIt(body)) return undefined;
        if (other !== undefined) return { ...body, task: { ...body.task, cancelledBy: other.id, lastError: parentFailedError(other), updatedAt: now } };
        const entry = pendingEntry(scope, { dependents: true, deleteResult: scope.results ? true : undefined });
        return log.append({ ...body, endScope: undefined }, revived(body.task, now), entry);
      },
      { onBusy: 'wait', known: child },
    );
    return outcome.kind === 'written' && other === undefined ? outcome.after : undefined;
  }

  private async doomingParent(child: TaskRecord, except: string): Promise<TaskRecord | undefined> {
    for (const parentId of child.dependsOn) {
      if (parentId === except) continue;
      const parent = await this.currentTask(parentId);
      if (parent !== undefined && parentDooms(child, parent.status)) return parent;
    }
    return undefined;
  }

  private async clear({ taskId, entry, written }: OutboxItem): Promise<void> {
    await this.deps.tasks.mutate(
      taskId,
      (body) => {
        const rest = body.pending?.filter((other) => other.id !== entry.id);
        if (rest === undefined || rest.length === body.pending!.length) return undefined;
        return { ...body, pending: rest.length > 0 ? rest : undefined };
      },
      { onBusy: 'wait', known: written },
    );
  }

  private async currentTask(id: string): Promise<TaskRecord | undefined> {
    return (await this.deps.tasks.readOrReport(id))?.body.task;
  }
}
