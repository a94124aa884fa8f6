import type { Sql } from './sql';

/** One queue of a tenant as the console's queues page shows it (`queue` null: the conductor's built-in steps). */
export interface QueueRow {
  queue: string | null;
  /** QUEUED tasks (whether or not their retry delay has passed). */
  depth: number;
  /** RUNNING tasks: attempts held under a lease. */
  running: number;
  /** When the longest-waiting QUEUED task was queued; null when none waits. */
  oldestQueuedAt: Date | null;
  /** The last poll of the queue (claimTasks), if any worker ever polled it. */
  lastPolledAt: Date | null;
  lastPollWorkerId: string | null;
}

/** A worker holding RUNNING tasks of a queue now, with its most recent attempt start there. */
export interface QueueWorkerRow {
  queue: string | null;
  workerId: string;
  tasks: number;
  lastStartedAt: Date;
}

/**
 * The tenant's queues: every queue with QUEUED or RUNNING tasks, and every queue a worker ever
 * polled. Reads the partial indexes of QUEUED and RUNNING tasks (IDX_tasks_ready, IDX_tasks_running)
 * rather than the attempt history, so the page costs the same on a table of a million finished tasks.
 */
export async function queuesOf(sql: Sql, tenantId: string): Promise<QueueRow[]> {
  const rows = await sql.rows<{
    queue: string | null;
    depth: string;
    running: string;
    oldest: Date | null;
    lastPolledAt: Date | null;
    workerId: string | null;
  }>(
    `WITH active AS (
       SELECT queue,
              count(*) FILTER (WHERE status = 'QUEUED') AS depth,
              count(*) FILTER (WHERE status = 'RUNNING') AS running,
              min("queuedAt") FILTER (WHERE status = 'QUEUED') AS oldest
       FROM tasks WHERE "tenantId" = $1 AND status IN ('QUEUED', 'RUNNING') GROUP BY queue
     ),
     polls AS (SELECT queue, "lastPolledAt", "workerId" FROM queue_poll WHERE "tenantId" = $1)
     SELECT coalesce(a.queue, p.queue) AS queue, coalesce(a.depth, 0) AS depth, coalesce(a.running, 0) AS running,
            a.oldest, p."lastPolledAt", p."workerId"
     FROM active a FULL JOIN polls p ON p.queue = a.queue
     ORDER BY coalesce(a.queue, p.queue) NULLS FIRST`,
    [tenantId],
  );
  return rows.map((r) => ({
    queue: r.queue,
    depth: Number(r.depth),
    running: Number(r.running),
    oldestQueuedAt: r.oldest,
    lastPolledAt: r.lastPolledAt,
    lastPollWorkerId: r.workerId,
  }));
}

/** The workers holding the tenant's RUNNING tasks, by queue. */
export async function queueWorkersOf(sql: Sql, tenantId: string): Promise<QueueWorkerRow[]> {
  const rows = await sql.rows<{ queue: string | null; workerId: string; tasks: string; last: Date }>(
    `SELECT queue, "workerId", count(*) AS tasks, max("startedAt") AS last FROM tasks
     WHERE "tenantId" = $1 AND status = 'RUNNING' AND "workerId" IS NOT NULL
     GROUP BY queue, "workerId" ORDER BY queue NULLS FIRST, "workerId"`,
    [tenantId],
  );
  return rows.map((r) => ({ queue: r.queue, workerId: r.workerId, tasks: Number(r.tasks), lastStartedAt: r.last }));
}
