/**
 * Concurrency groups and queue limits in Postgres. Every count is read under a row lock taken in
 * the same transaction (the group's `concurrency_groups` row, the queue's `queue_limits` row), in
 * a statement after the lock: under READ COMMITTED that statement sees every admission or claim
 * committed by the lock's previous holder, so two replicas can never both fill the last slot.
 */
import type { ConcurrencyEntryPlan, GroupMember, RunConcurrencyWait } from '../domain/concurrency';
import type { ConcurrencyStrategy } from '../domain/glossary';
import type { RunRecord } from '../domain/model';
import type { Sql } from './sql';

export interface HeldRun {
  runId: string;
  tenantId: string;
  groupKey: string;
  key: string;
  max: number;
  strategy: ConcurrencyStrategy;
  createdAt: Date;
}

export { groupKeyOf, stepGroupKeyOf } from '../domain/concurrency';

/** A run enters its group, waiting. Written before the run itself (a crash between leaves a row with no run, deleted later). */
export async function insertHeldRun(sql: Sql, r: HeldRun): Promise<void> {
  await sql.rows(`INSERT INTO run_concurrency ("runId", "tenantId", "groupKey", key, max, strategy, "createdAt") VALUES ($1, $2, $3, $4, $5, $6, $7)`, [
    r.runId,
    r.tenantId,
    r.groupKey,
    r.key,
    r.max,
    r.strategy,
    r.createdAt,
  ]);
}

/**
 * Locks groups' rows (made on first use), in (tenant, key) order so two admissions of
 * overlapping groups cannot deadlock; admissions of a group are serial from here to commit.
 */
export async function lockGroups(sql: Sql, groups: readonly { tenantId: string; groupKey: string }[], now: Date): Promise<void> {
  const sorted = [...groups].sort((a, b) => (a.tenantId === b.tenantId ? cmp(a.groupKey, b.groupKey) : cmp(a.tenantId, b.tenantId)));
  await sql.rows(
    `INSERT INTO concurrency_groups ("tenantId", "groupKey", "lockedAt")
     SELECT g.t, g.k, $3 FROM unnest($1::varchar[], $2::varchar[]) WITH ORDINALITY AS g(t, k, o) ORDER BY g.o
     ON CONFLICT ("tenantId", "groupKey") DO UPDATE SET "lockedAt" = EXCLUDED."lockedAt"`,
    [sorted.map((g) => g.tenantId), sorted.map((g) => g.groupKey), now],
  );
}

const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

export interface GroupState {
  tenantId: string;
  groupKey: string;
  inFlight: GroupMember[];
  waiting: GroupMember[];
  /** The newest run's limit and strategy (the latest version's, as runs of it arrive). */
  policy: { max: number; strategy: ConcurrencyStrategy; key: string };
}

/**
 * Under the groups' locks: forgets the rows of finished runs (and rows older than `orphanBefore`
 * whose run was never inserted), then reads who is in flight and who waits, in arrival order.
 * Groups with no run left are not returned.
 */
export async function groupStates(sql: Sql, groups: readonly { tenantId: string; groupKey: string }[], orphanBefore: Date): Promise<GroupState[]> {
  const tenants = groups.map((g) => g.tenantId);
  const keys = groups.map((g) => g.groupKey);
  await sql.rows(
    `DELETE FROM run_concurrency c USING unnest($1::varchar[], $2::varchar[]) AS g(t, k)
     WHERE c."tenantId" = g.t AND c."groupKey" = g.k AND (
       EXISTS (SELECT 1 FROM runs r WHERE r.id = c."runId" AND r.status IN ('SUCCEEDED', 'FAILED', 'CANCELLED'))
       OR (c."createdAt" < $3 AND NOT EXISTS (SELECT 1 FROM runs r WHERE r.id = c."runId")))`,
    [tenants, keys, orphanBefore],
  );
  const rows = await sql.rows<{
    tenantId: string;
    groupKey: string;
    runId: string;
    seq: string;
    admittedAt: Date | null;
    max: number;
    strategy: ConcurrencyStrategy;
    key: string;
  }>(
    `SELECT c."tenantId", c."groupKey", c."runId", c.seq::text AS seq, c."admittedAt", c.max, c.strategy, c.key
     FROM run_concurrency c JOIN unnest($1::varchar[], $2::varchar[]) AS g(t, k) ON c."tenantId" = g.t AND c."groupKey" = g.k
     JOIN runs r ON r.id = c."runId"
     ORDER BY c."tenantId", c."groupKey", c.seq`,
    [tenants, keys],
  );
  const byGroup = new Map<string, GroupState>();
  for (const r of rows) {
    const id = `${r.tenantId}\n${r.groupKey}`;
    let g = byGroup.get(id);
    if (!g) {
      byGroup.set(
        id,
        (g = { tenantId: r.tenantId, groupKey: r.groupKey, inFlight: [], waiting: [], policy: { max: r.max, strategy: r.strategy, key: r.key } }),
      );
    }
    (r.admittedAt === null ? g.waiting : g.inFlight).push({ runId: r.runId, seq: r.seq });
    // Rows come in arrival order: the last one's policy is the newest run's.
    g.policy = { max: r.max, strategy: r.strategy, key: r.key };
  }
  return [...byGroup.values()];
}

