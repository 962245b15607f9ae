import { OmniQError } from '../../errors/omniq.errors.js';
import { CorruptRecordError } from '../kv/kv-records.js';

/** A `file://` URL or project name the file backend cannot turn into a data folder. */
export class FileBackendConfigError extends OmniQError {
  override name = 'FileBackendConfigError';
}

/**
 * A data file that is not what the file backend writes (edited by hand, truncated by a disk
 * failure). Writes are atomic, so a crash never produces one. `foreign`: it is a record of
 * another format (a newer version of OmniQ may share the folder), to leave alone; otherwise it is
 * no record at all (not JSON, no envelope), which nothing can read or safely rewrite.
 */
export class CorruptFileError extends CorruptRecordError {
  override name = 'CorruptFileError';
  constructor(
    readonly path: string,
    reason: string,
    foreign = false,
  ) {
    super(path, 'file', `${path} is not a valid OmniQ data file (${reason}); move it aside or delete it`, foreign);
  }
}

/**
 * A write of the file backend failed (a full or read-only disk, permissions): names the file and
 * what it was written for, which the system error alone often does not. `code` is the system
 * error's (ENOSPC, EROFS, ...), so callers can still tell them apart.
 */
export class FileWriteError extends OmniQError {
  override name = 'FileWriteError';
  readonly code: string | undefined;
  constructor(
    readonly path: string,
    what: string,
    cause: unknown,
  ) {
    const code = (cause as NodeJS.ErrnoException | undefined)?.code;
    super(`Could not write ${path} (${what}): ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.code = code;
  }
}

/**
 * A system error from a write as a FileWriteError naming `path`, the file meant (the cause's own
 * message names the temp or marker file it touched, when it names one), and `what`; other errors
 * as they are.
 */
export function asWriteError(error: unknown, path: string, what: string): unknown {
  if (typeof (error as NodeJS.ErrnoException | undefined)?.code !== 'string' || error instanceof FileWriteError) return error;
  return new FileWriteError(path, what, error);
}
