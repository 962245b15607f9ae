import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Injectable } from '@nestjs/common';
import { Task, type TaskContext } from '../../lib/index.js';
import { eventually } from '../support/eventually.js';
import { freshSchema, onPostgres, postgresUrl } from '../support/postgres.js';
import { freshPrefix, onRedis, redisUrl } from '../support/redis.js';
import { freshNatsPrefix, natsUrl, onNats } from '../support/nats.js';
import { createTestApp, type TestApp } from '../support/test-app.js';

const SCRIPT = fileURLToPath(new URL('../../dist-test/test/processes/scheduler-tick-process.js', import.meta.url));
const EVERY_MS = 500;
const LEASE_MS = 1_500;
/** Far longer than the lease: before the fix, ticks stayed blocked until a new leader reclaimed the dead tick. */
const LEADER_TTL_MS = 12_000;

const runs: Array<{ taskId: string; at: number }> = [];

@Injectable()
class QuickTick {
  @Task('crash.tick')
  tick(_: unknown, ctx: TaskContext): void {
    runs.push({ taskId: ctx.taskId, at: Date.now() });
  }
}

/** Starts the child app and resolves with the id of the tick it is running once it prints it. */
async function childMidTick(child: ChildProcess): Promise<string> {
  const lines = createInterface({ input: child.stdout! });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = once(child, 'exit').then(() => {
    throw new Error(`the child exited before its first tick: ${stderr}`);
  });
  const ticked = new Promise<string>((resolve) => lines.on('line', (line) => line.startsWith('tick ') && resolve(line.slice('tick '.length))));
  return Promise.race([ticked, exited]);
}

describe.each<[string, (dir: string) => string]>([
  ['sqlite', (dir) => `sqlite://${join(dir, 'omniq.db')}`],
  ['file', (dir) => `file://${join(dir, 'data')}`],
  ...onPostgres<[string, (dir: string) => string]>(['postgres', () => postgresUrl(freshSchema())]),
  ...onRedis<[string, (dir: string) => string]>(['redis', () => redisUrl(freshPrefix())]),
  ...onNats<[string, (dir: string) => string]>(['nats', () => natsUrl(freshNatsPrefix())]),
])('scheduler after a crash mid-tick (overlap: false) on %s', (_name, urlIn) => {
  let dir: string;
  let child: ChildProcess | undefined;
  let app: TestApp | undefined;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'omniq-scheduler-crash-'));
    runs.splice(0);
  });
  afterEach(async () => {
    await app?.close();
    app = undefined;
    if (child && child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await once(child, 'exit');
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it('supersedes the dead tick once its lease lapsed: the next ticks fire on time, the dead one never runs', async () => {
    const url = urlIn(dir);
    child = spawn(process.execPath, [SCRIPT, url, String(EVERY_MS), String(LEASE_MS), String(LEADER_TTL_MS)], { stdio: ['ignore', 'pipe', 'pipe'] });
    const deadTick = await childMidTick(child);
    child.kill('SIGKILL');
    await once(child, 'exit');

    app = await createTestApp({ backend: url, worker: { leaseMs: LEASE_MS, pollIntervalMs: 50 }, scheduler: { pollIntervalMs: 100 }, maintenance: { intervalMs: 100 } }, [QuickTick]);
    const booted = Date.now();
    const { leaseExpiresAt } = (await app.omniq.getTask(deadTick))!;
    const firstNew = await eventually(async () => runs.find((run) => run.taskId !== deadTick), 30_000, 'a new tick to run');
    // Once the dead tick's lease lapsed (and this instance is up), the next due tick fires: not
    // only after a new leader reclaimed the dead tick, LEADER_TTL_MS after the kill.
    expect(firstNew.at - Math.max(leaseExpiresAt!.getTime(), booted)).toBeLessThan(2 * EVERY_MS + 1_500);

    // The new leader reclaims the dead tick once the dead leader's lease lapsed: the worker that
    // reserves it then ends it cancelled without running it.
    const omniq = app.omniq;
    const dead = await eventually(async () => {
      const task = await omniq.getTask(deadTick);
      return task?.status !== 'running' && task?.status !== 'pending' && runs.length >= 6 && task;
    }, 30_000, 'the dead tick to end');
    expect(dead).toMatchObject({ status: 'cancelled', cancelRequestedAt: expect.any(Date) });
    expect(runs.map((run) => run.taskId)).not.toContain(deadTick);
    expect(new Set(runs.map((run) => run.taskId)).size).toBe(runs.length);
    const gaps = runs.slice(1).map((run, i) => run.at - runs[i]!.at);
    expect(Math.max(...gaps)).toBeLessThan(2 * EVERY_MS + 600);
  }, 60_000);
});
