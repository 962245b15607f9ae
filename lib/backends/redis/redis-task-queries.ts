import { InvalidQueryError } from '../../errors/omniq.errors.js';
import { TASK_STATUSES, type TaskRecord, type TaskStatus } from '../../models/task.model.js';
import type { LeaseRef, Page, QueueStatusCount, TaskListFilter } from '../../storage/task-queue.store.js';
import type { RedisConnection } from './redis-connection.js';
import { chunks, MAX_SCRIPT_ARGS, type RedisScript } from './redis-scripts.js';
import { taskFromHash, tasksFromHashes } from './redis-task-record.js';
import {
  CANCEL_REQUESTED_SCRIPT,
  COUNTS_SCRIPT,
  EXTEND_SCRIPT,
  LIST_SCRIPT,
  PAUSE_SCRIPT,
  PROGRESS_SCRIPT,
  READ_SCRIPT,
  RESUME_SCRIPT,
} from './redis-task-queries.lua.js';
import { selectorArgs } from './redis-task-transitions.js';

const DEFAULT_PAGE_SIZE = 100;
const STATUS_ORDER = new Map<string, number>(TASK_STATUSES.map((status, index) => [status, index]));

/** Reads (one script per call, chunked only past MAX_SCRIPT_ARGS), lease renewals, progress and queue pauses. */
export class RedisTaskQueries {
  constructor(private readonly connection: RedisConnection) {}

  async getMany(ids: readonly string[]): Promise<(TaskRecord | undefined)[]> {
    const found: (TaskRecord | undefined)[] = [];
    for (const chunk of chunks(ids, MAX_SCRIPT_ARGS - 1)) {
      const hashes = await this.run<string[][]>(READ_SCRIPT, [this.connection.keys.P, ...chunk], 'get');
      for (const hash of hashes) found.push(hash.length === 0 ? undefined : taskFromHash(hash));
    }
    return found;
  }

  async cancelRequested(ids: readonly string[]): Promise<string[]> {
    const requested: string[] = [];
    for (const chunk of chunks(ids, MAX_SCRIPT_ARGS - 1)) {
      requested.push(...(await this.run<string[]>(CANCEL_REQUESTED_SCRIPT, [this.connection.keys.P, ...chunk], 'cancelRequested')));
    }
    return requested;
  }

  async list(filter: TaskListFilter): Promise<Page<TaskRecord>> {
    const offset = filter.offset ?? 0;
    const limit = filter.limit ?? DEFAULT_PAGE_SIZE;
    const after = filter.after === undefined ? 0 : cursorSeq(filter.after);
    const reply = await this.run<[number, number, number, ...string[][]]>(
      LIST_SCRIPT,
      [this.connection.keys.P, after, offset, limit, ...selectorArgs(filter)],
      'list',
    );
    const [total, more, last] = reply;
    const items = tasksFromHashes(reply.slice(3) as string[][]);
    const page: Page<TaskRecord> = { items, total, offset, limit };
    if (more === 1 && items.length > 0) page.nextCursor = String(last);
    return page;
  }

  async counts(): Promise<QueueStatusCount[]> {
    const flat = await this.run<(string | number)[]>(COUNTS_SCRIPT, [this.connection.keys.P], 'counts');
    const rows = new Map<string, QueueStatusCount>();
    for (let i = 0; i < flat.length; i += 3) {
      const queue = String(flat[i]);
      const status = flat[i + 1] as TaskStatus;
      const key = `${queue}\n${status}`;
      const row = rows.get(key);
      if (row) row.count += Number(flat[i + 2]);
      else rows.set(key, { queue, status, count: Number(flat[i + 2]) });
    }
    return [...rows.values()].sort((a, b) => (a.queue < b.queue ? -1 : a.queue > b.queue ? 1 : STATUS_ORDER.get(a.status)! - STATUS_ORDER.get(b.status)!));
  }

  async extendLeases(leases: readonly LeaseRef[], leaseMs: number): Promise<boolean[]> {
    const held: boolean[] = [];
    for (const chunk of chunks(leases, Math.floor((MAX_SCRIPT_ARGS - 3) / 2))) {
      const args: (string | number)[] = [this.connection.keys.P, Date.now(), leaseMs];
      for (const { id, token } of chunk) args.push(id, token);
      for (const flag of await this.run<number[]>(EXTEND_SCRIPT, args, 'extendLeases')) held.push(flag === 1);
    }
    return held;
  }

  async setProgress(id: string, token: string, progress: unknown): Promise<boolean> {
    // undefined (no progress) clears the field.
    const json = progress === undefined ? '' : JSON.stringify(progress);
    return (await this.run<number>(PROGRESS_SCRIPT, [this.connection.keys.P, Date.now(), id, token, json], 'setProgress')) === 1;
  }

  async pauseQueue(queue: string): Promise<boolean> {
    return (await this.run<number>(PAUSE_SCRIPT, [this.connection.keys.P, Date.now(), queue], 'pauseQueue')) === 1;
  }

  async resumeQueue(queue: string): Promise<boolean> {
    return (await this.run<number>(RESUME_SCRIPT, [this.connection.keys.P, queue], 'resumeQueue')) === 1;
  }

  async pausedQueues(): Promise<string[]> {
    const queues = await this.connection.call('pausedQueues', (client) => client.hkeys(`${this.connection.keys.P}paused`));
    return queues.sort();
  }

  private run<T>(script: RedisScript, args: (string | number)[], operation: string): Promise<T> {
    return this.connection.run<T>(script, [`${this.connection.keys.P}seq`], args, operation);
  }
}

function cursorSeq(cursor: string): number {
  if (!/^\d{1,15}$/.test(cursor)) {
    throw new InvalidQueryError('RedisTaskQueueStore.list', 'after', cursor, 'a nextCursor from an earlier page of this store');
  }
  return Number(cursor);
}
