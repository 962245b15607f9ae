import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const SCRIPT = fileURLToPath(new URL('../../dist-test/test/processes/worker-process.js', import.meta.url));

export interface ChildWorkerOptions {
  backend: string;
  executionsLog: string;
  concurrency: number;
  leaseMs: number;
  workMs: number;
  /** Schedule options for the child to create as `proc.ticker` at startup. */
  schedule?: object;
  /** More module options (`worker`, `maintenance`, `resultPollIntervalMs`). */
  options?: object;
  /** Kill the child just before or just after it settles a failed attempt. */
  crash?: 'before-settle' | 'after-settle';
}

/** A worker app in a child process (test/processes/worker-process.ts), watched through its stdout. */
export class ChildWorker {
  readonly started: string[] = [];
  /** Whether the child reported a completed graceful shutdown. */
  stopped = false;
  private readonly process: ChildProcess;
  private readonly exited: Promise<[number | null, NodeJS.Signals | null]>;
  private readonly waiters: Array<{ count: number; resolve: () => void }> = [];
  private readonly ready: Promise<void>;
  private stderr = '';
  /** Everything the child printed on stdout (its log lines included). */
  output = '';

  constructor(options: ChildWorkerOptions) {
    this.process = spawn(
      process.execPath,
      [SCRIPT, options.backend, options.executionsLog, String(options.concurrency), String(options.leaseMs), String(options.workMs)],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: {
          ...process.env,
          ...(options.schedule && { WORKER_PROCESS_SCHEDULE: JSON.stringify(options.schedule) }),
          ...(options.options && { WORKER_PROCESS_OPTIONS: JSON.stringify(options.options) }),
          ...(options.crash && { WORKER_PROCESS_CRASH: options.crash }),
        },
      },
    );
    this.exited = once(this.process, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
    this.process.stderr!.on('data', (chunk: Buffer) => (this.stderr += chunk.toString()));
    const lines = createInterface({ input: this.process.stdout! });
    let markReady!: () => void;
    this.ready = new Promise((resolve) => (markReady = resolve));
    lines.on('line', (line) => {
      this.output += `${line}\n`;
      if (line === 'ready') markReady();
      if (line === 'stopped') this.stopped = true;
      if (!line.startsWith('started ')) return;
      this.started.push(line.slice('started '.length));
      for (const waiter of this.waiters.filter((w) => this.started.length >= w.count)) waiter.resolve();
    });
    void this.exited.then(() => markReady());
  }

  get pid(): number {
    return this.process.pid!;
  }

  whenReady(): Promise<void> {
    return this.ready;
  }

  /** Resolves once the child has started `count` task runs. */
  whenStarted(count: number): Promise<void> {
    if (this.started.length >= count) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ count, resolve }));
  }

  kill(signal: NodeJS.Signals): void {
    this.process.kill(signal);
  }

  /** Waits for the process to end; rejects with its stderr when it failed. */
  async exit(): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    const [code, signal] = await this.exited;
    return { code, signal };
  }

  get errors(): string {
    return this.stderr;
  }
}

/** The executions log: one `<taskId> <pid> <attempt>` line per handler run, in any process. */
export function readExecutions(path: string): Array<{ taskId: string; pid: number; attempt: number }> {
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [taskId, pid, attempt] = line.split(' ');
      return { taskId: taskId!, pid: Number(pid), attempt: Number(attempt) };
    });
}
