/**
 * Takes the event log's append lock of a file backend folder and holds it until killed, for the
 * test of a lock left by a killed process (test/faults/file-crash.spec.ts). Compiled to dist-test/
 * before jest runs and started as `node file-lock-holder.js <project-folder>`; prints `locked`
 * once it holds the lock.
 */
import { join } from 'node:path';
import { DirectoryMutex } from '../../lib/backends/file/directory-mutex.js';

const [root] = process.argv.slice(2);
if (!root) throw new Error('usage: file-lock-holder <project-folder>');

await new DirectoryMutex(join(root, 'events.lock'), 5_000).run(async () => {
  process.stdout.write('locked\n');
  await new Promise<never>(() => setInterval(() => undefined, 60_000));
});
