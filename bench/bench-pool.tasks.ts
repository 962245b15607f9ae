import { Injectable, Module } from '@nestjs/common';
import { Task } from '../lib/index.js';

/** Burns the CPU for `ms` without yielding. */
function busy(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end);
}

/** The executor bench's handlers, run on the event loop, a thread or a child process as its worker type says. */
@Injectable()
export class PoolBenchTasks {
  @Task('cpu.work', { maxRetries: 0 })
  work(payload: { ms: number }): void {
    busy(payload.ms);
  }

  @Task('cpu.noop', { maxRetries: 0 })
  noop(): void {}
}

/** What the bench's pool members bootstrap. */
@Module({ providers: [PoolBenchTasks] })
export class PoolBenchModule {}
