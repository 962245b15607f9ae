import type { OpenMetricsContentType, PrometheusContentType, Registry } from 'prom-client';

/** A prom-client registry, in either of its output formats. */
export type MetricsRegistry = Registry<PrometheusContentType> | Registry<OpenMetricsContentType>;

/** Bucket upper bounds of OmniQ's histograms, in seconds, ascending. */
export interface OmniQMetricsBuckets {
  /** `messaging_process_duration_seconds`: how long attempts took. */
  processDuration?: readonly number[];
  /** `omniq_task_queue_time_seconds`: how long tasks waited from due to start. */
  queueTime?: readonly number[];
}

/** Options of `OmniQMetricsModule.forRoot()`. */
export interface OmniQMetricsOptions {
  /** The prom-client registry OmniQ's metrics join; default prom-client's default registry (`register`). */
  registry?: MetricsRegistry;
  /** Put before every metric name (`myapp_` gives `myapp_messaging_process_duration_seconds`); default none. */
  prefix?: string;
  buckets?: OmniQMetricsBuckets;
}
