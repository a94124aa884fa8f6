import type { AttemptRecord, RunEvent, RunRecord, RunTrigger } from '../domain/model';
import { RUN_STATUSES, type Json } from '../domain/glossary';
import { isTerminalRun } from '../domain/run-machine';
import type { KeysetRead, KeysetWindow } from './keyset';
import type { Sql } from './sql';
import { HELD_RUN_SQL } from './concurrency.store';
import type { NewTask } from './tasks.store';
import { runFilterWhere, type RunListFilter } from './run-filter';
import { columnList, every, ident, insertFromJson, recordType, RUN_EVENTS, RUNS, TASK_ATTEMPTS, TASKS } from './tables';

export interface NewRun {
  id: string;
  tenantId: string;
  workflowId: string;
  workflowName: string;
  workflowVersion: number;
  input: Json;
  idempotencyKey: string | null;
  /** With an idempotency key: the hash of the request (see `startRequestHash`). */
  requestHash: string | null;
  /** Canonical (see `normalizeTags`). */
  tags: string[];
  metadata: { [key: string]: Json };
  createdAt: Date;
  deadlineAt: Date | null;
  traceparent: string | null;
  /** Seq of the last of the run's first events. */
  lastSeq: number;
  /** A child run: its parent run and the task waiting for it; null for startRun's runs. */
  parentRunId: string | null;
  parentTaskId: string | null;
  /** 0 for startRun's runs; the parent's + 1 for a child. */
  depth: number;
  trigger: RunTrigger;
  /** 1 to 3 (src/domain/priorities.ts). */
  priority: number;
  /** PENDING; RUNNING when the start claimed its roots (eager start, src/domain/start-claim.ts). */
  status: 'PENDING' | 'RUNNING';
  startedAt: Date | null;
}

/** The run's columns from `NewRun`, in parameter order ($1 …). */
const NEW_RUN_COLUMNS = every<keyof NewRun>()([
  'id',
  'tenantId',
  'workflowId',
  'workflowName',
  'workflowVersion',
  'input',
  'idempotencyKey',
  'requestHash',
  'tags',
  'metadata',
  'createdAt',
  'deadlineAt',
  'traceparent',
  'lastSeq',
  'parentRunId',
  'parentTaskId',
  'depth',
  'trigger',
  'priority',
  'status',
  'startedAt',
]);
/** A task's columns from its `NewTask` (and its position in the list). */
const NEW_TASK_FIELDS = [
  ...every<keyof NewTask>()([
    'id',
    'key',
    'type',
    'queue',
    'status',
    'input',
    'timeoutMs',
    'parentTaskId',
    'item',
    'itemIndex',
    'itemCount',
    'itemsLeft',
    'itemsActive',
    'failedItems',
    'priority',
    'rateLimitKey',
    'rateLimitLimit',
    'rateLimitPeriodMs',
    'attempt',
    'fence',
    'leaseSecret',
    'workerId',
    'deadlineAt',
  ]),
  'position',
] as const;
/** The rest of a new task's columns, from its run (`r`) and its own fields (`t`). */
const NEW_TASK_FROM_RUN = {
  tenantId: `r.${ident('tenantId')}`,
  runId: `r.${ident('id')}`,
  createdAt: `r.${ident('createdAt')}`,
  // A root claimed in the start was queued, for no time.
  queuedAt: `CASE WHEN t.${ident('status')} = 'QUEUED' OR t.${ident('workerId')} IS NOT NULL THEN r.${ident('createdAt')} END`,
  availableAt: `CASE WHEN t.${ident('status')} = 'QUEUED' THEN r.${ident('createdAt')} END`,
  // A root forEach step's fan task runs from the start.
  startedAt: `CASE WHEN t.${ident('status')} = 'RUNNING' THEN r.${ident('createdAt')} END`,
} satisfies Partial<Record<keyof typeof TASKS.columns, string>>;

const param = (column: keyof NewRun) => `$${NEW_RUN_COLUMNS.indexOf(column) + 1}`;
const TASKS_PARAM = NEW_RUN_COLUMNS.length + 1;
const EVENTS_PARAM = NEW_RUN_COLUMNS.length + 2;
const LATEST_VERSION_PARAM = NEW_RUN_COLUMNS.length + 3;
const ATTEMPTS_PARAM = NEW_RUN_COLUMNS.length + 4;

