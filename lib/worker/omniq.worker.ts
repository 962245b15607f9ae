import { Inject, Injectable, Optional, type BeforeApplicationShutdown, type OnApplicationBootstrap } from '@nestjs/common';
import { OMNIQ_CODEC, OMNIQ_CONFIG, OMNIQ_INSTRUMENTATION, OMNIQ_TASK_QUEUE } from '../omniq.constants.js';
import type { OmniQConfig } from '../config/omniq-config.js';
import { createLogger, type OmniQLogger } from '../config/omniq-logger.js';
import type { Codec } from '../serialization/codec.js';
import type { TaskRecord } from '../models/task.model.js';
import type { TaskQueueStore, Unsubscribe } from '../storage/task-queue.store.js';
import { EventRecorder } from '../events/event.recorder.js';
import { LeaseLostError, TaskCancelledError, WorkerShutdownError } from '../errors/task.errors.js';
import { WorkflowHooks } from '../workflows/workflow-hooks.js';
import { StoreOutcomes } from '../workflows/store-outcomes.js';
import { TaskSubmitter } from '../workflows/task.submitter.js';
import { OmniQStores } from '../omniq-stores.js';
import { AttemptLogging, type AttemptInstrumentation } from './attempt-instrumentation.js';
import { TaskExecutors, workerTypeOf } from './task-executors.js';
import type { WorkerType } from '../interfaces/task-options.interface.js';
import { TaskRegistry } from '../task.registry.js';
import { TaskRunner } from './task-runner.js';
import { Attempt } from './attempt.js';
import { WakeSignal } from './wake-signal.js';
import { describeError } from '../utils/describe-error.js';
import { timerDelay } from '../utils/timer-delay.js';

/** The tasks that run in one place (the event loop, the thread pool, the process pool), with slots of their own. */
class WorkGroup {
  /** Handlers of this group running now. */
  running = 0;
  /** Handlers of this group that outlived their attempt and still run (see OmniQWorker.overrunning). */
  overrun = 0;

  constructor(
    readonly type: WorkerType,
    readonly names: string[],
    readonly capacity: number,
  ) {}
}

/** An attempt this worker holds until its end is recorded; whoever needs to wait for that asks for a promise. */
class ActiveTask {
  private waiters: (() => void)[] | undefined;
  /** True until the handler returned (or the attempt was stopped): the attempt takes one of the slots meanwhile. */
  running = true;

  constructor(
    readonly task: TaskRecord,
    readonly attempt: Attempt,
    readonly group: WorkGroup,
  ) {}

  /** Resolves once the attempt's outcome is recorded. */
  ended(): Promise<void> {
    return new Promise((resolve) => (this.waiters ??= []).push(resolve));
  }

  end(): void {
    if (this.waiters) for (const resolve of this.waiters) resolve();
  }
}

type WorkerState = 'idle' | 'running' | 'stopping' | 'stopped';

/**
 * Runs registered tasks: reserves due tasks from its queues (highest priority queue first) with
 * at most `concurrency` in flight, renews their leases, and drains gracefully on shutdown. It is
 * the only place handlers run. Starts at application bootstrap unless `worker.enabled` is false.
 */
