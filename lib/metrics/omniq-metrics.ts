import type { Metric } from 'prom-client';
import type { TaskQueueStore } from '../storage/task-queue.store.js';
import type { OmniQLogger } from '../config/omniq-logger.js';
import type { MetricsRegistry, OmniQMetricsOptions } from './metrics-options.interface.js';
import { MetricNameTakenError } from './metrics.errors.js';
import { loadPromClient } from './prom-client.loader.js';
import { metricNames } from './metric-names.js';
import { PROCESS_DURATION_BUCKETS, QUEUE_TIME_BUCKETS, TaskMetrics } from './task-metrics.js';
import { QueueGauges } from './queue-gauges.js';

/** OmniQ's metrics of one app in one registry: the task counters and histograms, and the queue gauges. */
export class OmniQMetrics {
  private readonly metrics: ReadonlyMap<string, Metric>;

  private constructor(
    private readonly registry: MetricsRegistry,
    readonly tasks: TaskMetrics,
    private readonly queues: QueueGauges,
  ) {
    this.metrics = new Map([...tasks.metrics, ...queues.metrics]);
  }

  /** Loads prom-client and registers the metrics; a registry that already holds one of their names is refused, and nothing is registered. */
  static async create(options: OmniQMetricsOptions): Promise<OmniQMetrics> {
    const prom = await loadPromClient();
    const names = metricNames(options.prefix ?? '');
    const tasks = new TaskMetrics(prom, names, {
      processDuration: options.buckets?.processDuration ?? PROCESS_DURATION_BUCKETS,
      queueTime: options.buckets?.queueTime ?? QUEUE_TIME_BUCKETS,
    });
    const metrics = new OmniQMetrics(options.registry ?? prom.register, tasks, new QueueGauges(prom, names));
    metrics.register();
    return metrics;
  }

  /** Starts the gauges reading from the app's task store. */
  attach(store: TaskQueueStore, logger: OmniQLogger): void {
    this.queues.attach({ store, logger });
  }

  /** Takes the metrics out of the registry (at app shutdown), so that another app in the process can register its own. */
  unregister(): void {
    for (const [name, metric] of this.metrics) if (this.registry.getSingleMetric(name) === metric) this.registry.removeSingleMetric(name);
  }

  private register(): void {
    const taken = [...this.metrics.keys()].find((name) => this.registry.getSingleMetric(name) !== undefined);
    if (taken !== undefined) throw new MetricNameTakenError(taken);
    for (const metric of this.metrics.values()) this.registry.registerMetric(metric);
  }
}
