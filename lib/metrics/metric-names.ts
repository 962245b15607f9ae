/** The names of OmniQ's metrics: OpenTelemetry's messaging names where they exist, in their Prometheus form. */
export interface MetricNames {
  sent: string;
  consumed: string;
  processDuration: string;
  queueTime: string;
  retried: string;
  failed: string;
  queueTasks: string;
  oldestPendingAge: string;
}

export function metricNames(prefix: string): MetricNames {
  return {
    sent: `${prefix}messaging_client_sent_messages_total`,
    consumed: `${prefix}messaging_client_consumed_messages_total`,
    processDuration: `${prefix}messaging_process_duration_seconds`,
    queueTime: `${prefix}omniq_task_queue_time_seconds`,
    retried: `${prefix}omniq_tasks_retried_total`,
    failed: `${prefix}omniq_tasks_failed_total`,
    queueTasks: `${prefix}omniq_queue_tasks`,
    oldestPendingAge: `${prefix}omniq_queue_oldest_pending_age_seconds`,
  };
}
