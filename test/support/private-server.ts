import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { createServer } from 'node:net';

async function portFree(port: number): Promise<boolean> {
  const server = createServer();
  const free = await new Promise<boolean>((resolve) => {
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => resolve(true));
  });
  if (free) await new Promise<void>((resolve) => server.close(() => resolve()));
  return free;
}

/**
 * A port nothing listens on, picked from `from`–`from + 9,999`, with `also(port)` free too (a
 * Redis node's cluster bus port); `what` names the server in the error when none is found.
 */
export async function sparePort(from: number, what: string, also: (port: number) => number[] = () => []): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt += 1) {
    const port = from + Math.floor(Math.random() * 10_000);
    if ((await portFree(port)) && (await Promise.all(also(port).map(portFree))).every(Boolean)) return port;
  }
  throw new Error(`No spare port in ${from}-${from + 9_999} for ${what}`);
}

/** Why one of `programs` cannot be run here (`binVar` names the env var pointing at their folder), or undefined when all can. */
export function programsUnavailable(programs: readonly string[], binVar: string): string | undefined {
  for (const program of programs) {
    const probe = spawnSync(program, ['--version'], { encoding: 'utf8' });
    if (probe.status !== 0) return `${program} cannot be run (${probe.error?.message ?? probe.stderr.trim()}); install it or set ${binVar}`;
  }
  return undefined;
}

/** How a private server is started: its program, its arguments, and the log line that says it is ready. */
export interface ServerLaunch {
  program: string;
  args: readonly string[];
  ready: RegExp;
}

/**
 * A server process of the test's own, on a spare loopback port, with its data in a folder of its
 * own: it can be stopped, killed and started again (an outage, a crash) without touching the
 * shared servers. `remove()` kills it and deletes the folder.
 */
export class PrivateServer {
  private process: ChildProcess | undefined;
  private exited: Promise<void> | undefined;
  private log = '';

  constructor(
    readonly dir: string,
    readonly port: number,
    private readonly launch: ServerLaunch,
  ) {}

  /** Starts the server (again, on the same port and folder) and waits until its log says it is ready. */
  async start(): Promise<void> {
    const { program, args, ready } = this.launch;
    if (this.process) throw new Error(`${program} on port ${this.port} already runs`);
    const child = spawn(program, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.process = child;
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    this.log = '';
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => fail(new Error('did not get ready within 30 s')), 30_000);
      const fail = (error: Error): void => {
        clearTimeout(timer);
        reject(new Error(`${program} on port ${this.port}: ${error.message}\n${this.log}`));
      };
      const read = (chunk: Buffer): void => {
        this.log += chunk.toString();
        if (ready.test(this.log)) {
          clearTimeout(timer);
          resolve();
        }
      };
      child.stdout!.on('data', read);
      child.stderr!.on('data', read);
      child.once('exit', (code, signal) => fail(new Error(`exited with ${code ?? signal}`)));
      child.once('error', fail);
    }).catch(async (error: unknown) => {
      await this.kill();
      throw error;
    });
  }

  /** Stops the server gracefully (SIGTERM) and waits until it is gone. */
  stop(): Promise<void> {
    return this.end('SIGTERM');
  }

  /** Kills the server at once (SIGKILL: a crash, nothing flushed beyond what it had already written) and waits until it is gone. */
  kill(): Promise<void> {
    return this.end('SIGKILL');
  }

  /** Kills the server if it runs and deletes its folder. */
  async remove(): Promise<void> {
    await this.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }

  private async end(signal: NodeJS.Signals): Promise<void> {
    const child = this.process;
    if (!child) return;
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    await this.exited;
    this.process = undefined;
  }
}

/**
 * A describe block that needs private servers (`what`: "private redis-servers"): under CI=true a
 * machine that cannot run them (`missing` says why) fails the run; elsewhere the block is
 * skipped, with a warning no one can miss.
 */
export function describeWithServers(what: string, missing: string | undefined, title: string, specs: () => void): void {
  if (missing === undefined) return describe(title, specs);
  if (process.env.CI === 'true') throw new Error(`${what} cannot run here: ${missing}. CI=true: "${title}" must run.`);
  console.warn(`\n${'!'.repeat(100)}\n${what} cannot run here: ${missing}.\n"${title}" is SKIPPED.\n${'!'.repeat(100)}\n`);
  describe.skip(title, specs);
}
