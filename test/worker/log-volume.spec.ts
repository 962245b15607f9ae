import { Injectable, type LoggerService } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { OmniQModule, OmniQService, Task } from '../../lib/index.js';

const TASKS = 100;

@Injectable()
class QuietTasks {
  @Task('quiet.echo')
  echo(n: number): number {
    return n;
  }
}

describe('log volume at the default level', () => {
  it(`writes no line per task for ${TASKS} tasks, only the worker's start and stop`, async () => {
    const lines: string[] = [];
    const capture = (level: string) => (message: unknown, context?: unknown) => void lines.push(`${level} [${String(context)}] ${String(message)}`);
    const logger: LoggerService = { log: capture('log'), error: capture('error'), warn: capture('warn'), debug: capture('debug'), verbose: capture('verbose'), fatal: capture('fatal') };
    const moduleRef = await Test.createTestingModule({ imports: [OmniQModule.forRoot({ backend: 'memory://', worker: { id: 'w-quiet' } })], providers: [QuietTasks] }).compile();
    moduleRef.useLogger(logger);
    const app = await moduleRef.init();
    const omniq = app.get(OmniQService);
    const ids = await omniq.enqueueMany(Array.from({ length: TASKS }, (_, n) => ({ name: 'quiet.echo', payload: n })));
    const results = await Promise.all(ids.map((id) => omniq.waitForResult(id)));
    await app.close();

    expect(results.every((result) => result.status === 'success')).toBe(true);
    const omniqLines = lines.filter((line) => line.includes('[OmniQ'));
    expect(omniqLines).toContain('log [OmniQWorker] Worker w-quiet started: concurrency 10, queues default');
    expect(omniqLines.filter((line) => ids.some((id) => line.includes(id)))).toEqual([]);
    expect(omniqLines.length).toBeLessThan(10);
  });
});
