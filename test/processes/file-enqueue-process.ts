/**
 * Enqueues one batch on a file backend folder, for the crash tests that SIGKILL it part-way
 * (test/faults/file-crash.spec.ts). Compiled to dist-test/ before jest runs and started as
 * `node file-enqueue-process.js <folder> <project> <count>`; the batch is `batchTasks(count)`, so
 * the test knows its ids. Prints `enqueuing` right before the call and `enqueued` after it.
 */
import { fileBackend } from '../../lib/backends/file/file.backend.js';
import { batchTasks } from './file-batch.js';

const [dir, projectName, count] = process.argv.slice(2);
if (!dir || !projectName || !count) throw new Error('usage: file-enqueue-process <folder> <project> <count>');

const engine = await fileBackend.open(`file://${dir}`, { projectName, baseDir: dir, storageOptions: {} });
process.stdout.write('enqueuing\n');
await engine.tasks.enqueue(batchTasks(Number(count)));
process.stdout.write('enqueued\n');
await engine.close();
