import { fileURLToPath } from 'node:url';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Module, type INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { OmniQModule, OmniQService, type WorkerType } from '../lib/index.js';
import { Piscina } from 'piscina';
import { PoolBenchModule } from './bench-pool.tasks.js';
import { createLogger } from '../lib/config/omniq-logger.js';
import { TaskPool } from '../lib/worker/pool/task-pool.js';
import type { PoolKind } from '../lib/worker/pool/member-link.js';
import { median, perSecond } from './bench-figures.js';

const POOL_MODULE = `${fileURLToPath(new URL('./bench-pool.tasks.js', import.meta.url))}#PoolBenchModule`;
const TYPES: WorkerType[] = ['async', 'thread', 'process'];
const CPU_TASKS = 60;
const CPU_MS = 20;
const NOOP_TASKS = 2_000;
const LAG_TASKS = 4;
const LAG_MS = 200;
const RUNS = 3;
const ROUND_TRIPS = 5_000;
const MEMBER_SCRIPT = fileURLToPath(new URL('../lib/worker/pool/pool-member.js', import.meta.url));
const PISCINA_WORKER = fileURLToPath(new URL('./peers/piscina-noop.worker.js', import.meta.url));

async function withPoolApp<T>(type: WorkerType, slots: number, fn: (omniq: OmniQService) => Promise<T>): Promise<T> {
  @Module({
    imports: [
      OmniQModule.forRoot({ backend: 'memory://', worker: { type, concurrency: slots, threads: slots, processes: slots, poolModule: POOL_MODULE } }),
      PoolBenchModule,
    ],
  })
  class ExecutorBenchModule {}
  const app: INestApplicationContext = await NestFactory.createApplicationContext(ExecutorBenchModule, { logger: ['error'] });
  try {
    return await fn(app.get(OmniQService));
  } finally {
    await app.close();
  }
}

/** Resolves once `count` tasks completed. */
function completions(omniq: OmniQService, count: number): Promise<void> {
  let ended = 0;
  return new Promise((resolve) => {
    const subscription = omniq.events$.subscribe((event) => {
      if (event.type === 'completed' && ++ended === count) {
        subscription.unsubscribe();
        resolve();
      }
    });
  });
}

/**
 * Tasks per second over `count` tasks stored while their queue was paused and drained from its
 * resume; a warm-up of one task per slot first starts every pool member (their bootstrap is not timed).
 */
async function drain(omniq: OmniQService, slots: number, name: string, payload: unknown, count: number): Promise<number> {
  await Promise.all(Array.from({ length: slots }, async () => omniq.waitForResult(await omniq.enqueue(name, payload), { timeoutMs: 60_000 })));
  await omniq.pauseQueue('default');
  await omniq.enqueueMany(Array.from({ length: count }, () => ({ name, payload })));
  const allEnded = completions(omniq, count);
  const start = process.hrtime.bigint();
  await omniq.resumeQueue('default');
  await allEnded;
  return perSecond(count, start);
}

/** The event loop's delay while `LAG_TASKS` CPU-bound tasks of `LAG_MS` run on two slots: p99 and max, in ms. */
async function loopLag(omniq: OmniQService): Promise<{ p99: number; max: number }> {
  await Promise.all([1, 2].map(async () => omniq.waitForResult(await omniq.enqueue('cpu.noop', {}), { timeoutMs: 60_000 })));
  const histogram = monitorEventLoopDelay({ resolution: 5 });
  histogram.enable();
  // The histogram records from its second sample on, and samples the last delay a turn after it.
  const timersTurn = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 10));
  await timersTurn();
  const allEnded = completions(omniq, LAG_TASKS);
  await omniq.enqueueMany(Array.from({ length: LAG_TASKS }, () => ({ name: 'cpu.work', payload: { ms: LAG_MS } })));
  await allEnded;
  await timersTurn();
  histogram.disable();
  return { p99: histogram.percentile(99) / 1e6, max: histogram.max / 1e6 };
}

