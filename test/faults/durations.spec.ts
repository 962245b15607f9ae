import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Injectable } from '@nestjs/common';
import { InvalidQueryError, InvalidTaskOptionError, OmniQConfigError, Task, type EnqueueOptions, type TaskContext, type TaskHandlerOptions, type WaitForResultOptions } from '../../lib/index.js';
import { loadConfig } from '../../lib/config/config.loader.js';
import { MAX_DUE_DELAY_MS } from '../../lib/config/duration.js';
import { MAX_TIMER_MS } from '../../lib/utils/timer-delay.js';
import { retryDelayMs } from '../../lib/worker/retry-policy.js';
import type { OmniQModuleOptions } from '../../lib/interfaces/omniq-options.interface.js';
import { describeOnEveryBackend } from '../support/backends.js';
import { createTestApp, deferred, type TestApp } from '../support/test-app.js';

const DAY_MS = 86_400_000;
const TIMER_MAX_TEXT = `at most ${MAX_TIMER_MS} ms (about 24.8 days), the longest delay a Node timer waits`;

const runs = { started: deferred(), finished: [] as string[] };

@Injectable()
class DurationTasks {
  @Task('durations.work', { maxRetries: 0 })
  async work(payload: { ms: number }, ctx: TaskContext): Promise<string> {
    runs.started.resolve();
    await sleep(payload.ms, undefined, { signal: ctx.signal });
    runs.finished.push(ctx.taskId);
    return 'done';
  }

  @Task('durations.longest-timeout', { timeoutMs: MAX_TIMER_MS, maxRetries: 0 })
  async longestTimeout(): Promise<string> {
    await sleep(50);
    return 'in time';
  }
}

async function rejection(promise: Promise<unknown>): Promise<Error> {
  return promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (error: Error) => error,
  );
}

describe('task durations out of range', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({ backend: 'memory://', scheduler: { enabled: false } }, [DurationTasks]);
  });
  afterAll(() => t.close());

  it('rejects a timeoutMs no timer can wait for (35 days), naming the option and the maximum, and stores nothing', async () => {
    const error = await rejection(t.omniq.enqueue('durations.work', { ms: 1 }, { timeoutMs: 35 * DAY_MS }));
    expect(error).toBeInstanceOf(InvalidTaskOptionError);
    expect(error.message).toBe(`Task "durations.work": option timeoutMs = ${35 * DAY_MS} is invalid; expected ${TIMER_MAX_TEXT}`);
    await expect(t.omniq.enqueue('durations.work', { ms: 1 }, { timeoutMs: MAX_TIMER_MS + 1 })).rejects.toThrow(TIMER_MAX_TEXT);
    expect((await t.omniq.listTasks({ limit: 0 })).total).toBe(0);
  });

  it('accepts a 60-day delayMs, stored as a due time, and rejects delays past 100 years', async () => {
    const before = Date.now();
    const id = await t.omniq.enqueue('durations.work', { ms: 1 }, { delayMs: 60 * DAY_MS, retryDelayMs: 60 * DAY_MS, ttlMs: 90 * DAY_MS });
    const task = (await t.omniq.getTask(id))!;
    expect(task.status).toBe('scheduled');
    expect(task.runAt.getTime()).toBeGreaterThanOrEqual(before + 60 * DAY_MS);
    await t.omniq.cancel(id);
    for (const option of ['delayMs', 'retryDelayMs', 'retryMaxDelayMs', 'ttlMs', 'resultTtlMs'] as const) {
      await expect(t.omniq.enqueue('durations.work', { ms: 1 }, { [option]: MAX_DUE_DELAY_MS + 1 })).rejects.toThrow(
        `Task "durations.work": option ${option} = ${MAX_DUE_DELAY_MS + 1} is invalid; expected at most ${MAX_DUE_DELAY_MS} ms (100 years)`,
      );
    }
  });

  it.each([
    [{ priority: NaN }, 'option priority = NaN is invalid; expected an integer'],
    [{ delayMs: Infinity }, 'option delayMs = Infinity is invalid; expected an integer >= 0'],
    [{ timeoutMs: -Infinity }, 'option timeoutMs = -Infinity is invalid; expected an integer > 0 (ms)'],
    [{ timeoutMs: -0 }, 'option timeoutMs = -0 is invalid; expected an integer > 0 (ms)'],
    [{ retryDelayMs: 1.5 }, 'option retryDelayMs = 1.5 is invalid; expected an integer >= 0'],
    [{ ttlMs: Symbol('ttl') }, 'option ttlMs = Symbol(ttl) is invalid; expected an integer > 0 (ms)'],
    [{ key: () => 'k' }, 'option key = function key is invalid; expected a non-empty string'],
  ])('names a non-finite or non-number value as it is: %p', async (options, message) => {
    await expect(t.omniq.enqueue('durations.work', { ms: 1 }, options as EnqueueOptions)).rejects.toThrow(`Task "durations.work": ${message}`);
  });

  it('fails the bootstrap on a @Task() timeoutMs no timer can wait for', async () => {
    @Injectable()
    class Reports {
      @Task('reports.monthly', { timeoutMs: 35 * DAY_MS } satisfies TaskHandlerOptions)
      build(): void {}
    }
    await expect(createTestApp({ backend: 'memory://' }, [Reports])).rejects.toThrow(
      `Reports.build: @Task() Task "reports.monthly": option timeoutMs = ${35 * DAY_MS} is invalid; expected ${TIMER_MAX_TEXT}`,
    );
  });
});

