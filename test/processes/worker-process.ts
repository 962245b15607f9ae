/**
 * A worker app in its own process, for the crash and multi-process tests. Compiled to
 * dist-test/ before jest runs (see package.json) and started as
 * `node worker-process.js <backend-url> <executions-log> <concurrency> <leaseMs> <workMs>`.
 * Each handler run appends `<taskId> <pid> <attempt>` to the executions log, then works for
 * `workMs`; the process prints `ready`, then `started <taskId>` lines so the parent knows what runs
 * where, and `stopped` once a graceful shutdown (SIGTERM through Nest's shutdown hooks) completed.
 * With WORKER_PROCESS_SCHEDULE (JSON schedule options) set, it also creates the schedule
 * `proc.ticker` firing the no-op task `proc.tick`, as every instance of an app would at startup.
 */
import 'reflect-metadata';
import { appendFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { Injectable, Module, type OnApplicationShutdown } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { OmniQModule, OmniQService, Task, type TaskContext } from '../../lib/index.js';

const [backend, executionsLog, concurrency, leaseMs, workMs] = process.argv.slice(2);
if (!backend || !executionsLog) throw new Error('usage: worker-process <backend-url> <executions-log> <concurrency> <leaseMs> <workMs>');

@Injectable()
class ProcessTasks implements OnApplicationShutdown {
  /** Runs after OmniQ drained its worker: tells the parent the shutdown was graceful. */
  onApplicationShutdown(): void {
    process.stdout.write('stopped\n');
  }

  @Task('proc.tick')
  tick(): void {}

  @Task('proc.work', { maxRetries: 0 })
  async work(payload: { n: number }, ctx: TaskContext): Promise<{ n: number; pid: number }> {
    appendFileSync(executionsLog!, `${ctx.taskId} ${process.pid} ${ctx.attempt}\n`);
    process.stdout.write(`started ${ctx.taskId}\n`);
    if (Number(workMs) > 0) await sleep(Number(workMs), undefined, { signal: ctx.signal });
    return { n: payload.n, pid: process.pid };
  }
}

@Module({
  imports: [
    OmniQModule.forRoot({
      backend,
      worker: { concurrency: Number(concurrency ?? 10), leaseMs: Number(leaseMs ?? 30_000), pollIntervalMs: 50, shutdownTimeoutMs: 5_000 },
      scheduler: { pollIntervalMs: 200 },
    }),
  ],
  providers: [ProcessTasks],
})
class WorkerProcessModule {}

const app = await NestFactory.createApplicationContext(WorkerProcessModule, { logger: ['error', 'warn'] });
app.enableShutdownHooks();
const schedule = process.env.WORKER_PROCESS_SCHEDULE;
if (schedule) await app.get(OmniQService).createSchedule('proc.ticker', { task: 'proc.tick', ...(JSON.parse(schedule) as object) });
process.stdout.write('ready\n');
