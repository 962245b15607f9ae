import { randomUUID } from 'node:crypto';
import { appendFile, mkdir, open, rename, truncate, writeFile, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { LoggerService } from '@nestjs/common';
import { Subject, type Observable } from 'rxjs';
import type { TaskEvent } from '../../models/event.model.js';
import type { EventQuery, EventStore } from '../../storage/event.store.js';
import { SortedEventLog } from '../shared/sorted-event-log.js';
import { StoreLifecycle } from '../shared/store-lifecycle.js';
import { createFileAtomic, isErrno, tempPathFor, unlinkQuietly } from './atomic-write.js';
import { DirectoryMutex } from './directory-mutex.js';
import { asWriteError } from './file-store.errors.js';
import type { OutboxView } from '../kv/kv-outbox-view.js';
import { reviveDates } from '../kv/kv-task-codec.js';

const LOG_FORMAT = 'omniq.events/1';
/**
 * The lock is held for milliseconds (a purge rewrites the log before taking it, and a big batch is
 * appended in slices, the lock taken for each): a holder that died is detected at once on this
 * host (see DirectoryMutex), and only a holder on another host is waited out this long.
 */
const LOCK_STALE_MS = 5_000;
/** The most bytes one append writes under the lock: other processes' appends wait at most about that long. */
const APPEND_SLICE_BYTES = 1 << 20;
const NEWLINE = 0x0a;
/** The event store's default query limit (see EventQuery). */
const DEFAULT_QUERY_LIMIT = 1000;

const headerLine = (): string => `${JSON.stringify({ format: LOG_FORMAT, log: randomUUID() })}\n`;
const eventLines = (events: readonly TaskEvent[]): string => events.map((event) => `${JSON.stringify(event)}\n`).join('');

function parseEvent(line: string): TaskEvent {
  const event = JSON.parse(line) as Record<string, unknown>;
  if (typeof event.id !== 'string' || typeof event.type !== 'string') throw new Error('not an event');
  reviveDates(event, ['timestamp']);
  if (!(event.timestamp instanceof Date)) throw new Error('the event has no timestamp');
  return event as unknown as TaskEvent;
}

/** Lines grouped into appends of about APPEND_SLICE_BYTES (one line may exceed it alone). */
function slices(lines: readonly string[]): string[] {
  const grouped: string[] = [];
  let current: string[] = [];
  let bytes = 0;
  for (const line of lines) {
    if (bytes > 0 && bytes + line.length > APPEND_SLICE_BYTES) {
      grouped.push(current.join(''));
      current = [];
      bytes = 0;
    }
    current.push(line);
    bytes += line.length;
  }
  if (current.length > 0) grouped.push(current.join(''));
  return grouped;
}

/** A copy through JSON, as stored (structuredClone would make Dates of another realm under jest). */
const copyEvent = (event: TaskEvent): TaskEvent => parseEvent(JSON.stringify(event));

const matches = (event: TaskEvent, query: EventQuery): boolean =>
  (query.taskId === undefined || event.taskId === query.taskId) &&
  (query.scheduleId === undefined || event.scheduleId === query.scheduleId) &&
  (query.queue === undefined || event.queue === query.queue) &&
  (query.types === undefined || query.types.includes(event.type)) &&
  (query.since === undefined || event.timestamp.getTime() >= query.since.getTime()) &&
  (query.until === undefined || event.timestamp.getTime() < query.until.getTime());

interface OpenLog {
  handle: FileHandle;
  size: number;
  /** From the header line; undefined for a log without one. */
  id: string | undefined;
  headerBytes: number;
}

/** The log's identity from its first line: a purge writes a new log with a new id. */
async function readLogId(handle: FileHandle): Promise<{ id: string | undefined; bytes: number }> {
  const buffer = Buffer.alloc(256);
  const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
  const end = buffer.subarray(0, bytesRead).indexOf(NEWLINE);
  if (end < 0) return { id: undefined, bytes: 0 };
  try {
    const header = JSON.parse(buffer.toString('utf8', 0, end)) as { format?: unknown; log?: unknown };
    if (header.format === LOG_FORMAT && typeof header.log === 'string') return { id: header.log, bytes: end + 1 };
  } catch {
    // Not a header: a log written without one is read from its first byte.
  }
  return { id: undefined, bytes: 0 };
}

/**
 * Lifecycle events in one append-only JSONL file, `events.jsonl`, after a header line naming the
 * log. Appends from every process go through a DirectoryMutex (so a purge, which rewrites the
 * file atomically, never drops an event appended meanwhile). Each instance keeps the events it
 * has read, sorted by timestamp then log order, and reads only the bytes added since its last
 * query; a new header id means the log was rewritten, and it is read again from the start.
 *
 * An event id is kept once: the task queue's outbox may append an entry's events again when it
 * recovers a transition whose process died after the append (see Outbox), and a later line with
 * an id already read is passed over.
 *
 * `query` reads through the task outboxes (see OutboxView): the events of a task's end are there
 * from the write that ended the task, a moment before they are appended here.
 *
 * stream() carries the events appended through this instance.
 */
export class FileEventStore implements EventStore {
  private readonly appended = new Subject<TaskEvent>();
  private readonly mutex: DirectoryMutex;
  private readonly path: string;
  /** What this instance has read of the log; ties keep log order. */
  private readonly events = new SortedEventLog(copyEvent);
  /** The ids in `events`. */
  private readonly ids = new Set<string>();
  private logId: string | undefined;
  private offset = 0;
  private logCreated = false;
  private syncing: Promise<unknown> = Promise.resolve();
  private readonly lifecycle = new StoreLifecycle('FileEventStore');

  private constructor(
    root: string,
    private readonly outbox: OutboxView,
    private readonly logger: LoggerService,
  ) {
    this.path = join(root, 'events.jsonl');
    this.mutex = new DirectoryMutex(join(root, 'events.lock'), LOCK_STALE_MS);
  }

  /** Opens (creating if needed) the event log kept in `root`, the project's folder. */
  static async open(root: string, outbox: OutboxView, logger: LoggerService): Promise<FileEventStore> {
    await mkdir(root, { recursive: true });
    return new FileEventStore(root, outbox, logger);
  }

  /**
   * Appends in slices of about APPEND_SLICE_BYTES, each under the lock, so a huge batch never
   * holds it long. A slice that fails (a full disk) is cut off again; the slices before it stay,
   * and a retry of the batch appends them again harmlessly (readers keep an event id once).
   */
  async append(events: readonly TaskEvent[]): Promise<void> {
    this.lifecycle.assertOpen('append');
    if (events.length === 0) return;
    for (const slice of slices(events.map((event) => `${JSON.stringify(event)}\n`))) await this.appendLines(slice);
    for (const event of events) this.appended.next(copyEvent(event));
  }

  private async appendLines(lines: string): Promise<void> {
    await this.mutex.run(async (assertHeld) => {
      // Once created, the log is only ever replaced (by a purge, with a header), never removed.
      if (!this.logCreated) {
        await createFileAtomic(this.path, headerLine());
        this.logCreated = true;
      }
      assertHeld();
      const size = await this.endLine();
      try {
        await appendFile(this.path, lines);
      } catch (error) {
        // Lines written before the failure (a full disk) are cut off again: a torn line must not
        // swallow the next append's first event.
        await truncate(this.path, size).catch(() => undefined);
        throw asWriteError(error, this.path, 'appending events');
      }
    });
  }

  /**
   * Ends a torn last line (a process killed mid-append) with a newline, so the next event starts a
   * line of its own; readers skip the torn one as damaged. Returns the log's size after that.
   */
  private async endLine(): Promise<number> {
    const handle = await open(this.path, 'r+');
    try {
      const { size } = await handle.stat();
      if (size === 0) return 0;
      const last = Buffer.alloc(1);
      await handle.read(last, 0, 1, size - 1);
      if (last[0] === NEWLINE) return size;
      await handle.write('\n', size);
      return size + 1;
    } finally {
      await handle.close();
    }
  }

  async query(query: EventQuery = {}): Promise<TaskEvent[]> {
    this.lifecycle.assertOpen('query');
    const pending = await this.outbox.events();
    await this.sync();
    const logged = this.events.query(query);
    const unlogged = new Map<string, TaskEvent>();
    for (const event of pending) if (!this.ids.has(event.id) && matches(event, query)) unlogged.set(event.id, event);
    if (unlogged.size === 0) return logged;
    // Not yet appended, so after the logged events of their timestamp; the limit applies to both.
    const descending = query.order === 'desc';
    const merged = descending ? [...unlogged.values(), ...logged] : [...logged, ...unlogged.values()];
    merged.sort((a, b) => (descending ? b.timestamp.getTime() - a.timestamp.getTime() : a.timestamp.getTime() - b.timestamp.getTime()));
    return merged.slice(0, query.limit ?? DEFAULT_QUERY_LIMIT);
  }

  async purgeOlderThan(cutoff: Date): Promise<number> {
    this.lifecycle.assertOpen('purgeOlderThan');
    const cutoffMs = cutoff.getTime();
    // The bulk of the rewrite happens outside the lock, so appends never wait on it: only the
    // events appended meanwhile are read and added under the lock, right before the swap.
    await this.sync();
    const { logId, offset } = this;
    const purged = this.events.countBefore(cutoffMs);
    if (purged === 0) return 0;
    const staged = tempPathFor(this.path);
    let outcome: number | undefined;
    try {
      await writeFile(staged, headerLine() + eventLines(this.events.from(purged)));
      outcome = await this.mutex.run(async (assertHeld) => {
        const tail = await this.withLog(async (log) => (log.id === logId ? this.readTail(log.handle, offset, log.size) : undefined));
        if (tail === undefined) return undefined;
        const inTail = new Set<string>();
        const fresh = tail.events.filter((event) => !this.ids.has(event.id) && !inTail.has(event.id) && inTail.add(event.id));
        const kept = fresh.filter((event) => event.timestamp.getTime() >= cutoffMs);
        if (kept.length > 0) await appendFile(staged, eventLines(kept));
        assertHeld();
        await rename(staged, this.path);
        return purged + fresh.length - kept.length;
      });
    } finally {
      await unlinkQuietly(staged);
    }
    // Another purge replaced the log first: start again from what it left.
    return outcome ?? this.purgeOlderThan(cutoff);
  }

  stream(): Observable<TaskEvent> {
    return this.appended.asObservable();
  }

  async close(): Promise<void> {
    if (this.lifecycle.close()) this.appended.complete();
  }

  /** Reads what was appended since the last sync; one sync at a time. */
  private sync(): Promise<void> {
    const run = this.syncing.then(() => this.readNew());
    this.syncing = run.catch(() => undefined);
    return run;
  }

  private async readNew(): Promise<void> {
    const found = await this.withLog(async (log) => {
      if (log.id !== this.logId || log.size < this.offset) this.restart(log.id, log.headerBytes);
      const tail = await this.readTail(log.handle, this.offset, log.size);
      this.offset = tail.end;
      for (const event of tail.events) this.keep(event);
      return true;
    });
    if (!found) this.restart(undefined, 0);
  }

  /** Runs `fn` on the open log; undefined (without calling it) when there is no log yet. */
  private async withLog<R>(fn: (log: OpenLog) => Promise<R>): Promise<R | undefined> {
    let handle: FileHandle;
    try {
      handle = await open(this.path, 'r');
    } catch (error) {
      if (isErrno(error, 'ENOENT')) return undefined;
      throw error;
    }
    try {
      const { size } = await handle.stat();
      const { id, bytes } = await readLogId(handle);
      return await fn({ handle, size, id, headerBytes: bytes });
    } finally {
      await handle.close();
    }
  }

  /** The events after byte `from`, up to the last complete line (an append may be landing). */
  private async readTail(handle: FileHandle, from: number, size: number): Promise<{ events: TaskEvent[]; end: number }> {
    if (size <= from) return { events: [], end: from };
    const buffer = Buffer.alloc(size - from);
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, from);
    const last = buffer.subarray(0, bytesRead).lastIndexOf(NEWLINE);
    if (last < 0) return { events: [], end: from };
    const events: TaskEvent[] = [];
    for (const line of buffer.toString('utf8', 0, last).split('\n')) {
      if (line === '') continue;
      try {
        events.push(parseEvent(line));
      } catch (error) {
        this.logger.error(`Skipping a damaged line in ${this.path} (after byte ${from}): ${(error as Error).message}`);
      }
    }
    return { events, end: from + last + 1 };
  }

  private keep(event: TaskEvent): void {
    if (this.ids.has(event.id)) return;
    this.ids.add(event.id);
    this.events.insert(event);
  }

  private restart(logId: string | undefined, offset: number): void {
    this.events.clear();
    this.ids.clear();
    this.logId = logId;
    this.offset = offset;
  }
}
