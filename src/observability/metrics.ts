import client, { type Registry } from 'prom-client';
import type { EngineHooks } from '../domain/hooks';
import { LabelBudget } from './label-budget';
import { registerScheduleMetrics } from './schedule-metrics';
import { ATTEMPT_OUTCOMES, attemptCause } from '../domain/model';
import { CONCURRENCY_STRATEGIES } from '../domain/concurrency';

/**
 * The metrics the runbook names (exact names and types), plus what an operator wants beside them.
 * Labels have bounded cardinality: routes, status codes, operation names (capped); workflow and
 * queue names, which tenants choose, within a {@link LabelBudget} each (`__other__` beyond it);
 * never a run or task id.
 *
 * Gauges read from the database (runs active, tasks in flight, queue depth) are cluster-wide
 * figures that every replica reports alike: aggregate them with `max`, never `sum`.
 */
export interface ClusterGauges {
  runsActive: number;
  tasksInflight: number;
  /** Runs PAUSED (pauseRun). */
  runsPaused: number;
  /** Signal steps parked waiting for their signal. */
  signalsWaiting: number;
  queueDepth: { queue: string; depth: number }[];
  /** Claimable tasks on queues nobody polled for NO_WORKER_AFTER_MS (waitingFor NO_WORKER), by queue. */
  noWorker: { queue: string; tasks: number }[];
  /** Tasks held back by their step's rate limit (waitingFor RATE_LIMIT), by queue. Absent: none. */
  rateLimited?: { queue: string; tasks: number }[];
  /** Runs waiting for a slot of their workflow's concurrency key, by strategy. @default [] */
  concurrencyWaiting?: { strategy: string; count: number }[];
}

export interface MetricsSources {
  /** Cluster-wide counts from Postgres; cached by the caller. */
  clusterGauges(): Promise<ClusterGauges>;
  /** Open subscriptions (WebSocket clients) on this replica. */
  subscriptions(): number;
  /** Requests of this replica executing and waiting for their tenant's turn while it is busy. @default none reported */
  busyShares?: () => { executing: number; waiting: number };
  /** Connection pool of this replica. */
  pool(): { total: number; idle: number; waiting: number } | null;
  /** 1 when Redis answers, 0 when not; null when no Redis is configured. */
  redisUp(): Promise<number | null>;
  /** Seconds until the soonest schedule fire (negative: overdue), null when none. @default none reported */
  nextScheduleFire?: () => Promise<number | null>;
}

export interface Metrics {
  registry: Registry;
  httpRequests: client.Counter<'method' | 'route' | 'status_code'>;
  httpDuration: client.Histogram<'method' | 'route' | 'status_code'>;
  graphqlOperations: client.Counter<'operation' | 'type' | 'outcome'>;
  leaseRenewFailures: client.Counter<'reason'>;
  /** Failed authentications: `missing` key, `invalid` (unknown or revoked) key, `ip_limited` (refused unchecked). */
  authFailures: client.Counter<'reason'>;
  /** Requests refused RATE_LIMITED, by what ran out: `key`, `tenant`, `long_poll`. */
  rateLimited: client.Counter<'scope'>;
  /** Events accepted (publishEvent, webhooks) by `source` (EVENT, WEBHOOK) and `duplicate`; no event name label (tenants choose names). */
  eventsReceived: client.Counter<'source' | 'duplicate'>;
  /** Runs started by events (one per matching workflow), by `source`. */
  eventRunsStarted: client.Counter<'source'>;
  /** Webhooks refused, by `reason` (bad_signature, stale_timestamp, bad_request, too_large, rate_limited, rejected). */
  webhookRefusals: client.Counter<'reason'>;
}

/** Job latency: runs last from milliseconds to hours; a bucket above the 600 s alert threshold. */
const JOB_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200];
const HTTP_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

export interface MetricsOptions {
  /** Distinct `workflow` and `queue` label values each (METRICS_LABEL_VALUES_MAX). @default 100 */
  labelValuesMax?: number;
}