describeOnEveryBackend('the longest legal durations', (backend) => {
  let t: TestApp | undefined;
  beforeEach(() => {
    Object.assign(runs, { started: deferred(), finished: [] });
  });
  afterEach(() => t?.close());

  it(`runs a task with timeoutMs = ${MAX_TIMER_MS} to success instead of timing it out at once`, async () => {
    t = await createTestApp({ backend: backend.url(), worker: { pollIntervalMs: 20 }, scheduler: { enabled: false } }, [DurationTasks]);
    const result = await t.omniq.waitForResult(await t.omniq.enqueue('durations.longest-timeout', null), { timeoutMs: MAX_TIMER_MS });
    expect(result).toMatchObject({ status: 'success', value: 'in time' });
  });

  it(`lets a task in flight finish on shutdown with shutdownTimeoutMs = ${MAX_TIMER_MS}`, async () => {
    const app = await createTestApp(
      { backend: backend.url(), worker: { pollIntervalMs: 20, shutdownTimeoutMs: MAX_TIMER_MS }, scheduler: { enabled: false } },
      [DurationTasks],
    );
    const id = await app.omniq.enqueue('durations.work', { ms: 50 });
    await runs.started.promise;
    await app.close();
    expect(runs.finished).toEqual([id]);
  });
});

