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

/**
 * Runbook sections 3.1, 4 and 5.1: where and under which names SREs find the deployment. The chart
 * (installed as release "maestro") and README-DEPLOY.md must make these true.
 */
export const RUNBOOK_DEPLOYMENT = {
  namespace: 'intelgraph-dev',
  release: 'maestro',
  configMap: 'maestro-production-config',
  secret: 'maestro-production-secrets',
  /** `kubectl logs -n intelgraph-dev -l app.kubernetes.io/name=maestro -f` */
  podLabel: ['app.kubernetes.io/name', 'maestro'],
  /** The Prometheus job label of section 2.1's queries. */
  job: 'maestro',
  commands: [
    'helm rollback maestro -n intelgraph-dev',
    'kubectl -n intelgraph-dev get secret maestro-production-secrets -o yaml',
    'kubectl -n intelgraph-dev get configmap maestro-production-config -o yaml',
    'kubectl logs -n intelgraph-dev -l app.kubernetes.io/name=maestro -f',
    'cosign verify',
  ],
} as const;
