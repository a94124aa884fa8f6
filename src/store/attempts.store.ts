import type { AttemptOutcome, TaskAttemptEntity } from './entities/task-attempt.entity';
import type { Sql } from './sql';

export type AttemptRow = TaskAttemptEntity;

/** One row per claimed attempt, in one statement for a claim batch. */
export async function insertAttempts(
  sql: Sql,
  rows: readonly Pick<AttemptRow, 'taskId' | 'fence' | 'attempt' | 'runId' | 'tenantId' | 'workerId' | 'startedAt'>[],
): Promise<void> {
  if (rows.length === 0) return;
  await sql.rows(
    `INSERT INTO task_attempts ("taskId", fence, attempt, "runId", "tenantId", "workerId", "startedAt")
     SELECT "taskId", fence, attempt, "runId", "tenantId", "workerId", "startedAt"
     FROM jsonb_to_recordset($1::jsonb) AS a("taskId" uuid, fence bigint, attempt int, "runId" uuid, "tenantId" text,
       "workerId" text, "startedAt" timestamptz)
     ON CONFLICT DO NOTHING`,
    [JSON.stringify(rows)],
  );
}

export async function finishAttempts(
  sql: Sql,
  rows: readonly { taskId: string; fence: string; outcome: AttemptOutcome; error: string | null; finishedAt: Date }[],
): Promise<void> {
  if (rows.length === 0) return;
  await sql.rows(
    `UPDATE task_attempts a SET outcome = p.outcome, error = p.error, "finishedAt" = p."finishedAt"
     FROM jsonb_to_recordset($1::jsonb) AS p("taskId" uuid, fence bigint, outcome text, error text, "finishedAt" timestamptz)
     WHERE a."taskId" = p."taskId" AND a.fence = p.fence AND a.outcome IS NULL`,
    [JSON.stringify(rows)],
  );
}

/** A result arrived from an attempt whose lease had expired: it was refused, and the history says so. */
export async function markFenced(sql: Sql, taskId: string, fence: string): Promise<boolean> {
  const rows = await sql.rows<{ fence: string }>(
    `UPDATE task_attempts SET outcome = 'FENCED' WHERE "taskId" = $1 AND fence = $2 AND outcome = 'LEASE_EXPIRED' RETURNING fence`,
    [taskId, fence],
  );
  return rows.length > 0;
}

export async function attemptsOfTasks(sql: Sql, tenantId: string, taskIds: readonly string[]): Promise<AttemptRow[]> {
  return sql.rows<AttemptRow>(`SELECT * FROM task_attempts WHERE "tenantId" = $1 AND "taskId" = ANY($2::uuid[]) ORDER BY "taskId", fence`, [
    tenantId,
    taskIds,
  ]);
}
