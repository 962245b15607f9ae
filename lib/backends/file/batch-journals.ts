import { mkdir, rename, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import type { LoggerService } from '@nestjs/common';
import { newUuid } from '../../utils/uuid.js';
import { JOURNAL_STALE_MS, type BatchJournals, type Journal, type JournalEntry } from '../kv/kv-journals.js';
import { NEW_TASK_DATES, reviveDates } from '../kv/kv-task-codec.js';
import { isErrno, isOlderThan, listNames, readFileIfExists, unlinkQuietly, writeFileAtomic } from './atomic-write.js';
import { asWriteError } from './file-store.errors.js';
import { isDeadWriter, thisWriter, type Writer } from './process-liveness.js';

const JOURNAL_FORMAT = 'omniq.batch/1';

/** A journal file as this process knows it. */
interface FileJournal extends Journal {
  path: string;
  writer: Writer;
  /** When this process last wrote or renewed it (epoch ms). */
  touchedAt: number;
}

/**
 * Batch journals, `batches/<id>.json` (see BatchJournals): what makes one chunk of an enqueue
 * all-or-nothing across a crash. The writer stores the chunk's tasks in the journal first, in
 * one atomic write: that is the commit point. It then stores the task files (keys, links,
 * markers) and deletes the journal last. A crash before the journal landed leaves nothing (a temp file, swept later); a crash after
 * it leaves a journal that recovery rolls forward, storing every task not stored yet (tasks carry
 * their `seq`, so a task stored from the journal is told from another task that took its id).
 * A writer that must give a chunk up marks its journal aborted before deleting what it stored, so
 * recovery finishes that rollback instead.
 */
export class BatchJournalFiles implements BatchJournals {
  private constructor(
    private readonly dir: string,
    private readonly logger: LoggerService,
  ) {}

  static async open(root: string, logger: LoggerService): Promise<BatchJournalFiles> {
    const dir = join(root, 'batches');
    await mkdir(dir, { recursive: true });
    return new BatchJournalFiles(dir, logger);
  }

  async begin(entries: JournalEntry[]): Promise<FileJournal> {
    const id = newUuid();
    const journal: FileJournal = { id, path: join(this.dir, `${id}.json`), writer: thisWriter(), entries, aborted: false, touchedAt: Date.now() };
    try {
      await writeFileAtomic(journal.path, serialize(journal));
    } catch (error) {
      throw asWriteError(error, journal.path, `the journal of a batch of ${entries.length} tasks, from task ${entries[0]?.task.id}`);
    }
    return journal;
  }

  /** Renews the journal's age while its writer is at it, so no recoverer on another host takes it over. */
  async keepFresh(journal: FileJournal): Promise<void> {
    if (Date.now() - journal.touchedAt < JOURNAL_STALE_MS / 4) return;
    const now = new Date();
    await utimes(journal.path, now, now);
    journal.touchedAt = now.getTime();
  }

  async abort(journal: FileJournal): Promise<void> {
    journal.aborted = true;
    await writeFileAtomic(journal.path, serialize(journal));
  }

  async end(journal: FileJournal): Promise<void> {
    await unlinkQuietly(journal.path);
  }

  /** The journals whose writers died (on this host) or stopped renewing them (anywhere). */
  async abandoned(): Promise<FileJournal[]> {
    const journals: FileJournal[] = [];
    for (const name of await listNames(this.dir)) {
      if (!name.endsWith('.json')) continue;
      const path = join(this.dir, name);
      const text = await readFileIfExists(path);
      if (text === undefined) continue;
      let journal: FileJournal;
      try {
        journal = parse(path, text);
      } catch (error) {
        // Journals are written atomically, so this one was damaged on disk: set aside, reported once.
        const aside = `${path}.unreadable`;
        if (!(await renameQuietly(path, aside))) continue; // another recoverer moved it first
        this.logger.error(`The batch journal ${path} cannot be read (${(error as Error).message}); its batch may be incomplete. Moved it to ${aside}`);
        continue;
      }
      if (isDeadWriter(journal.writer) || (await isOlderThan(path, JOURNAL_STALE_MS))) journals.push(journal);
    }
    return journals;
  }
}

function parse(path: string, text: string): FileJournal {
  const parsed = JSON.parse(text) as { format?: unknown; id?: unknown; writer?: Writer; entries?: JournalEntry[]; aborted?: unknown };
  if (parsed.format !== JOURNAL_FORMAT || typeof parsed.id !== 'string' || !Array.isArray(parsed.entries) || typeof parsed.writer !== 'object') {
    throw new Error(`not a "${JOURNAL_FORMAT}" record`);
  }
  for (const entry of parsed.entries) reviveDates(entry.task as unknown as Record<string, unknown>, NEW_TASK_DATES);
  return { id: parsed.id, path, writer: parsed.writer, entries: parsed.entries, aborted: parsed.aborted === true, touchedAt: Date.now() };
}

async function renameQuietly(from: string, to: string): Promise<boolean> {
  try {
    await rename(from, to);
    return true;
  } catch (error) {
    if (isErrno(error, 'ENOENT')) return false;
    throw error;
  }
}

const serialize = (journal: FileJournal): string =>
  JSON.stringify({ format: JOURNAL_FORMAT, id: journal.id, writer: journal.writer, aborted: journal.aborted, entries: journal.entries });
