import { randomUUID } from 'node:crypto';
import { mkdir, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { isErrno, unlinkQuietly } from './atomic-write.js';
import { isDeadWriter, thisWriter } from './process-liveness.js';

/** How long a call waits for the lock, in staleness periods, before it gives up with an error. */
const WAIT_PERIODS = 4;

/**
 * A lock shared by the processes using one folder, that a crashed holder cannot leave stuck.
 *
 * To acquire, a process creates a file with a name of its own in `dir`, then lists `dir`: it
 * holds the lock if its file is the only fresh one there. Of two contenders, the one that lists
 * second sees the other's file and backs off (both may back off; random delays break the tie).
 * The name carries the holder's pid and host (`<uuid>.<pid>.<host>`), so a file left by a killed
 * process on this host is deleted at once; one from another host counts as stale once older than
 * `staleMs`. Either is deleted by name; names are never reused, so that deletion cannot hit a
 * newer holder's file. A call that cannot get the lock within WAIT_PERIODS × `staleMs` rejects.
 */
export class DirectoryMutex {
  /** Calls of this process wait their turn here instead of contending on the disk. */
  private tail: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly dir: string,
    private readonly staleMs: number,
  ) {}

  /**
   * Runs `fn` while holding the lock. `fn` gets `assertHeld`, to call right before its last
   * irreversible step: it throws once the lock is old enough that others may think it stale.
   */
  run<T>(fn: (assertHeld: () => void) => Promise<T>): Promise<T> {
    const result = this.tail.then(() => this.runExclusive(fn));
    this.tail = result.catch(() => undefined);
    return result;
  }

  private async runExclusive<T>(fn: (assertHeld: () => void) => Promise<T>): Promise<T> {
    await mkdir(this.dir, { recursive: true });
    const { pid, host } = thisWriter();
    const name = `${randomUUID()}.${pid}.${host}`;
    const path = join(this.dir, name);
    const deadline = Date.now() + WAIT_PERIODS * this.staleMs;
    for (let attempt = 0; ; attempt++) {
      await writeFile(path, '', { flag: 'wx' });
      if (await this.aloneAs(name)) break;
      await unlinkQuietly(path);
      if (Date.now() > deadline) throw new Error(`could not take the lock in ${this.dir} within ${WAIT_PERIODS * this.staleMs} ms: other processes keep holding it`);
      await sleep(Math.random() * Math.min(2 ** attempt, 50));
    }
    const acquiredAt = Date.now();
    const assertHeld = (): void => {
      if (Date.now() - acquiredAt >= this.staleMs / 2) {
        throw new Error(`held the lock in ${this.dir} too long; giving up so as not to race a process that broke it`);
      }
    };
    try {
      return await fn(assertHeld);
    } finally {
      await unlinkQuietly(path);
    }
  }

  private async aloneAs(name: string): Promise<boolean> {
    for (const other of await readdir(this.dir)) {
      if (other === name || other.startsWith('.')) continue;
      if (!holderDied(other)) {
        let mtimeMs: number;
        try {
          mtimeMs = (await stat(join(this.dir, other))).mtimeMs;
        } catch (error) {
          if (isErrno(error, 'ENOENT')) continue;
          throw error;
        }
        if (Date.now() - mtimeMs <= this.staleMs) return false;
      }
      await unlinkQuietly(join(this.dir, other));
    }
    return true;
  }
}

/** Whether a lock file's name says its holder was a process of this host that is gone (older names say nothing). */
function holderDied(name: string): boolean {
  const [, pid, host] = name.split('.');
  return host !== undefined && isDeadWriter({ pid: Number(pid), host });
}
