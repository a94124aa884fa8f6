import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DataSource } from 'typeorm';
import type { Sql } from '../../src/store/sql';
import { strandedPendingRuns } from '../../src/store/runs.store';
import { tasksOfLockedRun, tasksOfLockedRuns, tasksOfRuns } from '../../src/store/tasks.store';
import { migratedWithWorkflow, rowsReadFrom, testDataSource } from '../helpers/db';

/**
 * A run's tasks are read through an index, however many tasks the table holds (issue #11: one
 * tenant's backlog must not slow the others). The only index led by "runId" was partial (step
 * tasks, not items), so `run { tasks }`, the loads of a whole run (cancel, retry, signals) and
 * the cascade of a run's deletion read the whole `tasks` table, every tenant's, each time.
 * And the stranded-run look, planned on statistics from when the table was small (a fresh
 * database, a fast-growing one between autovacuum's analyses), read every task once per PENDING
 * run: 4.5 M rows and 455 ms for 3,000 queued runs (bench scenario 7, every 5 s). Rows read are
 * counted in the executed plans, not timed. Both modes.
 */
const RUNS = 2_000;
const TASKS_PER_RUN = 10;

describe('a run’s tasks are read by index', () => {
  const db = testDataSource();
  let ds: DataSource;
  const now = new Date('2031-05-01T00:00:00.000Z');
  let runIds: string[];

  beforeAll(async () => {
    ds = await db.open();
    const wf = await migratedWithWorkflow(ds, 'a');
    // Statistics of an empty table, as on a fresh database: what the planner believes until
    // autovacuum analyzes again.
    await ds.query(`ANALYZE runs; ANALYZE tasks`);
    const rows = (await ds.query(
      `INSERT INTO runs ("tenantId", "workflowId", "workflowName", "workflowVersion", status, input, "createdAt", "lastSeq", depth)
       SELECT 'a', $1, 'plan', 1, 'PENDING', '{}', $2::timestamptz + g * interval '1 millisecond', 0, 0 FROM generate_series(1, ${RUNS}) g RETURNING id`,
      [wf, now],
    )) as { id: string }[];
    runIds = rows.map((r) => r.id);
    // Every run queued (its first step QUEUED, the rest PENDING behind it): none is stranded.
    await ds.query(
      `INSERT INTO tasks ("tenantId", "runId", position, key, type, queue, status, "createdAt", "queuedAt", "availableAt", priority)
       SELECT 'a', r.id, s, 's' || s, 'http', NULL, CASE WHEN s = 0 THEN 'QUEUED' ELSE 'PENDING' END, $1, $1, $1, 2
       FROM unnest($2::uuid[]) AS r(id), generate_series(0, ${TASKS_PER_RUN - 1}) s`,
      [now, runIds],
    );
  }, 120_000);
  afterAll(async () => {
    await db.close();
  });

  /** Runs `read` with each statement explained (ANALYZE: executed) in a rolled-back transaction; rows read from `tasks` by every plan. */
  async function explained<T>(read: (sql: Sql) => Promise<T>): Promise<{ plans: string; rowsRead: number; result: T }> {
    const runner = ds.createQueryRunner();
    await runner.startTransaction();
    const plans: string[] = [];
    let result: T;
    try {
      const sql: Sql = {
        rows: async <R>(text: string, params: readonly unknown[] = []) => {
          const rows = (await runner.query(`EXPLAIN (ANALYZE, FORMAT TEXT) ${text}`, [...params])) as { 'QUERY PLAN': string }[];
          plans.push(rows.map((r) => r['QUERY PLAN']).join('\n'));
          return (await runner.query(text, [...params])) as R[];
        },
      };
      result = await read(sql);
    } finally {
      await runner.rollbackTransaction();
      await runner.release();
    }
    const rowsRead = plans.reduce((n, plan) => n + rowsReadFrom(plan, 'tasks'), 0);
    return { plans: plans.join('\n---\n'), rowsRead, result };
  }

  it('`run { tasks }` and the loads of whole runs read only those runs’ tasks', async () => {
    const some = runIds.slice(0, 3);
    const reads: [string, (sql: Sql) => Promise<unknown[]>][] = [
      ['tasksOfRuns (Run.tasks)', (sql) => tasksOfRuns(sql, 'a', some)],
      ['tasksOfLockedRuns', (sql) => tasksOfLockedRuns(sql, some)],
      ['tasksOfLockedRun', (sql) => tasksOfLockedRun(sql, some[0]!)],
    ];
    for (const [what, read] of reads) {
      const { plans, rowsRead, result } = await explained(read);
      console.log(`[run-tasks-plan] ${what}: ${result.length} tasks, ${rowsRead} rows read of ${RUNS * TASKS_PER_RUN}`);
      expect(plans, what).not.toMatch(/Seq Scan on tasks/);
      expect(result.length, what).toBeGreaterThanOrEqual(TASKS_PER_RUN);
      expect(rowsRead, what).toBeLessThanOrEqual(3 * TASKS_PER_RUN);
    }
  });

  it('the stranded-run look reads each queued run’s tasks once at most, on the statistics of an empty table', async () => {
    const { plans, rowsRead, result } = await explained((sql) => strandedPendingRuns(sql, new Date(now.getTime() + 3_600_000), 100));
    console.log(`[run-tasks-plan] stranded look over ${RUNS} queued runs: ${result.length} stranded, ${rowsRead} task rows read\n${plans}`);
    expect(result).toEqual([]);
    // Linear: about one row per run (its QUEUED first step), or one pass over the table; the
    // quadratic plan read RUNS × RUNS × TASKS_PER_RUN / 2.
    expect(rowsRead).toBeGreaterThan(0);
    expect(rowsRead).toBeLessThanOrEqual(2 * RUNS * TASKS_PER_RUN);
  });
});
