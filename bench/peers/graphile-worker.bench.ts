import { Logger, makeWorkerUtils, run } from 'graphile-worker';
import { batchSizes, finishLine, perSecond, type QueueRun } from '../bench-figures.js';
import { POSTGRES_URL, withSchema } from '../postgres-schemas.js';

/** Only errors: graphile-worker logs every start and stop at info level. */
const logger = new Logger(() => (level, message) => {
  if (level === 'error') console.error(`graphile-worker: ${message}`);
});

/**
 * graphile-worker in the configuration its performance page measures with: a local queue of 500
 * jobs locked per fetch, completions and failures written in batches (delay 0), a pool of 25.
 * Handlers return at once; jobs are added with `addJobs`, in its own schema, dropped afterwards.
 */
export async function graphileWorkerRun(jobs: number, concurrency: number): Promise<QueueRun> {
  return withSchema('gw_bench', async (schema) => {
    const utils = await makeWorkerUtils({ connectionString: POSTGRES_URL, schema, logger });
    let enqueuePerSecond: number;
    try {
      await utils.migrate();
      const start = process.hrtime.bigint();
      for (const size of batchSizes(jobs)) await utils.addJobs(Array.from({ length: size }, (_, i) => ({ identifier: 'noop', payload: { i } })));
      enqueuePerSecond = perSecond(jobs, start);
    } finally {
      await utils.release();
    }
    const allRan = finishLine(jobs);
    const start = process.hrtime.bigint();
    const runner = await run({
      noHandleSignals: true,
      taskList: { noop: async () => allRan.hit() },
      preset: {
        worker: {
          connectionString: POSTGRES_URL,
          schema,
          logger,
          concurrentJobs: concurrency,
          maxPoolSize: 25,
          localQueue: { size: 500 },
          completeJobBatchDelay: 0,
          failJobBatchDelay: 0,
        },
      },
    });
    await allRan.done;
    await runner.stop();
    return { enqueuePerSecond, drainPerSecond: perSecond(jobs, start) };
  });
}
