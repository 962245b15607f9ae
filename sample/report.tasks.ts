import { Injectable } from '@nestjs/common';
import { setTimeout as sleep } from 'node:timers/promises';
import { Task, type TaskContext } from '../lib/index.js';

/** The sample's task handlers: plain provider methods marked with @Task(). */
@Injectable()
export class ReportTasks {
  private flakyAttempts = 0;

  @Task('report.build')
  async buildReport(payload: { month: string }, ctx: TaskContext): Promise<{ month: string; rows: number }> {
    ctx.logger.log(`building the ${payload.month} report`);
    await sleep(50, undefined, { signal: ctx.signal });
    return { month: payload.month, rows: 1_204 };
  }

  @Task('math.sum')
  sum(payload: number[]): number {
    return payload.reduce((total, n) => total + n, 0);
  }

  @Task('mail.flaky', { maxRetries: 3, retryDelayMs: 100 })
  sendFlaky(payload: { to: string }): string {
    this.flakyAttempts++;
    if (this.flakyAttempts <= 2) throw new Error(`SMTP server busy (attempt ${this.flakyAttempts})`);
    return `sent to ${payload.to}`;
  }

  @Task('api.slow', { timeoutMs: 200, maxRetries: 0 })
  async callSlowApi(_payload: unknown, ctx: TaskContext): Promise<string> {
    await sleep(5_000, undefined, { signal: ctx.signal });
    return 'never reached';
  }
}
