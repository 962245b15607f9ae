import { fork, type ChildProcess } from 'node:child_process';
import { Worker } from 'node:worker_threads';
import type { FromMember, ToMember } from './pool-protocol.js';

/** The pool kinds: worker threads of this process, or child processes. */
export type PoolKind = 'thread' | 'process';

export interface MemberLinkOptions {
  /** The member's entry script (pool-member.js). */
  script: string;
  /** V8 old-space limit in MiB. */
  maxHeapMb?: number;
  onMessage(message: FromMember): void;
  /** Called once when the member is gone, with what ended it ("exited with code 3"). */
  onExit(description: string): void;
}

/**
 * One pool member seen from the main process: a worker thread or a forked child process,
 * both spoken to with the same messages. A member is held (ref'd) while it starts and while it
 * runs a task, so an idle pool never keeps the process alive on its own.
 */
export interface MemberLink {
  /** `thread 7` or `process 4242`, for messages. */
  readonly label: string;
  send(message: ToMember): void;
  hold(held: boolean): void;
  /** Ends the member at once (terminate / SIGKILL); resolves once it is gone. */
  kill(): Promise<void>;
}

export function startMember(kind: PoolKind, options: MemberLinkOptions): MemberLink {
  return kind === 'thread' ? new ThreadLink(options) : new ProcessLink(options);
}

class ThreadLink implements MemberLink {
  readonly label: string;
  private readonly worker: Worker;
  private readonly exited: Promise<void>;
  private failure: string | undefined;

  constructor({ script, maxHeapMb, onMessage, onExit }: MemberLinkOptions) {
    this.worker = new Worker(script, maxHeapMb === undefined ? {} : { resourceLimits: { maxOldGenerationSizeMb: maxHeapMb } });
    this.label = `thread ${this.worker.threadId}`;
    this.worker.on('message', onMessage);
    this.worker.on('error', (error: NodeJS.ErrnoException) => {
      this.failure =
        error.code === 'ERR_WORKER_OUT_OF_MEMORY'
          ? `ran out of memory (its heap limit is ${maxHeapMb ?? "V8's default"} MiB)`
          : `died of an uncaught ${error.name}: ${error.message}`;
    });
    this.exited = new Promise((resolve) =>
      this.worker.once('exit', (code) => {
        onExit(this.failure ?? `exited with code ${code}`);
        resolve();
      }),
    );
  }

  send(message: ToMember): void {
    this.worker.postMessage(message);
  }

  hold(held: boolean): void {
    if (held) this.worker.ref();
    else this.worker.unref();
  }

  async kill(): Promise<void> {
    this.failure ??= 'was terminated';
    // Held until it is gone, so that whoever awaits its end is not left with nothing keeping the process alive.
    this.hold(true);
    await this.worker.terminate();
    await this.exited;
  }
}

class ProcessLink implements MemberLink {
  readonly label: string;
  private readonly child: ChildProcess;
  private readonly exited: Promise<void>;
  private killed = false;

  constructor({ script, maxHeapMb, onMessage, onExit }: MemberLinkOptions) {
    const execArgv = maxHeapMb === undefined ? process.execArgv : [...process.execArgv, `--max-old-space-size=${maxHeapMb}`];
    this.child = fork(script, [], { serialization: 'advanced', execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.label = `process ${this.child.pid ?? '(not started)'}`;
    this.child.on('message', (message) => onMessage(message as FromMember));
    let failure: string | undefined;
    this.child.on('error', (error) => (failure ??= `could not be started: ${error.message}`));
    this.exited = new Promise((resolve) =>
      this.child.once('exit', (code, signal) => {
        if (this.killed) onExit('was terminated');
        else if (failure) onExit(failure);
        else if (signal === 'SIGABRT' || code === 134) onExit(`aborted (${maxHeapMb === undefined ? 'most likely out of memory' : `most likely past its heap limit of ${maxHeapMb} MiB`})`);
        else onExit(signal ? `was killed by ${signal}` : `exited with code ${code}`);
        resolve();
      }),
    );
  }

  send(message: ToMember): void {
    if (this.child.connected) this.child.send(message);
  }

  hold(held: boolean): void {
    if (held) {
      this.child.ref();
      this.child.channel?.ref();
    } else {
      this.child.unref();
      this.child.channel?.unref();
    }
  }

  async kill(): Promise<void> {
    this.killed = true;
    this.hold(true);
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
    await this.exited;
  }
}
