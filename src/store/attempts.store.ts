import type { AttemptRecord } from '../domain/model';
import type { Sql } from './sql';

/**
 * A result arrived from an attempt whose lease had expired: it was refused, and the history says
 * so. Returns the attempt's run, tenant and workflow (for the log line), or null when it was not
 * an expired attempt.
 */
export async function markFenced(sql: Sql, taskId: string, fence: string): Promise<{ runId: string; tenantId: string; workflow: string } | null> {
  const [row] = await sql.rows<{ runId: string; tenantId: string; workflow: string }>(
    `UPDATE task_attempts a SET outcome = 'FENCED' FROM runs r
      WHERE a."taskId" = $1 AND a.fence = $2 AND a.outcome = 'LEASE_EXPIRED' AND r.id = a."runId"
      RETURNING a."runId", a."tenantId", r."workflowName" AS workflow`,
    [taskId, fence],
  );
  return row ?? null;
}

export async function attemptsOfTasks(sql: Sql, tenantId: string, taskIds: readonly string[]): Promise<AttemptRecord[]> {
  return sql.rows<AttemptRecord>(`SELECT * FROM task_attempts WHERE "tenantId" = $1 AND "taskId" = ANY($2::uuid[]) ORDER BY "taskId", fence`, [
    tenantId,
    taskIds,
  ]);
}
