import type { MatchedWorkflow } from '../domain/triggers';
import type { Sql } from './sql';

/** What an event led to: the runs it started and the workflows that refused its payload. */
export interface EventOutcome {
  runs: { runId: string; workflow: string; version: number }[];
  refused: { workflow: string; version: number; code: string; message: string }[];
}

/** A row of `events`. */
export interface EventRecord {
  tenantId: string;
  id: string;
  name: string;
  source: 'EVENT' | 'WEBHOOK';
  payloadHash: string;
  receivedAt: Date;
  matched: MatchedWorkflow[];
  outcome: EventOutcome | null;
  completedAt: Date | null;
}

/**
 * Records an event; undefined when its (tenant, id) is already recorded (the primary key decides,
 * across replicas; a racing insert waits for the other's commit, then conflicts).
 */
export async function insertEvent(sql: Sql, e: Omit<EventRecord, 'outcome' | 'completedAt'>): Promise<EventRecord | undefined> {
  const [row] = await sql.rows<EventRecord>(
    `INSERT INTO events ("tenantId", id, name, source, "payloadHash", "receivedAt", matched)
     VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb)
     ON CONFLICT ("tenantId", id) DO NOTHING RETURNING *`,
    [e.tenantId, e.id, e.name, e.source, e.payloadHash, e.receivedAt, JSON.stringify(e.matched)],
  );
  return row;
}

export async function findEvent(sql: Sql, tenantId: string, id: string): Promise<EventRecord | undefined> {
  const [row] = await sql.rows<EventRecord>(`SELECT * FROM events WHERE "tenantId" = $1 AND id = $2`, [tenantId, id]);
  return row;
}

/** Sets the outcome once: the first to finish writes it, a later finisher (same runs) changes nothing. */
export async function completeEvent(sql: Sql, tenantId: string, id: string, outcome: EventOutcome, at: Date): Promise<void> {
  await sql.rows(`UPDATE events SET outcome = $3::jsonb, "completedAt" = $4 WHERE "tenantId" = $1 AND id = $2 AND "completedAt" IS NULL`, [
    tenantId,
    id,
    JSON.stringify(outcome),
    at,
  ]);
}

/** Deletes at most `limit` events received before `before`, oldest first; returns how many. */
export async function pruneEvents(sql: Sql, before: Date, limit: number): Promise<number> {
  const rows = await sql.rows<{ id: string }>(
    `DELETE FROM events WHERE ("tenantId", id) IN (
       SELECT "tenantId", id FROM events WHERE "receivedAt" < $1 ORDER BY "receivedAt" LIMIT $2 FOR UPDATE SKIP LOCKED
     ) RETURNING id`,
    [before, limit],
  );
  return rows.length;
}
