/**
 * The gates of the claim statements for concurrency: which gated tasks a claim may take (a step's
 * group within its max; ROUND_ROBIN groups in turns across keys), the SQL that holds the claim to
 * that list, and the hint that skips all of it while nothing is gated.
 */
import type { Sql } from './sql';

/** Groups one claim looks at, at most: a claim takes at most 100 tasks anyway. */
const MAX_GROUPS_PER_CLAIM = 100;

/**
 * The gated tasks (of steps with `concurrency`) a claim may take. Locks the candidates' group rows (SKIP LOCKED: a group another claim holds
 * is left to it this time), then, in a new statement that sees every claim committed before,
 * picks per group the oldest ready tasks up to `max` minus its RUNNING tasks. The claim statement
 * takes gated tasks only from this list (`STEP_GATE`), so a group never runs more than its max.
 */
export async function stepGateOf(sql: Sql, opts: { tenantId: string | null; queue: string | null; now: Date; limit: number }): Promise<string[]> {
  const queueCond = opts.queue === null ? `t.queue IS NULL AND $1::text IS NULL` : `t.queue = $1`;
  const groups = await sql.rows<{ tenantId: string; groupKey: string }>(
    `SELECT DISTINCT c."tenantId", c."groupKey" FROM tasks t JOIN task_concurrency c ON c."taskId" = t.id
     WHERE t.status = 'QUEUED' AND ${queueCond} AND t."availableAt" <= $2 AND ($3::text IS NULL OR t."tenantId" = $3) LIMIT ${MAX_GROUPS_PER_CLAIM}`,
    [opts.queue, opts.now, opts.tenantId],
  );
  if (groups.length === 0) return [];
  // In one order everywhere: two claims inserting the same new groups wait on each other's inserts in that order, never in a cycle.
  groups.sort((x, y) => (x.tenantId === y.tenantId ? (x.groupKey < y.groupKey ? -1 : x.groupKey > y.groupKey ? 1 : 0) : x.tenantId < y.tenantId ? -1 : 1));
  const tenants = groups.map((g) => g.tenantId);
  const keys = groups.map((g) => g.groupKey);
  await sql.rows(
    `INSERT INTO concurrency_groups ("tenantId", "groupKey", "lockedAt") SELECT g.t, g.k, $3 FROM unnest($1::varchar[], $2::varchar[]) WITH ORDINALITY AS g(t, k, i)
     ORDER BY g.i ON CONFLICT ("tenantId", "groupKey") DO NOTHING`,
    [tenants, keys, opts.now],
  );
  const locked = await sql.rows<{ tenantId: string; groupKey: string }>(
    `SELECT "tenantId", "groupKey" FROM concurrency_groups WHERE ("tenantId", "groupKey") IN (SELECT * FROM unnest($1::varchar[], $2::varchar[]))
     ORDER BY "tenantId", "groupKey" FOR UPDATE SKIP LOCKED`,
    [tenants, keys],
  );
  if (locked.length === 0) return [];
  const rows = await sql.rows<{ id: string }>(
    `WITH g AS (SELECT * FROM unnest($1::varchar[], $2::varchar[]) AS g(tenant, key)),
     running AS (
       SELECT c."tenantId", c."groupKey", count(*) AS n FROM task_concurrency c JOIN g ON g.tenant = c."tenantId" AND g.key = c."groupKey"
       JOIN tasks t ON t.id = c."taskId" WHERE t.status = 'RUNNING' GROUP BY c."tenantId", c."groupKey"
     ), ready AS (
       SELECT t.id, t."availableAt", c.max, c.strategy, coalesce(r.n, 0) AS n, cg."servedSeq" AS served,
         row_number() OVER (PARTITION BY c."tenantId", c."groupKey" ORDER BY t."availableAt", t.id) AS turn
       FROM task_concurrency c JOIN g ON g.tenant = c."tenantId" AND g.key = c."groupKey"
       JOIN tasks t ON t.id = c."taskId"
       JOIN concurrency_groups cg ON cg."tenantId" = c."tenantId" AND cg."groupKey" = c."groupKey"
       LEFT JOIN running r ON r."tenantId" = c."tenantId" AND r."groupKey" = c."groupKey"
       WHERE t.status = 'QUEUED' AND t."availableAt" <= $3
         -- A paused run's task would take the group's turn that the claim then skips.
         AND NOT EXISTS (SELECT 1 FROM runs p WHERE p.id = t."runId" AND p.status = 'PAUSED')
     )
     SELECT id FROM ready WHERE turn <= max - n AND strategy <> 'ROUND_ROBIN'
     UNION ALL
     (SELECT id FROM ready WHERE turn <= max - n AND strategy = 'ROUND_ROBIN' ORDER BY turn, served, "availableAt", id LIMIT $4)`,
    [locked.map((g) => g.tenantId), locked.map((g) => g.groupKey), opts.now, opts.limit],
  );
  return rows.map((r) => r.id);
}

