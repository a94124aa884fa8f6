import type { AttemptOutcome, RunRecord, TaskRecord } from '../domain/model';
import type { Json, TaskStatus } from '../domain/glossary';
import { DEFAULT_PRIORITY_AGING_MS } from '../domain/priorities';
import { PRIORITY_LEVELS_SQL, rankAt, rateLimitGate } from './claim-order';
import type { Sql } from './sql';
import { stepGateSql } from './concurrency.store';
import { RUNS } from './tables';

export interface NewTask {
  id: string;
  key: string;
  type: string;
  queue: string | null;
  status: TaskStatus;
  input: Json;
  timeoutMs: number | null;
  parentTaskId: string | null;
  item: Json;
  itemIndex: number | null;
  itemCount: number | null;
  itemsLeft: number | null;
  itemsActive: number | null;
  failedItems: number[] | null;
  priority: number;
  rateLimitKey: string | null;
  rateLimitLimit: number | null;
  rateLimitPeriodMs: number | null;
  /** A root claimed in its run's start (eager start): its attempt, lease and holder. @default unclaimed */
  attempt?: number;
  fence?: string;
  leaseSecret?: string | null;
  workerId?: string | null;
  deadlineAt?: Date | null;
}

export async function tasksOfRuns(sql: Sql, tenantId: string, runIds: readonly string[]): Promise<TaskRecord[]> {
  return sql.rows<TaskRecord>(`SELECT * FROM tasks WHERE "tenantId" = $1 AND "runId" = ANY($2::uuid[]) ORDER BY "runId", position, "itemIndex" NULLS FIRST`, [
    tenantId,
    runIds,
  ]);
}

/** The tasks of a run whose row the caller has locked. */
export async function tasksOfLockedRun(sql: Sql, runId: string): Promise<TaskRecord[]> {
  return sql.rows<TaskRecord>(`SELECT * FROM tasks WHERE "runId" = $1 FOR UPDATE`, [runId]);
}

/**
 * The runs of these tasks, locked in id order, with their step tasks and the named ones (items
 * among them), locked too: ONE statement, where two (the runs, then their tasks) were a round trip
 * more for every result. Each run's columns come once, on its first step's row (`run.<column>`,
 * null on the others): on every row, a run's input (up to MAX_INPUT_BYTES) would be sent and
 * parsed once per step. The tasks are read in the statement that may have waited for the run
 * locks, so under its snapshot, which is safe for these rows only: step tasks exist from the run's
 * start, and a named task was claimed, so committed, before its result was sent; rows changed
 * meanwhile are read as they are now (FOR UPDATE). (A run's other items may be newer than the
 * snapshot: they are read after the lock, by statements of their own.)
 */
const LOCK_RUNS_WITH_STEP_TASKS = `WITH r AS MATERIALIZED (
       SELECT r.* FROM runs r WHERE r.id IN (SELECT "runId" FROM tasks WHERE id = ANY($1::uuid[])) ORDER BY r.id FOR UPDATE
     )
     SELECT t.*, ${Object.keys(RUNS.columns)
       .map((c) => `CASE WHEN t.position = 0 AND t."parentTaskId" IS NULL THEN r."${c}" END AS "run.${c}"`)
       .join(', ')}
     FROM r JOIN tasks t ON t."runId" = r.id
     WHERE t."parentTaskId" IS NULL OR t.id = ANY($1::uuid[])
     ORDER BY t."runId", t.position, t."itemIndex" FOR UPDATE OF t`;

export async function lockRunsWithStepTasks(sql: Sql, taskIds: readonly string[]): Promise<{ tasks: TaskRecord[]; runs: RunRecord[] }> {
  const locked = splitClaimedRows(await sql.rows<Record<string, unknown>>(LOCK_RUNS_WITH_STEP_TASKS, [taskIds]));
  // Every run has a first step (position 0): a run without one would be a broken store.
  if (locked.runs.length !== new Set(locked.tasks.map((t) => t.runId)).size) throw new Error('a locked run came without its first step');
  return locked;
}

