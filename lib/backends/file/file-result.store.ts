import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { LoggerService } from '@nestjs/common';
import type { ResultRecord } from '../../models/result.model.js';
import type { ResultStore } from '../../storage/result.store.js';
import { StoreLifecycle } from '../shared/store-lifecycle.js';
import { listNames, readFileIfExists, unlinkQuietly, writeFileAtomic } from './atomic-write.js';
import { CorruptFileError } from './file-store.errors.js';
import { IO_CONCURRENCY, mapLimit } from '../kv/kv-concurrency.js';
import type { FileNotifier } from './file-notifier.js';
import type { OutboxView } from '../kv/kv-outbox-view.js';
import { recordKey, RESULT_DATES, reviveDates } from '../kv/kv-task-codec.js';

const RESULT_FORMAT = 'omniq.result/1';

const isExpired = (result: ResultRecord, nowMs: number): boolean =>
  result.expiresAt !== undefined && result.expiresAt.getTime() <= nowMs;

/**
 * Task results on a folder: `results/<task>.json`, one file per task, replaced atomically by a
 * later put (the last rename wins, which is "a later put replaces it" across processes too).
 * `result-schedules/<sha256(scheduleId)>/<task>` are empty markers, so `latestForSchedule` reads
 * only that schedule's results; a marker is a hint, checked against the result it names.
 *
 * Each put notifies `result` with the task ids, through the engine's notifier (to every process
 * on the folder when it can watch it).
 *
 * `get` reads through the task outboxes (see OutboxView): the result of a task's end is there
 * from the write that ended the task, a moment before its own file is written.
 * `latestForSchedule` sees results once their files are.
 */
export class FileResultStore implements ResultStore {
  readonly notifier: FileNotifier;
  private readonly resultsDir: string;
  private readonly schedulesDir: string;
  private readonly lifecycle = new StoreLifecycle('FileResultStore');

  private constructor(
    root: string,
    notifier: FileNotifier,
    private readonly outbox: OutboxView,
    private readonly logger: LoggerService,
  ) {
    this.resultsDir = join(root, 'results');
    this.schedulesDir = join(root, 'result-schedules');
    this.notifier = notifier.acquire();
  }

  /** Opens (creating if needed) the results kept in `root`, the project's folder. */
  static async open(root: string, notifier: FileNotifier, outbox: OutboxView, logger: LoggerService): Promise<FileResultStore> {
    await mkdir(join(root, 'results'), { recursive: true });
    await mkdir(join(root, 'result-schedules'), { recursive: true });
    return new FileResultStore(root, notifier, outbox, logger);
  }

  async put(results: readonly ResultRecord[]): Promise<void> {
    this.lifecycle.assertOpen('put');
    await mapLimit(results, IO_CONCURRENCY, async (result) => {
      await writeFileAtomic(this.pathOf(result.taskId), JSON.stringify({ format: RESULT_FORMAT, result }));
      if (result.scheduleId === undefined) return;
      const dir = this.scheduleDir(result.scheduleId);
      await mkdir(dir, { recursive: true });
      await writeFile(join(dir, recordKey(result.taskId)), '');
    });
    await this.notifier.notify(
      'result',
      results.map(({ taskId }) => taskId),
    );
  }

  async get(taskId: string): Promise<ResultRecord | undefined> {
    this.lifecycle.assertOpen('get');
    const pending = await this.outbox.result(taskId);
    if (pending === null) return undefined;
    const result = pending ?? (await this.read(this.pathOf(taskId)));
    return result === undefined || isExpired(result, Date.now()) ? undefined : result;
  }

  async latestForSchedule(scheduleId: string): Promise<ResultRecord | undefined> {
    this.lifecycle.assertOpen('latestForSchedule');
    const keys = await listNames(this.scheduleDir(scheduleId));
    const results = await mapLimit(keys, IO_CONCURRENCY, (key) => this.readQuietly(join(this.resultsDir, `${key}.json`)));
    const nowMs = Date.now();
    let latest: ResultRecord | undefined;
    for (const result of results) {
      if (result === undefined || result.scheduleId !== scheduleId || isExpired(result, nowMs)) continue;
      if (latest === undefined || result.completedAt.getTime() > latest.completedAt.getTime()) latest = result;
    }
    return latest;
  }

  async delete(taskId: string): Promise<boolean> {
    this.lifecycle.assertOpen('delete');
    return this.remove(taskId, await this.readQuietly(this.pathOf(taskId)));
  }

  async purgeExpired(now: Date, limit = Number.POSITIVE_INFINITY): Promise<number> {
    this.lifecycle.assertOpen('purgeExpired');
    return this.purgeWhere((result) => isExpired(result, now.getTime()), limit);
  }

  async purgeCompletedBefore(before: Date, limit = Number.POSITIVE_INFINITY): Promise<number> {
    this.lifecycle.assertOpen('purgeCompletedBefore');
    // A damaged result without a completion time is kept: nothing says it is old.
    return this.purgeWhere((result) => result.completedAt instanceof Date && result.completedAt.getTime() < before.getTime(), limit);
  }

  async close(): Promise<void> {
    if (this.lifecycle.close()) this.notifier.release();
  }

  /** Deletes up to `limit` results that `doomed` picks; returns how many. */
  private async purgeWhere(doomed: (result: ResultRecord) => boolean, limit: number): Promise<number> {
    const names = (await listNames(this.resultsDir)).filter((name) => name.endsWith('.json'));
    let purged = 0;
    // Every file is read to learn its dates: a result keeps no index (results are few next to tasks).
    for (let next = 0; purged < limit && next < names.length; ) {
      const batch = names.slice(next, next + Math.min(limit - purged, IO_CONCURRENCY));
      next += batch.length;
      await mapLimit(batch, IO_CONCURRENCY, async (name) => {
        const result = await this.readQuietly(join(this.resultsDir, name));
        if (result !== undefined && doomed(result) && (await this.remove(result.taskId, result))) purged += 1;
      });
    }
    return purged;
  }

  private pathOf(taskId: string): string {
    return join(this.resultsDir, `${recordKey(taskId)}.json`);
  }

  private scheduleDir(scheduleId: string): string {
    return join(this.schedulesDir, createHash('sha256').update(scheduleId).digest('hex'));
  }

  /** Deletes a result and its schedule marker; false when another call deleted it first. */
  private async remove(taskId: string, known: ResultRecord | undefined): Promise<boolean> {
    const removed = await unlinkQuietly(this.pathOf(taskId));
    if (known?.scheduleId !== undefined) await unlinkQuietly(join(this.scheduleDir(known.scheduleId), recordKey(taskId)));
    return removed;
  }

  private async read(path: string): Promise<ResultRecord | undefined> {
    const text = await readFileIfExists(path);
    if (text === undefined) return undefined;
    try {
      const parsed = JSON.parse(text) as { format?: unknown; result?: Record<string, unknown> };
      if (parsed.format !== RESULT_FORMAT || typeof parsed.result !== 'object' || parsed.result === null) {
        throw new Error(`not a "${RESULT_FORMAT}" record`);
      }
      reviveDates(parsed.result, RESULT_DATES);
      return parsed.result as unknown as ResultRecord;
    } catch (error) {
      throw new CorruptFileError(path, (error as Error).message);
    }
  }

  /** Like read, but a damaged file is logged and treated as absent (scans keep going). */
  private async readQuietly(path: string): Promise<ResultRecord | undefined> {
    try {
      return await this.read(path);
    } catch (error) {
      if (!(error instanceof CorruptFileError)) throw error;
      this.logger.error(`Skipping a damaged result file: ${error.message}`);
      return undefined;
    }
  }
}
