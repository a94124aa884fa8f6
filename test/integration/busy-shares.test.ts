/**
 * Each tenant's share of a busy replica (TENANT_REQUESTS_WHEN_BUSY, issue 11: noisy neighbours):
 * while the replica is busy and more than one tenant sends, a tenant's requests beyond its share
 * wait for its own earlier ones, over HTTP and graphql-ws, and another tenant's are served
 * meanwhile; a claimTasks long poll gives its turn back while it waits. BUSY_EVENT_LOOP_PERCENT=0
 * makes the replica count as busy whatever its load, so the test does not depend on the machine.
 *
 * A request is made slow by a lock a test connection holds on the workflows table: the tenant's
 * `workflows` query holds its turn until the lock goes. Real Postgres only (the lock is taken
 * from another connection).
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type GqlResult, type TestApp } from '../helpers/app';
import { REAL_POSTGRES } from '../helpers/db';

const SLOW = 'query { workflows { totalCount } }';
const QUICK = 'query { runs(first: 1) { totalCount } }';

describe.runIf(REAL_POSTGRES)("a tenant's share of a busy replica", () => {
  let t: TestApp;
  let noisy: string;
  let quiet: string;
  beforeAll(async () => {
    t = await startTestApp({ env: { TENANT_REQUESTS_WHEN_BUSY: '1', BUSY_EVENT_LOOP_PERCENT: '0' } });
    noisy = (await t.app.services.auth.createKey('tenant-noisy')).key;
    quiet = (await t.app.services.auth.createKey('tenant-quiet')).key;
    // Both tenants are sending.
    await t.ok(QUICK, {}, quiet);
    await t.ok(QUICK, {}, noisy);
  });
  afterAll(async () => {
    await t?.close();
  });

  /** Holds an exclusive lock on the workflows table until the returned release is called. */
  async function lockWorkflows(): Promise<() => Promise<void>> {
    const client = new pg.Client({ connectionString: t.env.DATABASE_URL });
    await client.connect();
    await client.query('BEGIN');
    await client.query('LOCK TABLE workflows IN ACCESS EXCLUSIVE MODE');
    return async () => {
      await client.query('COMMIT');
      await client.end();
    };
  }

  /** The quiet tenant keeps sending, so the limit holds throughout (a tenant quiet for a second no longer counts); returns the stop. */
  function keepQuietSending(): () => Promise<void> {
    let sending = true;
    const loop = (async () => {
      while (sending) {
        await t.ok(QUICK, {}, quiet);
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    return async () => {
      sending = false;
      await loop;
    };
  }

  /** A pending result and whether it has arrived. */
  function track<T>(p: Promise<T>): { result: Promise<T>; done: () => boolean } {
    let done = false;
    const result = p.finally(() => (done = true));
    return { result, done: () => done };
  }

  function overWs(key: string, query: string): Promise<GqlResult> {
    const client = t.ws(key);
    return new Promise((resolve) => {
      let result: GqlResult = {};
      client.subscribe(
        { query },
        {
          next: (r) => (result = r as GqlResult),
          error: (e: unknown) => resolve({ errors: (Array.isArray(e) ? e : [e]) as GqlResult['errors'] }),
          complete: () => resolve(result),
        },
      );
    });
  }

  it("a tenant's request past its share waits for its own (HTTP and graphql-ws); another tenant's is served meanwhile", async () => {
    const stopQuiet = keepQuietSending();
    const unlock = await lockWorkflows();
    try {
      const slow = track(t.gql(SLOW, {}, noisy));
      // The slow request holds the noisy tenant's turn (it waits on the lock, inside Postgres).
      await waitFor(async () => (await lockWaiters(t)) >= 1);
      const overHttp = track(t.gql(QUICK, {}, noisy));
      const overSocket = track(overWs(noisy, QUICK));
      // Sent after the noisy tenant's, answered before them: the quiet tenant never waits.
      const startedAt = performance.now();
      expect((await t.gql(QUICK, {}, quiet)).errors).toBeUndefined();
      expect((await overWs(quiet, QUICK)).errors).toBeUndefined();
      console.log(`[busy-shares] the quiet tenant's two requests: ${Math.round(performance.now() - startedAt)} ms while the noisy tenant's waited`);
      expect([slow.done(), overHttp.done(), overSocket.done()]).toEqual([false, false, false]);
      // SREs see them waiting: the replica's gauge counts the two.
      await waitFor(async () => (await waitingGauge(t)) === 2);
    } finally {
      await unlock();
      await stopQuiet();
    }
    // The lock gone, the slow request ends and the waiting ones go in turn.
    expect((await t.gql(QUICK, {}, noisy)).errors).toBeUndefined();
    await waitFor(async () => (await waitingGauge(t)) === 0);
  });

  it('a long poll gives its turn back while it waits', async () => {
    const stopQuiet = keepQuietSending();
    const poll = track(t.gql('mutation { claimTasks(queue: "nothing-here", workerId: "w", waitMs: 20000) { taskId } }', {}, noisy));
    // The long poll holds its request and waits (it has given its turn back, or the test fails below).
    await waitFor(async () => t.app.services.tasks.longPollsHeld('tenant-noisy') === 1);
    const startedAt = performance.now();
    const quick = await t.gql(QUICK, {}, noisy);
    const ms = performance.now() - startedAt;
    await stopQuiet();
    console.log(`[busy-shares] a request beside the tenant's long poll: ${Math.round(ms)} ms`);
    expect(quick.errors).toBeUndefined();
    expect(poll.done()).toBe(false);
    expect(ms).toBeLessThan(10_000);
  });
});

/** maestro_requests_waiting_busy as the replica's /metrics says it. */
async function waitingGauge(t: TestApp): Promise<number> {
  const text = await (await fetch(t.app.metricsUrl)).text();
  const line = text.split('\n').find((l) => l.startsWith('maestro_requests_waiting_busy '));
  return Number(line?.split(' ')[1]);
}

/** Sessions of the test database waiting for a lock. */
async function lockWaiters(t: TestApp): Promise<number> {
  const client = new pg.Client({ connectionString: t.env.DATABASE_URL });
  await client.connect();
  try {
    const { rows } = await client.query<{ n: string }>(
      "SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'",
    );
    return Number(rows[0]!.n);
  } finally {
    await client.end();
  }
}

async function waitFor(check: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