/** Every item of these fan tasks (their runs locked by the caller). */
export async function itemsOfFans(sql: Sql, fanIds: readonly string[]): Promise<TaskRecord[]> {
  return sql.rows<TaskRecord>(`SELECT * FROM tasks WHERE "parentTaskId" = ANY($1::uuid[]) ORDER BY "parentTaskId", "itemIndex" FOR UPDATE`, [fanIds]);
}

/** The next `limit` PENDING items of a fan task, lowest index first (its run locked by the caller). */
export async function nextPendingItems(sql: Sql, fanId: string, limit: number): Promise<TaskRecord[]> {
  return sql.rows<TaskRecord>(`SELECT * FROM tasks WHERE "parentTaskId" = $1 AND status = 'PENDING' ORDER BY "itemIndex" LIMIT $2 FOR UPDATE`, [fanId, limit]);
}

/** The tasks of several runs whose rows the caller has locked. */
export async function tasksOfLockedRuns(sql: Sql, runIds: readonly string[]): Promise<TaskRecord[]> {
  return sql.rows<TaskRecord>(`SELECT * FROM tasks WHERE "runId" = ANY($1::uuid[]) ORDER BY "runId", position, "itemIndex" NULLS FIRST FOR UPDATE`, [runIds]);
}

export async function findTask(sql: Sql, tenantId: string, taskId: string): Promise<TaskRecord | undefined> {
  const [row] = await sql.rows<TaskRecord>(`SELECT * FROM tasks WHERE "tenantId" = $1 AND id = $2`, [tenantId, taskId]);
  return row;
}

/** What a refused renewal is told by: the task's run, its current token, and how the attempt under `fence` ended (null while it runs). */
export interface RenewalRefused {
  runId: string;
  workflow: string;
  fence: string;
  leaseSecret: string | null;
  outcome: AttemptOutcome | null;
}

/** The run, token and attempt outcome of a tenant's task, for a refused renewal; undefined when it is not the tenant's. */
export async function renewalRefused(sql: Sql, tenantId: string, taskId: string, fence: string): Promise<RenewalRefused | undefined> {
  const [row] = await sql.rows<RenewalRefused>(
    `SELECT t."runId", r."workflowName" AS workflow, t.fence, t."leaseSecret", a.outcome FROM tasks t JOIN runs r ON r.id = t."runId"
       LEFT JOIN task_attempts a ON a."taskId" = t.id AND a.fence = $3::bigint
      WHERE t."tenantId" = $1 AND t.id = $2`,
    [tenantId, taskId, fence],
  );
  return row;
}

export async function findTasks(sql: Sql, tenantId: string, taskIds: readonly string[]): Promise<TaskRecord[]> {
  return sql.rows<TaskRecord>(`SELECT * FROM tasks WHERE "tenantId" = $1 AND id = ANY($2::uuid[])`, [tenantId, taskIds]);
}

/**
 * A new lease secret per claimed row: 128 bits of two v4 UUIDs (244 bits from Postgres's strong
 * random source, pg_strong_random) through SHA-256, base64url without padding (22 characters).
 * Built-in functions only (gen_random_uuid and sha256 are core since Postgres 13 and 11), so it
 * runs on PGlite too; per row, unlike a parameter, however many rows the claim takes.
 */
const NEW_SECRET = `translate(rtrim(encode(substring(sha256((gen_random_uuid()::text || gen_random_uuid()::text)::bytea) from 1 for 16), 'base64'), '='), '+/', '-_')`;

/**
 * (`workflow` steps are never claimed: the transition that readies one starts its child run.)
 *
 * (`queue IS NULL` and `queue = $1` are separate statements: `IS NOT DISTINCT FROM` cannot use
 * the ready index, and every claim would scan all queued tasks.)
 *
 * Claims up to `limit` ready tasks of one queue (null: built-in steps) in one statement, each
 * with a new fencing token, best claim rank first (priority raised by age: src/store/claim-order.ts);
 * a rate-limited task only when the claim's admission admitted it; tasks of PAUSED runs are skipped (the recheck under the row lock sees
 * a pause committed meanwhile). The run rows are locked with SKIP LOCKED too: a claim never waits
 * for a lock, so it cannot deadlock with a transition that holds a run and then its tasks.
 */
