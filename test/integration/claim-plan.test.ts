import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DataSource } from 'typeorm';
import { admitRateLimited, settleRateLimits } from '../../src/store/rate-limits.store';
import type { Sql } from '../../src/store/sql';
import { claimReadyTasks } from '../../src/store/tasks.store';
import { migratedWithWorkflow, runnerSql, testDataSource } from '../helpers/db';

/**
 * The worker claim with priorities stays index-bound on a deep queue: 100,000 QUEUED tasks of
 * mixed priorities (and 1,000 rate-limited ones on another queue), the claim of 10 reads each
 * level of IDX_tasks_ready_priority and no sequential scan of tasks; the admission reads the
 * rate-limited index. Each plan and its time printed. Both modes (seeding takes ~20 s embedded).
 */
const TASKS = 100_000;

describe('claim plans on 100,000 queued tasks', () => {
  const db = testDataSource();
  let ds: DataSource;
  const now = new Date('2031-05-01T00:00:00.000Z');

  beforeAll(async () => {
    ds = await db.open();
    const wf = { id: await migratedWithWorkflow(ds, 't') };
    const [run] = await ds.query(
      `INSERT INTO runs ("tenantId", "workflowId", "workflowName", "workflowVersion", status, input, "createdAt", "lastSeq", depth)
       VALUES ('t', $1, 'plan', 1, 'RUNNING', '{}', $2, 0, 0) RETURNING id`,
      [wf.id, now],
    );
    await ds.query(
      `INSERT INTO tasks ("tenantId", "runId", position, key, type, queue, status, "createdAt", "queuedAt", "availableAt", priority)
       SELECT 't', $1, 0, 's' || g, 'work', 'deep-q', 'QUEUED', $2, $2, $2::timestamptz - g * interval '1 millisecond', 1 + g % 3
       FROM generate_series(1, ${TASKS}) g`,
      [run.id, now],
    );
    await ds.query(
      `INSERT INTO tasks ("tenantId", "runId", position, key, type, queue, status, "createdAt", "queuedAt", "availableAt", "rateLimitKey", "rateLimitLimit", "rateLimitPeriodMs")
       SELECT 't', $1, 0, 'r' || g, 'work', 'rl-q', 'QUEUED', $2, $2, $2, 'k' || (g % 10), 5, 1000 FROM generate_series(1, 1000) g`,
      [run.id, now],
    );
    await ds.query(`ANALYZE tasks`);
  }, 120_000);
  afterAll(async () => {
    await db.close();
  });

  /** Runs `fn` with every statement explained (ANALYZE: executed), in a transaction rolled back. */
  async function explained(fn: (sql: Sql) => Promise<unknown>): Promise<{ plan: string; ms: number }[]> {
    const runner = ds.createQueryRunner();
    await runner.startTransaction();
    const plans: { plan: string; ms: number }[] = [];
    try {
      await fn({
        rows: async <T>(text: string, params: readonly unknown[] = []) => {
          const rows = (await runner.query(`EXPLAIN (ANALYZE, FORMAT TEXT) ${text}`, [...params])) as { 'QUERY PLAN': string }[];
          const plan = rows.map((r) => r['QUERY PLAN']).join('\n');
          plans.push({ plan, ms: Number(/Execution Time: ([0-9.]+) ms/.exec(plan)?.[1] ?? NaN) });
          return [] as T[];
        },
      });
    } finally {
      await runner.rollbackTransaction();
      await runner.release();
    }
    return plans;
  }

  it('claims 10 of a 100,000-deep queue through the priority index, no sequential scan', async () => {
    const [claim] = await explained((sql) => claimReadyTasks(sql, { tenantId: null, queue: 'deep-q', limit: 10, workerId: 'w', now, priorityAgingMs: 60_000 }));
    console.log(`[claim-plan] worker claim of 10 from ${TASKS} queued: ${claim.ms} ms\n${claim.plan}`);
    expect(claim.plan).toContain('IDX_tasks_ready_priority');
    expect(claim.plan).not.toMatch(/Seq Scan on tasks/);
    expect(claim.ms).toBeLessThan(100);
  });

  it('admits rate-limited tasks through their own index, untouched by the deep queue', async () => {
    const plans = await explained((sql) => admitRateLimited(sql, { queue: 'deep-q', tenantId: null, now, limit: 10, priorityAgingMs: 60_000 }));
    console.log(`[claim-plan] rate-limit admission on the deep queue: ${plans[0].ms} ms\n${plans[0].plan}`);
    expect(plans[0].plan).toContain('IDX_tasks_rate_limited');
    expect(plans[0].plan).not.toMatch(/Seq Scan on tasks/);
    expect(plans[0].ms).toBeLessThan(100);
  });

  it('admits, claims and charges 1,000 rate-limited tasks of 10 keys in one transaction: 5 per key, the rest held back', async () => {
    const runner = ds.createQueryRunner();
    await runner.startTransaction();
    try {
      const sql = runnerSql(runner);
      const began = performance.now();
      const { admitted, buckets } = await admitRateLimited(sql, { queue: 'rl-q', tenantId: null, now, limit: 100, priorityAgingMs: 60_000 });
      const claimed = await claimReadyTasks(sql, { tenantId: null, queue: 'rl-q', limit: 100, workerId: 'w', now, priorityAgingMs: 60_000, admitted });
      const held = await settleRateLimits(sql, buckets, claimed, now);
      const ms = performance.now() - began;
      console.log(`[claim-plan] rate-limited claim over 1000 tasks of 10 keys: ${claimed.length} claimed, ${held} held back, ${ms.toFixed(1)} ms`);
      expect(buckets).toHaveLength(10);
      expect(claimed).toHaveLength(50);
      expect(held).toBe(950);
      expect(ms).toBeLessThan(2_000);
    } finally {
      await runner.rollbackTransaction();
      await runner.release();
    }
  });
});
