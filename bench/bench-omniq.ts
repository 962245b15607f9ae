import { Module, type INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { OmniQModule, OmniQService, OmniQWorker, type OmniQModuleOptions } from '../lib/index.js';
import { BenchTasks } from './bench.tasks.js';
import { batchSizes, perSecond, type QueueRun } from './bench-figures.js';

/** Where a bench app keeps everything: a backend URL, and the `storageOptions` it takes (a PostgreSQL schema). */
export interface BenchStore {
  backend: string;
  storageOptions?: Record<string, unknown>;
}

export async function withApp<T>(store: BenchStore, concurrency: number, enabled: boolean, fn: (app: INestApplicationContext) => Promise<T>): Promise<T> {
  const options: OmniQModuleOptions = { ...store, worker: { enabled, concurrency, pollIntervalMs: 1_000 } };
  @Module({ imports: [OmniQModule.forRoot(options)], providers: [BenchTasks] })
  class BenchModule {}
  const app = await NestFactory.createApplicationContext(BenchModule, { logger: ['error'] });
  try {
    return await fn(app);
  } finally {
    await app.close();
  }
}

export async function enqueueBatched(app: INestApplicationContext, count: number): Promise<number> {
  const omniq = app.get(OmniQService);
  const start = process.hrtime.bigint();
  for (const size of batchSizes(count)) {
    await omniq.enqueueMany(Array.from({ length: size }, (_, i) => ({ name: 'bench.noop', payload: { i } })));
  }
  return perSecond(count, start);
}

/** Enqueues `count` no-op tasks in an app booted with its worker off, then drains them with its worker. */
export async function drainApp(app: INestApplicationContext, count: number): Promise<QueueRun> {
  const enqueuePerSecond = await enqueueBatched(app, count);
  const worker = app.get(OmniQWorker);
  const allRan = app.get(BenchTasks).expectRuns(count);
  const start = process.hrtime.bigint();
  worker.start();
  await allRan;
  await worker.close();
  return { enqueuePerSecond, drainPerSecond: perSecond(count, start) };
}
