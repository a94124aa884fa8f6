import type { ApiKeyEntity } from './entities';
import type { Sql } from './sql';

export type ApiKeyRow = ApiKeyEntity;

export async function insertApiKey(
  sql: Sql,
  row: { tenantId: string; name: string | null; keyHash: string; prefix: string; admin?: boolean },
): Promise<ApiKeyRow> {
  const [inserted] = await sql.rows<ApiKeyRow>(`INSERT INTO api_keys ("tenantId", name, "keyHash", prefix, admin) VALUES ($1, $2, $3, $4, $5) RETURNING *`, [
    row.tenantId,
    row.name,
    row.keyHash,
    row.prefix,
    row.admin ?? false,
  ]);
  return inserted!;
}

export async function findActiveApiKey(sql: Sql, keyHash: string): Promise<ApiKeyRow | undefined> {
  const [row] = await sql.rows<ApiKeyRow>(`SELECT * FROM api_keys WHERE "keyHash" = $1 AND "revokedAt" IS NULL`, [keyHash]);
  return row;
}

export async function listApiKeys(sql: Sql, tenantId: string | null): Promise<ApiKeyRow[]> {
  return sql.rows<ApiKeyRow>(`SELECT * FROM api_keys WHERE ($1::text IS NULL OR "tenantId" = $1) ORDER BY "createdAt"`, [tenantId]);
}

export async function findApiKey(sql: Sql, id: string): Promise<ApiKeyRow | undefined> {
  const [row] = await sql.rows<ApiKeyRow>(`SELECT * FROM api_keys WHERE id = $1`, [id]);
  return row;
}

export async function revokeApiKey(sql: Sql, id: string, now: Date): Promise<boolean> {
  const rows = await sql.rows<{ id: string }>(`UPDATE api_keys SET "revokedAt" = $2 WHERE id = $1 AND "revokedAt" IS NULL RETURNING id`, [id, now]);
  return rows.length === 1;
}

/** Which of these key ids are still active (not revoked, not deleted). */
export async function activeApiKeyIds(sql: Sql, ids: readonly string[]): Promise<Set<string>> {
  if (ids.length === 0) return new Set();
  const rows = await sql.rows<{ id: string }>(`SELECT id FROM api_keys WHERE id = ANY($1::uuid[]) AND "revokedAt" IS NULL`, [ids]);
  return new Set(rows.map((r) => r.id));
}
