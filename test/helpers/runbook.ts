/**
 * Runbook section 2.1 ("Key Metrics & Queries", shared/RUNBOOK.md), as the contract the metrics,
 * the dashboard and a real Prometheus are tested against. One copy: the tests import it.
 */
export const RUNBOOK = [
  { metric: 'maestro_jobs_started_total', query: 'sum(rate(maestro_jobs_started_total[5m]))' },
  { metric: 'maestro_jobs_succeeded_total', query: 'sum(rate(maestro_jobs_succeeded_total[5m]))' },
  { metric: 'maestro_jobs_failed_total', query: 'sum(rate(maestro_jobs_failed_total[5m])) by (workflow)' },
  { metric: 'maestro_job_latency_seconds', query: 'histogram_quantile(0.95, sum(rate(maestro_job_latency_seconds_bucket[5m])) by (le))' },
  { metric: 'maestro_runs_active', query: 'maestro_runs_active' },
  { metric: 'maestro_tasks_inflight', query: 'maestro_tasks_inflight' },
  { metric: 'maestro_lease_renew_failures_total', query: 'sum(rate(maestro_lease_renew_failures_total[5m]))' },
  { metric: 'maestro_orphaned_tasks_reclaimed_total', query: 'sum(rate(maestro_orphaned_tasks_reclaimed_total[5m]))' },
  { metric: 'maestro_queue_depth', query: 'maestro_queue_depth' },
  { metric: 'maestro_schedule_latency_ms', query: 'maestro_schedule_latency_ms' },
  { metric: 'http_requests_total', query: 'sum(rate(http_requests_total{job="maestro"}[5m]))' },
  { metric: 'http_request_duration_seconds', query: 'histogram_quantile(0.95, sum(rate(http_request_duration_seconds_bucket[5m])) by (le))' },
  { metric: 'process_cpu_seconds_total', query: 'sum(rate(process_cpu_seconds_total{job="maestro"}[5m]))' },
  { metric: 'process_memory_bytes', query: 'process_memory_bytes{job="maestro"}' },
] as const;

export const RUNBOOK_METRICS = RUNBOOK.map((r) => r.metric);
export const RUNBOOK_QUERIES = RUNBOOK.map((r) => r.query);
