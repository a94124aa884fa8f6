/**
 * Step rate limits in the claim transaction (the decision: src/domain/rate-limits.ts). Before the
 * claim statement, `admitRateLimited` locks the GCRA row of every key with ready tasks in the
 * queue (SKIP LOCKED: a key another claim holds is left to it, its tasks not claimed here) and
 * admits as many of each key's tasks, best claim rank first, as the key allows now; the claim
 * statement takes admitted tasks and tasks without a rate limit (`rateLimitGate`). After it,
 * `settleRateLimits` charges each key for the tasks actually claimed and, when a key has no
 * allowance left, moves its other ready tasks' `availableAt` (and `rateLimitedUntil`) to the
 * instant the next may start: they hold no slot and are not polled hot, and `waitingFor` says
 * RATE_LIMIT until then. The caller owns the transaction: rows stay locked until it commits.
 */
import { stepGateSql } from './concurrency-gates.store';
import { advance, allowance, eligibleAt, type RateLimitBucket } from '../domain/rate-limits';
import type { Sql } from './sql';
import { rankAt } from './claim-order';

/** Which ready tasks a claim looks at: one queue, or the built-in steps (queue null, no `workflow` steps). */
export interface ClaimScope {
  queue: string | null;
  tenantId: string | null;
  now: Date;
  /** Tasks the claim takes at most: no key is admitted more. */
  limit: number;
  priorityAgingMs: number;
  /** Gated tasks the claim may take (`gatesOf`): admission offers a key's turn only to tasks the claim can take. @default [] */
  allowed?: readonly string[];
  /** Whether ROUND_ROBIN runs exist (`stepGateSql`). @default false */
  roundRobin?: boolean;
}

/** A key locked by this claim, with what it allowed. */
export interface LockedBucket extends RateLimitBucket {
  tenantId: string;
  key: string;
  allowed: number;
}

export interface Admission {
  /** Task ids the claim may take (at most `allowed` of each key). */
  admitted: string[];
  buckets: LockedBucket[];
}

/** Keys one claim looks at, at most: a bound on the statement, not on correctness (the rest wait for the next claim). */
const MAX_KEYS_PER_CLAIM = 1000;

function readyIn(scope: ClaimScope, queueParam: string, nowParam: string, tenantParam: string): string {
  const queue = scope.queue === null ? `t.queue IS NULL AND ${queueParam}::text IS NULL AND t.type <> 'workflow'` : `t.queue = ${queueParam}`;
  return `t.status = 'QUEUED' AND ${queue} AND t."availableAt" <= ${nowParam} AND t."rateLimitKey" IS NOT NULL AND (${tenantParam}::text IS NULL OR t."tenantId" = ${tenantParam})`;
}

/**
 * Whether ready rate-limited tasks may exist: while none are known, claims skip
 * `admitRateLimited`'s lookup (a round trip in every claim transaction: one of six in a claim of
 * built-in steps, bench scenario 7). This replica knows at once of the rate-limited tasks it wrote
 * (`seen`); another replica's are found by a look at most every `recheckMs`, so they wait that
 * much longer for their first claim here, at worst. Once seen, always looked for (as
 * GatedTasksHint).
 */
export class RateLimitedTasksHint {
  private known = false;
  private checkedAt = Number.NEGATIVE_INFINITY;

  /** @param recheckMs how long a "none" answer is trusted. @default 1000 */
  constructor(private readonly recheckMs = 1_000) {}

  /** This replica wrote tasks of a step with a `rateLimit`. */
  seen(): void {
    this.known = true;
  }

  async any(sql: Sql, now: Date): Promise<boolean> {
    if (this.known || now.getTime() - this.checkedAt < this.recheckMs) return this.known;
    this.checkedAt = now.getTime();
    const [row] = await sql.rows<{ any: boolean }>(`SELECT EXISTS (SELECT 1 FROM tasks WHERE status = 'QUEUED' AND "rateLimitKey" IS NOT NULL) AS any`);
    this.known = row?.any === true;
    return this.known;
  }
}