export function createMetrics(hooks: EngineHooks, sources: MetricsSources, options: MetricsOptions = {}): Metrics {
  const max = options.labelValuesMax ?? 100;
  const workflows = new LabelBudget(max);
  const queues = new LabelBudget(max, new Set(['builtin']));
  const registry = new client.Registry();
  client.collectDefaultMetrics({ register: registry });
  // prom-client exports these gauges with a counter's `_total` suffix (promtool lint flags them);
  // the same figures stay as nodejs_active_handles, nodejs_active_requests, nodejs_active_resources.
  for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) {
    registry.removeSingleMetric(name);
  }

  const started = new client.Counter({
    name: 'maestro_jobs_started_total',
    help: 'Runs started (a job is a run).',
    labelNames: ['workflow'],
    registers: [registry],
  });
  const succeeded = new client.Counter({ name: 'maestro_jobs_succeeded_total', help: 'Runs that succeeded.', labelNames: ['workflow'], registers: [registry] });
  const failed = new client.Counter({
    name: 'maestro_jobs_failed_total',
    help: 'Runs that failed (a step failed after its retries, or the run timed out).',
    labelNames: ['workflow'],
    registers: [registry],
  });
  const cancelled = new client.Counter({
    name: 'maestro_jobs_cancelled_total',
    help: 'Runs cancelled by request.',
    labelNames: ['workflow'],
    registers: [registry],
  });
  const latency = new client.Histogram({
    name: 'maestro_job_latency_seconds',
    help: 'Run latency, from startRun to the run finishing.',
    labelNames: ['workflow'],
    buckets: JOB_BUCKETS,
    registers: [registry],
  });
  const leaseRenewFailures = new client.Counter({
    name: 'maestro_lease_renew_failures_total',
    help: 'Lease renewals refused: LEASE_LOST (another holder or expired) or RUN_CANCELLED.',
    labelNames: ['reason'],
    registers: [registry],
  });
  const authFailures = new client.Counter({
    name: 'maestro_auth_failures_total',
    help: 'Failed authentications: missing key, invalid (unknown or revoked) key, or refused unchecked after too many failures from one address.',
    labelNames: ['reason'],
    registers: [registry],
  });
  const rateLimited = new client.Counter({
    name: 'maestro_rate_limited_total',
    help: "Requests refused RATE_LIMITED, by what ran out: key, tenant, long_poll, cost (the tenant cost budget), executing_cost or busy (waited too long for its tenant's turn on a busy replica).",
    labelNames: ['scope'],
    registers: [registry],
  });
  const skipped = new client.Counter({
    name: 'maestro_tasks_skipped_total',
    help: 'Tasks SKIPPED because their `when` condition was false, by workflow (capped).',
    labelNames: ['workflow'],
    registers: [registry],
  });
  const reclaimed = new client.Counter({
    name: 'maestro_orphaned_tasks_reclaimed_total',
    help: 'Tasks reclaimed because their lease expired or vanished.',
    registers: [registry],
  });
  const fenced = new client.Counter({
    name: 'maestro_fenced_completions_total',
    help: 'Results refused because they carried a superseded fencing token.',
    registers: [registry],
  });
  // Lifecycle: whose fault an attempt's end was (STEP: spends retry.maxAttempts; SYSTEM: an
  // expired lease, spends retry.maxFaults). Both labels are closed sets.
  const attemptsEnded = new client.Counter({
    name: 'maestro_task_attempts_ended_total',
    help: "Task attempts ended, by outcome and cause: STEP (the step's own failure or timeout), SYSTEM (a fault: the lease expired), NONE.",
    labelNames: ['outcome', 'cause'],
    registers: [registry],
  });
  const scheduleLatencyMs = new client.Gauge({
    name: 'maestro_schedule_latency_ms',
    help: 'Latest time from a task becoming ready to a worker holding it, in ms.',
    labelNames: ['queue'],
    registers: [registry],
  });
  const scheduleLatency = new client.Histogram({
    name: 'maestro_schedule_latency_seconds',
    help: 'Time from a task becoming ready to a worker holding it.',
    labelNames: ['queue'],
    buckets: HTTP_BUCKETS,
    registers: [registry],
  });

  registerScheduleMetrics(
    registry,
    hooks,
    cache(1_000, () => sources.nextScheduleFire?.() ?? Promise.resolve(null)),
  );
  const cached = cache(1_000, () => sources.clusterGauges());
  new client.Gauge({
    name: 'maestro_runs_active',
    help: 'Runs PENDING or RUNNING, cluster-wide (every replica reports the same figure: use max).',
    registers: [registry],
    async collect() {
      this.set((await cached()).runsActive);
    },
  });
  new client.Gauge({
    name: 'maestro_tasks_inflight',
    help: 'Tasks RUNNING, cluster-wide (every replica reports the same figure: use max).',
    registers: [registry],
    async collect() {
      this.set((await cached()).tasksInflight);
    },
  });
  new client.Gauge({
    name: 'maestro_runs_paused',
    help: 'Runs PAUSED by pauseRun, cluster-wide (every replica reports the same figure: use max).',
    registers: [registry],
    async collect() {
      this.set((await cached()).runsPaused);
    },
  });
  new client.Gauge({
    name: 'maestro_signals_waiting',
    help: 'Signal steps waiting for their signal, cluster-wide (every replica reports the same figure: use max).',
    registers: [registry],
    async collect() {
      this.set((await cached()).signalsWaiting);
    },
  });
  new client.Gauge({
    name: 'maestro_runs_waiting_concurrency',
    help: 'Runs waiting for a slot of their workflow concurrency key (waitingFor CONCURRENCY), by strategy, cluster-wide (use max).',
    labelNames: ['strategy'],
    registers: [registry],
    async collect() {
      // Every strategy always has a series (4 at most): a query over them returns data on an idle cluster.
      const counts = new Map<string, number>(CONCURRENCY_STRATEGIES.map((s) => [s, 0]));
      for (const c of (await cached()).concurrencyWaiting ?? []) if (counts.has(c.strategy)) counts.set(c.strategy, c.count);
      for (const [strategy, count] of counts) this.set({ strategy }, count);
    },
  });
  new client.Gauge({
    name: 'maestro_queue_depth',
    help: 'Tasks ready and waiting for a worker, by queue ("builtin" for built-in steps), cluster-wide (use max).',
    labelNames: ['queue'],
    registers: [registry],
    async collect() {
      this.reset();
      const { queueDepth } = await cached();
      // Always a builtin series, so the runbook query returns data on an idle cluster too.
      const depths = new Map<string, number>([['builtin', 0]]);
      for (const q of queueDepth) {
        const queue = queues.value(q.queue);
        depths.set(queue, (depths.get(queue) ?? 0) + q.depth);
      }
      for (const [queue, depth] of depths) this.set({ queue }, depth);
    },
  });
  new client.Gauge({
    name: 'maestro_tasks_rate_limited',
    help: "Tasks QUEUED but held back by their step's rate limit until their eligible time (waitingFor RATE_LIMIT), by queue, cluster-wide (use max).",
    labelNames: ['queue'],
    registers: [registry],
    async collect() {
      this.reset();
      const byQueue = new Map<string, number>([['builtin', 0]]);
      for (const q of (await cached()).rateLimited ?? []) {
        const queue = queues.value(q.queue);
        byQueue.set(queue, (byQueue.get(queue) ?? 0) + q.tasks);
      }
      for (const [queue, tasks] of byQueue) this.set({ queue }, tasks);
    },
  });
  new client.Gauge({
    name: 'maestro_queue_no_worker_tasks',
    help: 'Tasks ready on a queue that no worker polled for NO_WORKER_AFTER_MS (waitingFor NO_WORKER), by queue, cluster-wide (use max).',
    labelNames: ['queue'],
    registers: [registry],
    async collect() {
      this.reset();
      const byQueue = new Map<string, number>();
      for (const q of (await cached()).noWorker) {
        const queue = queues.value(q.queue);
        byQueue.set(queue, (byQueue.get(queue) ?? 0) + q.tasks);
      }
      for (const [queue, tasks] of byQueue) this.set({ queue }, tasks);
    },
  });
  new client.Gauge({
    name: 'maestro_subscriptions_active',
    help: 'Open GraphQL subscription connections on this replica.',
    registers: [registry],
    collect() {
      this.set(sources.subscriptions());
    },
  });
  new client.Gauge({
    name: 'maestro_requests_waiting_busy',
    help: "Requests waiting for their tenant's turn on this replica while its event loop is busy (TENANT_REQUESTS_WHEN_BUSY).",
    registers: [registry],
    collect() {
      this.set(sources.busyShares?.().waiting ?? 0);
    },
  });
  new client.Gauge({
    name: 'maestro_db_pool_connections',
    help: 'Database pool connections of this replica, by state.',
    labelNames: ['state'],
    registers: [registry],
    collect() {
      const p = sources.pool();
      if (!p) return;
      this.set({ state: 'total' }, p.total);
      this.set({ state: 'idle' }, p.idle);
      this.set({ state: 'waiting' }, p.waiting);
    },
  });
  new client.Gauge({
    name: 'maestro_redis_up',
    help: '1 when Redis answers a ping from this replica, 0 when not (absent without Redis).',
    registers: [registry],
    async collect() {
      const up = await sources.redisUp();
      if (up !== null) this.set(up);
    },
  });
  new client.Gauge({
    name: 'process_memory_bytes',
    help: 'Process memory by kind (rss, heapTotal, heapUsed, external).',
    labelNames: ['type'],
    registers: [registry],
    collect() {
      const m = process.memoryUsage();
      this.set({ type: 'rss' }, m.rss);
      this.set({ type: 'heapTotal' }, m.heapTotal);
      this.set({ type: 'heapUsed' }, m.heapUsed);
      this.set({ type: 'external' }, m.external);
    },
  });

  const httpRequests = new client.Counter({
    name: 'http_requests_total',
    help: 'HTTP requests served, by method, route and status code.',
    labelNames: ['method', 'route', 'status_code'],
    registers: [registry],
  });
  const httpDuration = new client.Histogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP request latency.',
    labelNames: ['method', 'route', 'status_code'],
    buckets: HTTP_BUCKETS,
    registers: [registry],
  });
  const graphqlOperations = new client.Counter({
    name: 'maestro_graphql_operations_total',
    help: 'GraphQL operations by name (capped), type and outcome (ok, error).',
    labelNames: ['operation', 'type', 'outcome'],
    registers: [registry],
  });

  hooks.on('run:created', (e) => started.inc({ workflow: workflows.value(e.workflow) }));
  hooks.on('run:finished', (e) => {
    const labels = { workflow: workflows.value(e.workflow) };
    if (e.status === 'SUCCEEDED') succeeded.inc(labels);
    else if (e.status === 'FAILED') failed.inc(labels);
    else cancelled.inc(labels);
    if (e.durationMs !== null) latency.observe(labels, e.durationMs / 1000);
  });
  hooks.on('task:claimed', (e) => {
    if (e.waitedMs === null) return;
    const queue = queues.value(e.queue ?? 'builtin');
    scheduleLatencyMs.set({ queue }, e.waitedMs);
    scheduleLatency.observe({ queue }, e.waitedMs / 1000);
  });
  hooks.on('lease:renew-failed', (e) => leaseRenewFailures.inc({ reason: e.reason }));
  hooks.on('task:reclaimed', () => reclaimed.inc());
  const signalsDelivered = new client.Counter({
    name: 'maestro_signals_delivered_total',
    help: 'Signals accepted by signalRun on this replica, by whether a waiting step took it at once (consumed) or it was kept for a step to come.',
    labelNames: ['consumed'],
    registers: [registry],
  });
  hooks.on('signal:sent', (e) => signalsDelivered.inc({ consumed: String(e.consumed) }));
  for (const consumed of ['true', 'false']) signalsDelivered.inc({ consumed }, 0);
  hooks.on('task:finished', (e) => {
    if (e.status === 'SKIPPED') skipped.inc({ workflow: workflows.value(e.workflow) });
  });
  hooks.on('task:fenced', () => fenced.inc());
  hooks.on('attempt:ended', (e) => attemptsEnded.inc({ outcome: e.outcome, cause: e.cause }));

  // Initialise label-less series, so every runbook query returns data before the first event.
  for (const reason of ['LEASE_LOST', 'RUN_CANCELLED']) leaseRenewFailures.inc({ reason }, 0);
  for (const outcome of ATTEMPT_OUTCOMES) if (outcome !== 'FENCED') attemptsEnded.inc({ outcome, cause: attemptCause(outcome) }, 0);
  for (const reason of ['missing', 'invalid', 'ip_limited']) authFailures.inc({ reason }, 0);
  for (const scope of ['key', 'tenant', 'long_poll', 'cost', 'executing_cost', 'busy']) rateLimited.inc({ scope }, 0);
  const eventsReceived = new client.Counter({
    name: 'maestro_events_received_total',
    help: 'Events accepted by publishEvent (source EVENT) or a signed webhook (WEBHOOK), by whether the id had been received before (duplicate: nothing started).',
    labelNames: ['source', 'duplicate'],
    registers: [registry],
  });
  const eventRunsStarted = new client.Counter({
    name: 'maestro_event_runs_started_total',
    help: 'Runs started by events: one per workflow whose trigger matched (name and filter).',
    labelNames: ['source'],
    registers: [registry],
  });
  const webhookRefusals = new client.Counter({
    name: 'maestro_webhook_refusals_total',
    help: 'Webhook requests refused, by reason: bad_signature, stale_timestamp, bad_request, too_large, rate_limited, rejected (a refusal of the event itself).',
    labelNames: ['reason'],
    registers: [registry],
  });
  hooks.on('event:received', (e) => {
    eventsReceived.inc({ source: e.source, duplicate: String(e.duplicate) });
    if (e.runsStarted > 0) eventRunsStarted.inc({ source: e.source }, e.runsStarted);
  });
  for (const source of ['EVENT', 'WEBHOOK']) {
    for (const duplicate of ['true', 'false']) eventsReceived.inc({ source, duplicate }, 0);
    eventRunsStarted.inc({ source }, 0);
  }
  for (const reason of ['bad_signature', 'stale_timestamp', 'bad_request', 'too_large', 'rate_limited', 'rejected']) webhookRefusals.inc({ reason }, 0);
  return {
    registry,
    httpRequests,
    httpDuration,
    graphqlOperations,
    leaseRenewFailures,
    authFailures,
    rateLimited,
    eventsReceived,
    eventRunsStarted,
    webhookRefusals,
  };
}

/** At most one computation per `ttlMs`, shared by concurrent callers (scrapes, several Prometheus). */
function cache<T>(ttlMs: number, compute: () => Promise<T>): () => Promise<T> {
  let value: { at: number; promise: Promise<T> } | null = null;
  return () => {
    const now = Date.now();
    if (!value || now - value.at > ttlMs) {
      const promise = compute();
      value = { at: now, promise };
      promise.catch(() => {
        value = null;
      });
    }
    return value.promise;
  };
}

/** Operation names are client-chosen: cap how many distinct ones become label values. */
export function boundedOperationName(seen: Set<string>, name: string | null | undefined, cap = 200): string {
  if (!name) return 'anonymous';
  if (!/^[A-Za-z_][A-Za-z0-9_]{0,63}$/.test(name)) return 'other';
  if (seen.has(name)) return name;
  if (seen.size >= cap) return 'other';
  seen.add(name);
  return name;
}
