import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { readExecutions } from '../support/child-worker.js';
import { eventually } from '../support/eventually.js';
import { createTestApp, type TestApp } from '../support/test-app.js';

const SCRIPT = fileURLToPath(new URL('../../dist-test/test/processes/long-writer-worker.js', import.meta.url));

/** The bar: one call of 300,000 tasks (LONG_WRITER_TASKS sets another size for a quick local run). */
const BULK = Number(process.env.LONG_WRITER_TASKS ?? 300_000);
/**
 * Probe tasks the test keeps adding while the bulk call is stored, about as fast as the workers
 * run them, so that they run some all that time. Each runs long enough to need its heartbeats.
 */
const PROBES_PER_TICK = 4;
const PROBE_TICK_MS = 250;
const PROBE_MS = 1_000;
const CONCURRENCY = 8;
/** A short lease, renewed four times per lease: a worker frozen for longer than LEASE_MS - HEARTBEAT_MS lets it lapse. */
const LEASE_MS = 2_000;
const HEARTBEAT_MS = 500;

/** A worker in its own process (test/processes/long-writer-worker.ts), with the event-loop stalls it reported. */
class StallWatchedWorker {
  readonly stalls: number[] = [];
  readonly ready: Promise<void>;
  private readonly child: ChildProcess;
  private readonly exited: Promise<unknown>;

  constructor(backend: string, executionsLog: string) {
    const args = [backend, executionsLog, CONCURRENCY, LEASE_MS, HEARTBEAT_MS, PROBE_MS].map(String);
    this.child = spawn(process.execPath, [SCRIPT, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
    this.exited = once(this.child, 'exit');
    let markReady!: () => void;
    this.ready = new Promise((resolve) => (markReady = resolve));
    createInterface({ input: this.child.stdout! }).on('line', (line) => {
      if (line === 'ready') markReady();
      if (line.startsWith('stall ')) this.stalls.push(Number(line.slice('stall '.length)));
    });
  }

  async kill(): Promise<void> {
    this.child.kill('SIGKILL');
    await this.exited;
  }
}

/**
 * A long write beside live workers (issue 11, item 3). Storing 300,000 tasks in one transaction
 * held SQLite's write lock for seconds, and better-sqlite3's synchronous busy wait froze the
 * worker processes waiting for it: their heartbeats stopped, their leases lapsed, the leader
 * reclaimed the tasks they were running and they ran twice. Now a long call is stored in chunks,
 * and a process waiting for the lock keeps its event loop running.
 */
describe(`a ${BULK.toLocaleString('en')}-task enqueueMany beside two live workers on one SQLite file`, () => {
  let dir: string;
  let producer: TestApp | undefined;
  const workers: StallWatchedWorker[] = [];

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'omniq-long-writer-'));
  });

  afterEach(async () => {
    for (const worker of workers.splice(0)) await worker.kill();
    try {
      await producer?.close();
    } finally {
      producer = undefined;
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('runs every task once: no worker freezes and no lease lapses while the call is stored', async () => {
    const backend = `sqlite://${join(dir, 'omniq.db')}`;
    const executionsLog = join(dir, 'executions.log');
    // The producer leads maintenance: whatever lapses while it stores the call, it reclaims.
    producer = await createTestApp({
      backend,
      allowUnregisteredTasks: true,
      scheduler: { enabled: false },
      worker: { enabled: false },
      maintenance: { intervalMs: 50, leaderTtlMs: 60_000 },
    });
    const omniq = producer.omniq;
    workers.push(new StallWatchedWorker(backend, executionsLog), new StallWatchedWorker(backend, executionsLog));
    await Promise.all(workers.map((worker) => worker.ready));

    const probes: string[] = [];
    const addProbes = async (count = PROBES_PER_TICK): Promise<void> => {
      const batch = Array.from({ length: count }, (_, n) => ({ name: 'proc.work', payload: { n: probes.length + n } }));
      probes.push(...(await omniq.enqueueMany(batch)));
    };
    // More than one worker takes at once, so that both are running probes when the call starts.
    await addProbes(2 * CONCURRENCY);
    await eventually(async () => (await omniq.stats()).default?.running === 2 * CONCURRENCY, 30_000, 'both workers to run probes');
    const probing = setInterval(() => void addProbes(), PROBE_TICK_MS);

    // The workers serve the default queue only: the bulk tasks stay stored, the probes run beside the call.
    const started = Date.now();
    let bulk: string[];
    try {
      bulk = await omniq.enqueueMany(Array.from({ length: BULK }, (_, n) => ({ name: 'proc.work', payload: { n }, options: { queue: 'bulk' } })));
    } finally {
      clearInterval(probing);
    }
    const stored = Date.now();
    expect(bulk).toHaveLength(BULK);
    expect((await omniq.stats()).bulk).toEqual({ pending: BULK });

    const ended = await eventually(
      async () => {
        const tasks = await omniq.getTasks(probes);
        return tasks.every((task) => task?.status === 'success') && tasks;
      },
      60_000,
      `the ${probes.length} probe tasks to succeed`,
    );
    // The probes ran all along the call, not only before or after it.
    expect(ended.filter((task) => task!.startedAt!.getTime() > started && task!.completedAt!.getTime() < stored).length).toBeGreaterThan(0);

    const runsPerTask = new Map<string, number>();
    for (const { taskId } of readExecutions(executionsLog)) runsPerTask.set(taskId, (runsPerTask.get(taskId) ?? 0) + 1);
    const ranTwice = [...runsPerTask].filter(([, runs]) => runs > 1).map(([taskId]) => taskId);
    const lapsed = ended.filter((task) => task!.attempts > 1 || task!.lapses > 0).map((task) => task!.id);
    const frozenMs = Math.max(0, ...workers.flatMap((worker) => worker.stalls));
    expect({ ranTwice, lapsed, runs: runsPerTask.size }).toEqual({ ranTwice: [], lapsed: [], runs: probes.length });
    // A freeze this long would have let their leases lapse had it come right after a heartbeat.
    expect(frozenMs).toBeLessThan(LEASE_MS - HEARTBEAT_MS);
  }, 180_000);
});
