import type { Sql } from './sql';

export interface WebhookSecretRecord {
  id: string;
  tenantId: string;
  name: string | null;
  prefix: string;
  createdAt: Date;
  revokedAt: Date | null;
}

const LISTED = `id, "tenantId", name, prefix, "createdAt", "revokedAt"`;

/** Inserts a secret unless the tenant already holds `maxActive` unrevoked ones (counted under a per-tenant transaction lock). */
export async function insertWebhookSecret(
  sql: Sql,
  s: { tenantId: string; name: string | null; secret: string; prefix: string; createdAt: Date },
  maxActive: number,
): Promise<{ row?: WebhookSecretRecord; active: number }> {
  // Serializes the tenant's creations (two at once could otherwise both count 4 and insert a 5th and 6th); released at commit.
  await sql.rows(`SELECT pg_advisory_xact_lock(hashtext('maestro:webhook_secrets:' || $1))`, [s.tenantId]);
  const active = await sql.rows<{ id: string }>(`SELECT id FROM webhook_secrets WHERE "tenantId" = $1 AND "revokedAt" IS NULL`, [s.tenantId]);
  if (active.length >= maxActive) return { active: active.length };
  const [row] = await sql.rows<WebhookSecretRecord>(
    `INSERT INTO webhook_secrets ("tenantId", name, secret, prefix, "createdAt") VALUES ($1, $2, $3, $4, $5) RETURNING ${LISTED}`,
    [s.tenantId, s.name, s.secret, s.prefix, s.createdAt],
  );
  return { row: row!, active: active.length + 1 };
}

/** The secrets that verify a tenant's webhooks now. */
export async function activeWebhookSecrets(sql: Sql, tenantId: string): Promise<string[]> {
  const rows = await sql.rows<{ secret: string }>(`SELECT secret FROM webhook_secrets WHERE "tenantId" = $1 AND "revokedAt" IS NULL`, [tenantId]);
  return rows.map((r) => r.secret);
}

/** A tenant's secrets, newest first (revoked ones too), at most `limit`. */
export async function listWebhookSecrets(sql: Sql, tenantId: string, limit: number): Promise<WebhookSecretRecord[]> {
  return sql.rows<WebhookSecretRecord>(`SELECT ${LISTED} FROM webhook_secrets WHERE "tenantId" = $1 ORDER BY "createdAt" DESC, id LIMIT $2`, [tenantId, limit]);
}

/** Revokes a secret of the tenant (again: keeps the first revocation time); undefined when the tenant has no such secret. */
export async function revokeWebhookSecret(sql: Sql, tenantId: string, id: string, at: Date): Promise<WebhookSecretRecord | undefined> {
  const [row] = await sql.rows<WebhookSecretRecord>(
    `UPDATE webhook_secrets SET "revokedAt" = COALESCE("revokedAt", $3) WHERE "tenantId" = $1 AND id = $2 RETURNING ${LISTED}`,
    [tenantId, id, at],
  );
  return row;
}
