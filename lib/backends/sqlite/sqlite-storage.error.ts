import { OmniQError } from '../../errors/omniq.errors.js';

/** What a store call was doing when SQLite failed: the operation, and the tasks it was about (anything with an id). */
export interface SqliteCall {
  readonly operation: string;
  readonly tasks?: readonly { readonly id: string }[];
}

/** How many task ids an error message names before it says how many more there were. */
const NAMED_IDS = 3;

/** What SQLite's error code means for the user, by its primary code. */
const ADVICE: Readonly<Record<string, string>> = {
  SQLITE_FULL: 'the disk (or the database size limit, PRAGMA max_page_count) is full; free space, then retry',
  SQLITE_READONLY: 'the database cannot be written; check the permissions of the file, its -wal and -shm files and its folder, and whether the disk is mounted read-only',
  SQLITE_IOERR: 'reading or writing the file failed; check the disk',
  SQLITE_CORRUPT: 'the file is damaged; restore it from a backup',
  SQLITE_BUSY: 'another connection held the write lock all that time; look for a long transaction in another process',
};

function subject({ operation, tasks }: SqliteCall): string {
  if (tasks === undefined || tasks.length === 0) return operation;
  const named = tasks.slice(0, NAMED_IDS).map((task) => task.id);
  const more = tasks.length > NAMED_IDS ? ` and ${tasks.length - NAMED_IDS} more` : '';
  return `${operation} of task${tasks.length > 1 ? 's' : ''} ${named.join(', ')}${more}`;
}

/**
 * A SQLite failure, told with the database file, the store call and its tasks, where SQLite's own
 * error (`cause`) names none of them: a full disk, a read-only file, a lock held too long. Nothing
 * of the failed call was written.
 */
export class SqliteStorageError extends OmniQError {
  override name = 'SqliteStorageError';
  readonly operation: string;
  readonly taskIds: readonly string[];

  constructor(
    readonly path: string,
    call: SqliteCall,
    /** SQLite's extended result code, e.g. `SQLITE_FULL`, `SQLITE_READONLY_DBMOVED`. */
    readonly code: string,
    reason: string,
    cause: unknown,
  ) {
    const advice = ADVICE[code.split('_', 2).join('_')];
    super(`SQLite database "${path}": ${subject(call)} failed (${code}: ${reason})${advice ? `: ${advice}` : ''}`, { cause });
    this.operation = call.operation;
    this.taskIds = (call.tasks ?? []).map((task) => task.id);
  }
}

/** SQLite's result code of an error thrown by better-sqlite3 (read by shape: instanceof fails across realms), or undefined. */
export function sqliteCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.startsWith('SQLITE_') ? code : undefined;
}
