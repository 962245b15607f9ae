import type { LoggerService } from '@nestjs/common';
import type { KV } from '@nats-io/kv';
import type { ResultRecord } from '../../models/result.model.js';
import type { Notifier } from '../../storage/notifier.js';
import type { ResultStore } from '../../storage/result.store.js';
import type { OutboxView } from '../kv/kv-outbox-view.js';
import { StoreLifecycle } from '../shared/store-lifecycle.js';
import type { NatsLink } from './nats-connection.js';
import { idToken } from './nats-names.js';
import { resultFromJson, resultToJson } from '../shared/record-json.js';
import { isValue } from './nats-kv-records.js';
import { NatsResultIndex, RESULT_HEADERS, type IndexedResult } from './nats-result-index.js';
import { isPartsRef, ValueParts, type PartsRef } from './nats-value-parts.js';

/** The field of a value that, instead of a result, says where the parts of a big one are (see ValueParts). */
const PARTS_FIELD = 'omniq.parts';
/** Requests a put or a purge keeps in flight at once (pipelined on the one connection). */
const IN_FLIGHT = 256;

/**
 * Task results in the project's KV bucket `results`, one key per task (its id token, see
 * idToken), the value the result's JSON. Each entry carries its completion, expiry and schedule
 * in headers, which the NatsResultIndex reads without the values: purges and latestForSchedule
 * work from that index.
 *
 * TTLs: on a server with per-message TTLs (2.11) a result with `expiresAt` is published with a
 * `Nats-TTL`, so the server frees it even when nobody purges; on older servers (2.9 here) the
 * expiry is only in the value and its header: `get` hides an expired result and the maintenance
 * leader's `purgeExpired` deletes it. storageOptions.resultsMaxAgeMs caps every result's age on
 * the server side.
 *
 * A result too big for one message (a 1 MB value) is stored in parts (`parts.<key>.<id>.<n>`),
 * its key holding where they are.
 *
 * Deletes are stream purges of the key's subject up to the revision read, so they leave no
 * tombstone behind and never remove a newer version put meanwhile. Every put notifies `result`
 * with its task ids on the engine's notifier, heard by every engine on the project.
 *
 * `get` reads through the task outboxes (see OutboxView), as the file backend does: the result of
 * a task's end is there from the write that ends it until the outbox has stored it here.
 */
export class NatsResultStore implements ResultStore {
  private readonly lifecycle = new StoreLifecycle('NatsResultStore');
  private readonly index: NatsResultIndex;
  private readonly stream: string;
  private readonly parts: ValueParts;

  constructor(
    private readonly link: NatsLink,
    /** The project's results bucket (see NatsLink.bucket). */
    private readonly kv: KV,
    /** The engine's notifier: `result` is notified on it after each put. */
    readonly notifier: Notifier,
    private readonly release: () => Promise<void>,
    logger: LoggerService,
    /** The task outboxes, read through by `get` (absent: results stored on their own, outside a task engine). */
    private readonly outbox?: OutboxView,
  ) {
    const bucket = link.names.resultsBucket;
    this.stream = `KV_${bucket}`;
    this.parts = new ValueParts(link, kv, bucket);
    this.index = new NatsResultIndex(link, bucket, logger);
  }

  async put(results: readonly ResultRecord[]): Promise<void> {
    this.lifecycle.assertOpen('put');
    if (results.length === 0) return;
    // The last of several results of one task wins, as a later put would.
    const latest = [...new Map(results.map((result) => [result.taskId, result])).values()];
    const operation = latest.length === 1 ? `put the result of task ${latest[0]!.taskId}` : `put ${latest.length} results`;
    await this.lifecycle.whileOpen('put', () =>
      this.link.call(operation, async () => {
        for (let i = 0; i < latest.length; i += IN_FLIGHT) await Promise.all(latest.slice(i, i + IN_FLIGHT).map((result) => this.publish(result)));
      }),
    );
    await this.notifier.notify(
      'result',
      latest.map((result) => result.taskId),
    );
  }

  async get(taskId: string): Promise<ResultRecord | undefined> {
    this.lifecycle.assertOpen('get');
    return this.lifecycle.whileOpen('get', async () => {
      const pending = await this.outbox?.result(taskId);
      if (pending === null) return undefined;
      if (pending === undefined) return this.read(taskId, Date.now());
      return pending.expiresAt !== undefined && pending.expiresAt.getTime() <= Date.now() ? undefined : pending;
    });
  }

  async latestForSchedule(scheduleId: string): Promise<ResultRecord | undefined> {
    this.lifecycle.assertOpen('latestForSchedule');
    const operation = `latestForSchedule("${scheduleId}")`;
    return this.lifecycle.whileOpen('latestForSchedule', async () => {
      await this.index.caughtUp(operation);
      const now = Date.now();
      const candidates = this.index.ofSchedule(scheduleId).sort((a, b) => b.completedAt - a.completedAt);
      for (const candidate of candidates) {
        const result = await this.read(candidate.taskId, now);
        if (result?.scheduleId === scheduleId) return result;
      }
      return undefined;
    });
  }

  async delete(taskId: string): Promise<boolean> {
    this.lifecycle.assertOpen('delete');
    const operation = `delete the result of task ${taskId}`;
    return this.lifecycle.whileOpen('delete', () =>
      this.link.call(operation, async () => {
        const stored = await this.stored(taskId);
        return stored !== undefined && this.purgeKey(taskId, stored.revision, stored.parts !== undefined);
      }),
    );
  }