export async function claimReadyTasks(
  sql: Sql,
  opts: {
    tenantId: string | null;
    queue: string | null;
    limit: number;
    workerId: string;
    now: Date;
    /**
     * Skip tasks reclaimed from this worker (lease expired) at or after this instant: a long
     * poll open since then belongs to a process that froze with it open (SIGSTOP, a debugger, a
     * GC pause) and must not be handed back the very task it lost. @default null (none skipped)
     */
    notReclaimedSince?: Date | null;
    /** PRIORITY_AGING_MS (src/domain/priorities.ts). @default DEFAULT_PRIORITY_AGING_MS */
    priorityAgingMs?: number;
    /** Rate-limited tasks this claim may take (src/store/rate-limits.store.ts). @default none */
    admitted?: readonly string[];
    /** Tasks of steps with `concurrency` this claim may take (stepGateOf). @default [] (none) */
    allowed?: readonly string[];
    /** Whether ROUND_ROBIN runs exist: their tasks only from `allowed` (stepGateSql). @default false */
    roundRobin?: boolean;
  },
): Promise<TaskRecord[]> {
  // Per priority level the oldest ready tasks (an index scan of IDX_tasks_ready_priority each,
  // locked as scanned with SKIP LOCKED), then the best `limit` of them by claim rank: the top
  // `limit` overall are among the top `limit` of each level, since within a level rank follows
  // availableAt. Up to 2 × limit rows more stay locked until the claim commits.
  return sql.rows<TaskRecord>(
    `WITH candidates AS (
       SELECT c.id, c.rank_at FROM ${PRIORITY_LEVELS_SQL} CROSS JOIN LATERAL (
         SELECT t.id, ${rankAt('t', '$7')} AS rank_at FROM tasks t JOIN runs r ON r.id = t."runId"
         WHERE t.status = 'QUEUED' AND ${opts.queue === null ? `t.queue IS NULL AND $1::text IS NULL AND t.type <> 'workflow'` : 't.queue = $1'} AND t.priority = lv.p AND t."availableAt" <= $2
           AND r.status <> 'PAUSED'
           AND ($5::text IS NULL OR t."tenantId" = $5)
           AND ${rateLimitGate('t', '$8')}
           AND ($6::timestamptz IS NULL OR NOT EXISTS (
             SELECT 1 FROM task_attempts a
             WHERE a."taskId" = t.id AND a."workerId" = $4 AND a.outcome IN ('LEASE_EXPIRED', 'FENCED') AND a."finishedAt" >= $6))
           AND ${stepGateSql(9, opts.roundRobin)}
         ORDER BY t."availableAt"
         LIMIT $3
         FOR UPDATE OF t, r SKIP LOCKED
       ) c
     ), picked AS (
       SELECT id FROM candidates ORDER BY rank_at, id LIMIT $3
     )
     UPDATE tasks t SET status = 'RUNNING', attempt = t.attempt + 1, fence = t.fence + 1, "workerId" = $4,
       "leaseSecret" = ${NEW_SECRET},
       "startedAt" = $2, "availableAt" = NULL,
       "deadlineAt" = $2::timestamptz + t."timeoutMs" * interval '1 millisecond'
     FROM picked WHERE t.id = picked.id
     RETURNING t.*`,
    [
      opts.queue,
      opts.now,
      opts.limit,
      opts.workerId,
      opts.tenantId,
      opts.notReclaimedSince ?? null,
      opts.priorityAgingMs ?? DEFAULT_PRIORITY_AGING_MS,
      opts.admitted ?? [],
      opts.allowed ?? [],
    ],
  );
}

/** The ready built-in tasks of each kind, as their partial indexes' predicates say (the planner matches them). */
const HTTP_READY = `t.status = 'QUEUED' AND t.queue IS NULL AND t.type = 'http'`;
const BUILTIN_READY = `t.status = 'QUEUED' AND t.queue IS NULL AND t.type NOT IN ('http', 'workflow')`;

