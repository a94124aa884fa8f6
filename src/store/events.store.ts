import type { EventDraft } from '../domain/run-machine';
import type { RunEventEntity } from './entities';
import type { Sql } from './sql';

export type RunEventRow = RunEventEntity;

/** What the store needs to number a run's next events. */
export interface SeqCursor {
  runId: string;
  tenantId: string;
  workflowName: string;
  /** The run's lastSeq before these events; advanced by this call. */
  lastSeq: number;
}

/** Numbers `drafts` after the run's last seq (advancing `cursor.lastSeq`) and returns the rows to insert. */
export function numberEvents(cursor: SeqCursor, drafts: readonly EventDraft[], now: Date): RunEventRow[] {
  return drafts.map((d) => ({
    runId: cursor.runId,
    seq: ++cursor.lastSeq,
    tenantId: cursor.tenantId,
    workflowName: cursor.workflowName,
    type: d.type,
    status: d.status,
    taskId: d.taskId,
    taskKey: d.taskKey,
    attempt: d.attempt,
    data: d.data,
    createdAt: now,
  }));
}

/** One multi-row insert for any number of events of any runs. */
export async function insertEvents(sql: Sql, events: readonly RunEventRow[]): Promise<void> {
  if (events.length === 0) return;
  await sql.rows(
    `INSERT INTO run_events ("runId", seq, "tenantId", "workflowName", type, status, "taskId", "taskKey", attempt, data, "createdAt")
     SELECT "runId", seq, "tenantId", "workflowName", type, status, "taskId", "taskKey", attempt, data, "createdAt"
     FROM jsonb_to_recordset($1::jsonb) AS e("runId" uuid, seq int, "tenantId" text, "workflowName" text, type text, status text,
       "taskId" uuid, "taskKey" text, attempt int, data jsonb, "createdAt" timestamptz)`,
    [JSON.stringify(events)],
  );
}

export async function listEvents(sql: Sql, tenantId: string, runId: string, afterSeq: number, limit = 10_000): Promise<RunEventRow[]> {
  return sql.rows<RunEventRow>(
    `SELECT * FROM run_events WHERE "tenantId" = $1 AND "runId" = $2 AND seq > $3 ORDER BY seq LIMIT $4`,
    [tenantId, runId, afterSeq, limit],
  );
}
