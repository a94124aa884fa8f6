import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app';
import { gate } from '../helpers/gates';
import { REAL_POSTGRES } from '../helpers/db';
import { startPrivatePostgres, type PrivatePostgres } from '../helpers/private-services';

/**
 * Requests that meet an unavailable database answer the typed, retryable UNAVAILABLE (HTTP 503,
 * `Retry-After`, `retryAfterMs`), never INTERNAL_SERVER_ERROR, and never hang: the mapping is
 * one place (src/store/unavailable.ts, applied by the store and the GraphQL error mapping).
 */

interface Answer {
  status: number;
  retryAfter: string | null;
  ms: number;
  body: { data?: Record<string, unknown> | null; errors?: { message: string; extensions?: Record<string, unknown> }[] };
}

async function post(t: TestApp, query: string, variables: Record<string, unknown> = {}, authorization?: string): Promise<Answer> {
  const started = performance.now();
  const res = await fetch(t.app.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(authorization ? { authorization } : {}) },
    body: JSON.stringify({ query, variables }),
    signal: AbortSignal.timeout(20_000),
  });
  return {
    status: res.status,
    retryAfter: res.headers.get('retry-after'),
    ms: Math.round(performance.now() - started),
    body: (await res.json()) as Answer['body'],
  };
}

function expectUnavailable(a: Answer, what: string): void {
  const codes = (a.body.errors ?? []).map((e) => e.extensions?.['code']);
  expect({ what, status: a.status, codes, retryAfter: a.retryAfter }).toEqual({ what, status: 503, codes: codes.map(() => 'UNAVAILABLE'), retryAfter: '1' });
  expect(codes.length, what).toBeGreaterThan(0);
  expect(a.body.errors![0]!.extensions).toMatchObject({ retryAfterMs: 1_000 });
  expect(a.body.errors![0]!.message).toMatch(/unavailable/);
}

const REGISTER = `mutation($input: WorkflowInput!) { registerWorkflow(input: $input) { version } }`;
const START = `mutation($wf: String!) { startRun(workflow: $wf) { id } }`;
const CLAIM = `mutation($q: String!) { claimTasks(queue: $q, workerId: "w", max: 5, leaseMs: 60000) { leaseToken task { id } } }`;

