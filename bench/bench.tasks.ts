import { Injectable } from '@nestjs/common';
import { Task, type TaskContext } from '../lib/index.js';

/** Handlers the benchmark drives: a no-op whose calls it counts, and a probe that timestamps its start. */
@Injectable()
export class BenchTasks {
  runs = 0;
  target = Number.POSITIVE_INFINITY;
  private allRan: () => void = () => undefined;
  private started: ((at: bigint) => void) | undefined;

  /** Resolves when `count` more no-op runs have happened. */
  expectRuns(count: number): Promise<void> {
    this.runs = 0;
    this.target = count;
    return new Promise((resolve) => (this.allRan = resolve));
  }

  /** Resolves with the hrtime at which the next probe starts. */
  nextProbeStart(): Promise<bigint> {
    return new Promise((resolve) => (this.started = resolve));
  }

  @Task('bench.noop', { maxRetries: 0 })
  noop(): void {
    if (++this.runs === this.target) this.allRan();
  }

  @Task('bench.echo', { maxRetries: 0 })
  echo(payload: unknown): unknown {
    return payload;
  }

  /** Runs until cancelled. */
  @Task('bench.hold', { maxRetries: 0 })
  hold(_: unknown, ctx: TaskContext): Promise<never> {
    return new Promise((_resolve, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason)));
  }

  /** Its result is its start time (hrtime, as a string), for a producer in another process. */
  @Task('bench.probe', { maxRetries: 0 })
  probe(): string {
    const at = process.hrtime.bigint();
    this.started?.(at);
    return String(at);
  }
}
