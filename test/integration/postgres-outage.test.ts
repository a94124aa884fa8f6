import { Client } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app';
import { REAL_POSTGRES, REAL_REDIS } from '../helpers/db';
import { startPrivatePostgres, type PrivatePostgres } from '../helpers/private-services';

/**
 * Postgres crashes (`pg_ctl stop -m immediate`) for about 3 s under 8 concurrent submitters
 * starting 3-step runs (noop → 300 ms sleep → noop), then starts again. The conductor stays up:
 * every acknowledged run exists and SUCCEEDED, with each step done in ONE attempt (results that
 * finished during the outage kept their leases and were written afterwards); no request hung;
 * every error during the outage was the typed, retryable UNAVAILABLE (HTTP 503).
 *
 * The cluster is a private one (test/helpers/private-services.ts): the machine's shared Postgres
 * is never stopped. Real-services mode only (DATABASE_URL): the embedded PGlite cannot be crashed
 * from outside.
 */

const SUBMITTERS = 8;
const OUTAGE_MS = 3_000;
/** Each request's bound: past it, a request counts as hung. Generous: a loaded 2-core box. */
const REQUEST_BOUND_MS = 15_000;
const LEASE_TTL_MS = 2_000;

const START = `mutation($input: JSON) { startRun(workflow: "outage", input: $input) { id } }`;

interface Answer {
  at: number;
  ms: number;
  status: number;
  id?: string;
  code?: string;
  message?: string;
  retryAfter?: string | null;
  hung?: boolean;
}