/** Built once from the table descriptions: the same text on every call. */
const INSERT_RUN = `WITH new_run AS (
       INSERT INTO ${ident(RUNS.name)} (${columnList(NEW_RUN_COLUMNS)})
       SELECT ${NEW_RUN_COLUMNS.map((c) => `${param(c)}::${RUNS.columns[c]}`).join(', ')}
       WHERE $${LATEST_VERSION_PARAM}::int IS NULL
         OR NOT EXISTS (SELECT 1 FROM workflows w WHERE w."tenantId" = ${param('tenantId')} AND w.name = ${param('workflowName')} AND w.version > $${LATEST_VERSION_PARAM}::int)
       ON CONFLICT ("tenantId", "idempotencyKey") DO NOTHING
       RETURNING *
     ),
     new_tasks AS (
       INSERT INTO ${ident(TASKS.name)} (${columnList([...NEW_TASK_FIELDS, ...Object.keys(NEW_TASK_FROM_RUN)])})
       SELECT ${columnList(NEW_TASK_FIELDS, 't')}, ${Object.values(NEW_TASK_FROM_RUN).join(', ')}
       FROM new_run r, jsonb_to_recordset($${TASKS_PARAM}::jsonb) AS t(${recordType(TASKS, NEW_TASK_FIELDS)})
       RETURNING 1
     ),
     new_events AS (
       ${insertFromJson(RUN_EVENTS, EVENTS_PARAM, 'new_run r')}
       RETURNING 1
     ),
     new_attempts AS (
       ${insertFromJson(TASK_ATTEMPTS, ATTEMPTS_PARAM, 'new_run r')}
       RETURNING 1
     )
     SELECT * FROM new_run`;

/**
 * Inserts a run with its tasks, first events and (when its start claimed roots) their attempts in
 * one statement, or nothing when the tenant already has a run with this idempotency key (the
 * unique index makes concurrent starts with one key agree on one run) or when `latestVersion` is
 * no longer the latest. The tasks, events and attempts insert only with the run.
 */
export async function insertRun(
  sql: Sql,
  run: NewRun,
  tasks: readonly NewTask[],
  events: readonly RunEvent[],
  /** When the run is of the latest version: nothing is inserted if a newer one exists. */
  latestVersion: number | null,
  /** The attempts of the roots its start claimed (eager start). */
  attempts: readonly Pick<AttemptRecord, (typeof TASK_ATTEMPTS.transitionInserts)[number]>[] = [],
): Promise<RunRecord | undefined> {
  const [row] = await sql.rows<RunRecord>(INSERT_RUN, [
    ...NEW_RUN_COLUMNS.map((c) => (RUNS.columns[c] === 'jsonb' ? JSON.stringify(run[c]) : run[c])),
    JSON.stringify(positioned(tasks)),
    JSON.stringify(events),
    latestVersion,
    JSON.stringify(attempts),
  ]);
  return row;
}

/** Each task's step index (an item task takes its fan task's), unclaimed unless its start claimed it. */
export function positioned<T extends NewTask>(tasks: readonly T[]): (T & Required<NewTask> & { position: number })[] {
  const byKey = new Map<string, number>();
  return tasks.map((t) => {
    if (!byKey.has(t.key)) byKey.set(t.key, byKey.size);
    return { attempt: 0, fence: '0', leaseSecret: null, workerId: null, deadlineAt: null, ...t, position: byKey.get(t.key)! };
  });
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
  // `concurrencyHeld`: it waits for a concurrency slot, and its `promote` or `resume` must queue nothing.
  const [row] = await sql.rows<RunRecord>(
    `SELECT r.*, ${HELD_RUN_SQL} AS "concurrencyHeld" FROM runs r WHERE ($3 OR r."tenantId" = $1) AND r.id = $2 FOR UPDATE OF r`,
    [tenantId, runId, anyTenant],
  );
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
  return sql.rows<RunRecord>(`SELECT r.* FROM runs r WHERE r.id IN (SELECT "runId" FROM tasks WHERE id = ANY($1::uuid[])) ORDER BY r.id FOR UPDATE`, [taskIds]);
}

/** Unfinished runs past their workflow's timeout, PAUSED ones included (their timeout keeps counting). */
export async function dueRunDeadlines(sql: Sql, now: Date, limit: number): Promise<Pick<RunRecord, 'id' | 'tenantId'>[]> {
  return sql.rows(`SELECT id, "tenantId" FROM runs WHERE "deadlineAt" <= $1 AND status IN ('PENDING', 'RUNNING', 'PAUSED') ORDER BY "deadlineAt" LIMIT $2`, [
    now,
    limit,
  ]);
}