/** The smallest tenant id with a ready task of a kind (after `after`): one step of the skip scan. */
const firstTenant = (ready: string, after: string): string => `SELECT t."tenantId" FROM tasks t WHERE ${ready} ${after} ORDER BY t."tenantId" LIMIT 1`;

/** A tenant's (`s.tenant`) best `limit` ready tasks of a kind at one priority level (`lv.p`), in index order. */
const readyOfTenant = (ready: string, limit: string, roundRobin: boolean | undefined): string =>
  `SELECT t.id, ${rankAt('t', '$9')} AS rank_at FROM tasks t
         WHERE t."tenantId" = s.tenant AND ${ready} AND t.priority = lv.p AND t."availableAt" <= $1
           AND ${rateLimitGate('t', '$10')}
           -- Before the turns are numbered: a full group's tasks must not use up their tenant's turns.
           AND ${stepGateSql(11, roundRobin)}
           AND NOT EXISTS (SELECT 1 FROM runs p WHERE p.id = t."runId" AND p.status = 'PAUSED')
         ORDER BY t."availableAt", t.id
         LIMIT ${limit}
         -- Locked as read: rows another claim holds are skipped and do not use up the tenant's
         -- share, so two claims at once take the next tasks instead of the second getting none.
         FOR UPDATE OF t SKIP LOCKED`;

/**
 * Claims ready built-in tasks fairly across tenants: round robin (each tenant's best first, then
 * each one's second, …; within a tenant's turns, by claim rank: priority with aging, then age), and no tenant beyond what it may still start (`budgets`: its share of
 * the executors, and of them its share of http steps; tenants not listed get the defaults).
 *
 * What a claim reads does not grow with any tenant's backlog: the tenants with ready built-in
 * work are found by a skip scan (one index probe per tenant), and of each tenant's ready tasks
 * only its best `min(share left, limit)` per priority level and kind (http or not) are read, in
 * index order (IDX_tasks_ready_builtin, IDX_tasks_ready_http); a tenant at its share reads none.
 * The exception: tasks a gate holds back (a paused run, a full step concurrency group, a rate
 * limit not admitted, a ROUND_ROBIN turn not given) are read and skipped, as before. Tasks with a
 * priority outside 1–3 are not claimed (the schema allows only 1–3). Before, the ranking read every ready built-in task: a tenant with 3,000 http steps queued behind
 * its share made each claim take up to 1.5 s, and another tenant's one-step run waited 1–2 s to
 * start (bench scenario 7).
 */
