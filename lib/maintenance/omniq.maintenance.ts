import { Inject, Injectable, type BeforeApplicationShutdown, type OnApplicationBootstrap } from '@nestjs/common';
import { OMNIQ_CONFIG } from '../omniq.constants.js';
import type { OmniQConfig } from '../config/omniq-config.js';
import { createLogger, type OmniQLogger } from '../config/omniq-logger.js';
import { OmniQStores } from '../omniq-stores.js';
import { StoreOutcomes } from '../workflows/store-outcomes.js';
import { describeError } from '../utils/describe-error.js';
import { TaskRegistry } from '../task.registry.js';
import { UnhandledTaskWatch } from './unhandled-tasks.watch.js';
import { timerDelay } from '../utils/timer-delay.js';

/** The name of the lease the maintenance leader holds, one per project (stores are namespaced by project). */
export const MAINTENANCE_LEASE = 'maintenance';
/** Tasks (or results) one maintenance step handles per call; a step repeats while calls come back full, up to MAX_BATCHES. */
const BATCH = 1_000;
const MAX_BATCHES = 20;
const MIN_DELAY_MS = 5;

/** What one maintenance run did. */
export interface MaintenanceReport {
  /** Tasks whose lapsed lease was reclaimed, dead letters included. */
  reclaimed: number;
  /** Of those, the tasks whose lease lapsed `maintenance.maxLapses` times: ended failed (poison tasks). */
  deadLettered: number;
  promoted: number;
  expired: number;
  recovered: number;
  purgedResults: number;
}

/**
 * Maintenance by one leader per project. Every instance tries, once per `maintenance.intervalMs`,
 * to take or renew the `maintenance` lease in the store; the one that holds it reclaims tasks
 * whose leases lapsed (their workers died or froze), promotes tasks whose delay passed (waking
 * idle workers everywhere), expires tasks past their TTL (with their cascades), finishes
 * transitions a crashed process left half-done (engines that need that) and deletes results past
 * their TTL — in bounded batches. The others do nothing, so that work costs one instance's
 * queries however many run. When the leader dies, its lease lapses and another instance takes
 * over within `maintenance.leaderTtlMs`; a leader that shuts down resigns so the next takes over
 * at once.
 *
 * Every step is an atomic, idempotent store call, so two leaders overlapping for a moment (a
 * frozen leader waking up after its lease was taken) do no harm: the fencing token is logged on
 * each change of leader, not needed for safety.
 */
@Injectable()
export class OmniQMaintenance implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger: OmniQLogger;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;
  private leading = false;
  private readonly unhandled: UnhandledTaskWatch;

  constructor(
    private readonly stores: OmniQStores,
    @Inject(OMNIQ_CONFIG) private readonly config: OmniQConfig,
    private readonly outcomes: StoreOutcomes,
    registry: TaskRegistry,
  ) {
    this.logger = createLogger('OmniQMaintenance', config.logging);
    const { intervalMs } = config.maintenance;
    this.unhandled = new UnhandledTaskWatch(stores.taskQueue, registry, this.logger, 10 * intervalMs, 60 * intervalMs);
  }

  /** Whether this instance led maintenance at its last try. */
  get isLeader(): boolean {
    return this.leading;
  }

  onApplicationBootstrap(): void {
    if (this.config.maintenance.enabled) this.schedule(0);
  }

  /** Stops trying, waits for a run in progress, and gives the lease up if this instance held it. */
  async beforeApplicationShutdown(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
    if (!this.leading) return;
    this.leading = false;
    try {
      await this.stores.taskQueue.coordination.resign(MAINTENANCE_LEASE, this.config.worker.id);
    } catch (error) {
      this.logger.warn(`Could not resign maintenance leadership: ${describeError(error)}`);
    }
  }

  /** One maintenance run on the stores now, leader or not (for tools and for apps that run no election). */
  async runOnce(now = new Date()): Promise<MaintenanceReport> {
    const { taskQueue: queue, resultStore, scope } = this.stores;
    let deadLettered = 0;
    const reclaimed = await this.repeat(async () => {
      const report = await queue.reclaimLapsed(now, BATCH, scope, this.config.maintenance.maxLapses);
      await this.outcomes.reclaimed(report);
      const dead = report.tasks.filter((task) => task.status === 'failed');
      for (const task of dead) this.logger.error(`Task ${task.name} ${task.id} ended as a dead letter: ${task.lastError?.message ?? 'its lease lapsed'}`);
      deadLettered += dead.length;
      return report.tasks.length;
    });
    const promoted = await this.repeat(() => queue.promoteDue(now, BATCH));
    const expired = await this.repeat(async () => {
      const ended = await queue.expireOverdue(now, BATCH, scope);
      await this.outcomes.endedUnrun(ended);
      return ended.filter((task) => task.status === 'expired').length;
    });
    let recovered = 0;
    if (queue.recoverPending) {
      const ended = await queue.recoverPending(now, scope);
      await this.outcomes.endedUnrun(ended);
      recovered = ended.length;
    }
    const purgedResults = await this.repeat(() => resultStore.purgeExpired(now, BATCH));
    return { reclaimed, deadLettered, promoted, expired, recovered, purgedResults };
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.running = this.tick().finally(() => (this.running = undefined));
    }, timerDelay(delayMs));
  }

  private async tick(): Promise<void> {
    const { intervalMs, leaderTtlMs } = this.config.maintenance;
    let delay = intervalMs;
    try {
      const lead = await this.stores.taskQueue.coordination.tryLead(MAINTENANCE_LEASE, this.config.worker.id, leaderTtlMs);
      if (lead.leader !== this.leading) {
        this.logger.log(lead.leader ? `Leading maintenance (term ${lead.fence})` : `No longer leading maintenance (now ${lead.holder ?? 'nobody'})`);
      }
      this.leading = lead.leader;
      if (lead.leader) {
        const report = await this.runOnce();
        if (report.reclaimed > 0) this.logger.warn(`Reclaimed ${report.reclaimed} task(s) whose worker stopped renewing its lease`);
        await this.unhandled.check(new Date());
        delay = await this.untilNextDue(intervalMs);
      }
    } catch (error) {
      this.logger.error(`Maintenance failed: ${describeError(error)}`);
    }
    this.schedule(delay);
  }

  /**
   * The leader wakes for the next delayed task rather than up to an interval after it fell due
   * (at least MIN_DELAY_MS later: a backlog larger than one run's batches must not spin).
   */
  private async untilNextDue(intervalMs: number): Promise<number> {
    const next = await this.stores.taskQueue.nextDueAt();
    return next === undefined ? intervalMs : Math.min(intervalMs, Math.max(MIN_DELAY_MS, next.getTime() - Date.now()));
  }

  /** Repeats a bounded step while it comes back full, so a backlog drains over a few calls without one long transaction. */
  private async repeat(step: () => Promise<number>): Promise<number> {
    let total = 0;
    for (let i = 0; i < MAX_BATCHES; i++) {
      const done = await step();
      total += done;
      if (done < BATCH) break;
    }
    return total;
  }
}
