import 'reflect-metadata';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Module, type INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { OmniQModule, OmniQService, OmniQWorker, type OmniQModuleOptions } from '../lib/index.js';
import { BenchTasks } from './bench.tasks.js';
import { crossProcessLatency } from './cross-process.js';

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
  url: (dir: string) => string;
  /** Whether several processes share its storage (the cross-process rows), and whether it notifies them. */
  crossProcess?: { notifies: boolean };
}

const BACKENDS: BackendUnderTest[] = [
  { name: 'memory', url: () => 'memory://' },
  { name: 'sqlite', url: (dir) => `sqlite://${join(dir, 'bench.db')}`, crossProcess: { notifies: true } },
  { name: 'file', url: (dir) => `file://${dir}`, crossProcess: { notifies: true } },
];

async function boot(backend: string, concurrency: number, enabled: boolean): Promise<INestApplicationContext> {
  const options: OmniQModuleOptions = { backend, worker: { enabled, concurrency, pollIntervalMs: 1_000 } };
  @Module({ imports: [OmniQModule.forRoot(options)], providers: [BenchTasks] })
  class BenchModule {}
  return NestFactory.createApplicationContext(BenchModule, { logger: ['error'] });
}

async function withApp<T>(url: string, concurrency: number, enabled: boolean, fn: (app: INestApplicationContext) => Promise<T>): Promise<T> {
  const app = await boot(url, concurrency, enabled);
  try {
    return await fn(app);
  } finally {
    await app.close();
  }
}

function perSecond(count: number, startNs: bigint): number {
  return Math.round(count / (Number(process.hrtime.bigint() - startNs) / 1e9));
}

async function enqueueOneByOne(app: INestApplicationContext): Promise<number> {
  const omniq = app.get(OmniQService);
  const start = process.hrtime.bigint();
  for (let i = 0; i < ONE_BY_ONE; i++) await omniq.enqueue('bench.noop', { i });
  return perSecond(ONE_BY_ONE, start);
}

async function enqueueBatched(app: INestApplicationContext, count: number): Promise<number> {
  const omniq = app.get(OmniQService);
  const start = process.hrtime.bigint();
  for (let i = 0; i < count; i += 1_000) {
    await omniq.enqueueMany(Array.from({ length: Math.min(1_000, count - i) }, (_, j) => ({ name: 'bench.noop', payload: { i: i + j } })));
  }
  return perSecond(count, start);
}

async function drain(url: string, concurrency: number): Promise<{ rate: number; rssMb: number }> {
  return withApp(url, concurrency, false, async (app) => {
    await enqueueBatched(app, DRAIN_TASKS);
    const tasks = app.get(BenchTasks);
    const worker = app.get(OmniQWorker);
    const allRan = tasks.expectRuns(DRAIN_TASKS);
    const start = process.hrtime.bigint();
    worker.start();
    await allRan;
    await worker.close();
    const rate = perSecond(DRAIN_TASKS, start);
    return { rate, rssMb: Math.round(process.memoryUsage().rss / 2 ** 20) };
  });
}

async function latency(url: string): Promise<{ p50: number; p99: number }> {
  return withApp(url, 10, true, async (app) => {
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

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

async function benchBackend(backend: BackendUnderTest): Promise<Record<string, string | number>> {
  const fresh = (): { url: string; dispose: () => void } => {
    const dir = mkdtempSync(join(tmpdir(), `omniq-bench-${backend.name}-`));
    return { url: backend.url(dir), dispose: () => rmSync(dir, { recursive: true, force: true }) };
  };
  const run = async <T>(fn: (url: string) => Promise<T>): Promise<T> => {
    const { url, dispose } = fresh();
    try {
      return await fn(url);
    } finally {
      dispose();
    }
  };
  const medianOf3 = async (fn: (url: string) => Promise<number>): Promise<number> => {
    const values: number[] = [];
    for (let i = 0; i < 3; i++) values.push(await run(fn));
    return median(values);
  };
  const oneByOne = await medianOf3((url) => withApp(url, 1, false, enqueueOneByOne));
  const batched = await medianOf3((url) => withApp(url, 1, false, (app) => enqueueBatched(app, BATCHED)));
  const row: Record<string, string | number> = { backend: backend.name, 'enqueue 1-by-1/s': oneByOne, 'enqueue batch/s': batched };
  let rss = 0;
  for (const concurrency of [1, 10, 100]) {
    const rates: number[] = [];
    const started = Date.now();
    // Median of 3, unless one drain takes so long (the file backend at low concurrency) that one run is all there is time for.
    while (rates.length < 3 && (rates.length === 0 || Date.now() - started < SLOW_DRAIN_MS)) {
      const result = await run((url) => drain(url, concurrency));
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
    const cross = await run((url) => crossProcessLatency(url, backend.crossProcess!.notifies));
    crossRows.push({
      backend: backend.name,
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
  const selected = wanted.length ? BACKENDS.filter((b) => wanted.includes(b.name)) : BACKENDS;
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
    console.log('Two processes on one store: enqueue → waitForResult, and cancel() → cancelled, the task run by the other process (100 samples each)');
    console.table(crossRows);
  }
  if (singleRuns.length > 0) console.log(`Drains too slow to repeat (fewer than 3 runs, median of those): ${singleRuns.join(', ')}`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
