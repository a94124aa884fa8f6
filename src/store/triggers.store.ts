import type { TriggerDefinition } from '../domain/glossary';
import type { TriggerRow } from '../domain/triggers';
import type { Sql } from './sql';

/**
 * Makes a workflow's rows in `workflow_triggers` those of `version` (none when it declares no
 * `on`). Called in the transaction that inserts the version: versions of one name are inserted one
 * after another (each reads the one before), so the last committed is the latest.
 */
export async function replaceWorkflowTriggers(
  sql: Sql,
  w: { tenantId: string; name: string; id: string; version: number; on: readonly TriggerDefinition[] | undefined },
): Promise<void> {
  await sql.rows(`DELETE FROM workflow_triggers WHERE "tenantId" = $1 AND "workflowName" = $2`, [w.tenantId, w.name]);
  const on = w.on ?? [];
  if (on.length === 0) return;
  await sql.rows(
    `INSERT INTO workflow_triggers ("tenantId", "workflowName", position, "eventName", filter, "workflowId", "workflowVersion")
     SELECT $1, $2, t.position, t.event, t.filter, $3::uuid, $4
     FROM unnest($5::int[], $6::text[], $7::text[]) AS t(position, event, filter)`,
    [w.tenantId, w.name, w.id, w.version, on.map((_, i) => i), on.map((t) => t.event), on.map((t) => t.filter ?? null)],
  );
}

/** The triggers of an event name in a tenant (index on (tenantId, eventName)), by workflow then position; at most `limit` rows. */
export async function triggersOfEvent(sql: Sql, tenantId: string, eventName: string, limit: number): Promise<TriggerRow[]> {
  return sql.rows<TriggerRow>(
    `SELECT "workflowId", "workflowName", "workflowVersion", filter FROM workflow_triggers
     WHERE "tenantId" = $1 AND "eventName" = $2 ORDER BY "workflowName", position LIMIT $3`,
    [tenantId, eventName, limit],
  );
}
