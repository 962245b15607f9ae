import { Queue, Worker } from 'bullmq';
import { batchSizes, finishLine, perSecond, type QueueRun } from '../bench-figures.js';
import { REDIS_URL, withPrefix } from '../redis-prefixes.js';

const connection = (): { url: string; maxRetriesPerRequest: null } => ({ url: REDIS_URL, maxRetriesPerRequest: null });

/**
 * BullMQ 6 on Redis with its default job options: finished jobs and their return values kept (as
 * OmniQ keeps results) and its events stream on (as OmniQ keeps events). Handlers return at once;
 * jobs are added with `addBulk` under a key prefix of their own, deleted afterwards.
 */
export async function bullmqRedisRun(jobs: number, concurrency: number): Promise<QueueRun> {
  return withPrefix('bullmq_bench', (prefix) => `${prefix}:*`, async (prefix) => {
    const queue = new Queue('bench', { connection: connection(), prefix });
    try {
      await queue.waitUntilReady();
      let start = process.hrtime.bigint();
      for (const size of batchSizes(jobs)) await queue.addBulk(Array.from({ length: size }, (_, i) => ({ name: 'noop', data: { i } })));
      const enqueuePerSecond = perSecond(jobs, start);
      const allRan = finishLine(jobs);
      start = process.hrtime.bigint();
      const worker = new Worker('bench', async () => allRan.hit(), { connection: connection(), prefix, concurrency });
      await allRan.done;
      await worker.close();
      return { enqueuePerSecond, drainPerSecond: perSecond(jobs, start) };
    } finally {
      await queue.close();
    }
  });
}
