import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DataSource } from 'typeorm';
import type { Sql } from '../../src/store/sql';
import { claimReadyBuiltIn } from '../../src/store/tasks.store';
import { migratedWithWorkflow, REAL_POSTGRES, rowsReadFrom, runnerSql, testDataSource } from '../helpers/db';

/**
 * What the built-in claim reads does not grow with one tenant's backlog (issue #11, bench
 * scenario 7): tenant A has 20,000 http steps queued behind its http share (and 5,000 noop steps
 * beyond its total share on a second tenant C); tenant B has one noop step. Before, the claim
 * ranked every ready built-in task and took up to 1.5 s on the loaded bench machine, and B's
 * one-step run waited 1–2 s to start. Now the claim reads a tenant's tasks only up to what it may
 * still start: the rows it reads from `tasks` are counted in the executed plan, not timed. Both
 * modes.
 */
const BACKLOG = 20_000;
const OVER_TOTAL = 5_000;

describe('the built-in claim reads no tenant’s backlog beyond its share', () => {
  // Two connections on a Postgres server, for two claims at once (embedded PGlite has one).
  const db = testDataSource({ poolSize: 2 });
  let ds: DataSource;
  const now = new Date('2031-05-01T00:00:00.000Z');
  let quietTask: string;

  beforeAll(async () => {
    ds = await db.open();
    const wf = { id: await migratedWithWorkflow(ds, 'a') };
    const run = async (tenant: string): Promise<string> => {
      const [r] = await ds.query(
        `INSERT INTO runs ("tenantId", "workflowId", "workflowName", "workflowVersion", status, input, "createdAt", "lastSeq", depth)
         VALUES ($1, $2, 'plan', 1, 'RUNNING', '{}', $3, 0, 0) RETURNING id`,
        [tenant, wf.id, now],
      );
      return r.id as string;
    };
    const seed = async (tenant: string, type: string, n: number, offsetMs: number) =>
      ds.query(
        `INSERT INTO tasks ("tenantId", "runId", position, key, type, queue, status, "createdAt", "queuedAt", "availableAt", priority)
         SELECT $1, $2, 0, 's' || g, $3, NULL, 'QUEUED', $4, $4, $4::timestamptz - ($5 + g) * interval '1 millisecond', 1 + g % 3
         FROM generate_series(1, ${n}) g`,
        [tenant, await run(tenant), type, now, offsetMs],
      );
    // Older than B's task: under the old ranking they all came first.
    await seed('a', 'http', BACKLOG, 1_000);
    await seed('c', 'noop', OVER_TOTAL, 1_000);
    await seed('b', 'noop', 1, 0);
    const [task] = await ds.query(`SELECT id FROM tasks WHERE "tenantId" = 'b'`);
    quietTask = task.id;
    await ds.query(`ANALYZE tasks`);
  }, 120_000);
  afterAll(async () => {
    await db.close();
  });

  /** Runs the claim with its statement explained (ANALYZE: executed) in a rolled-back transaction. */
  async function explainedClaim(budgets: Parameters<typeof claimReadyBuiltIn>[1]['budgets']): Promise<{ plan: string; rowsRead: number; claimed: string[] }> {
    const runner = ds.createQueryRunner();
    await runner.startTransaction();
    let plan = '';
    let claimed: string[];
    try {
      const sql: Sql = {
        rows: async <T>(text: string, params: readonly unknown[] = []) => {
          // Explained (and so executed) under a savepoint undone after, then run for what it claims.
          await runner.query('SAVEPOINT explained');
          const rows = (await runner.query(`EXPLAIN (ANALYZE, FORMAT TEXT) ${text}`, [...params])) as { 'QUERY PLAN': string }[];
          await runner.query('ROLLBACK TO SAVEPOINT explained');
          plan = rows.map((r) => r['QUERY PLAN']).join('\n');
          const r = (await runner.query(text, [...params])) as unknown[];
          return (Array.isArray(r[0]) ? r[0] : r) as T[];
        },
      };
      claimed = (await claimReadyBuiltIn(sql, { limit: 100, workerId: 'w', now, budgets, priorityAgingMs: 60_000 })).tasks.map((t) => t.id);
    } finally {
      await runner.rollbackTransaction();
      await runner.release();
    }
    // Rows every scan of `tasks` returned or filtered out, over all its loops.
    const rowsRead = rowsReadFrom(plan, 'tasks');
    return { plan, rowsRead, claimed };
  }

  it('A at its http share and C at its total share: the claim takes B’s one task and reads a handful of rows', async () => {
    const { plan, rowsRead, claimed } = await explainedClaim({
      tenants: ['a', 'c'],
      total: [48, 0],
      http: [0, 0],
      defaults: { total: 64, http: 16 },
    });
    console.log(`[builtin-claim-plan] ${BACKLOG} http + ${OVER_TOTAL} noop queued over their shares: B's task claimed, ${rowsRead} task rows read\n${plan}`);
    expect(claimed).toEqual([quietTask]);
    expect(plan).not.toMatch(/Seq Scan on tasks/);
    // The planner cannot size the per-tenant LIMITs and overestimates: with JIT on, compiling took
    // ~1 s of a 3 ms claim. The pool's connections run with jit=off.
    expect(plan).not.toMatch(/^JIT:/m);
    // The skip scan's probes (a few per tenant) and B's task; the old ranking read all 25,001.
    // At least B's task was read: the plan was parsed, not silently unmatched.
    expect(rowsRead).toBeGreaterThan(0);
    expect(rowsRead).toBeLessThan(50);
  });

  it('with room, a tenant’s claim reads about what it takes, not its backlog', async () => {
    const { rowsRead, claimed } = await explainedClaim({ tenants: [], total: [], http: [], defaults: { total: 10, http: 4 } });
    console.log(`[builtin-claim-plan] defaults 10 total / 4 http: ${claimed.length} claimed, ${rowsRead} task rows read`);
    // Per tenant at most its share per priority level and kind, then the picked rows again.
    expect(claimed.length).toBe(10 + 4 + 1);
    expect(rowsRead).toBeGreaterThanOrEqual(15);
    expect(rowsRead).toBeLessThan(300);
  });
});

