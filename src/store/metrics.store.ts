import type { Sql } from './sql';

/** Cluster-wide counts for the metrics gauges: two statements, served by indexes (partial ones for the hot counts). */
export async function clusterCounts(sql: Sql): Promise<{
  runsActive: number;
  tasksInflight: number;
  runsPaused: number;
  signalsWaiting: number;
  queueDepth: { queue: string; depth: number }[];
}> {
  const [counts] = await sql.rows<{ runs_active: string; tasks_inflight: string; runs_paused: string; signals_waiting: string }>(
    `SELECT (SELECT count(*) FROM runs WHERE status IN ('PENDING', 'RUNNING')) AS runs_active,
            (SELECT count(*) FROM tasks WHERE status = 'RUNNING') AS tasks_inflight,
            (SELECT count(*) FROM runs WHERE status = 'PAUSED') AS runs_paused,
            (SELECT count(*) FROM tasks WHERE status = 'RUNNING' AND "signalName" IS NOT NULL) AS signals_waiting`,
  );
  const queues = await sql.rows<{ queue: string | null; depth: string }>(`SELECT queue, count(*) AS depth FROM tasks WHERE status = 'QUEUED' GROUP BY queue`);
  return {
    runsActive: Number(counts?.runs_active ?? 0),
    tasksInflight: Number(counts?.tasks_inflight ?? 0),
    runsPaused: Number(counts?.runs_paused ?? 0),
    signalsWaiting: Number(counts?.signals_waiting ?? 0),
    queueDepth: queues.map((q) => ({ queue: q.queue ?? 'builtin', depth: Number(q.depth) })),
  };
}
