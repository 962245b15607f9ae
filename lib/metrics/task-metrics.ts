import type { Counter, Histogram, Metric } from 'prom-client';
import type { NewTask, TaskRecord } from '../models/task.model.js';
import type { AttemptEnd, AttemptInstrumentation } from '../worker/attempt-instrumentation.js';
import type { EnqueueListener } from '../workflows/task.submitter.js';
import type { PromClient } from './prom-client.loader.js';
import { dueTime } from './due-time.js';
import type { MetricNames } from './metric-names.js';

type Outcome = AttemptEnd['outcome'];
type TaskLabel = 'messaging_destination_name' | 'task_name';
type TaskLabels = Record<TaskLabel, string>;
type OutcomeLabels = TaskLabels & { outcome: Outcome };

/** OpenTelemetry's recommended buckets for messaging.process.duration, in seconds. */
export const PROCESS_DURATION_BUCKETS: readonly number[] = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10];
/** Waits from milliseconds to an hour: a backlog shows in the upper buckets. */
export const QUEUE_TIME_BUCKETS: readonly number[] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600];

export interface TaskMetricsBuckets {
  processDuration: readonly number[];
  queueTime: readonly number[];
}

/** The label sets of one queue and task name, built once: the hot path hands prom-client the same objects every time. */
class TaskSeries {
  private readonly byOutcome: Partial<Record<Outcome, OutcomeLabels>> = {};

  constructor(readonly labels: TaskLabels) {}

  withOutcome(outcome: Outcome): OutcomeLabels {
    return (this.byOutcome[outcome] ??= { ...this.labels, outcome });
  }
}

/**
 * The counters and histograms of tasks, by queue and task name: fed by the submitter as tasks are
 * stored and by the worker as attempts start and end. Each call is a lookup of two map keys and
 * one or two prom-client updates.
 */
export class TaskMetrics implements AttemptInstrumentation, EnqueueListener {
  private readonly sent: Counter<TaskLabel>;
  private readonly consumed: Counter<TaskLabel>;
  private readonly retried: Counter<TaskLabel>;
  private readonly failed: Counter<TaskLabel | 'outcome'>;
  private readonly processDuration: Histogram<TaskLabel | 'outcome'>;
  private readonly queueTime: Histogram<TaskLabel>;
  /** The metrics by name, to register. */
  readonly metrics: ReadonlyMap<string, Metric>;
  private readonly series = new Map<string, Map<string, TaskSeries>>();

  constructor(prom: PromClient, names: MetricNames, buckets: TaskMetricsBuckets) {
    const labelNames = ['messaging_destination_name', 'task_name'] as const;
    const withOutcome = [...labelNames, 'outcome'] as const;
    this.sent = new prom.Counter({ name: names.sent, help: 'Tasks stored by enqueue calls and callbacks', labelNames, registers: [] });
    this.consumed = new prom.Counter({ name: names.consumed, help: 'Attempts started in this process', labelNames, registers: [] });
    this.processDuration = new prom.Histogram({
      name: names.processDuration,
      help: 'How long attempts took, from start to outcome, by outcome',
      labelNames: withOutcome,
      buckets: [...buckets.processDuration],
      registers: [],
    });
    this.queueTime = new prom.Histogram({
      name: names.queueTime,
      help: 'How long tasks waited from due (enqueued, or their delay or retry over) to the start of an attempt',
      labelNames,
      buckets: [...buckets.queueTime],
      registers: [],
    });
    this.retried = new prom.Counter({ name: names.retried, help: 'Attempts that failed and were scheduled to run again', labelNames, registers: [] });
    this.failed = new prom.Counter({
      name: names.failed,
      help: 'Tasks that failed for good (outcome failed or timeout): retries used up, or not retryable',
      labelNames: withOutcome,
      registers: [],
    });
    this.metrics = new Map<string, Metric>([
      [names.sent, this.sent],
      [names.consumed, this.consumed],
      [names.processDuration, this.processDuration],
      [names.queueTime, this.queueTime],
      [names.retried, this.retried],
      [names.failed, this.failed],
    ]);
  }

  taskEnqueued(task: NewTask): void {
    this.sent.inc(this.seriesOf(task).labels);
  }

  attemptStarted(task: TaskRecord): void {
    const { labels } = this.seriesOf(task);
    this.consumed.inc(labels);
    this.queueTime.observe(labels, Math.max(0, Date.now() - dueTime(task)) / 1000);
  }

  attemptEnded(task: TaskRecord, end: AttemptEnd): void {
    const series = this.seriesOf(task);
    this.processDuration.observe(series.withOutcome(end.outcome), end.durationMs / 1000);
    if (end.outcome === 'retry') this.retried.inc(series.labels);
    else if (end.outcome === 'failed' || end.outcome === 'timeout') this.failed.inc(series.withOutcome(end.outcome));
  }

  private seriesOf({ queue, name }: NewTask): TaskSeries {
    let byName = this.series.get(queue);
    if (byName === undefined) this.series.set(queue, (byName = new Map()));
    let series = byName.get(name);
    if (series === undefined) byName.set(name, (series = new TaskSeries({ messaging_destination_name: queue, task_name: name })));
    return series;
  }
}