/** Marks runs admitted (their slot is taken from this commit on). */
export async function markAdmitted(sql: Sql, runIds: readonly string[], now: Date): Promise<void> {
  if (runIds.length === 0) return;
  await sql.rows(`UPDATE run_concurrency SET "admittedAt" = $2 WHERE "runId" = ANY($1::uuid[])`, [runIds, now]);
}

/** A retried run gives up its slot and waits again, as the newest of its group (its retry promotes nothing until admitted). */
export async function requeueRun(sql: Sql, r: HeldRun): Promise<void> {
  await sql.rows(`DELETE FROM run_concurrency WHERE "runId" = $1`, [r.runId]);
  await insertHeldRun(sql, r);
}

/** The groups of these runs (those that have one). */
export async function groupsOfRuns(sql: Sql, runIds: readonly string[]): Promise<{ tenantId: string; groupKey: string }[]> {
  if (runIds.length === 0) return [];
  return sql.rows(`SELECT DISTINCT "tenantId", "groupKey" FROM run_concurrency WHERE "runId" = ANY($1::uuid[])`, [runIds]);
}

/**
 * Groups where a waiting run could move now (the sweep: admissions a crash or a failed follow-up
 * missed): a free slot, or a cancelling strategy. A read without locks: full QUEUE groups, the
 * common case under load, are not locked by the sweep, so it never holds up their admissions.
 */
export async function groupsWaiting(sql: Sql, limit: number): Promise<{ tenantId: string; groupKey: string }[]> {
  return sql.rows(
    `SELECT DISTINCT w."tenantId", w."groupKey" FROM run_concurrency w
     WHERE w."admittedAt" IS NULL AND (w.strategy IN ('CANCEL_NEWEST', 'CANCEL_IN_PROGRESS') OR w.max > (
       SELECT count(*) FROM run_concurrency h JOIN runs r ON r.id = h."runId"
       WHERE h."tenantId" = w."tenantId" AND h."groupKey" = w."groupKey" AND h."admittedAt" IS NOT NULL AND r.status IN ('PENDING', 'RUNNING', 'PAUSED')))
     LIMIT $1`,
    [limit],
  );
}

/**
 * The groups of these runs that admit in arrival order (QUEUE, ROUND_ROBIN), locked, in key
 * order, unless another transaction holds them (SKIP LOCKED: a transition that ends runs never
 * waits for a group; a group it skips is admitted after its commit as before).
 */
export async function lockGroupsOfRunsNowait(sql: Sql, runIds: readonly string[]): Promise<{ tenantId: string; groupKey: string }[]> {
  if (runIds.length === 0) return [];
  return sql.rows(
    `SELECT g."tenantId", g."groupKey" FROM concurrency_groups g
     WHERE (g."tenantId", g."groupKey") IN (
       SELECT c."tenantId", c."groupKey" FROM run_concurrency c WHERE c."runId" = ANY($1::uuid[]) AND c.strategy IN ('QUEUE', 'ROUND_ROBIN'))
     ORDER BY g."tenantId", g."groupKey" FOR UPDATE OF g SKIP LOCKED`,
    [runIds],
  );
}

