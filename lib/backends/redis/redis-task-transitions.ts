import type { TaskError, TaskRecord } from '../../models/task.model.js';
import type { CancelOutcome, RequeueOutcome, TaskSelector, WriteScope } from '../../storage/task-queue.store.js';
import { newUuid } from '../../utils/uuid.js';
import type { RedisConnection } from './redis-connection.js';
import { errorJson, taskFromHash, tasksFromHashes } from './redis-task-record.js';
import { CANCEL_SCRIPT, CANCEL_WHERE_SCRIPT, REQUEUE_SCRIPT, REQUEUE_WHERE_SCRIPT } from './redis-task-transitions.lua.js';

/** What the transition scripts start their ARGV with: P, now, the scope, the events cap, an id base for the events Lua builds. */
export function transitionHead(connection: RedisConnection, now: number, scope: WriteScope): (string | number)[] {
  return [connection.keys.P, now, scope.results ? '1' : '0', scope.events ? '1' : '0', connection.settings.eventsMaxLen, newUuid()];
}

/** A selector as SELECT_LUA reads it from ARGV. */
export function selectorArgs(selector: TaskSelector): (string | number)[] {
  const statuses = selector.status === undefined ? [] : typeof selector.status === 'string' ? [selector.status] : [...selector.status];
  return [
    selector.queue === undefined ? '0' : '1',
    selector.queue ?? '',
    selector.name === undefined ? '0' : '1',
    selector.name ?? '',
    statuses.length,
    ...statuses,
  ];
}

type Outcome = [changed: 0 | 1, hash: string[], others: string[][]];

/** Cancel and requeue, one task or a selection: each call one script, cascades and revivals included. */
export class RedisTaskTransitions {
  constructor(private readonly connection: RedisConnection) {}

  async cancel(id: string, error: TaskError, scope: WriteScope): Promise<CancelOutcome | undefined> {
    const reply = await this.run<Outcome | null>(CANCEL_SCRIPT, [...transitionHead(this.connection, Date.now(), scope), id, errorJson(error)], 'cancel');
    if (reply === null) return undefined;
    return { changed: reply[0] === 1, task: taskFromHash(reply[1]), ended: tasksFromHashes(reply[2]) };
  }

  async requeue(id: string, scope: WriteScope): Promise<RequeueOutcome | undefined> {
    const reply = await this.run<Outcome | null>(REQUEUE_SCRIPT, [...transitionHead(this.connection, Date.now(), scope), id], 'requeue');
    if (reply === null) return undefined;
    return { changed: reply[0] === 1, task: taskFromHash(reply[1]), revived: tasksFromHashes(reply[2]) };
  }

  async cancelWhere(selector: TaskSelector, error: TaskError, limit: number, scope: WriteScope): Promise<{ changed: number; ended: TaskRecord[] }> {
    if (limit <= 0) return { changed: 0, ended: [] };
    const args = [...transitionHead(this.connection, Date.now(), scope), limit, errorJson(error), ...selectorArgs(selector)];
    const [changed, ended] = await this.run<[number, string[][]]>(CANCEL_WHERE_SCRIPT, args, 'cancelWhere');
    return { changed, ended: tasksFromHashes(ended) };
  }

  async requeueWhere(selector: TaskSelector, limit: number, scope: WriteScope): Promise<TaskRecord[]> {
    if (limit <= 0) return [];
    const args = [...transitionHead(this.connection, Date.now(), scope), limit, ...selectorArgs(selector)];
    return tasksFromHashes(await this.run<string[][]>(REQUEUE_WHERE_SCRIPT, args, 'requeueWhere'));
  }

  private run<T>(script: Parameters<RedisConnection['run']>[0], args: (string | number)[], operation: string): Promise<T> {
    return this.connection.run<T>(script, [`${this.connection.keys.P}seq`], args, operation);
  }
}
