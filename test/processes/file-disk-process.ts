/**
 * Enqueues on a file backend folder until the disk refuses, for the disk-fault tests
 * (test/faults/file-disk.spec.ts), which start it inside a mount namespace of its own on a tiny
 * tmpfs: `node file-disk-process.js <folder> full|readonly`. `full`: tasks with 16 KB payloads
 * until the tmpfs is full; `readonly`: one task, then the tmpfs is remounted read-only and one
 * more is enqueued. Prints the error that enqueue rejected with, as one JSON line.
 */
import { execFileSync } from 'node:child_process';
import { fileBackend } from '../../lib/backends/file/file.backend.js';
import { newTask } from '../../lib/testing/fixtures.js';

const [dir, mode] = process.argv.slice(2);
if (!dir || (mode !== 'full' && mode !== 'readonly')) throw new Error('usage: file-disk-process <folder> full|readonly');

const engine = await fileBackend.open(`file://${dir}`, { projectName: 'disk', baseDir: dir, storageOptions: {} });
const payload = { format: 'omniq-json/1', data: JSON.stringify('x'.repeat(16_384)) };
let failed: unknown;
try {
  if (mode === 'readonly') {
    await engine.tasks.enqueue([newTask({ payload })]);
    execFileSync('mount', ['-o', 'remount,ro', dir]);
  }
  for (let i = 0; i < 10_000; i++) await engine.tasks.enqueue([newTask({ id: `disk-task-${i}`, payload })]);
} catch (error) {
  failed = error;
}
const { name, message, code } = (failed ?? {}) as { name?: string; message?: string; code?: string };
process.stdout.write(`${JSON.stringify({ name, message, code })}\n`);
process.exit(0);
