import { Inject, Injectable, type BeforeApplicationShutdown, type OnApplicationBootstrap } from '@nestjs/common';
import { OMNIQ_CODEC, OMNIQ_CONFIG, OMNIQ_TASK_QUEUE } from '../omniq.constants.js';
import type { OmniQConfig } from '../config/omniq-config.js';
import { createLogger, type OmniQLogger } from '../config/omniq-logger.js';
import type { Codec } from '../serialization/codec.js';
import type { ScheduleRecord, ScheduleSpec } from '../models/schedule.model.js';
import { LIVE_TASK_STATUSES, type NewTask } from '../models/task.model.js';
import { expectSchedule, type ScheduleAdvance, type ScheduleStore } from '../storage/schedule.store.js';
import type { TaskQueueStore } from '../storage/task-queue.store.js';
import type { CreateScheduleOptions } from '../interfaces/scheduled-options.interface.js';
import { OmniQError, ScheduleDefinitionError, UnknownScheduleError, UnknownTaskError } from '../errors/omniq.errors.js';
import { EventRecorder } from '../events/event.recorder.js';
import { TaskAdmin } from '../admin/task.admin.js';
import { TaskRegistry } from '../task.registry.js';
import { buildNewTask } from '../utils/new-task.builder.js';
import { WakeSignal } from '../worker/wake-signal.js';
import { latestFireAtOrBefore, nextFireAfter } from './schedule-timing.js';
import { specHash, toScheduleSpec } from './schedule-spec.js';
import { ScheduleRegistry } from './schedule.registry.js';

/**
 * Keeps schedules in the task-queue store and fires them. At bootstrap it reconciles the
 * `@Scheduled()` declarations with the stored schedules; then every instance watches for due
 * schedules, and the store's compare-and-set lets exactly one of them enqueue each tick (with an
 * idempotency key made of schedule and fire time).
 */
