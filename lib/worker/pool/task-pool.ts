import type { LogLevel } from '@nestjs/common';
import type { OmniQLogger } from '../../config/omniq-logger.js';
import { PoolMemberError } from '../../errors/task.errors.js';
import type { EncodedValue } from '../../models/encoded-value.model.js';
import { startMember, type MemberLink, type PoolKind } from './member-link.js';
import type { ContextCall, FromMember, MemberSettings, RemoteContext, RemoteError, ToMember } from './pool-protocol.js';
import { fromRemoteError, toRemoteError } from './remote-error.js';

/** One handler call handed to a pool: what the member runs, and who hears what it says meanwhile. */
export interface PoolJob {
  task: string;
  payload: EncodedValue;
  ctx: RemoteContext;
  /** Registers what stopping the attempt does: a queued job is dropped, a running one's member terminated. */
  onStop(listener: (reason: unknown) => void): void;
  /** A bootstrapped member took the job: its handler begins. */
  started(): void;
  /** A `ctx` call the handler made; resolves with the encoded answer. */
  call(request: ContextCall): Promise<EncodedValue | undefined>;
  log(level: LogLevel, message: string): void;
}

export interface TaskPoolOptions {
  kind: PoolKind;
  size: number;
  script: string;
  settings: MemberSettings;
  recycleHeapMb?: number;
  maxHeapMb?: number;
  logger: OmniQLogger;
}

interface Pending {
  job: PoolJob;
  resolve(value: EncodedValue): void;
  reject(error: unknown): void;
  settled: boolean;
}

type MemberState = 'starting' | 'idle' | 'busy' | 'gone';

class Member {
  state: MemberState = 'starting';
  current: Pending | undefined;
  /** Set by the member's `crash` message: why it is about to exit. */
  crash: string | undefined;
  run = 0;

  constructor(readonly link: MemberLink) {}
}

/**
 * A pool of thread or process members, started lazily up to `size` and reused. Each member
 * bootstraps the pool module once and runs one job at a time. A job aborted while it runs
 * terminates its member (a hard timeout or cancel: the handler cannot ignore it); a member that
 * exits, crashes or runs out of memory fails only its job; either way a fresh member takes its
 * place when there is work. A member whose heap stays above `recycleHeapMb` after a job is
 * replaced too.
 */
export class TaskPool {
  private readonly members = new Set<Member>();
  private readonly queue: Pending[] = [];
  private nextRun = 0;
  private closed = false;

  constructor(private readonly options: TaskPoolOptions) {}

  /** Resolves with the handler's encoded result; rejects with its error, the stop reason, or a PoolMemberError. */
  run(job: PoolJob): Promise<EncodedValue> {
    if (this.closed) return Promise.reject(new PoolMemberError(`The ${this.options.kind} pool is closed`));
    return new Promise<EncodedValue>((resolve, reject) => {
      const pending: Pending = { job, resolve, reject, settled: false };
      this.queue.push(pending);
      job.onStop((reason) => this.abort(pending, reason));
      if (!pending.settled) this.dispatch();
    });
  }

  /** Terminates every member; jobs still queued or running fail. Resolves once every member is gone. */
  async close(): Promise<void> {
    this.closed = true;
    for (const pending of this.queue.splice(0)) this.settle(pending, new PoolMemberError(`The ${this.options.kind} pool closed before the task started`));
    await Promise.all([...this.members].map((member) => this.retire(member)));
  }

  private dispatch(): void {
    while (this.queue.length > 0) {
      const member = [...this.members].find((m) => m.state === 'idle');
      if (!member) break;
      this.assign(member, this.queue.shift()!);
    }
    const starting = [...this.members].filter((m) => m.state === 'starting').length;
    let missing = Math.min(this.queue.length - starting, this.options.size - this.members.size);
    for (; missing > 0; missing--) this.start();
  }

  private assign(member: Member, pending: Pending): void {
    const { job } = pending;
    member.state = 'busy';
    member.current = pending;
    member.run = ++this.nextRun;
    member.link.hold(true);
    member.link.send({ t: 'run', run: member.run, task: job.task, payload: job.payload, ctx: job.ctx });
    // A member takes the next job only once it is bootstrapped and idle: the handler starts now.
    job.started();
  }

