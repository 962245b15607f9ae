import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Queue, QueueEvents } from 'bullmq';
import { REDIS_URL, withPrefix } from '../redis-prefixes.js';

const SAMPLES = 100;
const WORKER = fileURLToPath(new URL('./bullmq-redis-worker.js', import.meta.url));

/** BullMQ's idle enqueue → handler start, p50 and p99 in ms, the worker in another process. */
export async function bullmqCrossProcessStart(): Promise<{ p50: number; p99: number }> {
  return withPrefix('bullmq_latency', (prefix) => `${prefix}:*`, async (prefix) => {
    const worker = spawn(process.execPath, [WORKER, prefix], { stdio: ['ignore', 'pipe', 'inherit'] });
    const connection = { url: REDIS_URL, maxRetriesPerRequest: null };
    const queue = new Queue('probe', { connection, prefix });
    const events = new QueueEvents('probe', { connection, prefix });
    try {
      await new Promise<void>((resolve, reject) => {
        createInterface({ input: worker.stdout! }).on('line', (line) => line === 'ready' && resolve());
        worker.once('exit', (code) => reject(new Error(`BullMQ bench worker exited with ${code}`)));
      });
      await events.waitUntilReady();
      const samples: number[] = [];
      for (let i = 0; i < SAMPLES; i++) {
        const sent = process.hrtime.bigint();
        const job = await queue.add('probe', { i });
        const startedAt = (await job.waitUntilFinished(events)) as string;
        samples.push(Number(BigInt(startedAt) - sent) / 1e6);
      }
      samples.sort((a, b) => a - b);
      return { p50: samples[Math.floor(SAMPLES * 0.5)]!, p99: samples[Math.floor(SAMPLES * 0.99)]! };
    } finally {
      await events.close();
      await queue.close();
      worker.kill('SIGTERM');
      await once(worker, 'exit');
    }
  });
}