@Injectable()
export class OmniQScheduler implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger: OmniQLogger;
  private readonly wake = new WakeSignal();
  private running = false;
  private loopDone: Promise<void> | undefined;

  constructor(
    @Inject(OMNIQ_TASK_QUEUE) private readonly queue: TaskQueueStore,
    @Inject(OMNIQ_CONFIG) private readonly config: OmniQConfig,
    @Inject(OMNIQ_CODEC) private readonly codec: Codec,
    private readonly tasks: TaskRegistry,
    private readonly declared: ScheduleRegistry,
    private readonly recorder: EventRecorder,
    private readonly admin: TaskAdmin,
  ) {
    this.logger = createLogger('OmniQScheduler', config.logging);
  }

  async onApplicationBootstrap(): Promise<void> {
    if (!this.queue.schedules) {
      if (this.declared.all().length > 0) {
        throw new ScheduleDefinitionError(`The task-queue backend keeps no schedules, but @Scheduled() declares: ${this.declared.all().map((d) => d.source).join(', ')}`);
      }
      return;
    }
    await this.reconcile();
    if (this.config.scheduler.enabled) this.start();
  }

  beforeApplicationShutdown(): Promise<void> {
    return this.stop();
  }

  /** Stops firing; idempotent. */
  async stop(): Promise<void> {
    this.running = false;
    this.wake.notify();
    await this.loopDone;
  }

  /** Creates a schedule for a registered task, or updates the one with this name. */
  async create(name: string, options: CreateScheduleOptions): Promise<ScheduleRecord> {
    const where = `createSchedule("${name}")`;
    if (typeof name !== 'string' || name === '') throw new ScheduleDefinitionError(`${where}: the name must be a non-empty string`);
    if (!this.tasks.has(options.task) && !this.config.allowUnregisteredTasks) throw new UnknownTaskError(options.task, this.tasks.declaredNames(), where);
    const { task, ...timing } = options;
    const spec = toScheduleSpec(where, task, timing, this.codec);
    const saved = await this.upsert(name, spec, 'runtime', new Date());
    this.wake.notify();
    return saved;
  }

  list(): Promise<ScheduleRecord[]> {
    return this.store().listSchedules();
  }

  get(id: string): Promise<ScheduleRecord | undefined> {
    return this.store().getSchedule(id);
  }

  /** Pauses on every instance (the status is stored) until resumed, across restarts. */
  async pause(id: string): Promise<ScheduleRecord> {
    const before = await this.require(id);
    if (before.status !== 'active') return before;
    const after = (await this.store().setScheduleStatus(id, 'paused'))!;
    await this.recorder.record({ type: 'schedule_paused', scheduleId: id, taskName: after.taskName, queue: after.queue });
    return after;
  }

  /** Resumes a paused schedule from its next fire time after now (fires missed while paused are skipped). */
  async resume(id: string): Promise<ScheduleRecord> {
    const before = await this.require(id);
    if (before.status !== 'paused') return before;
    const next = nextFireAfter(before, new Date());
    const after = (await this.store().setScheduleStatus(id, next ? 'active' : 'expired', next))!;
    await this.recorder.record({ type: 'schedule_resumed', scheduleId: id, taskName: after.taskName, queue: after.queue });
    this.wake.notify();
    return after;
  }

  remove(id: string): Promise<boolean> {
    return this.store().deleteSchedule(id);
  }

  /** Enqueues the schedule's task now, outside its timing (its next fire stays as it was). */
  async trigger(id: string): Promise<string> {
    const schedule = await this.require(id);
    const now = new Date();
    const task = this.buildTask(schedule, now);
    const [outcome] = await this.queue.enqueue([task]);
    await this.recorder.record({ type: 'enqueued', taskId: task.id, taskName: task.name, queue: task.queue, scheduleId: id, message: 'Triggered by request' });
    return outcome!.id;
  }

  private start(): void {
    this.running = true;
    this.loopDone = this.loop();
  }

  private async loop(): Promise<void> {
    const { pollIntervalMs } = this.config.scheduler;
    while (this.running) {
      try {
        await this.fireDue(new Date());
        const next = await this.store().nextDueAt();
        const wait = next ? Math.min(pollIntervalMs, Math.max(0, next.getTime() - Date.now())) : pollIntervalMs;
        await this.wake.wait(wait);
      } catch (error) {
        this.logger.error(`Firing schedules failed: ${String(error)}`);
        await this.wake.wait(pollIntervalMs);
      }
    }
  }

  private async fireDue(now: Date): Promise<void> {
    for (const schedule of await this.store().dueSchedules(now, 100)) {
      if (!this.running) return;
      await this.fire(schedule, now);
    }
  }

  /** Fires one due schedule: decides the fire (missed? overlapping?), then claims it atomically. */
  private async fire(schedule: ScheduleRecord, now: Date): Promise<void> {
    const due = schedule.nextRunAt!;
    const missed = now.getTime() - due.getTime() > this.config.scheduler.missedGraceMs;
    let fireAt: Date | undefined = due;
    let next = nextFireAfter(schedule, due);
    if (missed) {
      const latest = latestFireAtOrBefore(schedule, due, now);
      fireAt = schedule.missed === 'run-once' ? latest : undefined;
      next = nextFireAfter(schedule, latest);
      this.logger.warn(`Schedule ${schedule.id} missed fires since ${due.toISOString()}: ${fireAt ? `running once for ${latest.toISOString()}` : 'skipped'}`);
    }
    if (fireAt && !schedule.overlap && (await this.previousBlocks(schedule, fireAt, now))) {
      this.logger.warn(`Schedule ${schedule.id}: fire at ${fireAt.toISOString()} skipped, task ${schedule.lastTaskId} is still live (overlap: false)`);
      fireAt = undefined;
    }
    const runCount = schedule.runCount + (fireAt ? 1 : 0);
    const expired = next === undefined || (schedule.maxRuns !== undefined && runCount >= schedule.maxRuns);
    const advance: ScheduleAdvance = {
      nextRunAt: expired ? undefined : next,
      status: expired ? 'expired' : 'active',
      runCount,
      lastRunAt: fireAt ?? schedule.lastRunAt,
    };
    const task = fireAt && this.buildTask(schedule, now, `schedule:${schedule.id}:${fireAt.getTime()}`);
    const outcome = await this.store().fireSchedule(schedule.id, due, advance, task);
    if (outcome.claimed && outcome.enqueued?.created && task) {
      await this.recorder.record({
        type: 'enqueued',
        taskId: task.id,
        taskName: task.name,
        queue: task.queue,
        scheduleId: schedule.id,
        message: `Fired by schedule ${schedule.id} for ${fireAt!.toISOString()}`,
      });
    }
  }

  /**
   * With overlap: false, whether the schedule's previous task keeps this fire from running:
   * - ended or gone: no.
   * - running under a live lease, or waiting (for a retry, or to run again after its worker died
   *   and the leader reclaimed it: it will run, so a new tick would overlap it): yes.
   * - waiting with a cancel request (superseded before): no, no worker will run it.
   * - running under a lapsed lease: its worker stopped renewing it (died or froze), and it would
   *   block every fire until the maintenance leader reclaims it — a whole lease, longer while no
   *   leader is up. It is superseded instead: cancelled (a running task keeps the cancel request,
   *   so the worker that reserves it after the reclaim ends it unrun, and a frozen worker that
   *   wakes aborts it), and the fire goes ahead.
   * Skips and supersedes are logged at warn: either means a tick did not run as scheduled.
   */
  private async previousBlocks(schedule: ScheduleRecord, fireAt: Date, now: Date): Promise<boolean> {
    if (!schedule.lastTaskId) return false;
    const previous = await this.queue.get(schedule.lastTaskId);
    if (previous === undefined || !LIVE_TASK_STATUSES.includes(previous.status)) return false;
    if (previous.status !== 'running') return previous.cancelRequestedAt === undefined;
    if (previous.leaseExpiresAt === undefined || previous.leaseExpiresAt.getTime() >= now.getTime()) return true;
    const lapsed = previous.leaseExpiresAt.toISOString();
    await this.admin.cancel(previous.id, {
      name: 'TaskCancelledError',
      message: `Superseded by the fire of schedule ${schedule.id} at ${fireAt.toISOString()}: its lease lapsed at ${lapsed} (its worker stopped renewing it)`,
    });
    this.logger.warn(`Schedule ${schedule.id}: task ${previous.id}'s lease lapsed at ${lapsed} (its worker stopped renewing it): cancelled, superseded by the fire at ${fireAt.toISOString()}`);
    return false;
  }

  private buildTask(schedule: ScheduleRecord, now: Date, key?: string): NewTask {
    const handlerOptions = this.tasks.get(schedule.taskName)?.options ?? {};
    const task = buildNewTask(schedule.taskName, schedule.payload, this.config.taskDefaults, handlerOptions, { queue: schedule.queue, priority: schedule.priority, key }, now);
    return { ...task, scheduleId: schedule.id };
  }

  /** Creates declared schedules, updates changed ones, and disables those no longer declared. */
  private async reconcile(): Promise<void> {
    const now = new Date();
    const stored = new Map((await this.store().listSchedules()).map((s) => [s.id, s]));
    for (const { id, spec } of this.declared.all()) await this.upsert(id, spec, 'decorator', now, stored.get(id));
    const declaredIds = new Set(this.declared.all().map((d) => d.id));
    for (const schedule of stored.values()) {
      if (schedule.source === 'decorator' && !declaredIds.has(schedule.id) && schedule.status !== 'disabled') {
        await this.store().setScheduleStatus(schedule.id, 'disabled');
        this.logger.log(`Schedule ${schedule.id} is no longer declared: disabled`);
      }
    }
  }

  /**
   * Creates the schedule, or updates it when its declaration changed. The save is a
   * compare-and-set on what was read: when another instance created, updated or fired it
   * meanwhile (replicas booting together), the schedule is read again and judged anew, so no
   * instance ever rewinds a fire another one made.
   */
  private async upsert(id: string, spec: ScheduleSpec, source: ScheduleRecord['source'], now: Date, known?: ScheduleRecord): Promise<ScheduleRecord> {
    let existing = known ?? (await this.store().getSchedule(id));
    for (;;) {
      const hash = specHash(spec);
      if (existing && existing.specHash === hash && existing.source === source && existing.status !== 'disabled') return existing;
      const record = this.scheduleRecord(id, spec, source, hash, now, existing);
      if (await this.store().saveSchedule(record, existing ? expectSchedule(existing) : { absent: true })) {
        this.logger.log(`Schedule ${id} ${existing ? 'updated' : 'created'}: ${describeTiming(spec)}${record.nextRunAt ? `, next ${record.nextRunAt.toISOString()}` : ''}`);
        return record;
      }
      existing = await this.store().getSchedule(id);
    }
  }

  private scheduleRecord(id: string, spec: ScheduleSpec, source: ScheduleRecord['source'], hash: string, now: Date, existing?: ScheduleRecord): ScheduleRecord {
    const next = nextFireAfter(spec, now);
    const runCount = existing?.runCount ?? 0;
    const exhausted = next === undefined || (spec.maxRuns !== undefined && runCount >= spec.maxRuns);
    const paused = existing?.status === 'paused';
    return {
      ...spec,
      id,
      source,
      specHash: hash,
      status: paused ? 'paused' : exhausted ? 'expired' : 'active',
      nextRunAt: paused || exhausted ? undefined : next,
      lastRunAt: existing?.lastRunAt,
      runCount,
      lastTaskId: existing?.lastTaskId,
      createdAt: existing?.createdAt ?? now,
      updatedAt: now,
      pausedAt: existing?.pausedAt,
    };
  }

  private async require(id: string): Promise<ScheduleRecord> {
    const found = await this.store().getSchedule(id);
    if (!found) throw new UnknownScheduleError(id);
    return found;
  }

  private store(): ScheduleStore {
    if (!this.queue.schedules) throw new OmniQError('The task-queue backend keeps no schedules');
    return this.queue.schedules;
  }
}

function describeTiming(spec: ScheduleSpec): string {
  if (spec.kind === 'cron') return `cron "${spec.cron}"${spec.tz ? ` (${spec.tz})` : ''}`;
  if (spec.kind === 'interval') return `every ${spec.everyMs} ms`;
  return `once at ${spec.at!.toISOString()}`;
}