/**
 * ROUND_ROBIN runs (workflow `concurrency`): the ready tasks of their admitted runs a claim of
 * `limit` may take, in turns across their groups (each group's oldest, then each one's second,
 * …; among equal turns the group served longest ago first: `stampServed`), best `limit` only: the claim statement takes such tasks from this list alone
 * (`stepGateSql`), so a key with many runs queued cannot fill a claim while another key waits.
 * `stepAllowed`: `stepGateOf`'s answer (a task also gated by its step stays within its step's max).
 */
export async function roundRobinGateOf(
  sql: Sql,
  opts: { tenantId: string | null; queue: string | null; now: Date; limit: number; stepAllowed: readonly string[] },
): Promise<string[]> {
  const queueCond = opts.queue === null ? `t.queue IS NULL AND $1::text IS NULL AND t.type <> 'workflow'` : `t.queue = $1`;
  const rows = await sql.rows<{ id: string }>(
    `WITH rr AS (
       SELECT t.id, t."availableAt", coalesce(cg."servedSeq", 0) AS served,
         row_number() OVER (PARTITION BY c."tenantId", c."groupKey" ORDER BY t."availableAt", t.id) AS turn
       FROM run_concurrency c JOIN tasks t ON t."runId" = c."runId"
       LEFT JOIN concurrency_groups cg ON cg."tenantId" = c."tenantId" AND cg."groupKey" = c."groupKey"
       WHERE c.strategy = 'ROUND_ROBIN' AND c."admittedAt" IS NOT NULL AND t.status = 'QUEUED' AND ${queueCond} AND t."availableAt" <= $2
         AND ($3::text IS NULL OR c."tenantId" = $3)
         AND NOT EXISTS (SELECT 1 FROM runs p WHERE p.id = t."runId" AND p.status = 'PAUSED')
         AND (NOT EXISTS (SELECT 1 FROM task_concurrency sc WHERE sc."taskId" = t.id) OR t.id = ANY($5::uuid[]))
     )
     SELECT id FROM rr ORDER BY turn, served, "availableAt", id LIMIT $4`,
    [opts.queue, opts.now, opts.tenantId, opts.limit, opts.stepAllowed],
  );
  return rows.map((r) => r.id);
}

/**
 * After a claim: the ROUND_ROBIN groups (of runs or of steps) it took tasks of are stamped served
 * now (a stamp greater than every other), so the next claims serve the other keys first. Rows
 * another transaction holds are skipped (a claim never waits): their turn order is only fairness.
 */
export async function stampServed(sql: Sql, taskIds: readonly string[]): Promise<void> {
  if (taskIds.length === 0) return;
  await sql.rows(
    `WITH served AS (
       SELECT c."tenantId", c."groupKey" FROM task_concurrency c WHERE c."taskId" = ANY($1::uuid[]) AND c.strategy = 'ROUND_ROBIN'
       UNION
       SELECT c."tenantId", c."groupKey" FROM tasks t JOIN run_concurrency c ON c."runId" = t."runId"
       WHERE t.id = ANY($1::uuid[]) AND c.strategy = 'ROUND_ROBIN'
     ), locked AS (
       SELECT g."tenantId", g."groupKey" FROM concurrency_groups g JOIN served s ON s."tenantId" = g."tenantId" AND s."groupKey" = g."groupKey"
       ORDER BY g."tenantId", g."groupKey" FOR UPDATE OF g SKIP LOCKED
     )
     UPDATE concurrency_groups g SET "servedSeq" = (SELECT coalesce(max("servedSeq"), 0) + 1 FROM concurrency_groups)
     FROM locked WHERE g."tenantId" = locked."tenantId" AND g."groupKey" = locked."groupKey"`,
    [taskIds],
  );
}

