import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Module, type INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { OmniQModule, OmniQService } from '../lib/index.js';
import type { BenchStore } from './bench-omniq.js';

const SAMPLES = 100;
const WORKER = fileURLToPath(new URL('./bench-worker.js', import.meta.url));

export interface CrossProcessLatency {
  /** enqueue → the handler starts in the other process, idle (hrtime is one monotonic clock for all processes of the machine). */
  startP50: number;
  startP99: number;
  /** enqueue → waitForResult resolved, the task run by the other process. */
  resultP50: number;
  resultP99: number;
  /** cancel() → waitForResult resolved `cancelled`, the handler running in the other process. */
  cancelP50: number;
  cancelP99: number;
}

/**
 * Two processes on one store: this one enqueues and waits (or cancels), a worker process runs the
 * tasks. Both poll every 60 s, so the figures measure the store's cross-process notifications, or
 * — on a store without them — `resultPollIntervalMs` and `worker.pollIntervalMs` (500 ms and 1 s
 * by default: the figures then say so).
 */
export async function crossProcessLatency(store: BenchStore, notifies: boolean): Promise<CrossProcessLatency> {
  const worker = spawn(process.execPath, [WORKER, JSON.stringify(store)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines = createInterface({ input: worker.stdout! });
  await new Promise<void>((resolve, reject) => {
    lines.on('line', (line) => line === 'ready' && resolve());
    worker.once('exit', (code) => reject(new Error(`bench worker exited with ${code}`)));
  });
  const pollMs = notifies ? 60_000 : undefined;
  @Module({ imports: [OmniQModule.forRoot({ ...store, allowUnregisteredTasks: true, worker: { enabled: false }, scheduler: { enabled: false }, resultPollIntervalMs: pollMs })] })
  class ProducerModule {}
  const app: INestApplicationContext = await NestFactory.createApplicationContext(ProducerModule, { logger: ['error'] });
  try {
    const omniq = app.get(OmniQService);
    const starts: number[] = [];
    const results: number[] = [];
    const cancels: number[] = [];
    for (let i = 0; i < SAMPLES; i++) {
      const sent = process.hrtime.bigint();
      const { value: startedAt } = await omniq.waitForResult(await omniq.enqueue('bench.probe', null));
      starts.push(Number(BigInt(String(startedAt)) - sent) / 1e6);
    }
    for (let i = 0; i < SAMPLES; i++) {
      const sent = process.hrtime.bigint();
      await omniq.waitForResult(await omniq.enqueue('bench.echo', i));
      results.push(Number(process.hrtime.bigint() - sent) / 1e6);
    }
    for (let i = 0; i < SAMPLES; i++) {
      const id = await omniq.enqueue('bench.hold', null);
      await waitUntilRunning(omniq, id);
      const sent = process.hrtime.bigint();
      await omniq.cancel(id);
      await omniq.waitForResult(id);
      cancels.push(Number(process.hrtime.bigint() - sent) / 1e6);
    }
    return {
      startP50: percentile(starts, 0.5),
      startP99: percentile(starts, 0.99),
      resultP50: percentile(results, 0.5),
      resultP99: percentile(results, 0.99),
      cancelP50: percentile(cancels, 0.5),
      cancelP99: percentile(cancels, 0.99),
    };
  } finally {
    await app.close();
    worker.kill('SIGTERM');
    await once(worker, 'exit');
  }
}

/** The held task is running in the worker once its `started` event is stored. */
async function waitUntilRunning(omniq: OmniQService, id: string): Promise<void> {
  while ((await omniq.getTask(id))?.status !== 'running') await new Promise((resolve) => setTimeout(resolve, 1));
}

function percentile(samples: number[], q: number): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * q))]!;
}
