import type { Sql } from './sql';

/** Cluster-wide counts for the metrics gauges: two statements, served by partial indexes. */
export async function clusterCounts(sql: Sql): Promise<{ runsActive: number; tasksInflight: number; queueDepth: { queue: string; depth: number }[] }> {
  const [counts] = await sql.rows<{ runs_active: string; tasks_inflight: string }>(
    `SELECT (SELECT count(*) FROM runs WHERE status IN ('PENDING', 'RUNNING')) AS runs_active,
            (SELECT count(*) FROM tasks WHERE status = 'RUNNING') AS tasks_inflight`,
  );
  const queues = await sql.rows<{ queue: string | null; depth: string }>(`SELECT queue, count(*) AS depth FROM tasks WHERE status = 'QUEUED' GROUP BY queue`);
  return {
    runsActive: Number(counts?.runs_active ?? 0),
    tasksInflight: Number(counts?.tasks_inflight ?? 0),
    queueDepth: queues.map((q) => ({ queue: q.queue ?? 'builtin', depth: Number(q.depth) })),
  };
}