  async purgeExpired(now: Date, limit?: number): Promise<number> {
    this.lifecycle.assertOpen('purgeExpired');
    return this.lifecycle.whileOpen('purgeExpired', () => this.purgeBy('purgeExpired', this.index.expiry, (at) => at <= now.getTime(), limit));
  }

  async purgeCompletedBefore(before: Date, limit?: number): Promise<number> {
    this.lifecycle.assertOpen('purgeCompletedBefore');
    return this.lifecycle.whileOpen('purgeCompletedBefore', () => this.purgeBy('purgeCompletedBefore', this.index.completion, (at) => at < before.getTime(), limit));
  }

  async close(): Promise<void> {
    if (!this.lifecycle.close()) return;
    await this.index.close();
    await this.release();
  }

  private async publish(result: ResultRecord): Promise<void> {
    const headers = this.link.headers();
    const key = idToken(result.taskId);
    let value = resultToJson(result);
    let parts: PartsRef | undefined;
    // Up to 3 bytes per UTF-16 unit: most values are known to fit without counting.
    if (value.length * 3 > this.parts.room && Buffer.byteLength(value) > this.parts.room) {
      parts = await this.parts.write(key, Buffer.from(value), `put the result of task ${result.taskId}`);
      value = JSON.stringify({ [PARTS_FIELD]: { base: parts.base, count: parts.count } });
      headers.set(RESULT_HEADERS.parts, parts.base);
    }
    headers.set(RESULT_HEADERS.completedAt, String(result.completedAt.getTime()));
    if (result.expiresAt) {
      headers.set(RESULT_HEADERS.expiresAt, String(result.expiresAt.getTime()));
      if (this.link.server.messageTtl) headers.set('Nats-TTL', `${Math.max(1, Math.ceil((result.expiresAt.getTime() - Date.now()) / 1000))}s`);
    }
    if (result.scheduleId !== undefined) headers.set(RESULT_HEADERS.schedule, idToken(result.scheduleId));
    await this.link.publish(`$KV.${this.link.names.resultsBucket}.${key}`, value, { headers });
    if (parts) await this.parts.removeOlder(key, parts, `put the result of task ${result.taskId}`);
  }

  /** The stored result, unless it expired by `now`. */
  private async read(taskId: string, now: number): Promise<ResultRecord | undefined> {
    const stored = await this.stored(taskId);
    if (stored === undefined) return undefined;
    const result = resultFromJson(stored.text, `the result of task ${taskId} (${idToken(taskId)} in ${this.stream})`);
    return result.expiresAt !== undefined && result.expiresAt.getTime() <= now ? undefined : result;
  }

  /** The stored JSON of a task's result (its parts joined), its revision and its parts. */
  private async stored(taskId: string): Promise<{ text: string; revision: number; parts?: PartsRef } | undefined> {
    const operation = `get the result of task ${taskId}`;
    for (;;) {
      const entry = await this.link.call(operation, () => this.kv.get(idToken(taskId)));
      if (!isValue(entry)) return undefined;
      const text = entry.string();
      const parts = text.startsWith(`{"${PARTS_FIELD}":`) ? (JSON.parse(text) as Record<string, unknown>)[PARTS_FIELD] : undefined;
      if (!isPartsRef(parts)) return { text, revision: entry.revision };
      const bytes = await this.parts.read(parts, operation);
      // Gone: the result was replaced meanwhile (its writer removed the old parts): read again.
      if (bytes !== undefined) return { text: Buffer.from(bytes).toString('utf8'), revision: entry.revision, parts };
    }
  }

  /** Removes the key's versions up to `revision` (never a newer one), with the parts of big ones; whether there was one to remove. */
  private async purgeKey(taskId: string, revision: number, hasParts: boolean): Promise<boolean> {
    const key = idToken(taskId);
    const { purged } = await this.link.jsm.streams.purge(this.stream, { filter: `$KV.${this.link.names.resultsBucket}.${key}`, seq: revision + 1 });
    if (hasParts && purged > 0) await this.parts.removeAll(key, `delete the result of task ${taskId}`);
    this.index.forget(taskId, revision);
    return purged > 0;
  }

  /** Deletes, oldest first, up to `limit` indexed results whose time in `heap` passes `due`. */
  private async purgeBy(operation: string, heap: NatsResultIndex['expiry'], due: (at: number) => boolean, limit = Number.POSITIVE_INFINITY): Promise<number> {
    return this.link.call(operation, async () => {
      await this.index.caughtUp(operation);
      let purged = 0;
      while (purged < limit) {
        const batch: IndexedResult[] = [];
        for (let next = heap.peek(); next && due(next.at) && batch.length < Math.min(IN_FLIGHT, limit - purged); next = heap.peek()) {
          const indexed = this.index.get(next.taskId)!;
          // Off the heaps now; purgeKey forgets it for good.
          this.index.forget(next.taskId);
          batch.push(indexed);
        }
        if (batch.length === 0) return purged;
        const done = await Promise.all(batch.map((indexed) => this.purgeKey(indexed.taskId, indexed.revision, indexed.hasParts)));
        purged += done.filter(Boolean).length;
      }
      return purged;
    });
  }
}