/** Locks those of these runs no other transaction holds (SKIP LOCKED), in id order. */
export async function lockRunsNowait(sql: Sql, runIds: readonly string[]): Promise<RunRecord[]> {
  if (runIds.length === 0) return [];
  return sql.rows<RunRecord>(`SELECT * FROM runs WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE SKIP LOCKED`, [runIds]);
}

/** Locks runs (id order, as every loader) for the admission's transitions. */
export async function lockRunsById(sql: Sql, runIds: readonly string[]): Promise<RunRecord[]> {
  if (runIds.length === 0) return [];
  return sql.rows<RunRecord>(`SELECT * FROM runs WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE`, [runIds]);
}

/** Whether a run waits for a concurrency slot (its roots must not be promoted). */
export const HELD_RUN_SQL = `EXISTS (SELECT 1 FROM run_concurrency hc WHERE hc."runId" = r.id AND hc."admittedAt" IS NULL)`;

/** For `waitingFor`: where each waiting run stands in its group, and who holds the slots. */
export async function concurrencyWaits(sql: Sql, tenantId: string, runIds: readonly string[]): Promise<RunConcurrencyWait[]> {
  if (runIds.length === 0) return [];
  const rows = await sql.rows<{ runId: string; key: string; max: number; strategy: ConcurrencyStrategy; position: string; holders: string[] | null }>(
    `SELECT w."runId", w.key, w.max, w.strategy,
       (SELECT count(*) FROM run_concurrency o JOIN runs r ON r.id = o."runId"
         WHERE o."tenantId" = w."tenantId" AND o."groupKey" = w."groupKey" AND o."admittedAt" IS NULL AND o.seq <= w.seq AND r.status IN ('PENDING', 'RUNNING', 'PAUSED'))::text AS position,
       (SELECT array_agg(h."runId"::text ORDER BY h.seq) FROM run_concurrency h JOIN runs r ON r.id = h."runId"
         WHERE h."tenantId" = w."tenantId" AND h."groupKey" = w."groupKey" AND h."admittedAt" IS NOT NULL AND r.status IN ('PENDING', 'RUNNING', 'PAUSED')) AS holders
     FROM run_concurrency w WHERE w."tenantId" = $1 AND w."runId" = ANY($2::uuid[]) AND w."admittedAt" IS NULL`,
    [tenantId, runIds],
  );
  return rows.map((r) => ({ runId: r.runId, key: r.key, max: r.max, strategy: r.strategy, position: Number(r.position), holders: r.holders ?? [] }));
}

/** Runs waiting for a concurrency slot now, by strategy (the gauge). */
export async function runsWaitingOnConcurrency(sql: Sql): Promise<{ strategy: string; count: number }[]> {
  const rows = await sql.rows<{ strategy: string; count: string }>(
    `SELECT c.strategy, count(*)::text AS count FROM run_concurrency c JOIN runs r ON r.id = c."runId"
     WHERE c."admittedAt" IS NULL AND r.status IN ('PENDING', 'PAUSED') GROUP BY c.strategy`,
  );
  return rows.map((r) => ({ strategy: r.strategy, count: Number(r.count) }));
}

// --- queue limits ---------------------------------------------------------------------------

export interface QueueLimitRow {
  queue: string;
  maxInFlight: number;
  inFlight: number;
  updatedAt: Date;
}

export async function upsertQueueLimit(sql: Sql, tenantId: string, queue: string, maxInFlight: number, now: Date): Promise<void> {
  await sql.rows(
    `INSERT INTO queue_limits ("tenantId", queue, "maxInFlight", "updatedAt") VALUES ($1, $2, $3, $4)
     ON CONFLICT ("tenantId", queue) DO UPDATE SET "maxInFlight" = EXCLUDED."maxInFlight", "updatedAt" = EXCLUDED."updatedAt"`,
    [tenantId, queue, maxInFlight, now],
  );
}

export async function deleteQueueLimit(sql: Sql, tenantId: string, queue: string): Promise<boolean> {
  const rows = await sql.rows(`DELETE FROM queue_limits WHERE "tenantId" = $1 AND queue = $2 RETURNING queue`, [tenantId, queue]);
  return rows.length > 0;
}

