import type { RunEvent } from '../domain/model';
import type { EventDraft } from '../domain/run-machine';
import type { Sql } from './sql';

/** What the store needs to number a run's next events. */
export interface SeqCursor {
  runId: string;
  tenantId: string;
  workflowName: string;
  /** The run's lastSeq before these events; advanced by this call. */
  lastSeq: number;
}

/** Numbers `drafts` after the run's last seq (advancing `cursor.lastSeq`) and returns the rows to insert. */
export function numberEvents(cursor: SeqCursor, drafts: readonly EventDraft[], now: Date): RunEvent[] {
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

export async function listEvents(sql: Sql, tenantId: string, runId: string, afterSeq: number, limit = 10_000): Promise<RunEvent[]> {
  return sql.rows<RunEvent>(`SELECT * FROM run_events WHERE "tenantId" = $1 AND "runId" = $2 AND seq > $3 ORDER BY seq LIMIT $4`, [
    tenantId,
    runId,
    afterSeq,
    limit,
  ]);
}

/**
 * The events after `afterSeq` of many runs in one statement (the `Run.events` DataLoader batch):
 * at most `limit` per run, each run's in seq order. One index range scan per run (primary key
 * runId, seq) under a LATERAL join, instead of one statement per run.
 */
export async function listEventsOfRuns(sql: Sql, tenantId: string, runIds: readonly string[], afterSeq: number, limit: number): Promise<RunEvent[]> {
  return sql.rows<RunEvent>(
    `SELECT e.* FROM unnest($2::uuid[]) AS r(id)
       CROSS JOIN LATERAL (SELECT * FROM run_events WHERE "tenantId" = $1 AND "runId" = r.id AND seq > $3 ORDER BY seq LIMIT $4) AS e
     ORDER BY e."runId", e.seq`,
    [tenantId, runIds, afterSeq, limit],
  );
}