describe('a pool with no free connection within DATABASE_CONNECT_TIMEOUT_MS', () => {
  let t: TestApp;
  beforeAll(async () => {
    // One connection, 300 ms to get it.
    t = await startTestApp({ env: { DATABASE_POOL_SIZE: '1', DATABASE_CONNECT_TIMEOUT_MS: '300' } });
    await t.ok(REGISTER, { input: { name: 'pool', steps: [{ key: 'a', type: 'job', queue: 'pool-q' }] } });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('answers UNAVAILABLE (503, Retry-After) after the timeout instead of queueing the request', async () => {
    // Hold the only connection (an open transaction) until both requests have answered.
    const release = gate();
    const holding = t.app.db.transaction(async (sql) => {
      await sql.rows('SELECT 1');
      await release.promise;
    });
    await new Promise((r) => setTimeout(r, 100));
    const read = await post(t, `{ runs(first: 1) { totalCount } }`);
    const write = await post(t, START, { wf: 'pool' });
    release.open();
    await holding;
    console.log(
      `[unavailable] pool of 1 held: a query answered ${read.status} after ${read.ms} ms, startRun ${write.status} after ${write.ms} ms (DATABASE_CONNECT_TIMEOUT_MS=300)`,
    );
    expectUnavailable(read, 'runs');
    expectUnavailable(write, 'startRun');
    expect(read.body.errors![0]!.extensions?.['reason']).toBe('POOL_TIMEOUT');
    // Bounded by the connect timeout (generous margin), not by how long the connection is held.
    expect(read.ms).toBeLessThan(2_500);
    // And the pool serves again once the connection is free.
    expect((await post(t, `{ runs(first: 1) { totalCount } }`)).status).toBe(200);
  });
});

describe.runIf(REAL_POSTGRES)('every request against a stopped Postgres (real-services mode: needs DATABASE_URL)', () => {
  let pg: PrivatePostgres | undefined;
  let t: TestApp | undefined;
  beforeAll(async () => {
    pg = await startPrivatePostgres();
    t = await startTestApp({ databaseUrl: pg.url });
  });
  afterAll(async () => {
    try {
      await pg?.start().catch(() => undefined);
      await t?.close();
    } finally {
      await pg?.close();
    }
  });

  it('reads, writes, the worker protocol and authentication answer UNAVAILABLE; lease renewals still work; all recover', async () => {
    const app = t!;
    await app.ok(REGISTER, { input: { name: 'down', steps: [{ key: 'a', type: 'job', queue: 'down-q' }] } });
    const runIds: string[] = [];
    for (let i = 0; i < 3; i++) runIds.push((await app.ok(START, { wf: 'down' })).startRun.id);
    const leases = (await app.ok(CLAIM, { q: 'down-q' })).claimTasks as { leaseToken: string; task: { id: string } }[];
    expect(leases).toHaveLength(3);
    const [one, two, three] = leases as [(typeof leases)[0], (typeof leases)[0], (typeof leases)[0]];

    await pg!.stopImmediate();
    const answers: [string, Answer][] = [
      ['query runs', await post(app, `{ runs(first: 5) { totalCount nodes { id } } }`)],
      ['query run', await post(app, `query($id: ID!) { run(id: $id) { id status } }`, { id: runIds[0] })],
      ['startRun', await post(app, START, { wf: 'down' })],
      ['claimTasks', await post(app, CLAIM, { q: 'down-q' })],
      [
        'completeTask',
        await post(app, `mutation($id: ID!, $t: String!) { completeTask(taskId: $id, leaseToken: $t, output: {}) { id } }`, {
          id: one.task.id,
          t: one.leaseToken,
        }),
      ],
      [
        'completeTasks',
        await post(app, `mutation($r: [TaskCompletionInput!]!) { completeTasks(results: $r) { taskId error { code } } }`, {
          r: [{ taskId: two.task.id, leaseToken: two.leaseToken, output: {} }],
        }),
      ],
      [
        'failTask',
        await post(app, `mutation($id: ID!, $t: String!) { failTask(taskId: $id, leaseToken: $t, error: "boom") { id } }`, {
          id: three.task.id,
          t: three.leaseToken,
        }),
      ],
      ['an unknown API key', await post(app, `{ runs(first: 1) { totalCount } }`, {}, 'Bearer mk_not_cached')],
    ];
    // Renewals touch only the lease store: a worker keeps its lease through the outage.
    const renewed = await post(app, `mutation($id: ID!, $t: String!) { renewLease(taskId: $id, leaseToken: $t) { leaseExpiresAt } }`, {
      id: one.task.id,
      t: one.leaseToken,
    });
    await pg!.start();

    console.log(
      `[unavailable] Postgres stopped: ${answers.map(([what, a]) => `${what} → ${a.status} ${a.body.errors?.[0]?.extensions?.['code']} in ${a.ms} ms`).join('; ')}; renewLease → ${renewed.status}`,
    );
    for (const [what, a] of answers) expectUnavailable(a, what);
    for (const [what, a] of answers) expect(a.ms, what).toBeLessThan(10_000);
    expect(renewed.status).toBe(200);
    expect(renewed.body.errors).toBeUndefined();

    // Back: the same requests work, on the same conductor, and the held leases report.
    expect((await app.ok(`{ runs(first: 5) { totalCount } }`)).runs.totalCount).toBe(3);
    await app.ok(`mutation($id: ID!, $t: String!) { completeTask(taskId: $id, leaseToken: $t, output: {}) { id } }`, { id: one.task.id, t: one.leaseToken });
    await app.ok(START, { wf: 'down' });
  });
});
