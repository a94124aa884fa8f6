import type { RunEvent, RunRecord } from '../domain/model';
import type { Json, RunStatus } from '../domain/glossary';
import type { Sql } from './sql';
import type { NewTask } from './tasks.store';


export interface NewRun {
  id: string;
  tenantId: string;
  workflowId: string;
  workflowName: string;
  workflowVersion: number;
  input: Json;
  idempotencyKey: string | null;
  createdAt: Date;
  deadlineAt: Date | null;
  traceparent: string | null;
  /** Seq of the last of the run's first events. */
  lastSeq: number;
}

/**
 * Inserts a PENDING run with its tasks and first events in one statement, or nothing when the
 * tenant already has a run with this idempotency key (the unique index makes concurrent starts
 * with one key agree on one run) or when `latestVersion` is no longer the latest. The tasks and
 * events insert only with the run.
 */
export async function insertRun(
  sql: Sql,
  run: NewRun,
  tasks: readonly NewTask[],
  events: readonly RunEvent[],
  /** When the run is of the latest version: nothing is inserted if a newer one exists. */
  latestVersion: number | null,
): Promise<RunRecord | undefined> {
  const [row] = await sql.rows<RunRecord>(
    `WITH new_run AS (
       INSERT INTO runs (id, "tenantId", "workflowId", "workflowName", "workflowVersion", status, input, "idempotencyKey", "createdAt", "deadlineAt", traceparent, "lastSeq")
       SELECT $1::uuid, $2::varchar, $3::uuid, $4::varchar, $5::int, 'PENDING', $6::jsonb, $7::varchar, $8::timestamptz, $9::timestamptz, $10::text, $11::int
       WHERE $14::int IS NULL
         OR NOT EXISTS (SELECT 1 FROM workflows w WHERE w."tenantId" = $2 AND w.name = $4 AND w.version > $14::int)
       ON CONFLICT ("tenantId", "idempotencyKey") DO NOTHING
       RETURNING *
     ),
     new_tasks AS (
       INSERT INTO tasks (id, "tenantId", "runId", position, key, type, queue, status, input, "timeoutMs", "createdAt", "queuedAt", "availableAt")
       SELECT t.id, r."tenantId", r.id, t.position, t.key, t.type, t.queue, t.status, t.input, t."timeoutMs", r."createdAt",
         CASE WHEN t.status = 'QUEUED' THEN r."createdAt" END, CASE WHEN t.status = 'QUEUED' THEN r."createdAt" END
       FROM new_run r, jsonb_to_recordset($12::jsonb) AS t(id uuid, position int, key text, type text, queue text, status text, input jsonb, "timeoutMs" int)
       RETURNING 1
     ),
     new_events AS (
       INSERT INTO run_events ("runId", seq, "tenantId", "workflowName", type, status, "taskId", "taskKey", attempt, data, "createdAt")
       SELECT e."runId", e.seq, e."tenantId", e."workflowName", e.type, e.status, e."taskId", e."taskKey", e.attempt, e.data, e."createdAt"
       FROM new_run r, jsonb_to_recordset($13::jsonb) AS e("runId" uuid, seq int, "tenantId" text, "workflowName" text, type text,
         status text, "taskId" uuid, "taskKey" text, attempt int, data jsonb, "createdAt" timestamptz)
       RETURNING 1
     )
     SELECT * FROM new_run`,
    [
      run.id,
      run.tenantId,
      run.workflowId,
      run.workflowName,
      run.workflowVersion,
      JSON.stringify(run.input),
      run.idempotencyKey,
      run.createdAt,
      run.deadlineAt,
      run.traceparent,
      run.lastSeq,
      JSON.stringify(tasks.map((t, position) => ({ ...t, position }))),
      JSON.stringify(events),
      latestVersion,
    ],
  );
  return row;
}

export async function findRunByIdempotencyKey(sql: Sql, tenantId: string, key: string): Promise<RunRecord | undefined> {
  const [row] = await sql.rows<RunRecord>(`SELECT * FROM runs WHERE "tenantId" = $1 AND "idempotencyKey" = $2`, [tenantId, key]);
  return row;
}