/**
 * PENDING runs created before `before` none of whose tasks has moved: a start whose conditional
 * roots (PENDING until the `promote` transition) were never promoted, because the replica died
 * between the insert and that transition. Every other new run has a QUEUED root.
 */
export async function strandedPendingRuns(sql: Sql, before: Date, limit: number): Promise<Pick<RunRecord, 'id'>[]> {
  return sql.rows(
    `SELECT r.id FROM runs r WHERE r.status = 'PENDING' AND r."createdAt" <= $1
       AND NOT EXISTS (SELECT 1 FROM tasks t WHERE t."runId" = r.id AND t.status <> 'PENDING')
       AND NOT ${HELD_RUN_SQL}
     ORDER BY r."createdAt" LIMIT $2`,
    [before, limit],
  );
}

export type { RunListFilter } from './run-filter';

const TERMINAL_RUN_STATUSES = RUN_STATUSES.filter(isTerminalRun);

/**
 * Locks up to `limit` unfinished runs of a tenant matching a filter, in id order (the order every
 * loader locks runs in, so this cannot deadlock with them). It waits for a run another
 * transaction holds rather than skipping it: a bulk cancel repeated until it answers 0 must not
 * leave runs behind that were only busy.
 */
export async function lockUnfinishedRunsMatching(sql: Sql, tenantId: string, filter: RunListFilter, limit: number): Promise<RunRecord[]> {
  const { where, params } = runFilterWhere(tenantId, filter);
  return sql.rows<RunRecord>(
    `SELECT * FROM runs WHERE ${where} AND status <> ALL($${params.length + 1}::text[]) ORDER BY id LIMIT $${params.length + 2} FOR UPDATE`,
    [...params, TERMINAL_RUN_STATUSES, limit],
  );
}

/** A position in the runs listing. */
export interface RunKey {
  createdAt: Date;
  id: string;
}

/**
 * Bounds beyond every run: a page without a cursor compares against these, so every page of a
 * filter set is one statement text (one prepared statement, see sql.ts) and each bound stays an
 * index range on (tenantId, createdAt, id).
 */
const NEWEST_BOUND = { createdAt: 'infinity', id: 'ffffffff-ffff-ffff-ffff-ffffffffffff' };
const OLDEST_BOUND = { createdAt: '-infinity', id: '00000000-0000-0000-0000-000000000000' };

/**
 * Newest first by (createdAt, id), keyset-paginated both ways over the (tenantId, createdAt, id)
 * index: forward reads down from `after`, backward up from `before`. The count statement scans
 * the filtered runs anyway for `total`; the rows on either side of the cursors ride along in it.
 * A window that needs no count (`counts: false`) is one index range read: a tenant with 3,000
 * runs paid a 3,000-row count for every page of 100, in every alias of a heavy read.
 */
export async function listRuns(sql: Sql, tenantId: string, filter: RunListFilter, window: KeysetWindow<RunKey>): Promise<KeysetRead<RunRecord>> {
  const { where: filtered, params } = runFilterWhere(tenantId, filter);
  const after = window.after ?? NEWEST_BOUND;
  const before = window.before ?? OLDEST_BOUND;
  params.push(after.createdAt, after.id, before.createdAt, before.id);
  const a = params.length - 3;
  const afterKey = `($${a}::timestamptz, $${a + 1}::uuid)`;
  const beforeKey = `($${a + 2}::timestamptz, $${a + 3}::uuid)`;
  const order = window.direction === 'forward' ? 'DESC' : 'ASC';
  const counting = window.counts !== false;
  const [rows, [count]] = await Promise.all([
    sql.rows<RunRecord>(
      `SELECT * FROM runs WHERE ${filtered} AND ("createdAt", id) < ${afterKey} AND ("createdAt", id) > ${beforeKey}
       ORDER BY "createdAt" ${order}, id ${order} LIMIT $${params.length + 1}`,
      [...params, window.limit],
    ),
    counting
      ? sql.rows<{ total: string; throughAfter: string; fromBefore: string }>(
          `SELECT count(*) AS total,
              count(*) FILTER (WHERE ("createdAt", id) >= ${afterKey}) AS "throughAfter",
              count(*) FILTER (WHERE ("createdAt", id) <= ${beforeKey}) AS "fromBefore"
       FROM runs WHERE ${filtered}`,
          params,
        )
      : Promise.resolve([]),
  ]);
  return { rows, total: Number(count?.total ?? 0), throughAfter: Number(count?.throughAfter ?? 0), fromBefore: Number(count?.fromBefore ?? 0) };
}
