import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { createClient } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { Client } from 'pg';
import { createTestDatabase, REAL_POSTGRES, REAL_REDIS, type TestDatabase } from '../helpers/db';
import { freePort } from '../helpers/net';

const root = join(__dirname, '..', '..');
const RUNS = Number(process.env['CLUSTER_TEST_RUNS'] ?? 2000);

function start(args: string[], env: Record<string, string | undefined>): { child: ChildProcess; output: () => string } {
  let out = '';
  const child = spawn(process.execPath, ['-r', '@swc-node/register', ...args], {
    cwd: root,
    env: { PATH: process.env['PATH'], HOME: process.env['HOME'], ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // Keep only the tail: 10,000 tasks of logs would be a lot of memory for nothing.
  const keep = (d: Buffer) => (out = (out + d.toString()).slice(-20_000));
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  return { child, output: () => out };
}

async function until(check: () => Promise<boolean> | boolean, what: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * Two conductor replicas (real processes) and four worker processes on one Postgres and one
 * Redis: a 5-step DAG run 2,000 times. Every run succeeds, every task is executed by one holder
 * once, and a subscriber on the other replica sees every event.
 */
describe.runIf(REAL_POSTGRES && REAL_REDIS)('a cluster of two replicas and four workers', () => {
  let db: TestDatabase;
  const procs: { child: ChildProcess; output: () => string }[] = [];
  const urls: string[] = [];

  beforeAll(async () => {
    db = await createTestDatabase();
    const prefix = `cluster-${randomBytes(4).toString('hex')}:`;
    for (let i = 0; i < 2; i++) {
      const port = await freePort();
      const p = start(['src/server.ts'], {
        PORT: String(port),
        METRICS_PORT: String(await freePort()),
        HOST: '127.0.0.1',
        DATABASE_URL: db.url,
        REDIS_URL: process.env['REDIS_URL'],
        REDIS_KEY_PREFIX: prefix,
        LOG_LEVEL: 'warn',
        DATABASE_POOL_SIZE: '8',
      });
      procs.push(p);
      urls.push(`http://127.0.0.1:${port}/graphql`);
      // One at a time: the second replica finds the schema migrated by the first.
      await until(async () => (await fetch(urls[i]!.replace('/graphql', '/readyz')).catch(() => null))?.status === 200, `replica ${i}`, 60_000);
    }
  }, 120_000);

  afterAll(async () => {
    for (const p of procs) if (p.child.exitCode === null) p.child.kill('SIGKILL');
    await Promise.all(procs.map((p) => (p.child.exitCode === null ? once(p.child, 'exit') : null)));
    await db?.drop();
  });

  const gql = async (url: string, query: string, variables?: Record<string, unknown>) => {
    const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query, variables }) });
    const body = (await res.json()) as { data?: any; errors?: unknown[] };
    if (body.errors) throw new Error(JSON.stringify(body.errors));
    return body.data;
  };

  it(`runs ${RUNS} runs of a 5-step DAG: all succeed, one holder per task, every event reaches the other replica`, async () => {
    const [a, b] = urls as [string, string];
    await gql(a, `mutation($i: WorkflowInput!) { registerWorkflow(input: $i) { version } }`, {
      i: {
        name: 'cluster',
        steps: [
          { key: 'fetch', type: 'echo', queue: 'cluster', input: { n: '{{ input.n }}' } },
          { key: 'left', type: 'echo', queue: 'cluster', dependsOn: ['fetch'], input: { v: '{{ steps.fetch.output.echo.n }}' } },
          { key: 'right', type: 'echo', queue: 'cluster', dependsOn: ['fetch'], input: { v: '{{ steps.fetch.output.echo.n }}' } },
          {
            key: 'join',
            type: 'echo',
            queue: 'cluster',
            dependsOn: ['left', 'right'],
            input: { l: '{{ steps.left.output.echo.v }}', r: '{{ steps.right.output.echo.v }}' },
          },
          { key: 'done', type: 'echo', queue: 'cluster', dependsOn: ['join'], input: '{{ steps.join.output.echo }}' },
        ],
      },
    });

    // The subscriber listens on replica B; runs start on replica A.
    const events = new Map<string, number[]>();
    let finished = 0;
    const ws = createClient({ url: b.replace(/^http/, 'ws'), webSocketImpl: WebSocket, retryAttempts: 0 });
    const connected = new Promise<void>((r) => ws.on('connected', () => r()));
    const unsubscribe = ws.subscribe<{ runEvents: { runId: string; seq: number; type: string; status: string } }>(
      { query: `subscription { runEvents(workflow: "cluster") { runId seq type status } }` },
      {
        next: ({ data }) => {
          const e = data!.runEvents;
          events.set(e.runId, [...(events.get(e.runId) ?? []), e.seq]);
          if (e.type === 'RUN_STATUS' && e.status === 'SUCCEEDED') finished++;
        },
        error: (e) => {
          throw e instanceof Error ? e : new Error(JSON.stringify(e));
        },
        complete: () => undefined,
      },
    );
    await connected;

    for (let i = 0; i < 4; i++) {
      procs.push(
        start(['src/worker-sdk/cli.ts', '--queue', 'cluster', '--handler', 'src/worker-sdk/examples/echo.ts', '--concurrency', '16', '--worker-id', `w${i}`], {
          MAESTRO_URL: i % 2 ? a : b,
          LOG_LEVEL: 'warn',
        }),
      );
    }

    const started = Date.now();
    const ids: string[] = [];
    for (let i = 0; i < RUNS; i += 25) {
      const batch = await Promise.all(
        Array.from({ length: Math.min(25, RUNS - i) }, (_, j) =>
          gql(a, `mutation($n: Int!) { startRun(workflow: "cluster", input: { n: $n }) { id } }`, { n: i + j }),
        ),
      );
      ids.push(...batch.map((d) => d.startRun.id as string));
    }
    await until(() => finished >= RUNS, `${RUNS} runs to finish (${finished} so far)`, 240_000);
    const seconds = (Date.now() - started) / 1000;
    unsubscribe();
    await ws.dispose();

    const pg = new Client({ connectionString: db.url });
    await pg.connect();
    try {
      const statuses = await pg.query(`SELECT status, count(*)::int AS n FROM runs GROUP BY status`);
      expect(statuses.rows).toEqual([{ status: 'SUCCEEDED', n: RUNS }]);
      // One holder per task: exactly one attempt each, and it succeeded.
      const attempts = await pg.query(
        `SELECT count(*)::int AS tasks, sum(n)::int AS attempts, max(n)::int AS most FROM (SELECT "taskId", count(*) AS n FROM task_attempts GROUP BY "taskId") x`,
      );
      expect(attempts.rows[0]).toEqual({ tasks: RUNS * 5, attempts: RUNS * 5, most: 1 });
      const outcomes = await pg.query(`SELECT outcome, count(*)::int AS n FROM task_attempts GROUP BY outcome`);
      expect(outcomes.rows).toEqual([{ outcome: 'SUCCEEDED', n: RUNS * 5 }]);
      const perWorker = await pg.query(`SELECT "workerId", count(*)::int AS n FROM task_attempts GROUP BY "workerId" ORDER BY 1`);
      // Every event of every run reached the subscriber on the other replica, once. (runEvents is a
      // live feed: events of one run committed by two replicas may arrive out of seq order;
      // runUpdated is the ordered, resumable stream.)
      const lastSeq = await pg.query(`SELECT id, "lastSeq" FROM runs`);
      let delivered = 0;
      for (const row of lastSeq.rows as { id: string; lastSeq: number }[]) {
        const seqs = [...(events.get(row.id) ?? [])].sort((x, y) => x - y);
        expect(seqs, `events of run ${row.id}`).toEqual(Array.from({ length: row.lastSeq }, (_, k) => k + 1));
        delivered += seqs.length;
      }
      console.log(
        `[cluster] ${RUNS} runs × 5 steps on 2 replicas + 4 workers: all SUCCEEDED in ${seconds.toFixed(1)} s ` +
          `(${((RUNS * 5) / seconds).toFixed(0)} tasks/s); ${delivered} events delivered across replicas; ` +
          `tasks per worker: ${JSON.stringify(Object.fromEntries(perWorker.rows.map((r: { workerId: string; n: number }) => [r.workerId, r.n])))}`,
      );
    } finally {
      await pg.end();
    }
  }, 360_000);
});
