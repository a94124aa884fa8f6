import type { WorkflowRecord } from '../domain/model';
import type { WorkflowDefinition } from '../domain/glossary';
import type { KeysetRead, KeysetWindow } from './keyset';
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

/**
 * The latest version of each workflow of a tenant, by name, between the `after` and `before`
 * names (both exclusive); backward reads from `before` down. The unique (tenantId, name, version)
 * index serves both directions.
 */
export async function listLatestWorkflows(sql: Sql, tenantId: string, window: KeysetWindow<string>): Promise<KeysetRead<WorkflowRecord>> {
  const order = window.direction === 'forward' ? 'ASC' : 'DESC';
  const params = [tenantId, window.after, window.before];
  const [rows, [count]] = await Promise.all([
    sql.rows<WorkflowRecord>(
      `SELECT DISTINCT ON (name) * FROM workflows
       WHERE "tenantId" = $1 AND ($2::text IS NULL OR name > $2) AND ($3::text IS NULL OR name < $3)
       ORDER BY name ${order}, version DESC LIMIT $4`,
      [...params, window.limit],
    ),
    sql.rows<{ total: string; throughAfter: string; fromBefore: string }>(
      `SELECT count(DISTINCT name) AS total,
              count(DISTINCT name) FILTER (WHERE name <= $2::text) AS "throughAfter",
              count(DISTINCT name) FILTER (WHERE name >= $3::text) AS "fromBefore"
       FROM workflows WHERE "tenantId" = $1`,
      params,
    ),
  ]);
  return { rows, total: Number(count?.total ?? 0), throughAfter: Number(count?.throughAfter ?? 0), fromBefore: Number(count?.fromBefore ?? 0) };
}
