import 'reflect-metadata';
import { Injectable, Logger, type LoggerService } from '@nestjs/common';
import { Task } from '../../lib/index.js';
import { createTestApp, deferred, type TestApp } from '../support/test-app.js';

@Injectable()
class KnownTasks {
  @Task('known')
  known(): void {}
}

describe('tasks whose name no worker handles', () => {
  let t: TestApp | undefined;
  afterEach(async () => {
    Logger.overrideLogger(false);
    await t?.close();
    t = undefined;
  });

  it('are named in one warning by the maintenance leader once they waited 60 maintenance intervals', async () => {
    t = await createTestApp(
      { backend: 'memory://', allowUnregisteredTasks: true, worker: { queues: ['default', 'paused'] }, maintenance: { intervalMs: 10 } },
      [KnownTasks],
    );
    const warnings: string[] = [];
    const warned = deferred();
    const capture: LoggerService = {
      log: () => undefined,
      error: () => undefined,
      warn: (message: unknown) => {
        warnings.push(String(message));
        if (String(message).includes('"renamed.task"')) warned.resolve();
      },
    };
    await t.omniq.pauseQueue('paused');
    await t.omniq.enqueue('in.paused.queue', {}, { queue: 'paused' });
    const stuck = await t.omniq.enqueue('renamed.task', {});
    await t.omniq.enqueue('renamed.task', {});
    Logger.overrideLogger(capture);
    await warned.promise;
    expect(warnings.filter((line) => line.includes('Tasks named'))).toEqual([
      expect.stringContaining(`Tasks named "renamed.task" are waiting (task ${stuck} in queue default`),
    ]);
    expect(warnings.find((line) => line.includes('"renamed.task"'))).toMatch(/it handles [^)]*\bknown\b/);
  });
});
