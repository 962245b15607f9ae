import { DuplicateTaskIdError, ParentEndedError, UnknownParentError } from '../../errors/store.errors.js';
import type { ScheduleRecord, ScheduleStatus } from '../../models/schedule.model.js';
import type { NewTask } from '../../models/task.model.js';
import type { FireOutcome, ScheduleAdvance, ScheduleExpectation, ScheduleStore } from '../../storage/schedule.store.js';
import { StoreLifecycle } from '../shared/store-lifecycle.js';
import type { RedisConnection } from './redis-connection.js';
import { scheduleFromHash, scheduleFields } from './redis-schedule-record.js';
import { RECORDS_LUA } from './redis-records.lua.js';
import { DELETE_SCHEDULE_LUA, DUE_SCHEDULES_LUA, FIRE_SCHEDULE_LUA, LIST_SCHEDULES_LUA, SAVE_SCHEDULE_LUA, SET_SCHEDULE_STATUS_LUA } from './redis-schedule.lua.js';
import { RedisScript } from './redis-scripts.js';
import { ENQUEUE_CHECKS_LUA } from './redis-task-enqueue.lua.js';
import { taskFields } from './redis-task-record.js';
import { TASK_LUA } from './redis-task.lua.js';

const SAVE = new RedisScript('saveSchedule', SAVE_SCHEDULE_LUA);
const DELETE = new RedisScript('deleteSchedule', DELETE_SCHEDULE_LUA);
const SET_STATUS = new RedisScript('setScheduleStatus', SET_SCHEDULE_STATUS_LUA);
const DUE = new RedisScript('dueSchedules', DUE_SCHEDULES_LUA);
const LIST = new RedisScript('listSchedules', LIST_SCHEDULES_LUA);
const FIRE = new RedisScript('fireSchedule', RECORDS_LUA + TASK_LUA + ENQUEUE_CHECKS_LUA + FIRE_SCHEDULE_LUA);

type FireReply = ['unclaimed'] | ['claimed', string, number] | ['fail', ...string[]];

/** The error of a task the enqueue checks refused (see ENQUEUE_CHECKS_LUA), as enqueue throws it. */
function refusal([kind, taskId, ...rest]: readonly string[]): Error {
  if (kind === 'duplicate') return new DuplicateTaskIdError(taskId!);
  if (kind === 'unknown') return new UnknownParentError(taskId!, rest);
  if (kind === 'ended') return new ParentEndedError(taskId!, rest[0]!, rest[1]!);
  return new Error(`fireSchedule: the enqueue of task ${taskId} failed (${[kind, ...rest].join(' ')})`);
}

/**
 * Schedules in `schedule:<id>` hashes beside the task queue (see redis-schedule.lua.ts). Every
 * change is one script, so a save with an expectation is a compare-and-set the server orders
 * against every other instance's. A fire is one script too: the compare-and-set on nextRunAt,
 * the task queue's enqueue checks and then its enqueue (omniq_enqueue), so of any number of
 * instances exactly one claims each tick, and a task that cannot be stored changes nothing.
 */
export class RedisScheduleStore implements ScheduleStore {
  private readonly lifecycle = new StoreLifecycle('RedisScheduleStore');

  constructor(private readonly connection: RedisConnection) {}

  async saveSchedule(schedule: ScheduleRecord, expected?: ScheduleExpectation): Promise<boolean> {
    this.lifecycle.assertOpen('saveSchedule');
    const mode = expected === undefined ? 'any' : expected.absent ? 'absent' : 'expect';
    const expect = expected === undefined || expected.absent ? ['', '', '', ''] : [expected.specHash, expected.status, String(expected.runCount), ms(expected.nextRunAt)];
    const args = [this.connection.keys.P, schedule.id, mode, ...expect, ...scheduleFields(schedule)];
    const saved = await this.run<number>(SAVE, schedule.id, args, `saveSchedule("${schedule.id}")`);
    return saved === 1;
  }

  async getSchedule(id: string): Promise<ScheduleRecord | undefined> {
    this.lifecycle.assertOpen('getSchedule');
    const key = this.connection.keys.schedule(id);
    const hash = await this.lifecycle.whileOpen('getSchedule', () => this.connection.call(`getSchedule("${id}")`, (client) => client.hgetall(key)));
    return Object.keys(hash).length === 0 ? undefined : scheduleFromHash(hash, key);
  }

