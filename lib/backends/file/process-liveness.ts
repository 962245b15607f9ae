import { createHash } from 'node:crypto';
import { hostname } from 'node:os';

/**
 * Who wrote a file that must not outlive its writer (a lock, a batch journal): this process's id
 * and a tag of its host, so another process on the same host can tell at once that the writer
 * died, instead of waiting for the file to get old. Processes on other hosts sharing the folder
 * (a network share) cannot check, and fall back on the file's age.
 */
export const HOST_TAG = createHash('sha256').update(hostname()).digest('hex').slice(0, 12);

export interface Writer {
  pid: number;
  host: string;
}

export const thisWriter = (): Writer => ({ pid: process.pid, host: HOST_TAG });

/** True only when `writer` is a process of this host that no longer runs. */
export function isDeadWriter(writer: Writer): boolean {
  if (writer.host !== HOST_TAG || !Number.isSafeInteger(writer.pid) || writer.pid <= 0) return false;
  if (writer.pid === process.pid) return false;
  try {
    process.kill(writer.pid, 0);
    return false;
  } catch (error) {
    // EPERM: it runs, as another user.
    return (error as NodeJS.ErrnoException).code === 'ESRCH';
  }
}