/** µs per no-op job handed to OmniQ's pool alone (one member, one job at a time), without a worker or store around it. */
async function poolRoundTrip(kind: PoolKind): Promise<number> {
  const [file, exportName] = POOL_MODULE.split('#');
  const pool = new TaskPool({
    kind,
    size: 1,
    script: MEMBER_SCRIPT,
    settings: { moduleFile: file!, exportName, logLevels: ['error'], reportHeap: false },
    logger: createLogger('OmniQPool', { level: 'error', components: {}, disabled: false }),
  });
  const job = () => ({
    task: 'cpu.noop',
    payload: { format: 'omniq-json/1', data: '{}' },
    ctx: { taskId: 'bench', name: 'cpu.noop', queue: 'default', attempt: 1, maxRetries: 0 },
    onStop: () => undefined,
    started: () => undefined,
    call: async () => undefined,
    log: () => undefined,
  });
  try {
    await pool.run(job());
    const start = process.hrtime.bigint();
    for (let i = 0; i < ROUND_TRIPS; i++) await pool.run(job());
    return Number(process.hrtime.bigint() - start) / 1e3 / ROUND_TRIPS;
  } finally {
    await pool.close();
  }
}

/** The same for Piscina, a peer thread pool, with a worker that returns its input. */
async function piscinaRoundTrip(): Promise<number> {
  const pool = new Piscina({ filename: PISCINA_WORKER, minThreads: 1, maxThreads: 1, atomics: 'disabled' });
  try {
    await pool.run({});
    const start = process.hrtime.bigint();
    for (let i = 0; i < ROUND_TRIPS; i++) await pool.run({ task: 'cpu.noop', payload: { format: 'omniq-json/1', data: '{}' } });
    return Number(process.hrtime.bigint() - start) / 1e3 / ROUND_TRIPS;
  } finally {
    await pool.destroy();
  }
}

async function medianOf(fn: () => Promise<number>): Promise<number> {
  const values: number[] = [];
  for (let i = 0; i < RUNS; i++) values.push(await fn());
  return median(values);
}

/** `npm run bench -- executors`: CPU-bound throughput, no-op overhead and event loop lag on each worker type. */
export async function benchExecutors(): Promise<void> {
  const rows: Record<string, string | number>[] = [];
  const serialNoop: Partial<Record<WorkerType, number>> = {};
  for (const type of TYPES) {
    process.stderr.write(`benchmarking the ${type} worker…\n`);
    const cpu = await medianOf(() => withPoolApp(type, 2, (omniq) => drain(omniq, 2, 'cpu.work', { ms: CPU_MS }, CPU_TASKS)));
    const noop1 = await medianOf(() => withPoolApp(type, 1, (omniq) => drain(omniq, 1, 'cpu.noop', {}, NOOP_TASKS)));
    const noop2 = await medianOf(() => withPoolApp(type, 2, (omniq) => drain(omniq, 2, 'cpu.noop', {}, NOOP_TASKS)));
    const lag = await withPoolApp(type, 2, loopLag);
    serialNoop[type] = noop1;
    rows.push({
      worker: type,
      [`${CPU_MS} ms CPU tasks/s (2 slots)`]: cpu,
      'no-op tasks/s (1 slot)': noop1,
      'no-op tasks/s (2 slots)': noop2,
      'µs per no-op beyond async (1 slot)': type === 'async' ? '—' : Math.round(1e6 / noop1 - 1e6 / serialNoop.async!),
      [`loop lag p99 ms (${LAG_TASKS}×${LAG_MS} ms tasks)`]: lag.p99.toFixed(1),
      'loop lag max ms': lag.max.toFixed(1),
    });
  }
  console.log(
    `Worker types on the memory backend, results and events stored (median of ${RUNS}): ${CPU_TASKS} tasks of ${CPU_MS} ms busy CPU, ` +
      `${NOOP_TASKS} no-op tasks, and the event loop's delay while ${LAG_TASKS} tasks of ${LAG_MS} ms run on 2 slots`,
  );
  console.table(rows);
  const omniqThread = await medianOf(() => poolRoundTrip('thread'));
  const omniqProcess = await medianOf(() => poolRoundTrip('process'));
  const piscina = await medianOf(piscinaRoundTrip);
  console.log(
    `Pools alone, one member, one job at a time, ${ROUND_TRIPS} no-op jobs (median of ${RUNS}): OmniQ thread ${omniqThread.toFixed(1)} µs, ` +
      `OmniQ process ${omniqProcess.toFixed(1)} µs, Piscina ${piscina.toFixed(1)} µs per job (OmniQ thread ×${(piscina / omniqThread).toFixed(2)} Piscina's speed)`,
  );
  const async = rows[0]![`${CPU_MS} ms CPU tasks/s (2 slots)`] as number;
  for (const row of rows.slice(1)) console.log(`${row.worker}: CPU-bound throughput ×${((row[`${CPU_MS} ms CPU tasks/s (2 slots)`] as number) / async).toFixed(2)} async's`);
}
