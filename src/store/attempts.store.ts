import type { AttemptRecord } from '../domain/model';
import type { Sql } from './sql';

/** A result arrived from an attempt whose lease had expired: it was refused, and the history says so. */
export async function markFenced(sql: Sql, taskId: string, fence: string): Promise<boolean> {
  const rows = await sql.rows<{ fence: string }>(
    `UPDATE task_attempts SET outcome = 'FENCED' WHERE "taskId" = $1 AND fence = $2 AND outcome = 'LEASE_EXPIRED' RETURNING fence`,
    [taskId, fence],
  );
  return rows.length > 0;
}

export async function attemptsOfTasks(sql: Sql, tenantId: string, taskIds: readonly string[]): Promise<AttemptRecord[]> {
  return sql.rows<AttemptRecord>(`SELECT * FROM task_attempts WHERE "tenantId" = $1 AND "taskId" = ANY($2::uuid[]) ORDER BY "taskId", fence`, [
    tenantId,
    taskIds,
  ]);
}
