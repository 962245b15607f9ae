import { createRequire } from 'node:module';
import { median, type QueueRun } from './bench-figures.js';
import { drainApp, withApp } from './bench-omniq.js';
import { bullmqPostgresRun } from './peers/bullmq-postgres.bench.js';
import { graphileWorkerRun } from './peers/graphile-worker.bench.js';
import { FINISHED_ROWS, finishedRowsDrains } from './postgres-finished-rows.js';
import { POSTGRES_URL, withSchema } from './postgres-schemas.js';

const JOBS = 10_000;
const CONCURRENCY = 100;
const RUNS = 3;
const version = (name: string): string => (createRequire(import.meta.url)(`${name}/package.json`) as { version: string }).version;

interface Contender {
  name: string;
  run: () => Promise<QueueRun>;
}

const OMNIQ: Contender = {
  name: 'OmniQ (results and events kept)',
  run: () =>
    withSchema('omniq_bench', (schema) => withApp({ backend: POSTGRES_URL, storageOptions: { schema } }, CONCURRENCY, false, (app) => drainApp(app, JOBS))),
};
const PEERS: Contender[] = [
  { name: `graphile-worker ${version('graphile-worker')} (local queue 500, batched completion)`, run: () => graphileWorkerRun(JOBS, CONCURRENCY) },
  { name: `BullMQ ${version('bullmq')} (PostgreSQL backend)`, run: () => bullmqPostgresRun(JOBS, CONCURRENCY) },
];

/**
 * The reference rows of `npm run bench -- postgres`: OmniQ against graphile-worker and BullMQ's
 * PostgreSQL backend on the same server and workload, runs alternating between them so the
 * machine's drift hits all alike; then OmniQ's drain beside a million finished rows.
 */
export async function printPostgresReferences(): Promise<void> {
  process.stderr.write('benchmarking postgres peers…\n');
  const contenders = [OMNIQ, ...PEERS];
  const runs = contenders.map((): QueueRun[] => []);
  for (let i = 0; i < RUNS; i++) {
    for (const [c, contender] of contenders.entries()) runs[c]!.push(await contender.run());
  }
  const figures = contenders.map((contender, c) => ({
    name: contender.name,
    enqueue: median(runs[c]!.map((run) => run.enqueuePerSecond)),
    drain: median(runs[c]!.map((run) => run.drainPerSecond)),
  }));
  const omniq = figures[0]!;
  console.log(
    `PostgreSQL peers, same server, ${JOBS} no-op jobs at concurrency ${CONCURRENCY} (median of ${RUNS}): enqueue in batches of 1,000; drain from the worker's start until every job ran and the worker stopped`,
  );
  console.table(
    figures.map(({ name, enqueue, drain }) => ({
      queue: name,
      'enqueue batch/s': enqueue,
      [`drain c=${CONCURRENCY}/s`]: drain,
      'OmniQ enqueue ×': (omniq.enqueue / enqueue).toFixed(2),
      'OmniQ drain ×': (omniq.drain / drain).toFixed(2),
    })),
  );
  process.stderr.write('benchmarking postgres with a million finished rows…\n');
  const { empty, full, lossPercent } = await finishedRowsDrains(JOBS, CONCURRENCY, RUNS);
  console.log(`OmniQ drain of ${JOBS} at concurrency ${CONCURRENCY} beside ${FINISHED_ROWS.toLocaleString('en')} finished tasks in the table (median of ${RUNS})`);
  console.table([{ 'empty table/s': empty, [`${FINISHED_ROWS.toLocaleString('en')} finished/s`]: full, 'loss %': lossPercent }]);
}