/** Runs by id; `tenantId` null only for the engine's own lookups, never for a caller's. */
export async function findRunsByIds(sql: Sql, tenantId: string | null, ids: readonly string[]): Promise<RunRecord[]> {
  return sql.rows<RunRecord>(`SELECT * FROM runs WHERE ($1::text IS NULL OR "tenantId" = $1) AND id = ANY($2::uuid[])`, [tenantId, ids]);
}

/** Locks the run row: every transition of a run holds it, so a run's transitions are serial. */
export async function lockRun(sql: Sql, tenantId: string, runId: string, anyTenant = false): Promise<RunRecord | undefined> {
  const [row] = await sql.rows<RunRecord>(`SELECT * FROM runs WHERE ($3 OR "tenantId" = $1) AND id = $2 FOR UPDATE`, [tenantId, runId, anyTenant]);
  return row;
}

/** Locks the run of a task; with `tenantId`, only a run of that tenant (another tenant's is never locked). */
export async function lockRunOfTask(sql: Sql, taskId: string, tenantId: string | null = null): Promise<RunRecord | undefined> {
  const [row] = await sql.rows<RunRecord>(
    `SELECT r.* FROM runs r WHERE r.id = (SELECT "runId" FROM tasks WHERE id = $1) AND ($2::text IS NULL OR r."tenantId" = $2) FOR UPDATE`,
    [taskId, tenantId],
  );
  return row;
}

/** Locks the runs of these tasks in id order (a fixed order: two batches cannot deadlock). */
export async function lockRunsOfTasks(sql: Sql, taskIds: readonly string[]): Promise<RunRecord[]> {
  return sql.rows<RunRecord>(
    `SELECT r.* FROM runs r WHERE r.id IN (SELECT "runId" FROM tasks WHERE id = ANY($1::uuid[])) ORDER BY r.id FOR UPDATE`,
    [taskIds],
  );
}

/** Unfinished runs past their workflow's timeout. */
export async function dueRunDeadlines(sql: Sql, now: Date, limit: number): Promise<Pick<RunRecord, 'id' | 'tenantId'>[]> {
  return sql.rows(
    `SELECT id, "tenantId" FROM runs WHERE "deadlineAt" <= $1 AND status IN ('PENDING', 'RUNNING') ORDER BY "deadlineAt" LIMIT $2`,
    [now, limit],
  );
}

export interface RunListFilter {
  workflow?: string | null;
  statuses?: readonly RunStatus[] | null;
  createdAfter?: Date | null;
  createdBefore?: Date | null;
}

/** Newest first, keyset-paginated on (createdAt, id). */
export async function listRuns(
  sql: Sql,
  tenantId: string,
  filter: RunListFilter,
  limit: number,
  after: { createdAt: Date; id: string } | null,
): Promise<{ rows: RunRecord[]; totalCount: number }> {
  const where = [`"tenantId" = $1`];
  const params: unknown[] = [tenantId];
  const add = (clause: (n: number) => string, value: unknown) => {
    params.push(value);
    where.push(clause(params.length));
  };
  if (filter.workflow) add((n) => `"workflowName" = $${n}`, filter.workflow);
  if (filter.statuses?.length) add((n) => `status = ANY($${n}::text[])`, filter.statuses);
  if (filter.createdAfter) add((n) => `"createdAt" >= $${n}`, filter.createdAfter);
  if (filter.createdBefore) add((n) => `"createdAt" < $${n}`, filter.createdBefore);
  const filtered = where.join(' AND ');
  const countParams = [...params];
  if (after) {
    params.push(after.createdAt, after.id);
    where.push(`("createdAt", id) < ($${params.length - 1}, $${params.length}::uuid)`);
  }
  params.push(limit);
  const rows = await sql.rows<RunRecord>(
    `SELECT * FROM runs WHERE ${where.join(' AND ')} ORDER BY "createdAt" DESC, id DESC LIMIT $${params.length}`,
    params,
  );
  const [count] = await sql.rows<{ n: string }>(`SELECT count(*) AS n FROM runs WHERE ${filtered}`, countParams);
  return { rows, totalCount: Number(count?.n ?? 0) };
}
