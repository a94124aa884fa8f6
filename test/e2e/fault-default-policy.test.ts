import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Client } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, REAL_POSTGRES, REAL_REDIS, type TestDatabase } from '../helpers/db';
import { freePort } from '../helpers/net';
import { startConductorProcess, startWorkerProcess, waitFor, type Proc } from '../helpers/processes';
import { deleteRedisPrefix } from '../helpers/redis';

/**
 * The conductor's own faults never fail a user's run. With the DEFAULT retry policy (no `retry`
 * on any step): a remote worker killed with SIGKILL mid-task, a conductor killed with SIGKILL
 * mid-`http`-step, and a worker frozen (SIGSTOP) past its lease while its long poll is open.
 * Every run SUCCEEDED, each step's result recorded once (one SUCCEEDED attempt per task).
 *
 * Two conductor processes share one Postgres database and one Redis prefix; leases of 2 s, a
 * reaper every 200 ms. Real-services mode only: two processes need a shared database and Redis.
 */

const LEASE_TTL_MS = 2_000;
const REAPER_INTERVAL_MS = 200;
const FINAL = new Set(['SUCCEEDED', 'FAILED', 'CANCELLED']);

describe.runIf(REAL_POSTGRES && REAL_REDIS)('faults of the system with the default retry policy (real-services mode: needs DATABASE_URL and REDIS_URL)', () => {
  let db: TestDatabase;
  let pg: Client;
  let prefix: string;
  const conductors: { proc: Proc; url: string; pid: number }[] = [];
  const procs: Proc[] = [];

  beforeAll(async () => {
    db = await createTestDatabase();
    prefix = `faults-${randomBytes(4).toString('hex')}:`;
    for (let i = 0; i < 2; i++) {
      const port = await freePort();
      const proc = startConductorProcess({
        PORT: String(port),
        METRICS_PORT: String(await freePort()),
        HOST: '127.0.0.1',
        DATABASE_URL: db.url,
        REDIS_URL: process.env['REDIS_URL'],
        REDIS_KEY_PREFIX: prefix,
        LOG_LEVEL: 'warn',
        DATABASE_POOL_SIZE: '5',
        LEASE_TTL_MS: String(LEASE_TTL_MS),
        REAPER_INTERVAL_MS: String(REAPER_INTERVAL_MS),
        SCHEDULER_POLL_INTERVAL_MS: '200',
      });
      procs.push(proc);
      const url = `http://127.0.0.1:${port}/graphql`;
      // One at a time: the second finds the schema migrated by the first.
      await waitFor(async () => (await fetch(url.replace('/graphql', '/readyz')).catch(() => null))?.status === 200, `conductor ${i} to be ready`, 60_000);
      conductors.push({ proc, url, pid: proc.child.pid! });
    }
    pg = new Client({ connectionString: db.url });
    await pg.connect();
  }, 120_000);

  afterAll(async () => {
    await Promise.all(procs.map((p) => p.kill()));
    await pg?.end();
    await db?.drop();
    if (prefix) await deleteRedisPrefix(process.env['REDIS_URL']!, prefix);
  });

  const gql = async (url: string, query: string, variables?: Record<string, unknown>) => {
    const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query, variables }) });
    const body = (await res.json()) as { data?: any; errors?: unknown[] };
    if (body.errors) throw new Error(JSON.stringify(body.errors));
    return body.data;
  };
  const register = (url: string, name: string, step: Record<string, unknown>) =>
    gql(url, `mutation($i: WorkflowInput!) { registerWorkflow(input: $i) { version } }`, { i: { name, steps: [{ key: 'work', ...step }] } });
  const start = async (url: string, workflow: string, inputs: Record<string, unknown>[]) => {
    const ids: string[] = [];
    for (const input of inputs) {
      ids.push((await gql(url, `mutation($w: String!, $input: JSON) { startRun(workflow: $w, input: $input) { id } }`, { w: workflow, input })).startRun.id);
    }
    return ids;
  };
  /** Runs by status, and per task its attempts' outcomes, straight from Postgres. */
  const outcome = async (ids: string[]) => {
    const runs = (await pg.query(`SELECT id, status, error FROM runs WHERE id = ANY($1::uuid[])`, [ids])).rows as {
      id: string;
      status: string;
      error: string | null;
    }[];
    const attempts = (
      await pg.query(
        `SELECT t.id, t.status, array_agg(coalesce(a.outcome, 'RUNNING') ORDER BY a.attempt) AS outcomes, array_agg(a."workerId" ORDER BY a.attempt) AS workers
         FROM tasks t LEFT JOIN task_attempts a ON a."taskId" = t.id WHERE t."runId" = ANY($1::uuid[]) GROUP BY t.id`,
        [ids],
      )
    ).rows as { id: string; status: string; outcomes: string[]; workers: string[] }[];
    return { runs, attempts };
  };
  const settled = (ids: string[], what: string, timeoutMs = 40_000) =>
    waitFor(
      async () => {
        const o = await outcome(ids);
        return o.runs.length === ids.length && o.runs.every((r) => FINAL.has(r.status)) ? o : null;
      },
      what,
      timeoutMs,
    );
  const summary = (o: Awaited<ReturnType<typeof outcome>>) => {
    const counts = new Map<string, number>();
    for (const a of o.attempts) counts.set(a.outcomes.join('→'), (counts.get(a.outcomes.join('→')) ?? 0) + 1);
    return [...counts].map(([k, n]) => `${n} × ${k}`).join(', ');
  };
  const expectRecordedOnce = (o: Awaited<ReturnType<typeof outcome>>) => {
    expect(o.runs.filter((r) => r.status !== 'SUCCEEDED').map((r) => [r.status, r.error])).toEqual([]);
    for (const a of o.attempts) {
      expect(a.status).toBe('SUCCEEDED');
      expect(
        a.outcomes.filter((x) => x === 'SUCCEEDED'),
        `task ${a.id}: ${a.outcomes.join(', ')}`,
      ).toHaveLength(1);
    }
  };

  it('a remote worker killed with SIGKILL mid-task: every run SUCCEEDED, each result recorded once', async () => {
    const [a, b] = conductors as [(typeof conductors)[0], (typeof conductors)[0]];
    const N = 10;
    await register(a.url, 'kill-worker', { type: 'echo', queue: 'kill-worker', input: '{{ input }}' });
    const ids = await start(
      a.url,
      'kill-worker',
      Array.from({ length: N }, (_, n) => ({ n, sleepMs: 120_000, sleepAttempts: 1 })),
    );
    const doomed = startWorkerProcess({ url: a.url, id: 'doomed', queue: 'kill-worker', concurrency: N, leaseMs: LEASE_TTL_MS });
    procs.push(doomed);
    await waitFor(() => doomed.lines().filter((l) => l.msg === 'task started').length === N, `the doomed worker to start ${N} tasks`);
    await doomed.kill();
    const killedAt = Date.now();
    const rescuer = startWorkerProcess({ url: b.url, id: 'rescuer', queue: 'kill-worker', concurrency: N, leaseMs: LEASE_TTL_MS });
    procs.push(rescuer);
    const o = await settled(ids, 'the runs of the killed worker to finish');
    console.log(
      `[faults] worker kill -9 holding ${N} tasks: runs ${o.runs.map((r) => r.status).join(',')} ${Date.now() - killedAt} ms after the kill; attempts: ${summary(o)}`,
    );
    expectRecordedOnce(o);
    await rescuer.kill();
  }, 60_000);

  it('a conductor killed with SIGKILL mid-http-step: every run SUCCEEDED on the other, each result recorded once', async () => {
    const [a, b] = conductors as [(typeof conductors)[0], (typeof conductors)[0]];
    // A loopback endpoint that holds each path's first request for 4 s and answers later ones at once.
    const seen = new Map<string, number>();
    let held = 0;
    const server: Server = createServer((req, res) => {
      const n = (seen.get(req.url!) ?? 0) + 1;
      seen.set(req.url!, n);
      const answer = () => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ path: req.url, n }));
      if (n === 1) {
        held++;
        setTimeout(answer, 4_000);
      } else answer();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    try {
      const N = 6;
      await register(b.url, 'kill-conductor', { type: 'http', input: { url: `http://127.0.0.1:${port}/item/{{ input.n }}` } });
      const ids = await start(
        b.url,
        'kill-conductor',
        Array.from({ length: N }, (_, n) => ({ n })),
      );
      await waitFor(() => held === N, `${N} http requests to arrive`);
      const holders = (
        await pg.query(`SELECT "workerId", count(*)::int AS n FROM tasks WHERE "runId" = ANY($1::uuid[]) AND status = 'RUNNING' GROUP BY 1`, [ids])
      ).rows as {
        workerId: string;
        n: number;
      }[];
      // Kill a conductor holding some of them (the one with the most).
      const victimId = holders.sort((x, y) => y.n - x.n)[0]!.workerId;
      const victim = conductors.find((c) => victimId.endsWith(`:${c.pid}`))!;
      expect(victim, `holder ${victimId} is one of our conductors`).toBeDefined();
      await victim.proc.kill();
      const killedAt = Date.now();
      const survivor = victim === a ? b : a;
      const o = await settled(ids, 'the http runs to finish on the surviving conductor');
      const repeated = [...seen.values()].filter((n) => n > 1).length;
      console.log(
        `[faults] conductor kill -9 holding ${holders.find((h) => h.workerId === victimId)!.n} of ${N} http steps: runs ${o.runs.map((r) => r.status).join(',')} ` +
          `${Date.now() - killedAt} ms after the kill; ${repeated} requests repeated by the survivor (at-least-once); attempts: ${summary(o)}`,
      );
      expectRecordedOnce(o);
      // The survivor still serves.
      expect((await gql(survivor.url, `{ runs(first: 1) { totalCount } }`)).runs.totalCount).toBeGreaterThan(0);
    } finally {
      await new Promise((r) => server.close(r));
    }
  }, 60_000);

  it('a worker frozen past its lease with an open long poll: every run SUCCEEDED, each result recorded once', async () => {
    const live = conductors.find((c) => c.proc.child.exitCode === null && c.proc.child.signalCode === null)!;
    const N = 4;
    await register(live.url, 'frozen', { type: 'echo', queue: 'frozen', input: '{{ input }}' });
    // One free slot: the frozen worker's long poll stays open while it is frozen.
    const frozen = startWorkerProcess({ url: live.url, id: 'frozen', queue: 'frozen', concurrency: N + 1, leaseMs: LEASE_TTL_MS });
    procs.push(frozen);
    await waitFor(() => frozen.lines().some((l) => l.msg === 'worker started'), 'the frozen worker to start');
    const ids = await start(
      live.url,
      'frozen',
      Array.from({ length: N }, (_, n) => ({ n, sleepMs: 60_000, sleepAttempts: 1 })),
    );
    await waitFor(() => frozen.lines().filter((l) => l.msg === 'task started').length === N, `the frozen worker to start ${N} tasks`);
    // Its claim loop is back in a long poll for the free slot.
    await new Promise((r) => setTimeout(r, 300));
    frozen.signal('SIGSTOP');
    const stoppedAt = Date.now();
    const other = startWorkerProcess({ url: live.url, id: 'live', queue: 'frozen', concurrency: N, leaseMs: LEASE_TTL_MS });
    procs.push(other);
    let o: Awaited<ReturnType<typeof outcome>>;
    try {
      o = await settled(ids, 'the frozen worker’s runs to finish', 40_000);
    } finally {
      frozen.signal('SIGCONT');
    }
    console.log(
      `[faults] worker frozen (SIGSTOP) with ${N} tasks and an open long poll: runs ${o.runs.map((r) => r.status).join(',')} ${Date.now() - stoppedAt} ms after the freeze; attempts: ${summary(o)}`,
    );
    expectRecordedOnce(o);
    await Promise.all([frozen.kill(), other.kill()]);
  }, 60_000);
});