describe.runIf(REAL_POSTGRES)('Postgres stopped with -m immediate under load (real-services mode: needs DATABASE_URL)', () => {
  let pg: PrivatePostgres | undefined;
  let t: TestApp | undefined;

  beforeAll(async () => {
    pg = await startPrivatePostgres();
    t = await startTestApp({
      databaseUrl: pg.url,
      env: { LEASE_TTL_MS: String(LEASE_TTL_MS), REAPER_INTERVAL_MS: '200', SCHEDULER_POLL_INTERVAL_MS: '200', DATABASE_POOL_SIZE: '10' },
    });
    await t.ok(`mutation($input: WorkflowInput!) { registerWorkflow(input: $input) { version } }`, {
      input: {
        name: 'outage',
        // The default retry policy: no `retry` on any step.
        steps: [
          { key: 'a', type: 'noop' },
          { key: 'nap', type: 'sleep', dependsOn: ['a'], input: { ms: 300 } },
          { key: 'b', type: 'noop', dependsOn: ['nap'] },
        ],
      },
    });
  });

  afterAll(async () => {
    // The app first (its pool), while the cluster is up; then the cluster, whatever happened.
    try {
      await pg?.start().catch(() => undefined);
      await t?.close();
    } finally {
      await pg?.close();
    }
  });

  it('every acked run exists and SUCCEEDED in one attempt per step; 0 hung requests; outage errors all UNAVAILABLE; no restart needed', async () => {
    const app = t!;
    const answers: Answer[] = [];
    let submitting = true;
    const submit = async (n: number): Promise<void> => {
      const sentAt = Date.now();
      try {
        const res = await fetch(app.app.url, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ query: START, variables: { input: { n } } }),
          signal: AbortSignal.timeout(REQUEST_BOUND_MS),
        });
        const body = (await res.json()) as { data?: { startRun?: { id: string } } | null; errors?: { message: string; extensions?: { code?: string } }[] };
        const error = body.errors?.[0];
        answers.push({
          at: sentAt,
          ms: Date.now() - sentAt,
          status: res.status,
          id: body.data?.startRun?.id,
          code: error?.extensions?.code,
          message: error?.message,
          retryAfter: res.headers.get('retry-after'),
        });
      } catch (e: unknown) {
        answers.push({ at: sentAt, ms: Date.now() - sentAt, status: 0, hung: (e as Error).name === 'TimeoutError', message: String(e) });
      }
    };
    let n = 0;
    const submitter = async () => {
      while (submitting) {
        await submit(n++);
        // An error answers at once (ECONNREFUSED): a short pause keeps 8 loops from spinning.
        if (answers.at(-1)?.code) await new Promise((r) => setTimeout(r, 20));
      }
    };
    const loops = Array.from({ length: SUBMITTERS }, submitter);

    await new Promise((r) => setTimeout(r, 1_500));
    const downAt = Date.now();
    await pg!.stopImmediate();
    await new Promise((r) => setTimeout(r, OUTAGE_MS - (Date.now() - downAt)));
    const restartAt = Date.now();
    await pg!.start();
    const upAt = Date.now();
    // Keep submitting after the restart: the same conductor must take runs again.
    await new Promise((r) => setTimeout(r, 2_000));
    submitting = false;
    await Promise.all(loops);

    const acked = answers.filter((a) => a.id).map((a) => a.id!);
    const errors = answers.filter((a) => !a.id);
    const hung = answers.filter((a) => a.hung);
    const ackedAfter = answers.filter((a) => a.id && a.at >= upAt);

    // Every acked run finishes, checked in the database itself.
    const db = new Client({ connectionString: pg!.url });
    await db.connect();
    try {
      let statuses: { status: string; n: number }[];
      const deadline = Date.now() + 45_000;
      for (;;) {
        statuses = (await db.query(`SELECT status, count(*)::int AS n FROM runs WHERE id = ANY($1::uuid[]) GROUP BY status ORDER BY status`, [acked])).rows;
        const done = statuses.filter((s) => ['SUCCEEDED', 'FAILED', 'CANCELLED'].includes(s.status)).reduce((x, s) => x + s.n, 0);
        if (done === acked.length || Date.now() > deadline) break;
        await new Promise((r) => setTimeout(r, 200));
      }
      const settledAt = Date.now();
      const attempts: { outcome: string; n: number }[] = (
        await db.query(
          `SELECT a.outcome, count(*)::int AS n FROM task_attempts a JOIN tasks t ON t.id = a."taskId" WHERE t."runId" = ANY($1::uuid[]) GROUP BY a.outcome ORDER BY a.outcome`,
          [acked],
        )
      ).rows;
      const maxMs = Math.max(...answers.map((a) => a.ms));
      const byCode = new Map<string, number>();
      for (const e of errors) byCode.set(`${e.code ?? 'none'}/${e.status}`, (byCode.get(`${e.code ?? 'none'}/${e.status}`) ?? 0) + 1);
      const firstAckAfter = ackedAfter.length ? Math.min(...ackedAfter.map((a) => a.at + a.ms)) - upAt : NaN;
      console.log(
        `[postgres-outage] ${SUBMITTERS} submitters, Postgres down ${restartAt - downAt} ms (-m immediate; ${upAt - restartAt} ms to start; leases ${REAL_REDIS ? 'in Redis' : 'in process'}, TTL ${LEASE_TTL_MS} ms): ` +
          `${answers.length} requests, ${acked.length} acked, ${errors.length} refused (${[...byCode].map(([k, v]) => `${v} × ${k}`).join(', ') || 'none'}), ` +
          `${hung.length} hung (bound ${REQUEST_BOUND_MS} ms), slowest answer ${maxMs} ms; first run acked ${firstAckAfter} ms after Postgres was back (${ackedAfter.length} acked after it, no restart); ` +
          `acked runs: ${statuses.map((s) => `${s.n} ${s.status}`).join(', ')}, all settled ${settledAt - upAt} ms after the restart; attempts: ${attempts.map((a) => `${a.n} ${a.outcome}`).join(', ')}`,
      );

      const failed = (
        await db.query(
          `SELECT r.status, r.error, array_agg(t.key || ':' || t.status || ':' || coalesce(t.error, '') ORDER BY t.position) AS tasks FROM runs r JOIN tasks t ON t."runId" = r.id
           WHERE r.id = ANY($1::uuid[]) AND r.status <> 'SUCCEEDED' GROUP BY r.id LIMIT 5`,
          [acked],
        )
      ).rows;
      if (failed.length) console.log('[postgres-outage] not SUCCEEDED:', JSON.stringify(failed));
      expect(hung).toEqual([]);
      expect(errors.length, 'the outage produced no refusals: was Postgres really down?').toBeGreaterThan(0);
      // Typed and retryable: UNAVAILABLE, HTTP 503 with Retry-After.
      expect(errors.filter((e) => e.code !== 'UNAVAILABLE' || e.status !== 503 || !e.retryAfter).map((e) => [e.status, e.code, e.message])).toEqual([]);
      expect(ackedAfter.length).toBeGreaterThan(0);
      expect(statuses).toEqual([{ status: 'SUCCEEDED', n: acked.length }]);
      // One attempt per step: no lease expired, no result lost to the outage.
      expect(attempts).toEqual([{ outcome: 'SUCCEEDED', n: acked.length * 3 }]);
    } finally {
      await db.end();
    }
  }, 60_000);
});
