import { Injectable } from '@nestjs/common';
import { createHook } from 'node:async_hooks';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { OmniQShutdownError, Scheduled, Task, type TaskContext } from '../../lib/index.js';
import { nextEvents } from '../support/events.js';
import { freshSchema, onPostgres, postgresUrl } from '../support/postgres.js';
import { freshPrefix, onRedis, redisUrl } from '../support/redis.js';
import { freshNatsPrefix, natsUrl, onNats } from '../support/nats.js';
import { createTestApp } from '../support/test-app.js';

@Injectable()
class BusyTasks {
  @Task('busy.echo')
  echo(n: number): number {
    return n;
  }

  @Task('busy.wait', { timeoutMs: 60_000 })
  wait(_: unknown, ctx: TaskContext): Promise<void> {
    return new Promise((resolve) => ctx.signal.addEventListener('abort', () => resolve()));
  }

  @Scheduled({ every: '1s' })
  @Task('busy.tick')
  tick(): void {}
}

const LIB = join(process.cwd(), 'lib');

/** What keeps a process alive: timers, immediates and sockets (a server backend's pool and LISTEN connection). */
const TRACKED = new Set(['Timeout', 'Immediate', 'TCPWRAP']);

/**
 * Timers, immediates and sockets created by OmniQ's code (their creation stack passes through
 * lib/) that are still alive: what makes Jest report open handles or wait before it exits.
 */
function trackLibTimers(): { alive: () => string[]; stop: () => void } {
  const alive = new Map<number, string>();
  const hook = createHook({
    init(id, type) {
      if (!TRACKED.has(type)) return;
      const stack = new Error().stack ?? '';
      if (stack.includes(LIB)) alive.set(id, `${type} created at\n${stack}`);
    },
    destroy(id) {
      alive.delete(id);
    },
  }).enable();
  return { alive: () => [...alive.values()], stop: () => hook.disable() };
}

/**
 * Waits for the destroy hooks of what was closed (a cleared timer's runs on a later turn of the
 * loop; a socket's once the server saw it close), well within the second Jest waits before it
 * reports open handles, then expects nothing alive.
 */
async function settled(timers: { alive: () => string[] }): Promise<void> {
  const deadline = Date.now() + 500;
  do await nextTurn();
  while (timers.alive().length > 0 && Date.now() < deadline);
  expect(timers.alive()).toEqual([]);
}

// The complaint this answers: "Jest did not exit one second after the test run has completed".
const BACKENDS: Array<[name: string, url: (dir: string) => string]> = [
  ['memory', () => 'memory://'],
  ['sqlite', (dir) => `sqlite://${join(dir, 'omniq.db')}`],
  ['file', (dir) => `file://${join(dir, 'data')}`],
  ...onPostgres<[string, (dir: string) => string]>(['postgres', () => postgresUrl(freshSchema())]),
  ...onRedis<[string, (dir: string) => string]>(['redis', () => redisUrl(freshPrefix())]),
  ...onNats<[string, (dir: string) => string]>(['nats', () => natsUrl(freshNatsPrefix())]),
];

describe.each(BACKENDS)('closing an app on the %s backend', (_, url) => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'omniq-handles-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('leaves no timer behind, even with a task running, a result awaited and a schedule armed', async () => {
    const timers = trackLibTimers();
    try {
      const t = await createTestApp({ backend: url(dir), worker: { shutdownTimeoutMs: 50 } }, [BusyTasks]);
      expect((await t.omniq.waitForResult(await t.omniq.enqueue('busy.echo', 7))).value).toBe(7);
      const started = nextEvents(t.omniq, 1, (e) => e.type === 'started' && e.taskName === 'busy.wait');
      const running = await t.omniq.enqueue('busy.wait', {});
      await started;
      const awaited = t.omniq.waitForResult(running).catch((error: unknown) => error);
      // The tracker sees OmniQ's timers (heartbeat, polls, the schedule's next fire) while the app runs.
      expect(timers.alive().length).toBeGreaterThan(0);
      await t.close();
      expect(await awaited).toBeInstanceOf(OmniQShutdownError);
      await settled(timers);
    } finally {
      timers.stop();
    }
  });

  it('leaves nothing behind when the bootstrap fails on a bad definition (Nest runs no shutdown hook then)', async () => {
    @Injectable()
    class BadSchedule {
      @Scheduled({ cron: 'not a cron' })
      job(): void {}
    }
    const timers = trackLibTimers();
    try {
      await expect(createTestApp({ backend: url(dir) }, [BadSchedule])).rejects.toThrow('invalid cron expression "not a cron"');
      await settled(timers);
    } finally {
      timers.stop();
    }
  });
});
