import { Queue, Worker, createPostgresBackend } from 'bullmq';
import { batchSizes, finishLine, perSecond, type QueueRun } from '../bench-figures.js';
import { POSTGRES_URL, withSchema } from '../postgres-schemas.js';

/**
 * BullMQ 6 on its PostgreSQL backend, default job options (finished jobs and their return values
 * kept, as OmniQ keeps results). Handlers return at once; jobs are added with `addBulk`, in a
 * schema of its own (migrated by the queue), dropped afterwards.
 */
export async function bullmqPostgresRun(jobs: number, concurrency: number): Promise<QueueRun> {
  return withSchema('bullmq_bench', async (schema) => {
    const connection = { connectionString: POSTGRES_URL, schema, migrate: true };
    const queue = new Queue('bench', { connection }, createPostgresBackend);
    try {
      await queue.waitUntilReady();
      let start = process.hrtime.bigint();
      for (const size of batchSizes(jobs)) await queue.addBulk(Array.from({ length: size }, (_, i) => ({ name: 'noop', data: { i } })));
      const enqueuePerSecond = perSecond(jobs, start);
      const allRan = finishLine(jobs);
      start = process.hrtime.bigint();
      const worker = new Worker('bench', async () => allRan.hit(), { connection, concurrency }, createPostgresBackend);
      await allRan.done;
      await worker.close();
      return { enqueuePerSecond, drainPerSecond: perSecond(jobs, start) };
    } finally {
      await queue.close();
    }
  });
}
