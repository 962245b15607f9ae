/**
 * A worker app in its own process, for the crash and multi-process tests. Compiled to
 * dist-test/ before jest runs (see package.json) and started as
 * `node worker-process.js <backend-url> <executions-log> <concurrency> <leaseMs> <workMs>`.
 * Each handler run appends `<taskId> <pid> <attempt>` to the executions log, then works for
 * `workMs`; the process prints `ready`, then `started <taskId>` lines so the parent knows what runs
 * where, and `stopped` once a graceful shutdown (SIGTERM through Nest's shutdown hooks) completed.
 * With WORKER_PROCESS_SCHEDULE (JSON schedule options) set, it also creates the schedule
 * `proc.ticker` firing the no-op task `proc.tick`, as every instance of an app would at startup.
 * WORKER_PROCESS_OPTIONS (JSON) adds module options (`worker`, `maintenance`, … merged over the
 * defaults below). WORKER_PROCESS_CRASH=before-settle|after-settle makes the process SIGKILL
 * itself the first time it settles a failed attempt, just before or just after the store call:
 * the points between a task's end and its cascade and callback. The task `proc.poison` SIGKILLs
 * the process that runs it.
 */
import 'reflect-metadata';
import { appendFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { Injectable, Module, type OnApplicationShutdown } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { NonRetryableError, OMNIQ_TASK_QUEUE, OmniQModule, OmniQService, Task, type TaskContext, type TaskQueueStore } from '../../lib/index.js';

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

  @Task('proc.fail', { maxRetries: 0 })
  fail(_: unknown, ctx: TaskContext): never {
    appendFileSync(executionsLog!, `${ctx.taskId} ${process.pid} ${ctx.attempt}\n`);
    process.stdout.write(`started ${ctx.taskId}\n`);
    throw new NonRetryableError('failed on purpose');
  }

  /** A poison task: its handler kills the process that runs it, every time. */
  @Task('proc.poison')
  poison(_: unknown, ctx: TaskContext): void {
    appendFileSync(executionsLog!, `${ctx.taskId} ${process.pid} ${ctx.attempt}\n`);
    process.stdout.write(`started ${ctx.taskId}\n`);
    process.kill(process.pid, 'SIGKILL');
  }

  @Task('proc.work', { maxRetries: 0 })
  async work(payload: { n: number }, ctx: TaskContext): Promise<{ n: number; pid: number }> {
    appendFileSync(executionsLog!, `${ctx.taskId} ${process.pid} ${ctx.attempt}\n`);
    process.stdout.write(`started ${ctx.taskId}\n`);
    if (Number(workMs) > 0) await sleep(Number(workMs), undefined, { signal: ctx.signal });
    return { n: payload.n, pid: process.pid };
  }
}

const extra = JSON.parse(process.env.WORKER_PROCESS_OPTIONS ?? '{}') as { worker?: object; maintenance?: object; resultPollIntervalMs?: number };

@Module({
  imports: [
    OmniQModule.forRoot({
      backend,
      allowUnregisteredTasks: true,
      resultPollIntervalMs: extra.resultPollIntervalMs,
      worker: { concurrency: Number(concurrency ?? 10), leaseMs: Number(leaseMs ?? 30_000), pollIntervalMs: 50, shutdownTimeoutMs: 5_000, ...extra.worker },
      scheduler: { pollIntervalMs: 200 },
      maintenance: { intervalMs: 50, leaderTtlMs: 1_000, ...extra.maintenance },
    }),
  ],
  providers: [ProcessTasks],
})
class WorkerProcessModule {}

const app = await NestFactory.createApplicationContext(WorkerProcessModule, { logger: ['error', 'warn', 'log'] });
const crash = process.env.WORKER_PROCESS_CRASH;
if (crash) crashAroundFailedSettle(app.get<TaskQueueStore>(OMNIQ_TASK_QUEUE), crash);
app.enableShutdownHooks();
const schedule = process.env.WORKER_PROCESS_SCHEDULE;
if (schedule) await app.get(OmniQService).createSchedule('proc.ticker', { task: 'proc.tick', ...(JSON.parse(schedule) as object) });
process.stdout.write('ready\n');

/** Kills this process at once around the store call that settles a failed attempt. */
function crashAroundFailedSettle(queue: TaskQueueStore, when: string): void {
  const settle = queue.settle.bind(queue);
  queue.settle = async (settlements, scope) => {
    const failing = settlements.some((s) => s.outcome === 'failed');
    if (failing && when === 'before-settle') process.kill(process.pid, 'SIGKILL');
    const reports = await settle(settlements, scope);
    if (failing && when === 'after-settle') process.kill(process.pid, 'SIGKILL');
    return reports;
  };
}
