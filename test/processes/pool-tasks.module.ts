/**
 * The pool module of the executor tests: the handlers that thread and process pool members
 * bootstrap, with an injected service. Compiled to dist-test/ before jest runs, since pool members
 * run OmniQ's compiled JavaScript; the main side is in pool-app.ts.
 */
import 'reflect-metadata';
import { Injectable, Module } from '@nestjs/common';
import { isMainThread, threadId } from 'node:worker_threads';
import { NonRetryableError, Task, type TaskContext } from '../../lib/index.js';

/** Where a handler ran. */
export interface Place {
  pid: number;
  threadId: number;
  isMainThread: boolean;
}

function place(): Place {
  return { pid: process.pid, threadId, isMainThread };
}

/** Burns the CPU for `ms` without yielding. */
export function spin(ms: number): number {
  const end = performance.now() + ms;
  let turns = 0;
  while (performance.now() < end) turns++;
  return turns;
}

@Injectable()
export class Greeter {
  greet(name: string): string {
    return `hello ${name}`;
  }
}

/** Heap kept across tasks, for the recycling test. */
const kept: number[][] = [];

export class InvoiceRejected extends Error {
  override readonly name = 'InvoiceRejected';
}

@Injectable()
export class PoolTasks {
  constructor(private readonly greeter: Greeter) {}

  @Task('pool.greet')
  greet(payload: { name: string }, ctx: TaskContext): { greeting: string; at: Date; sizes: Map<string, number>; place: Place; attempt: number } {
    return { greeting: this.greeter.greet(payload.name), at: new Date(0), sizes: new Map([['a', 1]]), place: place(), attempt: ctx.attempt };
  }

  @Task('pool.spin')
  spin(payload: { ms: number }): Place & { turns: number } {
    return { ...place(), turns: spin(payload.ms) };
  }

  @Task('pool.noop')
  noop(): void {}

  @Task('pool.forever', { timeoutMs: 300, maxRetries: 0 })
  forever(): never {
    for (;;) spin(1_000);
  }

  @Task('pool.exit', { maxRetries: 0 })
  exit(payload: { code: number }): void {
    process.exit(payload.code);
  }

  @Task('pool.uncaught', { maxRetries: 0 })
  uncaught(): Promise<void> {
    setImmediate(() => {
      throw new RangeError('thrown outside the handler');
    });
    return new Promise(() => undefined);
  }

  @Task('pool.reject', { maxRetries: 1, retryDelayMs: 0 })
  reject(): never {
    throw new InvoiceRejected('invoice 42 was rejected');
  }

  @Task('pool.final', { maxRetries: 3 })
  final(): never {
    throw new NonRetryableError('no use retrying');
  }

  @Task('pool.context')
  async context(_: unknown, ctx: TaskContext): Promise<{ parents: unknown; place: Place }> {
    await ctx.progress({ done: 1, of: 2 });
    ctx.logger.log('halfway there');
    return { parents: await ctx.parents(), place: place() };
  }

  @Task('pool.hog', { maxRetries: 0 })
  hog(): number {
    const hoard: string[][] = [];
    for (;;) hoard.push(new Array(100_000).fill('x'.repeat(16)));
  }

  @Task('pool.keep')
  keep(payload: { mb: number }): Place {
    kept.push(new Array(payload.mb * 131_072).fill(1.5));
    return place();
  }

  @Task('pool.where')
  where(): Place {
    return place();
  }

  /** Reports progress once it runs, then waits. */
  @Task('pool.slow')
  async slow(payload: { ms: number }, ctx: TaskContext): Promise<Place> {
    await ctx.progress('running');
    await new Promise((resolve) => setTimeout(resolve, payload.ms));
    return place();
  }

  @Task('pool.child', { runIn: 'process' })
  child(): Place {
    return place();
  }

  @Task('pool.loop', { runIn: 'async' })
  loop(): Place {
    return place();
  }
}

@Module({ providers: [Greeter, PoolTasks] })
export class PoolTasksModule {}