describe('configured durations out of range', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'omniq-durations-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  function problems(options: OmniQModuleOptions, env: Record<string, string> = {}): string[] {
    try {
      loadConfig(options, env);
    } catch (error) {
      if (!(error instanceof OmniQConfigError)) throw error;
      return error.issues.map((i) => `${i.where}: ${i.problem}`);
    }
    throw new Error('the configuration was accepted');
  }

  it('rejects every duration a timer waits for beyond the longest timer, from each source', () => {
    const tooLong = MAX_TIMER_MS + 1;
    const configFile = join(dir, 'timers.yaml');
    writeFileSync(configFile, 'worker:\n  pollIntervalMs: 600h\nmaintenance:\n  intervalMs: .inf\n');
    expect(
      problems(
        {
          configFile,
          worker: { leaseMs: tooLong, heartbeatMs: tooLong, shutdownTimeoutMs: 30 * DAY_MS },
          maintenance: { leaderTtlMs: '600h' as unknown as number },
          scheduler: { pollIntervalMs: tooLong },
          resultPollIntervalMs: tooLong,
        },
        { OMNIQ_TASK_TIMEOUT: String(30 * 86_400) },
      ),
    ).toEqual([
      `environment variable OMNIQ_TASK_TIMEOUT (taskDefaults.timeoutMs): expected ${TIMER_MAX_TEXT}`,
      `OmniQModule option worker.leaseMs: expected ${TIMER_MAX_TEXT}`,
      `OmniQModule option worker.heartbeatMs: expected ${TIMER_MAX_TEXT}`,
      `OmniQModule option worker.shutdownTimeoutMs: expected ${TIMER_MAX_TEXT}`,
      `OmniQModule option maintenance.leaderTtlMs: expected ${TIMER_MAX_TEXT}`,
      `OmniQModule option scheduler.pollIntervalMs: expected ${TIMER_MAX_TEXT}`,
      `OmniQModule option resultPollIntervalMs: expected ${TIMER_MAX_TEXT}`,
      `worker.pollIntervalMs in ${configFile}: expected ${TIMER_MAX_TEXT}`,
      `maintenance.intervalMs in ${configFile}: expected ${TIMER_MAX_TEXT}`,
    ]);
  });

  it('accepts the longest timer and long due-time defaults', () => {
    const { config } = loadConfig(
      { backend: 'memory://', worker: { shutdownTimeoutMs: MAX_TIMER_MS }, taskDefaults: { ttlMs: 60 * DAY_MS, retryMaxDelayMs: 365 * DAY_MS } },
      { OMNIQ_TASK_TIMEOUT: '2147483647ms' },
    );
    expect(config.worker.shutdownTimeoutMs).toBe(MAX_TIMER_MS);
    expect(config.taskDefaults).toMatchObject({ timeoutMs: MAX_TIMER_MS, ttlMs: 60 * DAY_MS, retryMaxDelayMs: 365 * DAY_MS });
    expect(problems({ backend: 'memory://', taskDefaults: { retryDelayMs: MAX_DUE_DELAY_MS + 1 } })).toEqual([
      `OmniQModule option taskDefaults.retryDelayMs: expected at most ${MAX_DUE_DELAY_MS} ms (100 years)`,
    ]);
  });

  it('names non-finite and fractional numbers from YAML and the environment as they are', () => {
    const configFile = join(dir, 'numbers.yaml');
    writeFileSync(configFile, 'worker:\n  concurrency: 1.5\n  leaseMs: .nan\n  shutdownTimeoutMs: -.inf\ntaskDefaults:\n  priority: .inf\n');
    const error = (() => {
      try {
        loadConfig({ configFile }, { OMNIQ_MAX_WORKERS: 'Infinity', OMNIQ_RETRY_DELAY: 'NaN', OMNIQ_RETRY_ATTEMPTS: '2.5', OMNIQ_RESULT_TTL: '1.0005' });
      } catch (caught) {
        return caught as OmniQConfigError;
      }
      throw new Error('the configuration was accepted');
    })();
    expect(error.message.split('\n').slice(1)).toEqual([
      '  - environment variable OMNIQ_MAX_WORKERS (worker.concurrency) = "Infinity": expected an integer >= 1',
      '  - environment variable OMNIQ_RETRY_DELAY (taskDefaults.retryDelayMs) = "NaN": expected a duration: seconds, or a number with a unit (500ms, 30s, 5m, 1h)',
      '  - environment variable OMNIQ_RETRY_ATTEMPTS (taskDefaults.maxRetries) = "2.5": expected an integer >= 0',
      '  - environment variable OMNIQ_RESULT_TTL (taskDefaults.resultTtlMs) = "1.0005": expected a whole number of milliseconds',
      `  - worker.concurrency in ${configFile} = 1.5: expected an integer >= 1`,
      `  - worker.leaseMs in ${configFile} = NaN: expected a duration: milliseconds, or a string with a unit (500ms, 30s, 5m, 1h)`,
      `  - worker.shutdownTimeoutMs in ${configFile} = -Infinity: a duration cannot be negative`,
      `  - taskDefaults.priority in ${configFile} = Infinity: expected an integer`,
    ]);
  });
});

describe('waitForResult timeouts', () => {
  let app: TestApp | undefined;
  afterEach(async () => {
    await app?.close();
    app = undefined;
  });

  it('rejects a timeout no timer can wait for, and unknown options, before waiting', async () => {
    app = await createTestApp({ backend: 'memory://', worker: { enabled: false }, scheduler: { enabled: false } });
    const wait = (options: WaitForResultOptions) => app!.omniq.waitForResult('no-such-task', options);
    await expect(wait({ timeoutMs: 30 * DAY_MS })).rejects.toThrow(InvalidQueryError);
    await expect(wait({ timeoutMs: 30 * DAY_MS })).rejects.toThrow(
      `waitForResult(): option timeoutMs = ${30 * DAY_MS} is invalid; expected an integer from 0 to ${MAX_TIMER_MS} ms (about 24.8 days, the longest delay a Node timer waits)`,
    );
    await expect(wait({ timeoutMs: NaN })).rejects.toThrow('option timeoutMs = NaN is invalid');
    await expect(wait({ timeout: 5_000 } as WaitForResultOptions)).rejects.toThrow('waitForResult(): option timeout = 5000 is invalid; expected one of timeoutMs, signal');
    await expect(wait({ timeoutMs: 1 })).rejects.toThrow('no-such-task');
  });
});

describe('retry backoff', () => {
  const task = { retryBackoff: 'exponential' as const, retryMaxDelayMs: 3_600_000 };

  it('stays a number after thousands of attempts, capped at retryMaxDelayMs', () => {
    expect(retryDelayMs({ ...task, attempts: 2_000, retryDelayMs: 0 }, () => 0.5)).toBe(0);
    expect(retryDelayMs({ ...task, attempts: 2_000, retryDelayMs: 1_000 }, () => 0.5)).toBe(3_600_000);
    expect(retryDelayMs({ ...task, attempts: 2_000, retryDelayMs: 1_000, retryMaxDelayMs: MAX_DUE_DELAY_MS }, () => 1)).toBe(MAX_DUE_DELAY_MS);
  });
});