  private start(): void {
    const { kind, script, maxHeapMb, settings } = this.options;
    let member: Member;
    const link = startMember(kind, {
      script,
      maxHeapMb,
      onMessage: (message) => this.heard(member, message),
      onExit: (description) => this.exited(member, description),
    });
    member = new Member(link);
    this.members.add(member);
    link.send({ t: 'init', settings });
  }

  private heard(member: Member, message: FromMember): void {
    switch (message.t) {
      case 'ready':
        member.state = 'idle';
        member.link.hold(false);
        return this.dispatch();
      case 'failed-to-start':
        return this.failedToStart(member, message.error);
      case 'crash':
        member.crash = `died of an uncaught ${message.error.name}: ${message.error.message}`;
        return;
      case 'log':
        if (message.run === member.run) member.current?.job.log(message.level, message.message);
        return;
      case 'call':
        return this.answer(member, message.run, message.call, message.request);
      case 'done':
        return this.done(member, message);
    }
  }

  private answer(member: Member, run: number, call: number, request: ContextCall): void {
    const pending = member.current;
    if (!pending || run !== member.run) return;
    const reply = (message: ToMember): void => {
      if (member.run === run && member.state === 'busy') member.link.send(message);
    };
    pending.job.call(request).then(
      (value) => reply({ t: 'reply', run, call, ok: true, value }),
      (error: unknown) => reply({ t: 'reply', run, call, ok: false, error: toRemoteError(error) }),
    );
  }

  private done(member: Member, message: FromMember & { t: 'done' }): void {
    const pending = member.current;
    if (!pending || message.run !== member.run) return;
    member.current = undefined;
    member.state = 'idle';
    member.link.hold(false);
    if (message.ok) this.settle(pending, undefined, message.value);
    else this.settle(pending, fromRemoteError(message.error));
    const { recycleHeapMb, logger } = this.options;
    if (recycleHeapMb !== undefined && message.heapUsed !== undefined && message.heapUsed > recycleHeapMb * 1024 * 1024) {
      logger.log(`Recycling ${member.link.label}: its heap holds ${Math.round(message.heapUsed / 1024 / 1024)} MiB after a task (poolRecycleHeapMb ${recycleHeapMb})`);
      void this.retire(member);
    }
    this.dispatch();
  }

  /** The member could not bootstrap: the oldest queued job fails with why, and the next job tries a fresh member. */
  private failedToStart(member: Member, error: RemoteError): void {
    const oldest = this.queue.shift();
    const failure = new PoolMemberError(`A ${this.options.kind} pool member could not bootstrap ${this.moduleName()}: ${error.name}: ${error.message}`);
    if (oldest) this.settle(oldest, failure);
    else this.options.logger.error(failure.message);
    void this.retire(member);
  }

  private exited(member: Member, description: string): void {
    const previous = member.state;
    member.state = 'gone';
    this.members.delete(member);
    const pending = member.current;
    member.current = undefined;
    if (pending) {
      this.settle(pending, new PoolMemberError(`The ${this.options.kind} pool member (${member.link.label}) running task ${pending.job.task} ${pending.job.ctx.taskId} ${member.crash ?? description}`));
    } else if (previous === 'starting' && !this.closed) {
      const oldest = this.queue.shift();
      const failure = new PoolMemberError(`A ${this.options.kind} pool member ${member.crash ?? description} while bootstrapping ${this.moduleName()}`);
      if (oldest) this.settle(oldest, failure);
      else this.options.logger.error(failure.message);
    }
    if (!this.closed) this.dispatch();
  }

  private abort(pending: Pending, reason: unknown): void {
    if (pending.settled) return;
    const queued = this.queue.indexOf(pending);
    if (queued >= 0) this.queue.splice(queued, 1);
    const member = [...this.members].find((m) => m.current === pending);
    if (member) {
      member.current = undefined;
      void this.retire(member);
    }
    this.settle(pending, reason);
  }

  private retire(member: Member): Promise<void> {
    if (member.state !== 'gone') member.state = 'gone';
    this.members.delete(member);
    return member.link.kill();
  }

  private settle(pending: Pending, error: unknown, value?: EncodedValue): void {
    if (pending.settled) return;
    pending.settled = true;
    if (error === undefined) pending.resolve(value!);
    else pending.reject(error);
  }

  private moduleName(): string {
    const { moduleFile, exportName } = this.options.settings;
    return exportName === undefined ? moduleFile : `${exportName} from ${moduleFile}`;
  }
}