/** The gated tasks a claim of `limit` may take: `stepGateOf`'s and `roundRobinGateOf`'s together. */
export async function gatesOf(sql: Sql, opts: { tenantId: string | null; queue: string | null; now: Date; limit: number }): Promise<string[]> {
  const stepAllowed = await stepGateOf(sql, opts);
  const fair = await roundRobinGateOf(sql, { ...opts, stepAllowed });
  return fair.length === 0 ? stepAllowed : [...new Set([...stepAllowed, ...fair])];
}

/**
 * The claim statements' gate (alias `t` for tasks): an ungated task, or one `stepGateOf` or
 * `roundRobinGateOf` allowed (`$n`: their lists together). A gated task that became ready after
 * they looked waits for the next claim. `roundRobin`: whether ROUND_ROBIN runs exist (their
 * tasks are taken from the list only). Off, the claim pays no probe per candidate (a probe of
 * run_concurrency per ready task cut scenario 9 of the bench from ~2,000 to ~300 runs/s); a
 * replica that has not heard of such runs yet (GatedTasksHint) claims their tasks without turns
 * for up to its recheck: fairness only, no limit depends on it.
 */
export const stepGateSql = (param: number, roundRobin = false): string =>
  `(NOT EXISTS (SELECT 1 FROM task_concurrency sc WHERE sc."taskId" = t.id) OR t.id = ANY($${param}::uuid[]))` +
  (roundRobin
    ? ` AND (NOT EXISTS (SELECT 1 FROM run_concurrency rc WHERE rc."runId" = t."runId" AND rc.strategy = 'ROUND_ROBIN') OR t.id = ANY($${param}::uuid[]))`
    : '');

/**
 * Whether any task was ever gated (by a step's `concurrency`, or as a task of a ROUND_ROBIN run),
 * so claims skip `stepGateOf` and `roundRobinGateOf` (statements of every claim) while none was. Safe when stale: the claim statement never
 * takes a gated task it was not given, so a replica that has not heard yet only leaves them to the
 * others for up to `recheckMs` (by the engine's clock). Once true it stays true in this process
 * (the rows of ended tasks are deleted, so the table may be empty again).
 */
export class GatedTasksHint {
  private known = false;
  private knownRoundRobin = false;
  private checkedAt = Number.NEGATIVE_INFINITY;

  /** @param recheckMs how long a "none" answer is trusted. @default 1000 */
  constructor(private readonly recheckMs = 1_000) {}

  /** This replica wrote gated tasks (of a step with `concurrency`). */
  seen(): void {
    this.known = true;
  }

  /** This replica started a run of a ROUND_ROBIN group. */
  seenRoundRobin(): void {
    this.known = true;
    this.knownRoundRobin = true;
  }

  /** Whether ROUND_ROBIN runs were seen (as of the last `any`): claims then gate their tasks (`stepGateSql`). */
  get roundRobin(): boolean {
    return this.knownRoundRobin;
  }

  async any(sql: Sql, now: Date): Promise<boolean> {
    if (this.known && this.knownRoundRobin) return true;
    if (now.getTime() - this.checkedAt < this.recheckMs) return this.known;
    this.checkedAt = now.getTime();
    const [row] = await sql.rows<{ steps: boolean; rr: boolean }>(
      `SELECT EXISTS (SELECT 1 FROM task_concurrency) AS steps, EXISTS (SELECT 1 FROM run_concurrency WHERE strategy = 'ROUND_ROBIN') AS rr`,
    );
    this.knownRoundRobin ||= row?.rr === true;
    this.known ||= row?.steps === true || this.knownRoundRobin;
    return this.known;
  }
}
