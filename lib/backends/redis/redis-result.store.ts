import type { ResultRecord } from '../../models/result.model.js';
import type { Notifier } from '../../storage/notifier.js';
import type { ResultStore } from '../../storage/result.store.js';
import { StoreLifecycle } from '../shared/store-lifecycle.js';
import type { RedisConnection } from './redis-connection.js';
import { DELETE_RESULT_LUA, LATEST_RESULT_LUA, PURGE_RESULTS_LUA, PUT_RESULTS_LUA } from './redis-records.lua.js';
import { resultFromJson, resultToJson } from '../shared/record-json.js';
import { chunks, MAX_SCRIPT_ARGS, RedisScript } from './redis-scripts.js';

const PUT = new RedisScript('put results', PUT_RESULTS_LUA);
const DELETE = new RedisScript('delete result', DELETE_RESULT_LUA);
const PURGE = new RedisScript('purge results', PURGE_RESULTS_LUA);
const LATEST = new RedisScript('latest result of a schedule', LATEST_RESULT_LUA);

/** ARGV values per result in PUT. */
const PUT_ARGS = 5;
const PUT_CHUNK = Math.floor((MAX_SCRIPT_ARGS - 1) / PUT_ARGS);
/** Results a purge script deletes at most, so none blocks the server for long. */
const PURGE_BATCH = 1_000;

/**
 * Task results, one JSON string per task (`result:<taskId>`, with PXAT at its expiry so Redis
 * frees an expired result even when nobody purges), indexed by completion, by expiry and by
 * schedule (see redis-records.lua.ts). A put of any number of results is one script per chunk,
 * and every result stored (here or by a task-queue script) publishes `result` with its task id
 * from inside the script that stored it, heard by every engine on the project's channel.
 * Liveness is judged by the caller's clock, as in every backend.
 */
export class RedisResultStore implements ResultStore {
  private readonly lifecycle = new StoreLifecycle('RedisResultStore');

  constructor(
    private readonly connection: RedisConnection,
    /** The engine's notifier: `result` is heard here (put publishes inside its script). */
    readonly notifier: Notifier,
    private readonly release: () => Promise<void>,
  ) {}

  async put(results: readonly ResultRecord[]): Promise<void> {
    this.lifecycle.assertOpen('put');
    if (results.length === 0) return;
    const { P } = this.connection.keys;
    // The last of several results of one task wins, as a later put would.
    const latest = [...new Map(results.map((result) => [result.taskId, result])).values()];
    await this.lifecycle.whileOpen('put', async () => {
      for (const chunk of chunks(latest, PUT_CHUNK)) {
        const args: (string | number)[] = [P];
        for (const result of chunk) {
          args.push(resultToJson(result), result.taskId, result.scheduleId ?? '', result.completedAt.getTime(), result.expiresAt?.getTime() ?? '');
        }
        const operation = chunk.length === 1 ? `put the result of task ${chunk[0]!.taskId}` : `put ${chunk.length} results`;
        await this.connection.run(PUT, [this.connection.keys.resultsDone], args, operation);
      }
    });
  }

  async get(taskId: string): Promise<ResultRecord | undefined> {
    this.lifecycle.assertOpen('get');
    const key = this.connection.keys.result(taskId);
    const json = await this.lifecycle.whileOpen('get', () => this.connection.call(`get the result of task ${taskId}`, (client) => client.get(key)));
    return this.live(json, key, Date.now());
  }

  async latestForSchedule(scheduleId: string): Promise<ResultRecord | undefined> {
    this.lifecycle.assertOpen('latestForSchedule');
    const { keys } = this.connection;
    const now = Date.now();
    const json = await this.lifecycle.whileOpen('latestForSchedule', () =>
      this.connection.run<string | null>(LATEST, [keys.resultsOfSchedule(scheduleId)], [keys.P, scheduleId, now], `latestForSchedule("${scheduleId}")`),
    );
    return this.live(json, `the latest result of schedule ${scheduleId}`, now);
  }

  async delete(taskId: string): Promise<boolean> {
    this.lifecycle.assertOpen('delete');
    const { keys } = this.connection;
    const existed = await this.lifecycle.whileOpen('delete', () =>
      this.connection.run<number>(DELETE, [keys.result(taskId)], [keys.P, taskId], `delete the result of task ${taskId}`),
    );
    return existed === 1;
  }

  async purgeExpired(now: Date, limit?: number): Promise<number> {
    this.lifecycle.assertOpen('purgeExpired');
    return this.purge('purgeExpired', 'expiry', String(now.getTime()), limit);
  }

  async purgeCompletedBefore(before: Date, limit?: number): Promise<number> {
    this.lifecycle.assertOpen('purgeCompletedBefore');
    return this.purge('purgeCompletedBefore', 'done', `(${before.getTime()}`, limit);
  }

  async close(): Promise<void> {
    if (!this.lifecycle.close()) return;
    await this.release();
  }

  /** The stored result, unless it expired by `now` (a key whose PXAT the server has not reached yet). */
  private live(json: string | null | undefined, where: string, now: number): ResultRecord | undefined {
    if (json === null || json === undefined) return undefined;
    const result = resultFromJson(json, where);
    return result.expiresAt !== undefined && result.expiresAt.getTime() <= now ? undefined : result;
  }

  /** Deletes the results of the index (`expiry` or `done`) scored up to `highest`, a batch per script, until `limit` or none is left. */
  private async purge(operation: string, index: 'expiry' | 'done', highest: string, limit = Number.POSITIVE_INFINITY): Promise<number> {
    const { P } = this.connection.keys;
    let purged = 0;
    for (;;) {
      const batch = Math.min(PURGE_BATCH, limit - purged);
      if (batch <= 0) return purged;
      const deleted = await this.lifecycle.whileOpen(operation, () => this.connection.run<number>(PURGE, [this.connection.keys.resultsDone], [P, index, highest, batch], operation));
      purged += deleted;
      if (deleted < batch) return purged;
    }
  }
}
