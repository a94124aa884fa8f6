import type { Sql } from './sql';

/**
 * A tenant's runs in flight (PENDING or RUNNING) and tasks QUEUED, each counted up to a bound (a
 * tenant far over its quota costs no more to count than one at it).
 */
export async function tenantLoad(sql: Sql, tenantId: string, maxRuns: number, maxQueued: number): Promise<{ runs: number; queued: number }> {
  const [row] = await sql.rows<{ runs: string; queued: string }>(
    `SELECT
       (SELECT count(*) FROM (SELECT 1 FROM runs WHERE "tenantId" = $1 AND status IN ('PENDING', 'RUNNING', 'PAUSED') LIMIT $2) a) AS runs,
       (SELECT count(*) FROM (SELECT 1 FROM tasks WHERE "tenantId" = $1 AND status = 'QUEUED' LIMIT $3) q) AS queued`,
    [tenantId, maxRuns, maxQueued],
  );
  return { runs: Number(row?.runs ?? 0), queued: Number(row?.queued ?? 0) };
}