@Injectable()
export class OmniQWorker implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger: OmniQLogger;
  /** Attempts held until their end is recorded: those whose handler runs, and those whose end is being written. */
  private readonly active = new Map<string, ActiveTask>();
  /** The event loop's tasks and, when handlers run there, the thread and process pools' tasks. */
  private groups: WorkGroup[] = [];
  /** Handlers whose attempt ended (timed out, cancelled, lease lost, shut down) that ignore their signal and run on: each keeps its slot until it returns. */
  private readonly overrun = new Set<Attempt>();
  /** Those of `overrun` whose attempt is no longer in `active` (its end is recorded). */
  private overrunRecorded = 0;
  /** Tasks in `active` on their last delivery (one more lapse makes them dead letters): at most one runs here at a time. */
  private suspects = 0;
  private readonly wake = new WakeSignal();
  private readonly runner: TaskRunner;
  private readonly executors: TaskExecutors;
  private state: WorkerState = 'idle';
  private servedQueues: string[] = [];
  private loopDone: Promise<void> | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  private unsubscribe: Unsubscribe[] = [];
  private closing: Promise<void> | undefined;
  private renewing = false;
  private lastCancelCheck = 0;
  /** When retries this worker scheduled fall due: it wakes for them rather than waiting for a poll. */
  private readonly retriesDue = new Set<number>();
  /**
   * Cancel requests heard for tasks this worker does not run (yet), by when they were heard: a
   * request can arrive between a reserve's commit and the worker's launch of the task it
   * returned, and must still stop it.
   */
  private readonly cancelsHeard = new Map<string, number>();

  constructor(
    @Inject(OMNIQ_TASK_QUEUE) private readonly queue: TaskQueueStore,
    @Inject(OMNIQ_CONFIG) private readonly config: OmniQConfig,
    @Inject(OMNIQ_CODEC) codec: Codec,
    stores: OmniQStores,
    private readonly registry: TaskRegistry,
    private readonly recorder: EventRecorder,
    hooks: WorkflowHooks,
    outcomes: StoreOutcomes,
    submitter: TaskSubmitter,
    @Optional() @Inject(OMNIQ_INSTRUMENTATION) instrumentation: readonly AttemptInstrumentation[] = [],
  ) {
    this.logger = createLogger('OmniQWorker', config.logging);
    this.executors = new TaskExecutors(config, codec);
    this.runner = new TaskRunner({
      queue,
      scope: stores.scope,
      outcomes,
      submitter,
      executors: this.executors,
      instrumentation: [new AttemptLogging(this.logger), ...instrumentation],
      codec,
      registry,
      recorder,
      hooks,
      workerId: config.worker.id,
      logging: config.logging,
      onRetryScheduled: (retryAt) => this.retriesDue.add(retryAt.getTime()),
    });
  }

  get id(): string {
    return this.config.worker.id;
  }

  /** The lapses of a task on its last delivery: one more and the leader ends it (`maintenance.maxLapses`). */
  private get lastDelivery(): number {
    return Math.max(1, this.config.maintenance.maxLapses - 1);
  }

  /** Queues served, highest priority first (known once started). */
  get queues(): readonly string[] {
    return this.servedQueues;
  }

  /**
   * Tasks this worker holds right now — running, or ended with their end being written — with the
   * handlers that outlived their attempt (see {@link overrunning}).
   */
  get inFlight(): number {
    return this.active.size + this.overrunRecorded;
  }

  /**
   * Handlers whose attempt already ended — timed out, cancelled, lease lost or aborted by shutdown
   * — but that ignore their AbortSignal and are still running. Each counts against `concurrency`
   * until it returns, so a worker never runs more handler bodies at once than its concurrency.
   */
  get overrunning(): number {
    return this.overrun.size;
  }

  get isRunning(): boolean {
    return this.state === 'running';
  }

  /**
   * Resolves once this worker holds no attempt of the task any more (its outcome is fully
   * recorded). Resolves at once for tasks it does not run.
   */
  async settled(taskId: string): Promise<void> {
    for (const active of this.active.values()) if (active.task.id === taskId) await active.ended();
  }

  onApplicationBootstrap(): void {
    if (this.config.worker.enabled) this.start();
  }

  beforeApplicationShutdown(): Promise<void> {
    return this.close();
  }

  /** Starts reserving and running tasks. Called at bootstrap when `worker.enabled`; a closed worker cannot restart. */
  start(): void {
    if (this.state !== 'idle') return;
    const { heartbeatMs, type } = this.config.worker;
    this.servedQueues = this.config.worker.queues ?? defaultQueues(this.config.taskDefaults.queue, this.registry.all().map((t) => t.options.queue));
    this.groups = (['async', 'thread', 'process'] as const).flatMap((groupType) => {
      const names = this.registry.all().filter((task) => workerTypeOf(task, type) === groupType).map((task) => task.name);
      return names.length > 0 || groupType === 'async' ? [new WorkGroup(groupType, names, this.executors.capacity(groupType))] : [];
    });
    this.state = 'running';
    const { notifier } = this.queue;
    this.unsubscribe = [
      notifier.listen('wake', (queue) => {
        if (this.servedQueues.includes(queue)) this.wake.notify();
      }),
      notifier.listen('control', (message) => this.control(message)),
    ];
    this.heartbeat = setInterval(() => void this.renewLeases(), heartbeatMs);
    this.loopDone = this.loop();
    const slots = this.groups.map((group) => (group.type === 'async' ? `concurrency ${group.capacity}` : `${group.capacity} ${group.type === 'thread' ? 'threads' : 'processes'}`));
    this.logger.log(`Worker ${this.id} started: ${slots.join(', ')}, queues ${this.servedQueues.join(' > ')}`);
  }

  /**
   * Stops reserving, waits up to `shutdownTimeoutMs` for tasks in flight, then aborts the rest
   * (their signal fires with WorkerShutdownError) and releases their leases so another worker can
   * take them at once. Safe to call more than once: every call returns the same promise.
   */
  close(): Promise<void> {
    return (this.closing ??= this.shutdown());
  }

  private async shutdown(): Promise<void> {
    const started = this.state !== 'idle';
    this.state = 'stopping';
    for (const unsubscribe of this.unsubscribe) unsubscribe();
    this.wake.notify();
    await this.loopDone;
    if (this.active.size > 0) {
      const { shutdownTimeoutMs } = this.config.worker;
      this.logger.log(`Worker ${this.id} stopping: waiting up to ${shutdownTimeoutMs} ms for ${this.active.size} task(s)`);
      await this.waitForActive(shutdownTimeoutMs);
    }
    if (this.active.size > 0) {
      this.logger.warn(`Worker ${this.id}: aborting ${this.active.size} task(s) still running and releasing their leases`);
      for (const { attempt } of this.active.values()) attempt.stop(new WorkerShutdownError());
      await this.waitForActive();
    }
    clearInterval(this.heartbeat);
    await this.executors.close();
    await this.runner.drain();
    await this.recorder.drain();
    this.state = 'stopped';
    if (started) this.logger.log(`Worker ${this.id} stopped`);
  }

  private async loop(): Promise<void> {
    const { pollIntervalMs } = this.config.worker;
    while (this.state === 'running') {
      await this.checkCancelRequests();
      let free = false;
      let filled = false;
      try {
        for (const group of this.groups) {
          const slots = this.freeSlots(group);
          if (slots <= 0) continue;
          free = true;
          if ((await this.reserveFor(group, slots)) === slots) filled = true;
        }
      } catch (error) {
        this.logger.error(`Worker ${this.id}: reserving tasks failed: ${String(error)}`);
        await this.wake.wait(pollIntervalMs);
        continue;
      }
      if (!free) await this.wake.wait(pollIntervalMs);
      else if (!filled) await this.wake.wait(this.idleWaitMs());
    }
  }

  /** Reserves and launches up to `limit` due tasks of the group; returns how many it got. */
  private async reserveFor(group: WorkGroup, limit: number): Promise<number> {
    const { leaseMs } = this.config.worker;
    // A task on its last delivery may be one that kills its workers: one at a time here, so a
    // poison task cannot take the same innocent tasks down with it to their last lapse.
    const maxLapsed = this.suspects === 0 ? 1 : 0;
    const tasks = await this.queue.reserve({ queues: this.servedQueues, workerId: this.id, limit, leaseMs, names: group.names, maxLapsed, lapsedFrom: this.lastDelivery });
    for (const task of tasks) this.launch(task, group);
    return tasks.length;
  }

  /**
   * Slots of a group free for new tasks: a slot is taken while a handler body runs (an attempt's,
   * or one that outlived its attempt), not while its end is written, so the next tasks start
   * meanwhile. Ends being written are bounded too: at most as many as there are slots wait beside
   * the running ones.
   */
  private freeSlots(group: WorkGroup): number {
    const slots = this.groups.reduce((sum, g) => sum + g.capacity, 0);
    return Math.min(group.capacity - group.running - group.overrun, 2 * slots - this.active.size - this.overrunRecorded);
  }

  private idleWaitMs(): number {
    const now = Date.now();
    let wait = this.config.worker.pollIntervalMs;
    for (const due of this.retriesDue) {
      if (due <= now) this.retriesDue.delete(due);
      wait = Math.min(wait, Math.max(0, due - now));
    }
    return wait;
  }

  private launch(task: TaskRecord, group: WorkGroup): void {
    const active = new ActiveTask(task, new Attempt(), group);
    this.active.set(task.leaseToken!, active);
    group.running++;
    const suspect = task.lapses >= this.lastDelivery;
    if (suspect) this.suspects++;
    if (this.cancelsHeard.delete(task.id)) active.attempt.stop(new TaskCancelledError(task.id));
    const returned = (): void => {
      if (!active.running) return;
      active.running = false;
      group.running--;
      // A pool's handler cannot outlive its attempt: stopping the attempt terminated its member.
      if (active.attempt.overrunning && group.type === 'async') this.holdSlot(task, active);
      this.wake.notify();
    };
    const done = (failed: boolean, error?: unknown): void => {
      returned();
      if (!this.active.delete(task.leaseToken!)) return;
      if (suspect) this.suspects--;
      if (this.overrun.has(active.attempt)) this.overrunRecorded++;
      if (failed) this.logger.error(`Task ${task.name} ${task.id}: could not record its outcome: ${describeError(error)}`);
      active.end();
      this.wake.notify();
    };
    try {
      this.runner.run(task, active.attempt, { returned, done });
    } catch (error) {
      done(true, error);
    }
  }

  /** Keeps the slot of a handler that runs on after its attempt ended until it returns. */
  private holdSlot(task: TaskRecord, active: ActiveTask): void {
    const { attempt, group } = active;
    this.overrun.add(attempt);
    group.overrun++;
    this.logger.warn(
      `Task ${task.name} ${task.id}: its attempt ended (${describeError(attempt.stopReason)}) but the handler ignores its AbortSignal ` +
        `and is still running; it keeps one of the ${group.capacity} slots until it returns (${this.overrun.size} such now)`,
    );
    void attempt.handlerSettled().then(() => {
      this.overrun.delete(attempt);
      group.overrun--;
      if (!this.active.has(active.task.leaseToken!)) this.overrunRecorded--;
      this.wake.notify();
    });
  }

  /**
   * A `cancel:<id>` control message: stops the task's handler if this worker runs it (its signal
   * fires with TaskCancelledError and the task ends cancelled).
   */
  private control(message: string): void {
    if (!message.startsWith('cancel:')) return;
    const taskId = message.slice('cancel:'.length);
    let running = false;
    for (const { task, attempt } of this.active.values()) {
      if (task.id !== taskId) continue;
      running = true;
      attempt.stop(new TaskCancelledError(taskId));
    }
    if (!running) this.heardCancel(taskId);
  }

  /**
   * Keeps a cancel request for a task this worker does not hold, for as long as a reserve of it
   * can still be on its way here (a lease's length): most such tasks run elsewhere, and are
   * forgotten then.
   */
  private heardCancel(taskId: string): void {
    const now = Date.now();
    for (const [id, at] of this.cancelsHeard) {
      if (at + this.config.worker.leaseMs > now) break;
      this.cancelsHeard.delete(id);
    }
    this.cancelsHeard.delete(taskId);
    this.cancelsHeard.set(taskId, now);
  }

  /**
   * Where the store's notifications do not reach other processes, cancel requests made there are
   * found by reading them, at most once per poll interval.
   */
  private async checkCancelRequests(): Promise<void> {
    if (this.queue.notifier.crossProcess || this.active.size === 0) return;
    const now = Date.now();
    if (now - this.lastCancelCheck < this.config.worker.pollIntervalMs) return;
    this.lastCancelCheck = now;
    const running = [...this.active.values()];
    try {
      const cancelled = new Set(await this.queue.cancelRequested(running.map(({ task }) => task.id)));
      for (const { task, attempt } of running) if (cancelled.has(task.id)) attempt.stop(new TaskCancelledError(task.id));
    } catch (error) {
      this.logger.error(`Worker ${this.id}: reading cancel requests failed: ${describeError(error)}`);
    }
  }

  private async renewLeases(): Promise<void> {
    if (this.renewing || this.active.size === 0) return;
    this.renewing = true;
    const entries = [...this.active.values()];
    try {
      const held = await this.queue.extendLeases(
        entries.map(({ task }) => ({ id: task.id, token: task.leaseToken! })),
        this.config.worker.leaseMs,
      );
      entries.forEach(({ task, attempt }, i) => {
        if (!held[i]) attempt.stop(new LeaseLostError(task.id));
      });
    } catch (error) {
      this.logger.warn(`Worker ${this.id}: renewing leases failed: ${String(error)}`);
    } finally {
      this.renewing = false;
    }
  }

  private async waitForActive(timeoutMs?: number): Promise<void> {
    const all = Promise.all([...this.active.values()].map((active) => active.ended()));
    if (timeoutMs === undefined) return void (await all);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([all, new Promise<void>((resolve) => (timer = setTimeout(resolve, timerDelay(timeoutMs))))]);
    clearTimeout(timer);
  }
}

function defaultQueues(defaultQueue: string, taskQueues: readonly (string | undefined)[]): string[] {
  return [...new Set([defaultQueue, ...taskQueues.filter((q): q is string => q !== undefined)])];
}