export async function admitRateLimited(sql: Sql, scope: ClaimScope): Promise<Admission> {
  const keys = await sql.rows<{ tenantId: string; key: string; intervalMs: number; burst: number }>(
    `SELECT t."tenantId", t."rateLimitKey" AS key,
       max(t."rateLimitPeriodMs"::float8 / t."rateLimitLimit") AS "intervalMs", min(t."rateLimitLimit") AS burst
     FROM tasks t WHERE ${readyIn(scope, '$1', '$2', '$3')}
     GROUP BY 1, 2 LIMIT ${MAX_KEYS_PER_CLAIM}`,
    [scope.queue, scope.now, scope.tenantId],
  );
  if (keys.length === 0) return { admitted: [], buckets: [] };
  // In one order everywhere: two claims inserting the same new keys wait on each other's inserts in that order, never in a cycle.
  keys.sort((x, y) => (x.tenantId === y.tenantId ? (x.key < y.key ? -1 : x.key > y.key ? 1 : 0) : x.tenantId < y.tenantId ? -1 : 1));
  const nowMs = scope.now.getTime();
  const tenants = keys.map((k) => k.tenantId);
  const names = keys.map((k) => k.key);
  // A key never used starts idle (TAT = now). ON CONFLICT waits for a concurrent insert of the same key to commit.
  await sql.rows(
    `INSERT INTO rate_limits ("tenantId", key, "tatMs") SELECT tenant, key, $3 FROM unnest($1::text[], $2::text[]) AS k(tenant, key)
     ON CONFLICT DO NOTHING`,
    [tenants, names, nowMs],
  );
  const locked = await sql.rows<{ tenantId: string; key: string; tatMs: number }>(
    `SELECT l."tenantId", l.key, l."tatMs" FROM rate_limits l
     WHERE (l."tenantId", l.key) IN (SELECT * FROM unnest($1::text[], $2::text[]))
     ORDER BY l."tenantId", l.key FOR UPDATE SKIP LOCKED`,
    [tenants, names],
  );
  const params = new Map(keys.map((k) => [`${k.tenantId}\u0000${k.key}`, k]));
  const buckets: LockedBucket[] = locked.map((l) => {
    const p = params.get(`${l.tenantId}\u0000${l.key}`)!;
    const bucket = { tatMs: Number(l.tatMs), intervalMs: Number(p.intervalMs), burst: Number(p.burst) };
    return { ...bucket, tenantId: l.tenantId, key: l.key, allowed: Math.min(allowance(bucket, nowMs), scope.limit) };
  });
  const open = buckets.filter((b) => b.allowed > 0);
  if (open.length === 0) return { admitted: [], buckets };
  const rows = await sql.rows<{ id: string }>(
    `SELECT id FROM (
       SELECT t.id, a.allowed, row_number() OVER (PARTITION BY t."tenantId", t."rateLimitKey" ORDER BY ${rankAt('t', '$7')}, t.id) AS n
       FROM tasks t JOIN unnest($4::text[], $5::text[], $6::int[]) AS a(tenant, key, allowed) ON t."tenantId" = a.tenant AND t."rateLimitKey" = a.key
       WHERE ${readyIn(scope, '$1', '$2', '$3')}
         -- A paused run's task, or one its concurrency group holds back, would take a turn the claim
         -- then skips: the key's others would starve.
         AND NOT EXISTS (SELECT 1 FROM runs p WHERE p.id = t."runId" AND p.status = 'PAUSED')
         AND ${stepGateSql(8, scope.roundRobin)}
     ) ranked WHERE n <= allowed`,
    [
      scope.queue,
      scope.now,
      scope.tenantId,
      open.map((b) => b.tenantId),
      open.map((b) => b.key),
      open.map((b) => b.allowed),
      scope.priorityAgingMs,
      scope.allowed ?? [],
    ],
  );
  return { admitted: rows.map((r) => r.id), buckets };
}

/**
 * Charges each locked key for its tasks in `claimed` and holds back the rest of an exhausted
 * key's ready tasks until the next may start. Returns how many tasks were held back.
 */
export async function settleRateLimits(
  sql: Sql,
  buckets: readonly LockedBucket[],
  claimed: readonly { tenantId: string; rateLimitKey: string | null }[],
  now: Date,
): Promise<number> {
  if (buckets.length === 0) return 0;
  const nowMs = now.getTime();
  const counts = new Map<string, number>();
  for (const t of claimed) {
    if (t.rateLimitKey === null) continue;
    const k = `${t.tenantId}\u0000${t.rateLimitKey}`;
    counts.set(k, (counts.get(k) ?? 0) + 1);
  }
  const charged: { tenantId: string; key: string; tatMs: number }[] = [];
  const exhausted: { tenantId: string; key: string; until: Date }[] = [];
  for (const b of buckets) {
    const n = counts.get(`${b.tenantId}\u0000${b.key}`) ?? 0;
    const tatMs = n > 0 ? advance(b, nowMs, n) : (b.tatMs ?? nowMs);
    if (n > 0) charged.push({ tenantId: b.tenantId, key: b.key, tatMs });
    // Left allowance (the claim's limit, or tasks locked elsewhere): they may go on the next claim.
    if (allowance({ ...b, tatMs }, nowMs) === 0) exhausted.push({ tenantId: b.tenantId, key: b.key, until: new Date(Math.ceil(eligibleAt(b, tatMs))) });
  }
  if (charged.length > 0) {
    await sql.rows(
      `UPDATE rate_limits l SET "tatMs" = c.tat FROM unnest($1::text[], $2::text[], $3::float8[]) AS c(tenant, key, tat)
       WHERE l."tenantId" = c.tenant AND l.key = c.key`,
      [charged.map((c) => c.tenantId), charged.map((c) => c.key), charged.map((c) => c.tatMs)],
    );
  }
  if (exhausted.length === 0) return 0;
  const held = await sql.rows<{ id: string }>(
    `WITH e AS (SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[]) AS e(tenant, key, until)),
     waiting AS (
       SELECT t.id, e.until FROM tasks t JOIN e ON t."tenantId" = e.tenant AND t."rateLimitKey" = e.key
       WHERE t.status = 'QUEUED' AND t."availableAt" < e.until
       FOR UPDATE OF t SKIP LOCKED
     )
     UPDATE tasks t SET "availableAt" = waiting.until, "rateLimitedUntil" = waiting.until FROM waiting WHERE t.id = waiting.id
     RETURNING t.id`,
    [exhausted.map((e) => e.tenantId), exhausted.map((e) => e.key), exhausted.map((e) => e.until)],
  );
  return held.length;
}
