import 'reflect-metadata';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { INestApplicationContext } from '@nestjs/common';
import { OmniQService } from '../lib/index.js';
import { BenchTasks } from './bench.tasks.js';
import { median, perSecond } from './bench-figures.js';
import { drainApp, enqueueBatched, withApp, type BenchStore } from './bench-omniq.js';
import { crossProcessLatency } from './cross-process.js';
import { POSTGRES_URL, withSchema } from './postgres-schemas.js';
import { printPostgresReferences } from './postgres-references.js';
import { onFreshRedis, printRedisReferences } from './redis-references.js';
import { onFreshNats } from './nats-prefixes.js';
import { benchExecutors } from './executors.js';

/**
 * `npm run bench [-- backend ...]`: throughput and latency per backend, printed as a table.
 * Throughput figures are medians of 3 runs (a drain that takes over 15 s is not repeated); the
 * machine is shared and noisy.
 */
const DRAIN_TASKS = Number(process.env.BENCH_DRAIN_TASKS ?? 10_000);
const ONE_BY_ONE = Number(process.env.BENCH_ONE_BY_ONE ?? 2_000);
const BATCHED = 10_000;
const LATENCY_SAMPLES = 200;
const SLOW_DRAIN_MS = 15_000;
/** Drain figures that are a single run (or two) rather than a median of 3. */
const singleRuns: string[] = [];
/** Rows of the two-process table. */
const crossRows: Record<string, string>[] = [];

interface BackendUnderTest {
  name: string;
  /** Runs `fn` on a fresh, empty store, removed afterwards. */
  fresh: <T>(fn: (store: BenchStore) => Promise<T>) => Promise<T>;
  /** Whether several processes share its storage (the cross-process rows), and whether it notifies them. */
  crossProcess?: { notifies: boolean };
  /** Needs a server (OMNIQ_BENCH_POSTGRES_URL, OMNIQ_BENCH_REDIS_URL, OMNIQ_BENCH_NATS_URL), so it runs only when named. */
  onlyWhenNamed?: boolean;
}

