import { randomUUID } from 'node:crypto';
import { link, readdir, readFile, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

export function isErrno(error: unknown, code: string): boolean {
  return (error as NodeJS.ErrnoException | undefined)?.code === code;
}

/**
 * A temp file beside `path`: the same directory keeps rename and link on one file system (so they
 * are atomic), and the leading dot keeps it out of every listing the stores read.
 */
export function tempPathFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.${randomUUID()}.tmp`);
}

/** How old a temp file must be before a sweep deletes it: a live writer renames or links its own within milliseconds. */
export const TEMP_STALE_MS = 10 * 60_000;
const TEMP_NAME = /^\..+\.tmp$/;

/**
 * Replaces `path` with `data` in one step: readers see the old or the new content, never a mix.
 * A failure names `path` (a full disk's ENOSPC comes from a write that names no file).
 */
export async function writeFileAtomic(path: string, data: string): Promise<void> {
  const temp = tempPathFor(path);
  try {
    await writeFile(temp, data);
    await rename(temp, path);
  } catch (error) {
    await removeAfterFailure(temp);
    throw namingPath(error, path);
  }
}

/**
 * Deletes the temp files in `dirs` older than TEMP_STALE_MS: left by writers killed between
 * writing one and renaming or linking it. Returns how many.
 */
export async function sweepStaleTemps(dirs: readonly string[]): Promise<number> {
  let swept = 0;
  for (const dir of dirs) {
    let names: string[];
    try {
      names = await readdir(dir);
    } catch (error) {
      if (isErrno(error, 'ENOENT')) continue;
      throw error;
    }
    for (const name of names) {
      if (TEMP_NAME.test(name) && (await isOlderThan(join(dir, name), TEMP_STALE_MS)) && (await unlinkQuietly(join(dir, name)))) swept += 1;
    }
  }
  return swept;
}

/**
 * Removes a temp file after a failed write. Its own failure (a read-only disk refuses the unlink
 * too) must not replace the write's error, the one that says what went wrong: the file is then
 * left for a sweep.
 */
export async function removeAfterFailure(temp: string): Promise<void> {
  try {
    await unlink(temp);
  } catch {
    // See above: the caller throws the write's error.
  }
}

/** The system error with the file it was about in its message, when it did not name one. */
function namingPath(error: unknown, path: string): unknown {
  const errno = error as NodeJS.ErrnoException;
  if (typeof errno?.code !== 'string' || typeof errno.message !== 'string' || errno.message.includes(path)) return error;
  errno.message = `${errno.message} (writing ${path})`;
  errno.path ??= path;
  return errno;
}

/**
 * Creates `path` with `data` only if it does not exist yet; false when it does. The content is
 * written to a temp file first and linked into place, so no reader sees a half-written file and
 * exactly one of several concurrent creators succeeds. `prepare` gets the staged temp file
 * before it is linked into place.
 */
export async function createFileAtomic(path: string, data: string, prepare?: (staged: string) => Promise<void>): Promise<boolean> {
  const staged = tempPathFor(path);
  let failure: unknown;
  try {
    await writeFile(staged, data);
    await prepare?.(staged);
    await link(staged, path);
    return true;
  } catch (error) {
    if (isErrno(error, 'EEXIST')) return false;
    failure = namingPath(error, path);
    throw failure;
  } finally {
    if (failure === undefined) await unlinkQuietly(staged);
    else await removeAfterFailure(staged);
  }
}

export async function readFileIfExists(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    if (isErrno(error, 'ENOENT')) return undefined;
    throw error;
  }
}

/** The names in folder `dir` but for dot-files (temp files among them); none when there is no folder. */
export async function listNames(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).filter((name) => !name.startsWith('.'));
  } catch (error) {
    if (isErrno(error, 'ENOENT')) return [];
    throw error;
  }
}

/** Deletes `path`; false when it was already gone. */
export async function unlinkQuietly(path: string): Promise<boolean> {
  try {
    await unlink(path);
    return true;
  } catch (error) {
    if (isErrno(error, 'ENOENT')) return false;
    throw error;
  }
}

export async function pathExists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (error) {
    if (isErrno(error, 'ENOENT')) return false;
    throw error;
  }
}

/** Whether `path` was last modified more than `ms` ago; false when it is gone. */
export async function isOlderThan(path: string, ms: number): Promise<boolean> {
  try {
    return Date.now() - (await stat(path)).mtimeMs > ms;
  } catch (error) {
    if (isErrno(error, 'ENOENT')) return false;
    throw error;
  }
}
