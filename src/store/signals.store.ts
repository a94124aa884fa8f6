import type { SignalRecord } from '../domain/model';
import type { Sql } from './sql';

/** A run's signals no step has consumed yet, in send order (FIFO per name), locked with the run's transition. */
export async function pendingSignals(sql: Sql, runIds: readonly string[]): Promise<SignalRecord[]> {
  return sql.rows<SignalRecord>(`SELECT * FROM signals WHERE "runId" = ANY($1::uuid[]) AND "consumedAt" IS NULL ORDER BY seq FOR UPDATE`, [runIds]);
}

/** Signals sent and consumed by one transition, in its transaction: one statement, nothing when there are none. */
export async function writeSignals(
  sql: Sql,
  /** `seq` is left to the sequence. */
  sent: readonly Omit<SignalRecord, 'seq'>[],
  consumed: readonly { id: string; taskId: string; consumedAt: Date }[],
): Promise<void> {
  if (sent.length === 0 && consumed.length === 0) return;
  await sql.rows(
    `WITH sent AS (
       INSERT INTO signals (id, "tenantId", "runId", name, payload, "createdAt", "consumedByTaskId", "consumedAt")
       SELECT s.id, s."tenantId", s."runId", s.name, s.payload, s."createdAt", s."consumedByTaskId", s."consumedAt"
       FROM jsonb_to_recordset($1::jsonb) AS s(id uuid, "tenantId" varchar, "runId" uuid, name varchar, payload jsonb, "createdAt" timestamptz,
         "consumedByTaskId" uuid, "consumedAt" timestamptz)
       RETURNING 1
     ),
     consumed AS (
       UPDATE signals g SET "consumedByTaskId" = c."taskId", "consumedAt" = c."consumedAt"
       FROM jsonb_to_recordset($2::jsonb) AS c(id uuid, "taskId" uuid, "consumedAt" timestamptz)
       WHERE g.id = c.id AND g."consumedAt" IS NULL
       RETURNING 1
     )
     SELECT 1`,
    [JSON.stringify(sent), JSON.stringify(consumed)],
  );
}