describe.runIf(REAL_POSTGRES)('two built-in claims at once', () => {
  // Two connections: two claims in flight (embedded PGlite has one).
  const db = testDataSource({ poolSize: 2 });
  let ds: DataSource;
  const now = new Date('2031-05-01T00:00:00.000Z');

  beforeAll(async () => {
    ds = await db.open();
    const wf = { id: await migratedWithWorkflow(ds, 'd') };
    // 500 one-step runs of one tenant, ready (a claim locks each task's run too).
    await ds.query(
      `WITH r AS (
         INSERT INTO runs ("tenantId", "workflowId", "workflowName", "workflowVersion", status, input, "createdAt", "lastSeq", depth)
         SELECT 'd', $1, 'plan', 1, 'RUNNING', '{}', $2, 0, 0 FROM generate_series(1, 500) RETURNING id
       )
       INSERT INTO tasks ("tenantId", "runId", position, key, type, queue, status, "createdAt", "queuedAt", "availableAt", priority)
       SELECT 'd', r.id, 0, 's', 'noop', NULL, 'QUEUED', $2, $2, $2, 2 FROM r`,
      [wf.id, now],
    );
  }, 120_000);
  afterAll(async () => {
    await db.close();
  });

  it('take different tasks: rows the first holds do not use up the second’s share', async () => {
    const budgets = { tenants: [], total: [], http: [], defaults: { total: 64, http: 16 } };
    const open = async () => {
      const runner = ds.createQueryRunner();
      await runner.startTransaction();
      return { runner, sql: runnerSql(runner) };
    };
    const first = await open();
    const second = await open();
    try {
      // The first claim stays uncommitted while the second runs.
      const claim = await claimReadyBuiltIn(first.sql, { limit: 32, workerId: 'w1', now, budgets, priorityAgingMs: 60_000 });
      const a = claim.tasks;
      // The claimed tasks' runs come back with them, whole, as the runs table has them.
      const runIds = [...new Set(a.map((t) => t.runId))];
      expect(claim.runs.map((r) => r.id).sort()).toEqual([...runIds].sort());
      const stored = await first.sql.rows<Record<string, unknown>>(`SELECT * FROM runs WHERE id = ANY($1::uuid[])`, [runIds]);
      expect(new Map(claim.runs.map((r) => [r.id, r]))).toEqual(new Map(stored.map((r) => [r['id'], r])));
      const { tasks: b } = await claimReadyBuiltIn(second.sql, { limit: 32, workerId: 'w2', now, budgets, priorityAgingMs: 60_000 });
      const overlap = a.filter((t) => b.some((u) => u.id === t.id)).length;
      console.log(`[builtin-claim-plan] two claims at once over 500 ready runs: ${a.length} and ${b.length} tasks, ${overlap} in both`);
      expect(a.length).toBe(32);
      expect(b.length).toBe(32);
      expect(overlap).toBe(0);
    } finally {
      for (const c of [first, second]) {
        await c.runner.rollbackTransaction();
        await c.runner.release();
      }
    }
  });
});
