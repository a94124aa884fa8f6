import type { RunRecord } from '../domain/model';
import type { Sql } from './sql';

/**
 * The sweeps of child runs (src/services/engine/child-runs.ts): each finds durable state that a
 * lost post-commit follow-up left for it. Each reads a partial index that holds only the rows in
 * question (a handful), so a pass every poll interval costs next to nothing.
 */

/** Runs with a `workflow` step ready to start its child (built-in ready index, then the type). */
export async function runsWithDueLaunches(sql: Sql, now: Date, limit: number): Promise<string[]> {
  const rows = await sql.rows<{ runId: string }>(
    `SELECT DISTINCT "runId" FROM tasks WHERE status = 'QUEUED' AND queue IS NULL AND type = 'workflow' AND "availableAt" <= $1 LIMIT $2`,
    [now, limit],
  );
  return rows.map((r) => r.runId);
}

/** Child runs that ended while their parent's step still waits for them. */
export async function finishedChildrenAwaited(sql: Sql, limit: number): Promise<RunRecord[]> {
  return sql.rows<RunRecord>(
    `SELECT c.* FROM tasks t JOIN runs c ON c.id = t."childRunId"
     WHERE t.status = 'RUNNING' AND t."childRunId" IS NOT NULL AND c.status IN ('SUCCEEDED', 'FAILED', 'CANCELLED')
     LIMIT $1`,
    [limit],
  );
}

/** Unfinished child runs whose parent's task no longer waits for them: orphans, to cancel. */
export async function orphanedChildren(sql: Sql, limit: number): Promise<string[]> {
  const rows = await sql.rows<{ id: string }>(
    `SELECT c.id FROM runs c LEFT JOIN tasks t ON t.id = c."parentTaskId"
     WHERE c."parentTaskId" IS NOT NULL AND c.status IN ('PENDING', 'RUNNING')
       AND (t.id IS NULL OR t.status <> 'RUNNING' OR t."childRunId" IS DISTINCT FROM c.id)
     LIMIT $1`,
    [limit],
  );
  return rows.map((r) => r.id);
}

/** A run's children, oldest first, at most `limit` (Run.children). */
export async function childrenOfRuns(sql: Sql, tenantId: string, runIds: readonly string[], limit: number): Promise<RunRecord[]> {
  return sql.rows<RunRecord>(
    `SELECT c.* FROM unnest($2::uuid[]) AS p(id)
     CROSS JOIN LATERAL (SELECT * FROM runs WHERE "parentRunId" = p.id AND "tenantId" = $1 ORDER BY "createdAt", id LIMIT $3) c`,
    [tenantId, runIds, limit],
  );
}
