import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { median, type QueueRun } from './bench-figures.js';
import { drainApp, enqueueBatched, withApp, type BenchStore } from './bench-omniq.js';
import { crossProcessLatency } from './cross-process.js';
import { bullmqCrossProcessStart } from './peers/bullmq-redis-latency.js';
import { bullmqRedisRun } from './peers/bullmq-redis.bench.js';
import { REDIS_URL, omniqKeys, withPrefix } from './redis-prefixes.js';

const JOBS = 10_000;
const RUNS = 3;
const QUEUED_FOR_RSS = 100_000;
const RSS_WORKER = fileURLToPath(new URL('./rss-worker.js', import.meta.url));

/** Runs `fn` on a fresh OmniQ store on the bench's Redis (a key prefix of its own, deleted after). */
export const onFreshRedis = <T>(fn: (store: BenchStore) => Promise<T>): Promise<T> =>
  withPrefix('omniq_bench', omniqKeys, (prefix) => fn({ backend: REDIS_URL, storageOptions: { prefix } }));

const omniqRun = (concurrency: number): Promise<QueueRun> => onFreshRedis((store) => withApp(store, concurrency, false, (app) => drainApp(app, JOBS)));

/** Alternates OmniQ and BullMQ runs so the machine's drift hits both alike; medians of RUNS each. */
async function drains(concurrency: number): Promise<{ omniq: QueueRun; bullmq: QueueRun }> {
  const omniq: QueueRun[] = [];
  const bullmq: QueueRun[] = [];
  for (let i = 0; i < RUNS; i++) {
    omniq.push(await omniqRun(concurrency));
    bullmq.push(await bullmqRedisRun(JOBS, concurrency));
  }
  const of = (runs: QueueRun[]): QueueRun => ({
    enqueuePerSecond: median(runs.map((run) => run.enqueuePerSecond)),
    drainPerSecond: median(runs.map((run) => run.drainPerSecond)),
  });
  return { omniq: of(omniq), bullmq: of(bullmq) };
}

/** The peak RSS of a worker process draining QUEUED_FOR_RSS tasks queued before it started. */
function workerRssMb(): Promise<number> {
  return onFreshRedis(async (store) => {
    await withApp(store, 1, false, (app) => enqueueBatched(app, QUEUED_FOR_RSS));
    const { stdout } = await promisify(execFile)(process.execPath, [RSS_WORKER, JSON.stringify(store), String(QUEUED_FOR_RSS)], { maxBuffer: 1 << 20 });
    return Number(stdout.trim());
  });
}

/**
 * The reference rows of `npm run bench -- redis`: OmniQ against BullMQ 6 on the same server, both
 * keeping results and events, at concurrency 10 and 100; idle enqueue → start with the worker in
 * another process; and the RSS of a worker draining 100,000 queued tasks.
 */
export async function printRedisReferences(): Promise<void> {
  process.stderr.write('benchmarking redis against BullMQ…\n');
  const rows = [];
  for (const concurrency of [10, 100]) {
    const { omniq, bullmq } = await drains(concurrency);
    rows.push({
      concurrency,
      'OmniQ enqueue batch/s': omniq.enqueuePerSecond,
      'BullMQ enqueue batch/s': bullmq.enqueuePerSecond,
      'enqueue ×': (omniq.enqueuePerSecond / bullmq.enqueuePerSecond).toFixed(2),
      'OmniQ drain/s': omniq.drainPerSecond,
      'BullMQ drain/s': bullmq.drainPerSecond,
      'drain ×': (omniq.drainPerSecond / bullmq.drainPerSecond).toFixed(2),
    });
  }
  console.log(`Redis, OmniQ against BullMQ on the same server: ${JOBS} no-op jobs, results and events kept by both, enqueue in batches of 1,000 (median of ${RUNS}, runs alternating)`);
  console.table(rows);
  const omniqStart = await onFreshRedis((store) => crossProcessLatency(store, true));
  const bullmqStart = await bullmqCrossProcessStart();
  const rss = await workerRssMb();
  console.log('Idle enqueue → handler start, the worker in another process (100 samples), and the peak RSS of a worker process draining 100,000 queued tasks');
  console.table([
    { queue: 'OmniQ', 'start p50 ms': omniqStart.startP50.toFixed(2), 'start p99 ms': omniqStart.startP99.toFixed(2), 'worker RSS MB (100,000 queued)': rss },
    { queue: 'BullMQ', 'start p50 ms': bullmqStart.p50.toFixed(2), 'start p99 ms': bullmqStart.p99.toFixed(2), 'worker RSS MB (100,000 queued)': '' },
  ]);
}
