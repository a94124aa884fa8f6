import type { Sql } from './sql';
import { runsWaitingOnConcurrency } from './concurrency.store';

export interface ClusterCounts {
  runsActive: number;
  tasksInflight: number;
  runsPaused: number;
  signalsWaiting: number;
  queueDepth: { queue: string; depth: number }[];
  /** Tasks claimable now on a queue no worker polled since `unpolledSince` (waitingFor NO_WORKER), by queue. */
  noWorker: { queue: string; tasks: number }[];
  /** QUEUED tasks a claim held back for their step's rate limit (waitingFor RATE_LIMIT), by queue ('builtin' for built-in steps). */
  rateLimited: { queue: string; tasks: number }[];
  /** Runs waiting for a slot of their workflow's concurrency key, by strategy. */
  concurrencyWaiting: { strategy: string; count: number }[];
}

/**
 * Cluster-wide counts for the metrics gauges: three statements, served by indexes (partial ones
 * for the hot counts; the third reads the ready tasks as the second does, plus `queue_poll`, one
 * row per tenant and queue).
 */
export async function clusterCounts(sql: Sql, at: { now: Date; unpolledSince: Date }): Promise<ClusterCounts> {
  const [counts] = await sql.rows<{ runs_active: string; tasks_inflight: string; runs_paused: string; signals_waiting: string }>(
    `SELECT (SELECT count(*) FROM runs WHERE status IN ('PENDING', 'RUNNING')) AS runs_active,
            (SELECT count(*) FROM tasks WHERE status = 'RUNNING') AS tasks_inflight,
            (SELECT count(*) FROM runs WHERE status = 'PAUSED') AS runs_paused,
            (SELECT count(*) FROM tasks WHERE status = 'RUNNING' AND "signalName" IS NOT NULL) AS signals_waiting`,
  );
  const queues = await sql.rows<{ queue: string | null; depth: string }>(`SELECT queue, count(*) AS depth FROM tasks WHERE status = 'QUEUED' GROUP BY queue`);
  const unserved = await sql.rows<{ queue: string; tasks: string }>(
    `SELECT t.queue, count(*) AS tasks FROM tasks t
     LEFT JOIN queue_poll p ON p."tenantId" = t."tenantId" AND p.queue = t.queue
     WHERE t.status = 'QUEUED' AND t.queue IS NOT NULL AND (t."availableAt" IS NULL OR t."availableAt" <= $1)
       AND (p."lastPolledAt" IS NULL OR p."lastPolledAt" <= $2)
       AND NOT EXISTS (SELECT 1 FROM runs r WHERE r.id = t."runId" AND r.status = 'PAUSED')
     GROUP BY t.queue`,
    [at.now, at.unpolledSince],
  );
  // Served by IDX_tasks_rate_limited (QUEUED tasks with a rate-limit key only).
  const held = await sql.rows<{ queue: string | null; tasks: string }>(
    `SELECT queue, count(*) AS tasks FROM tasks
     WHERE status = 'QUEUED' AND "rateLimitKey" IS NOT NULL AND "availableAt" > $1 AND "rateLimitedUntil" = "availableAt"
     GROUP BY queue`,
    [at.now],
  );
  const concurrencyWaiting = await runsWaitingOnConcurrency(sql);
  return {
    concurrencyWaiting,
    runsActive: Number(counts?.runs_active ?? 0),
    tasksInflight: Number(counts?.tasks_inflight ?? 0),
    runsPaused: Number(counts?.runs_paused ?? 0),
    signalsWaiting: Number(counts?.signals_waiting ?? 0),
    queueDepth: queues.map((q) => ({ queue: q.queue ?? 'builtin', depth: Number(q.depth) })),
    noWorker: unserved.map((q) => ({ queue: q.queue, tasks: Number(q.tasks) })),
    rateLimited: held.map((q) => ({ queue: q.queue ?? 'builtin', tasks: Number(q.tasks) })),
  };
}