/** A store in a temporary folder of its own. */
function inFolder(name: string, url: (dir: string) => string): BackendUnderTest['fresh'] {
  return async (fn) => {
    const dir = mkdtempSync(join(tmpdir(), `omniq-bench-${name}-`));
    try {
      return await fn({ backend: url(dir) });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
}

const BACKENDS: BackendUnderTest[] = [
  { name: 'memory', fresh: inFolder('memory', () => 'memory://') },
  { name: 'sqlite', fresh: inFolder('sqlite', (dir) => `sqlite://${join(dir, 'bench.db')}`), crossProcess: { notifies: true } },
  { name: 'file', fresh: inFolder('file', (dir) => `file://${dir}`), crossProcess: { notifies: true } },
  {
    name: 'postgres',
    fresh: (fn) => withSchema('omniq_bench', (schema) => fn({ backend: POSTGRES_URL, storageOptions: { schema } })),
    crossProcess: { notifies: true },
    onlyWhenNamed: true,
  },
  { name: 'redis', fresh: onFreshRedis, crossProcess: { notifies: true }, onlyWhenNamed: true },
  { name: 'nats', fresh: onFreshNats, crossProcess: { notifies: true }, onlyWhenNamed: true },
];

async function enqueueOneByOne(app: INestApplicationContext): Promise<number> {
  const omniq = app.get(OmniQService);
  const start = process.hrtime.bigint();
  for (let i = 0; i < ONE_BY_ONE; i++) await omniq.enqueue('bench.noop', { i });
  return perSecond(ONE_BY_ONE, start);
}

async function drain(store: BenchStore, concurrency: number): Promise<{ rate: number; rssMb: number }> {
  return withApp(store, concurrency, false, async (app) => {
    const { drainPerSecond } = await drainApp(app, DRAIN_TASKS);
    return { rate: drainPerSecond, rssMb: Math.round(process.memoryUsage().rss / 2 ** 20) };
  });
}

async function latency(store: BenchStore): Promise<{ p50: number; p99: number }> {
  return withApp(store, 10, true, async (app) => {
    const omniq = app.get(OmniQService);
    const tasks = app.get(BenchTasks);
    const samples: number[] = [];
    for (let i = 0; i < LATENCY_SAMPLES; i++) {
      const started = tasks.nextProbeStart();
      const sent = process.hrtime.bigint();
      const id = await omniq.enqueue('bench.probe', {});
      samples.push(Number((await started) - sent) / 1e6);
      await omniq.waitForResult(id);
    }
    samples.sort((a, b) => a - b);
    return { p50: samples[Math.floor(samples.length * 0.5)]!, p99: samples[Math.floor(samples.length * 0.99)]! };
  });
}

async function benchBackend(backend: BackendUnderTest): Promise<Record<string, string | number>> {
  const run = backend.fresh;
  const medianOf3 = async (fn: (store: BenchStore) => Promise<number>): Promise<number> => {
    const values: number[] = [];
    for (let i = 0; i < 3; i++) values.push(await run(fn));
    return median(values);
  };
  const oneByOne = await medianOf3((store) => withApp(store, 1, false, enqueueOneByOne));
  const batched = await medianOf3((store) => withApp(store, 1, false, (app) => enqueueBatched(app, BATCHED)));
  const row: Record<string, string | number> = { backend: backend.name, 'enqueue 1-by-1/s': oneByOne, 'enqueue batch/s': batched };
  let rss = 0;
  for (const concurrency of [1, 10, 100]) {
    const rates: number[] = [];
    const started = Date.now();
    // Median of 3, unless one drain takes so long (the file backend at low concurrency) that one run is all there is time for.
    while (rates.length < 3 && (rates.length === 0 || Date.now() - started < SLOW_DRAIN_MS)) {
      const result = await run((store) => drain(store, concurrency));
      rates.push(result.rate);
      rss = Math.max(rss, result.rssMb);
    }
    row[`drain c=${concurrency}/s`] = median(rates);
    if (rates.length < 3) singleRuns.push(`${backend.name} c=${concurrency}`);
  }
  const { p50, p99 } = await run(latency);
  row['latency p50 ms'] = p50.toFixed(2);
  row['latency p99 ms'] = p99.toFixed(2);
  row['RSS MB'] = rss;
  if (backend.crossProcess) {
    const cross = await run((store) => crossProcessLatency(store, backend.crossProcess!.notifies));
    crossRows.push({
      backend: backend.name,
      'start p50 ms': cross.startP50.toFixed(2),
      'start p99 ms': cross.startP99.toFixed(2),
      'waitForResult p50 ms': cross.resultP50.toFixed(2),
      'waitForResult p99 ms': cross.resultP99.toFixed(2),
      'cancel p50 ms': cross.cancelP50.toFixed(2),
      'cancel p99 ms': cross.cancelP99.toFixed(2),
    });
  }
  return row;
}

async function main(): Promise<void> {
  const wanted = process.argv.slice(2);
  const selected = BACKENDS.filter((b) => (wanted.length ? wanted.includes(b.name) : !b.onlyWhenNamed));
  if (wanted.length === 0 || wanted.includes('executors')) await benchExecutors();
  if (selected.length === 0) return;
  const rows = [];
  for (const backend of selected) {
    process.stderr.write(`benchmarking ${backend.name}…\n`);
    rows.push(await benchBackend(backend));
  }
  console.log(
    `Node ${process.version}; drain of ${DRAIN_TASKS} no-op tasks with results and events stored (median of 3); enqueue 1-by-1 over ${ONE_BY_ONE} (median of 3), batches of 1,000 over ${BATCHED} (median of 3)`,
  );
  console.table(rows);
  if (crossRows.length > 0) {
    console.log(
      'Two processes on one store, the tasks run by the other process (100 samples each): idle enqueue → handler start, enqueue → waitForResult, and cancel() → cancelled',
    );
    console.table(crossRows);
  }
  if (singleRuns.length > 0) console.log(`Drains too slow to repeat (fewer than 3 runs, median of those): ${singleRuns.join(', ')}`);
  if (selected.some((b) => b.name === 'postgres')) await printPostgresReferences();
  if (selected.some((b) => b.name === 'redis')) await printRedisReferences();
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