export async function claimReadyBuiltIn(
  sql: Sql,
  opts: {
    limit: number;
    workerId: string;
    now: Date;
    budgets: { tenants: string[]; total: number[]; http: number[]; defaults: { total: number; http: number } };
    /** PRIORITY_AGING_MS (src/domain/priorities.ts). @default DEFAULT_PRIORITY_AGING_MS */
    priorityAgingMs?: number;
    /** Rate-limited tasks this claim may take (src/store/rate-limits.store.ts). @default none */
    admitted?: readonly string[];
    /** Tasks of steps with `concurrency` this claim may take (stepGateOf). @default [] (none) */
    allowed?: readonly string[];
    /** Whether ROUND_ROBIN runs exist: their tasks only from `allowed` (stepGateSql). @default false */
    roundRobin?: boolean;
  },
): Promise<{ tasks: TaskRecord[]; runs: RunRecord[] }> {
  const b = opts.budgets;
  const rows = await sql.rows<Record<string, unknown>>(
    `WITH RECURSIVE ready_tenants(tenant) AS (
       SELECT least((${firstTenant(HTTP_READY, '')}), (${firstTenant(BUILTIN_READY, '')}))
       UNION ALL
       SELECT least((${firstTenant(HTTP_READY, 'AND "tenantId" > rt.tenant')}), (${firstTenant(BUILTIN_READY, 'AND "tenantId" > rt.tenant')}))
       FROM ready_tenants rt WHERE rt.tenant IS NOT NULL
     ), budgets AS (
       SELECT * FROM unnest($4::text[], $5::int[], $6::int[]) AS b(tenant, total, http)
     ), shares AS (
       SELECT rt.tenant, least(coalesce(b.total, $7), $2) AS total, least(coalesce(b.total, $7), coalesce(b.http, $8), $2) AS http
       FROM ready_tenants rt LEFT JOIN budgets b ON b.tenant = rt.tenant
       WHERE rt.tenant IS NOT NULL
     ), ranked AS (
       SELECT c.id, s.tenant, c.rank_at, s.total, 0 AS http_rank, s.http
       FROM shares s CROSS JOIN ${PRIORITY_LEVELS_SQL} CROSS JOIN LATERAL (${readyOfTenant(BUILTIN_READY, 's.total', opts.roundRobin)}) c
       UNION ALL
       SELECT c.id, s.tenant, c.rank_at, s.total, row_number() OVER (PARTITION BY s.tenant ORDER BY c.rank_at, c.id) AS http_rank, s.http
       FROM shares s CROSS JOIN ${PRIORITY_LEVELS_SQL} CROSS JOIN LATERAL (${readyOfTenant(HTTP_READY, 's.http', opts.roundRobin)}) c
     ), fair AS (
       SELECT id, rank_at, total, row_number() OVER (PARTITION BY tenant ORDER BY rank_at, id) AS turn
       FROM ranked WHERE http_rank <= http
     ), picked AS (
       SELECT t.id, ${RUN_COLUMNS_AS} FROM fair JOIN tasks t ON t.id = fair.id JOIN runs r ON r.id = t."runId"
       WHERE fair.turn <= fair.total AND t.status = 'QUEUED' AND r.status <> 'PAUSED' AND ${stepGateSql(11, opts.roundRobin)}
       ORDER BY fair.turn, fair.rank_at
       LIMIT $2
       FOR UPDATE OF t, r SKIP LOCKED
     )
     UPDATE tasks t SET status = 'RUNNING', attempt = t.attempt + 1, fence = t.fence + 1, "workerId" = $3,
       "startedAt" = $1, "availableAt" = NULL,
       "deadlineAt" = $1::timestamptz + t."timeoutMs" * interval '1 millisecond'
     FROM picked WHERE t.id = picked.id
     RETURNING t.*, ${PICKED_RUN_COLUMNS}`,
    [
      opts.now,
      opts.limit,
      opts.workerId,
      b.tenants,
      b.total,
      b.http,
      b.defaults.total,
      b.defaults.http,
      opts.priorityAgingMs ?? DEFAULT_PRIORITY_AGING_MS,
      opts.admitted ?? [],
      opts.allowed ?? [],
    ],
  );
  return splitClaimedRows(rows);
}

/**
 * The runs of claimed tasks come back with them, as `run.<column>`: no second statement reads
 * them. Read where they are locked (`picked`, FOR UPDATE): a run another transaction changed and
 * committed meanwhile is read as it is now, not as the statement's snapshot had it (its `lastSeq`
 * numbers the claim's events).
 */
const RUN_COLUMNS_AS = Object.keys(RUNS.columns)
  .map((c) => `r."${c}" AS "run.${c}"`)
  .join(', ');
const PICKED_RUN_COLUMNS = Object.keys(RUNS.columns)
  .map((c) => `picked."run.${c}"`)
  .join(', ');

function splitClaimedRows(rows: readonly Record<string, unknown>[]): { tasks: TaskRecord[]; runs: RunRecord[] } {
  const tasks: TaskRecord[] = [];
  const runs = new Map<string, RunRecord>();
  for (const row of rows) {
    const task: Record<string, unknown> = {};
    const run: Record<string, unknown> = {};
    for (const [column, value] of Object.entries(row)) {
      if (column.startsWith('run.')) run[column.slice(4)] = value;
      else task[column] = value;
    }
    tasks.push(task as unknown as TaskRecord);
    // A row without its run's columns (lockRunsWithStepTasks sends them once a run) sets nothing.
    if (run['id'] !== null) runs.set(run['id'] as string, run as unknown as RunRecord);
  }
  return { tasks, runs: [...runs.values()] };
}

