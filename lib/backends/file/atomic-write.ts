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

/** Replaces `path` with `data` in one step: readers see the old or the new content, never a mix. */
export async function writeFileAtomic(path: string, data: string): Promise<void> {
  const temp = tempPathFor(path);
  try {
    await writeFile(temp, data);
    await rename(temp, path);
  } catch (error) {
    await unlinkQuietly(temp);
    throw error;
  }
}

/**
 * Creates `path` with `data` only if it does not exist yet; false when it does. The content is
 * written to a temp file first and linked into place, so no reader sees a half-written file and
 * exactly one of several concurrent creators succeeds. `prepare` gets the staged temp file
 * before it is linked into place.
 */
export async function createFileAtomic(path: string, data: string, prepare?: (staged: string) => Promise<void>): Promise<boolean> {
  const staged = tempPathFor(path);
  try {
    await writeFile(staged, data);
    await prepare?.(staged);
    await link(staged, path);
    return true;
  } catch (error) {
    if (isErrno(error, 'EEXIST')) return false;
    throw error;
  } finally {
    await unlinkQuietly(staged);
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
