import type { WorkflowRecord } from '../domain/model';
import type { WorkflowDefinition } from '../domain/glossary';
import type { Sql } from './sql';

export async function findLatestWorkflow(sql: Sql, tenantId: string, name: string): Promise<WorkflowRecord | undefined> {
  const [row] = await sql.rows<WorkflowRecord>(`SELECT * FROM workflows WHERE "tenantId" = $1 AND name = $2 ORDER BY version DESC LIMIT 1`, [tenantId, name]);
  return row;
}

export async function findWorkflowVersion(sql: Sql, tenantId: string, name: string, version: number): Promise<WorkflowRecord | undefined> {
  const [row] = await sql.rows<WorkflowRecord>(`SELECT * FROM workflows WHERE "tenantId" = $1 AND name = $2 AND version = $3`, [tenantId, name, version]);
  return row;
}

export async function findWorkflowsByIds(sql: Sql, ids: readonly string[]): Promise<WorkflowRecord[]> {
  return sql.rows<WorkflowRecord>(`SELECT * FROM workflows WHERE id = ANY($1::uuid[])`, [ids]);
}

export async function insertWorkflow(
  sql: Sql,
  row: { tenantId: string; name: string; version: number; description: string | null; definition: WorkflowDefinition; definitionHash: string },
): Promise<WorkflowRecord> {
  const [inserted] = await sql.rows<WorkflowRecord>(
    `INSERT INTO workflows ("tenantId", name, version, description, definition, "definitionHash")
     VALUES ($1, $2, $3, $4, $5::jsonb, $6) RETURNING *`,
    [row.tenantId, row.name, row.version, row.description, JSON.stringify(row.definition), row.definitionHash],
  );
  return inserted!;
}

/** The latest version of each workflow of a tenant, by name, after the `after` name. */
export async function listLatestWorkflows(sql: Sql, tenantId: string, limit: number, afterName: string | null): Promise<WorkflowRecord[]> {
  return sql.rows<WorkflowRecord>(
    `SELECT DISTINCT ON (name) * FROM workflows
     WHERE "tenantId" = $1 AND ($2::text IS NULL OR name > $2)
     ORDER BY name, version DESC LIMIT $3`,
    [tenantId, afterName, limit],
  );
}

export async function countWorkflowNames(sql: Sql, tenantId: string): Promise<number> {
  const [row] = await sql.rows<{ n: string }>(`SELECT count(DISTINCT name) AS n FROM workflows WHERE "tenantId" = $1`, [tenantId]);
  return Number(row?.n ?? 0);
}
