import type { Gauge, Metric } from 'prom-client';
import { TASK_STATUSES, type TaskStatus } from '../models/task.model.js';
import type { TaskQueueStore } from '../storage/task-queue.store.js';
import type { OmniQLogger } from '../config/omniq-logger.js';
import { describeError } from '../utils/describe-error.js';
import type { PromClient } from './prom-client.loader.js';
import { dueTime } from './due-time.js';
import type { MetricNames } from './metric-names.js';

type QueueLabel = 'messaging_destination_name';

/** Where the gauges read from, known once the app's OmniQ stores are open. */
export interface GaugeSource {
  store: TaskQueueStore;
  logger: OmniQLogger;
}

/**
 * The gauges computed at scrape time from the task store: tasks per queue and status (the store's
 * kept counts), and per queue the age of the oldest pending task (a one-row list of the queue's
 * pending tasks, oldest first, for the queues that have any). The two gauges share one read per
 * scrape. A queue seen once keeps its series (at 0) after its tasks are purged; a failed read
 * leaves both gauges empty for that scrape and logs a warning.
 */
export class QueueGauges {
  private readonly tasks: Gauge<QueueLabel | 'status'>;
  private readonly oldestAge: Gauge<QueueLabel>;
  private source: GaugeSource | undefined;
  private reading: Promise<void> | undefined;
  private readonly queues = new Set<string>();

  /** The gauges by name, to register. */
  readonly metrics: ReadonlyMap<string, Metric>;

  constructor(prom: PromClient, names: MetricNames) {
    const collect = (): Promise<void> => this.collect();
    this.tasks = new prom.Gauge({
      name: names.queueTasks,
      help: 'Tasks in the store per queue and status (queue depth: status pending; final statuses until purged)',
      labelNames: ['messaging_destination_name', 'status'] as const,
      collect,
      registers: [],
    });
    this.oldestAge = new prom.Gauge({
      name: names.oldestPendingAge,
      help: 'Seconds since the oldest pending task of the queue (in enqueue order) became due; 0 with none pending',
      labelNames: ['messaging_destination_name'] as const,
      collect,
      registers: [],
    });
    this.metrics = new Map<string, Metric>([
      [names.queueTasks, this.tasks],
      [names.oldestPendingAge, this.oldestAge],
    ]);
  }

  attach(source: GaugeSource): void {
    this.source = source;
  }

  /** Both gauges' collect: the first starts the read, the other joins it. */
  private collect(): Promise<void> {
    return (this.reading ??= this.read().finally(() => (this.reading = undefined)));
  }

  private async read(): Promise<void> {
    if (this.source === undefined) return;
    const { store, logger } = this.source;
    try {
      const counts = await store.counts();
      const byQueue = new Map<string, Partial<Record<TaskStatus, number>>>();
      for (const { queue, status, count } of counts) {
        this.queues.add(queue);
        let statuses = byQueue.get(queue);
        if (statuses === undefined) byQueue.set(queue, (statuses = {}));
        statuses[status] = count;
      }
      const pendingIn = [...byQueue].filter(([, statuses]) => (statuses.pending ?? 0) > 0).map(([queue]) => queue);
      const heads = await Promise.all(pendingIn.map((queue) => store.list({ queue, status: 'pending', limit: 1 })));
      const now = Date.now();
      this.clear();
      for (const queue of this.queues) {
        const statuses = byQueue.get(queue);
        for (const status of TASK_STATUSES) this.tasks.set({ messaging_destination_name: queue, status }, statuses?.[status] ?? 0);
        this.oldestAge.set({ messaging_destination_name: queue }, 0);
      }
      heads.forEach((page, i) => {
        const head = page.items[0];
        if (head !== undefined) this.oldestAge.set({ messaging_destination_name: pendingIn[i]! }, Math.max(0, now - dueTime(head)) / 1000);
      });
    } catch (error) {
      this.clear();
      logger.warn(`Metrics: reading queue gauges from the task store failed: ${describeError(error)}`);
    }
  }

  private clear(): void {
    this.tasks.reset();
    this.oldestAge.reset();
  }
}