/** Sets a durable timer on a running attempt, only if the caller still holds it. */
export async function setTaskTimer(sql: Sql, taskId: string, fence: string, at: Date): Promise<boolean> {
  const rows = await sql.rows<{ id: string }>(`UPDATE tasks SET "timerAt" = $3 WHERE id = $1 AND fence = $2 AND status = 'RUNNING' RETURNING id`, [
    taskId,
    fence,
    at,
  ]);
  return rows.length === 1;
}

/** Due timers (sleep wake-ups, signal timeouts); those of PAUSED runs wait for resume. */
export async function dueTimers(sql: Sql, now: Date, limit: number): Promise<Pick<TaskRecord, 'id' | 'fence'>[]> {
  return sql.rows(
    `SELECT t.id, t.fence FROM tasks t JOIN runs r ON r.id = t."runId"
     WHERE t."timerAt" <= $1 AND t.status = 'RUNNING' AND r.status <> 'PAUSED' ORDER BY t."timerAt" LIMIT $2`,
    [now, limit],
  );
}

/** Running attempts past their step's timeout. */
export async function dueDeadlines(sql: Sql, now: Date, limit: number): Promise<Pick<TaskRecord, 'id' | 'fence'>[]> {
  return sql.rows(`SELECT id, fence FROM tasks WHERE "deadlineAt" <= $1 AND status = 'RUNNING' ORDER BY "deadlineAt" LIMIT $2`, [now, limit]);
}

/**
 * Running attempts that started before `startedBefore` and are not parked (on a timer, a signal
 * or a child run: none holds a lease): the
 * candidates for the orphan sweep (attempts whose lease vanished with a Redis flush or a crash
 * between commit and lease grant).
 */
export async function runningAttempts(sql: Sql, startedBefore: Date, limit: number): Promise<Pick<TaskRecord, 'id' | 'fence' | 'tenantId'>[]> {
  return sql.rows(
    // A fan task runs with no holder (its items hold the leases): no attempt of its own to sweep.
    `SELECT id, fence, "tenantId" FROM tasks WHERE status = 'RUNNING' AND "timerAt" IS NULL AND "workerId" IS NOT NULL AND "signalName" IS NULL AND "childRunId" IS NULL AND "startedAt" <= $1 ORDER BY "startedAt" LIMIT $2`,
    [startedBefore, limit],
  );
}

/** Queues with tasks whose retry delay ended in (since, now]: their pollers are woken. */
export async function queuesAvailableBetween(sql: Sql, since: Date, now: Date): Promise<(string | null)[]> {
  const rows = await sql.rows<{ queue: string | null }>(
    `SELECT DISTINCT queue FROM tasks WHERE status = 'QUEUED' AND "availableAt" > $1 AND "availableAt" <= $2`,
    [since, now],
  );
  return rows.map((r) => r.queue);
}

/**
 * When the scheduler next has something to do: a timer, a deadline, or a delayed task coming due.
 * Timers of PAUSED runs do not count (they fire on resume, which arms its own wake-up); run
 * deadlines of PAUSED runs do (the run's timeout keeps counting while it is paused).
 */
export async function nextWakeAt(sql: Sql, now: Date): Promise<Date | null> {
  const [row] = await sql.rows<{ at: Date | null }>(
    `SELECT LEAST(
       (SELECT min(t."timerAt") FROM tasks t JOIN runs r ON r.id = t."runId"
         WHERE t."timerAt" IS NOT NULL AND t.status = 'RUNNING' AND r.status <> 'PAUSED'),
       (SELECT min("deadlineAt") FROM tasks WHERE "deadlineAt" IS NOT NULL AND status = 'RUNNING'),
       (SELECT min("deadlineAt") FROM runs WHERE "deadlineAt" IS NOT NULL AND status IN ('PENDING', 'RUNNING', 'PAUSED')),
       (SELECT min("availableAt") FROM tasks WHERE status = 'QUEUED' AND "availableAt" > $1)
     ) AS at`,
    [now],
  );
  return row?.at ?? null;
}