/** A tenant's queue limits (all, or those named), with the tasks running in each now. */
export async function queueLimitsOf(sql: Sql, tenantId: string, queues: readonly string[] | null): Promise<QueueLimitRow[]> {
  return sql.rows<QueueLimitRow>(
    `SELECT l.queue, l."maxInFlight", l."updatedAt",
       (SELECT count(*) FROM tasks t WHERE t."tenantId" = l."tenantId" AND t.queue = l.queue AND t.status = 'RUNNING')::int AS "inFlight"
     FROM queue_limits l WHERE l."tenantId" = $1 AND ($2::varchar[] IS NULL OR l.queue = ANY($2::varchar[])) ORDER BY l.queue`,
    [tenantId, queues],
  );
}

/**
 * How many tasks a claim of a tenant's queue may still take: null when the queue has no limit.
 * Locks the limit row first (claims of a limited queue are serial from here to commit), then
 * counts the queue's RUNNING tasks in a new statement, which sees every claim committed before.
 * A holder that crashed keeps its slot only until its task is reclaimed, fails or is cancelled.
 */
export async function queueRoom(sql: Sql, tenantId: string, queue: string): Promise<number | null> {
  const [limit] = await sql.rows<{ maxInFlight: number }>(`SELECT "maxInFlight" FROM queue_limits WHERE "tenantId" = $1 AND queue = $2 FOR UPDATE`, [
    tenantId,
    queue,
  ]);
  if (!limit) return null;
  const [running] = await sql.rows<{ n: number }>(`SELECT count(*)::int AS n FROM tasks WHERE "tenantId" = $1 AND queue = $2 AND status = 'RUNNING'`, [
    tenantId,
    queue,
  ]);
  return Math.max(0, limit.maxInFlight - (running?.n ?? 0));
}

/** The claim's limit under the queue's limit (setQueueLimit): `limit` when the queue has none or is the built-in one. */
export async function claimLimitOf(sql: Sql, tenantId: string | null, queue: string | null, limit: number): Promise<number> {
  if (tenantId === null || queue === null) return limit;
  const room = await queueRoom(sql, tenantId, queue);
  return room === null ? limit : Math.min(limit, room);
}

// --- step concurrency -----------------------------------------------------------------------

export interface TaskGroupRow {
  taskId: string;
  tenantId: string;
  groupKey: string;
  max: number;
  /** QUEUE or ROUND_ROBIN. @default 'QUEUE' */
  strategy?: ConcurrencyStrategy;
}

/** Tasks enter their step's group: written before the tasks, so no task is ever claimable ungated. */
export async function insertTaskGroups(sql: Sql, rows: readonly TaskGroupRow[]): Promise<void> {
  if (rows.length === 0) return;
  await sql.rows(
    `INSERT INTO task_concurrency ("taskId", "tenantId", "groupKey", max, strategy)
     SELECT * FROM unnest($1::uuid[], $2::varchar[], $3::varchar[], $4::int[], $5::varchar[]) ON CONFLICT ("taskId") DO NOTHING`,
    [rows.map((r) => r.taskId), rows.map((r) => r.tenantId), rows.map((r) => r.groupKey), rows.map((r) => r.max), rows.map((r) => r.strategy ?? 'QUEUE')],
  );
}

/** Gated tasks that ended leave their groups (in the transition that ends them). */
export async function deleteTaskGroups(sql: Sql, taskIds: readonly string[]): Promise<void> {
  if (taskIds.length === 0) return;
  await sql.rows(`DELETE FROM task_concurrency WHERE "taskId" = ANY($1::uuid[])`, [taskIds]);
}

export { GatedTasksHint, gatesOf, roundRobinGateOf, stampServed, stepGateOf, stepGateSql } from './concurrency-gates.store';

/** A run enters the groups its plan names (its own, waiting; its gated steps' tasks), before its insert. */
export async function enterGroups(sql: Sql, tenantId: string, runId: string, plan: ConcurrencyEntryPlan, now: Date): Promise<void> {
  if (plan.run) await insertHeldRun(sql, { runId, tenantId, ...plan.run, createdAt: now });
  await insertTaskGroups(
    sql,
    plan.tasks.map((t) => ({ ...t, tenantId })),
  );
}
