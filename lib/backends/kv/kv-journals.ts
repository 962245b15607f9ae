import type { NewTask } from '../../models/task.model.js';

/** One task of a batch, with the enqueue order it gets. */
export interface JournalEntry {
  task: NewTask;
  seq: number;
}

/** A batch journal as its writer (or a recoverer) holds it; implementations may keep more in it. */
export interface Journal {
  readonly id: string;
  readonly entries: JournalEntry[];
  /** Set (by `abort`) when the writer gave the batch up: recovery deletes what it stored. */
  aborted: boolean;
}

/**
 * Batch journals: what makes one chunk of an enqueue all-or-nothing across a crash (see
 * TaskInserter). The writer stores the chunk's tasks in a journal first, in one atomic write (the
 * commit point), then stores the tasks, then ends the journal. A journal's writer is presumed
 * dead once it stopped renewing it for a while (JOURNAL_STALE_MS) or, where the storage can tell,
 * its process is gone; recovery then rolls it forward, or back when it was aborted.
 */
export interface BatchJournals {
  /**
   * Writes a new journal of `entries`, durably and atomically: once this resolves, the batch is
   * committed. A failed write rejects with an error naming the journal and the batch.
   */
  begin(entries: JournalEntry[]): Promise<Journal>;
  /** Renews the journal's age while its writer (or recoverer) works on it; cheap when renewed recently. */
  keepFresh(journal: Journal): Promise<void>;
  /** Durably marks the journal aborted (and sets `aborted`). */
  abort(journal: Journal): Promise<void>;
  /** Deletes the journal; a journal already gone is no error. */
  end(journal: Journal): Promise<void>;
  /**
   * The journals whose writers are presumed dead, each read during the call. An unreadable one
   * is set aside and logged by the implementation, never returned.
   */
  abandoned(): Promise<Journal[]>;
}

/** A journal untouched this long belongs to a writer presumed dead; its writer renews it every quarter of this. */
export const JOURNAL_STALE_MS = 30_000;
