/**
 * A worker app for the long-writer fault test (test/faults/long-writer.spec.ts), started as
 * `node long-writer-worker.js <backend-url> <executions-log> <concurrency> <leaseMs> <heartbeatMs> <workMs>`.
 * Its handler `proc.work` appends `<taskId> <pid> <attempt>` to the executions log and works for
 * `workMs`. It prints `ready` once serving, then `stall <ms>` whenever its event loop was held up
 * for longer than STALL_MS: what a process frozen by a synchronous lock wait would show, and what
 * stops its heartbeats. It takes no part in the maintenance election (the test's process leads).
 */
import 'reflect-metadata';
import { appendFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { Injectable, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { OmniQModule, Task, type TaskContext } from '../../lib/index.js';

const [backend, executionsLog, concurrency, leaseMs, heartbeatMs, workMs] = process.argv.slice(2);
if (!backend || !executionsLog) {
  throw new Error('usage: long-writer-worker <backend-url> <executions-log> <concurrency> <leaseMs> <heartbeatMs> <workMs>');
}

/** How often the event loop is checked, and how late a check may run before it counts as a stall. */
const TICK_MS = 50;
const STALL_MS = 250;

@Injectable()
class LongWriterTasks {
  @Task('proc.work', { maxRetries: 0 })
  async work(_: unknown, ctx: TaskContext): Promise<void> {
    appendFileSync(executionsLog!, `${ctx.taskId} ${process.pid} ${ctx.attempt}\n`);
    await sleep(Number(workMs), undefined, { signal: ctx.signal });
  }
}

@Module({
  imports: [
    OmniQModule.forRoot({
      backend,
      worker: { concurrency: Number(concurrency), leaseMs: Number(leaseMs), heartbeatMs: Number(heartbeatMs), pollIntervalMs: 50 },
      scheduler: { enabled: false },
      maintenance: { enabled: false },
    }),
  ],
  providers: [LongWriterTasks],
})
class LongWriterWorkerModule {}

const app = await NestFactory.createApplicationContext(LongWriterWorkerModule, { logger: ['error', 'warn'] });
app.enableShutdownHooks();
let last = Date.now();
setInterval(() => {
  const now = Date.now();
  if (now - last > TICK_MS + STALL_MS) process.stdout.write(`stall ${now - last - TICK_MS}\n`);
  last = now;
}, TICK_MS);
process.stdout.write('ready\n');
