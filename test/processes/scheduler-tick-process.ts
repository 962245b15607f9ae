/**
 * An app that dies in the middle of a schedule's tick, for the scheduler crash test. Compiled to
 * dist-test/ before jest runs and started as
 * `node scheduler-tick-process.js <backend-url> <everyMs> <leaseMs> <leaderTtlMs>`. It creates the
 * schedule `crash.ticker` (overlap: false) firing `crash.tick` every `everyMs`, and leads
 * maintenance with a leader lease of `leaderTtlMs`. The tick's handler prints `tick <taskId>` and
 * never finishes: the parent SIGKILLs the process while it runs.
 */
import 'reflect-metadata';
import { Injectable, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { OmniQModule, OmniQService, Task, type TaskContext } from '../../lib/index.js';

const [backend, everyMs, leaseMs, leaderTtlMs] = process.argv.slice(2);
if (!backend || !everyMs || !leaseMs || !leaderTtlMs) throw new Error('usage: scheduler-tick-process <backend-url> <everyMs> <leaseMs> <leaderTtlMs>');

@Injectable()
class HangingTick {
  @Task('crash.tick')
  tick(_: unknown, ctx: TaskContext): Promise<never> {
    process.stdout.write(`tick ${ctx.taskId}\n`);
    return new Promise<never>(() => undefined);
  }
}

@Module({
  imports: [
    OmniQModule.forRoot({
      backend,
      worker: { leaseMs: Number(leaseMs), pollIntervalMs: 50 },
      scheduler: { pollIntervalMs: 100 },
      maintenance: { intervalMs: 100, leaderTtlMs: Number(leaderTtlMs) },
    }),
  ],
  providers: [HangingTick],
})
class SchedulerTickModule {}

const app = await NestFactory.createApplicationContext(SchedulerTickModule, { logger: ['error', 'warn'] });
await app.get(OmniQService).createSchedule('crash.ticker', { task: 'crash.tick', every: Number(everyMs), overlap: false });
process.stdout.write('ready\n');
