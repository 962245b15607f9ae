import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const SCRIPT = fileURLToPath(new URL('../../dist-test/test/processes/file-disk-process.js', import.meta.url));

/** A real full or read-only disk needs a mount: a tmpfs in a mount namespace of the child's own (root, or user namespaces). */
const canMount = spawnSync('unshare', ['-m', 'sh', '-c', 'mount -t tmpfs -o size=64k tmpfs /mnt'], { stdio: 'ignore' }).status === 0;

/** Runs file-disk-process on a tmpfs of `size` mounted for it alone; what its enqueue rejected with. */
function enqueueOnTinyDisk(dir: string, mode: 'full' | 'readonly', size: string): { name?: string; message?: string; code?: string } {
  const script = `mount -t tmpfs -o size=${size} tmpfs "$1" && exec "$2" "$3" "$1" "$4"`;
  const run = spawnSync('unshare', ['-m', 'sh', '-c', script, 'sh', dir, process.execPath, SCRIPT, mode], { encoding: 'utf8', timeout: 60_000 });
  if (run.status !== 0) throw new Error(`file-disk-process failed (${run.status}): ${run.stderr}`);
  return JSON.parse(run.stdout.trim().split('\n').at(-1)!) as { name?: string; message?: string; code?: string };
}

/*
 * Disk faults on the file backend (issue 11, item 9): a full disk failed with a bare ENOSPC that
 * named no file and no task, and on a read-only disk the temp-file cleanup's own error replaced
 * the write's. Each now rejects with a FileWriteError naming the file, the task and the cause.
 */
(canMount ? describe : describe.skip)('file backend on a disk that refuses writes', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'omniq-file-disk-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('a full disk rejects the enqueue with ENOSPC, naming the task and its file', () => {
    const error = enqueueOnTinyDisk(dir, 'full', '512k');
    expect(error).toMatchObject({ name: 'FileWriteError', code: 'ENOSPC' });
    expect(error.message).toMatch(/no space left on device/);
    expect(error.message).toMatch(/\(task disk-task-\d+\)/);
    expect(error.message).toContain(join(dir, 'disk', 'tasks'));
  });

  it('a read-only disk rejects the enqueue with the write’s EROFS, not the cleanup’s', () => {
    const error = enqueueOnTinyDisk(dir, 'readonly', '512k');
    expect(error).toMatchObject({ name: 'FileWriteError', code: 'EROFS' });
    expect(error.message).toMatch(/read-only file system/);
    expect(error.message).not.toMatch(/unlink/);
    expect(error.message).toContain('(task disk-task-0)');
    expect(error.message).toContain(join(dir, 'disk'));
  });
});
