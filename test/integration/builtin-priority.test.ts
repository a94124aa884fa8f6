import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DataSource } from 'typeorm';
import { runMigrations } from '../../src/store/data-source';
import type { Sql } from '../../src/store/sql';
import { claimReadyBuiltIn } from '../../src/store/tasks.store';
import { testDataSource } from '../helpers/db';

/**
 * The built-in dispatcher's claim with priorities (both modes): round robin across tenants stays
 * as it was (each tenant's first pick, then each one's second, …), and priority, raised by age
 * (PRIORITY_AGING_MS), decides which of a tenant's tasks is its pick.
 */
describe('built-in claim: priority within a tenant, round robin across tenants', () => {
  const db = testDataSource();
  let ds: DataSource;
  const now = new Date('2031-06-01T00:00:00.000Z');
  const budgets = { tenants: [], total: [], http: [], defaults: { total: 100, http: 100 } };
  let runs: Record<string, string>;

  beforeAll(async () => {
    ds = await db.open();
    await runMigrations(ds);
    runs = {};
    for (const tenant of ['A', 'B']) {
      const [wf] = await ds.query(
        `INSERT INTO workflows ("tenantId", name, version, description, definition, "definitionHash") VALUES ($1, 'w', 1, null, '{"steps":[]}', 'x') RETURNING id`,
        [tenant],
      );
      const [run] = await ds.query(
        `INSERT INTO runs ("tenantId", "workflowId", "workflowName", "workflowVersion", status, input, "createdAt", "lastSeq", depth)
         VALUES ($1, $2, 'w', 1, 'RUNNING', '{}', $3, 0, 0) RETURNING id`,
        [tenant, wf.id, now],
      );
      runs[tenant] = run.id;
    }
  });
  afterAll(async () => {
    await db.close();
  });

  /** Seeds the tasks (key, tenant, priority, ready this many ms ago), claims in rounds of 2, rolls back; the keys per round. */
  async function rounds(agingMs: number): Promise<string[][]> {
    const runner = ds.createQueryRunner();
    await runner.startTransaction();
    try {
      const sql: Sql = {
        rows: async <T>(text: string, params: readonly unknown[] = []) => {
          const r = (await runner.query(text, [...params])) as unknown[];
          return (Array.isArray(r[0]) ? r[0] : r) as T[];
        },
      };
      const seed: [string, string, number, number][] = [
        ['a1', 'A', 1, 10_000],
        ['a2', 'A', 3, 1_000],
        ['a3', 'A', 2, 5_000],
        ['b1', 'B', 1, 20_000],
        ['b2', 'B', 1, 2_000],
      ];
      for (const [key, tenant, priority, ago] of seed) {
        await sql.rows(
          `INSERT INTO tasks ("tenantId", "runId", position, key, type, queue, status, "createdAt", "queuedAt", "availableAt", priority)
           VALUES ($1, $2, 0, $3, 'noop', NULL, 'QUEUED', $4, $4, $4::timestamptz - $5 * interval '1 millisecond', $6)`,
          [tenant, runs[tenant], key, now, ago, priority],
        );
      }
      const out: string[][] = [];
      for (let i = 0; i < 3; i++) {
        const { tasks: got } = await claimReadyBuiltIn(sql, { limit: 2, workerId: 'conductor:test', now, budgets, priorityAgingMs: agingMs });
        out.push(got.map((t) => t.key).sort());
      }
      return out;
    } finally {
      await runner.rollbackTransaction();
      await runner.release();
    }
  }

  it('with long aging: each tenant its highest priority first, one pick per tenant per round', async () => {
    expect(await rounds(60_000)).toEqual([['a2', 'b1'], ['a3', 'b2'], ['a1']]);
  });

  it('with 1 s aging: age outranks priority (a1 waited 10 s, a2 only 1 s), tenants still alternate', async () => {
    expect(await rounds(1_000)).toEqual([['a1', 'b1'], ['a3', 'b2'], ['a2']]);
  });
});