  async listSchedules(): Promise<ScheduleRecord[]> {
    this.lifecycle.assertOpen('listSchedules');
    const hashes = await this.run<string[][]>(LIST, undefined, [this.connection.keys.P], 'listSchedules');
    // By UTF-16 code unit, as the other backends order ids.
    return this.records(hashes).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  async deleteSchedule(id: string): Promise<boolean> {
    this.lifecycle.assertOpen('deleteSchedule');
    const deleted = await this.run<number>(DELETE, id, [this.connection.keys.P, id], `deleteSchedule("${id}")`);
    return deleted === 1;
  }

  async setScheduleStatus(id: string, status: ScheduleStatus, nextRunAt?: Date): Promise<ScheduleRecord | undefined> {
    this.lifecycle.assertOpen('setScheduleStatus');
    const args = [this.connection.keys.P, id, status, ms(nextRunAt), Date.now()];
    const hash = await this.run<string[] | null>(SET_STATUS, id, args, `setScheduleStatus("${id}")`);
    return hash === null ? undefined : scheduleFromHash(hash, this.connection.keys.schedule(id));
  }

  async dueSchedules(now: Date, limit: number): Promise<ScheduleRecord[]> {
    this.lifecycle.assertOpen('dueSchedules');
    const hashes = await this.run<string[][]>(DUE, undefined, [this.connection.keys.P, now.getTime(), limit], 'dueSchedules');
    return this.records(hashes);
  }

  async nextDueAt(): Promise<Date | undefined> {
    this.lifecycle.assertOpen('nextDueAt');
    const { schedulesDue } = this.connection.keys;
    const [, soonest] = await this.lifecycle.whileOpen('nextDueAt', () =>
      this.connection.call('nextDueAt of schedules', (client) => client.zrange(schedulesDue, 0, 0, 'WITHSCORES')),
    );
    return soonest === undefined ? undefined : new Date(Number(soonest));
  }

  async fireSchedule(id: string, expectedNextRunAt: Date, advance: ScheduleAdvance, task?: NewTask): Promise<FireOutcome> {
    this.lifecycle.assertOpen('fireSchedule');
    const { status, nextRunAt, runCount, lastRunAt } = advance;
    const args = [this.connection.keys.P, id, expectedNextRunAt.getTime(), Date.now(), status, ms(nextRunAt), runCount, ms(lastRunAt)];
    if (task) args.push('1', ...taskFields(task));
    else args.push('0');
    const reply = await this.run<FireReply>(FIRE, id, args, `fireSchedule("${id}")`);
    if (reply[0] === 'unclaimed') return { claimed: false };
    if (reply[0] === 'fail') throw refusal(reply.slice(1) as string[]);
    const [, enqueued, created] = reply;
    return enqueued === '' ? { claimed: true } : { claimed: true, enqueued: { id: enqueued, created: created === 1 } };
  }

  /** Later calls reject with StoreClosedError (closed with the task queue it belongs to). */
  close(): void {
    this.lifecycle.close();
  }

  /** Runs a script on the schedule `id`'s key (or the schedule set). */
  private run<T>(script: RedisScript, id: string | undefined, args: (string | number)[], operation: string): Promise<T> {
    const { keys } = this.connection;
    return this.lifecycle.whileOpen(script.name, () => this.connection.run<T>(script, [id === undefined ? keys.schedules : keys.schedule(id)], args, operation));
  }

  private records(hashes: readonly string[][]): ScheduleRecord[] {
    const { keys } = this.connection;
    return hashes.map((hash) => scheduleFromHash(hash, keys.schedule(idOf(hash))));
  }
}

/** The `id` field of a flat hash, to name its key. */
function idOf(flat: readonly string[]): string {
  for (let i = 0; i + 1 < flat.length; i += 2) if (flat[i] === 'id') return flat[i + 1]!;
  return '?';
}

const ms = (date: Date | undefined): string => (date === undefined ? '' : String(date.getTime()));
