import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ManualClock } from '../../src/domain/manual-clock';
import { startTestApp, type TestApp } from '../helpers/app';

/**
 * Concurrency follow-ups, on a manual clock (each start 1 ms after the one before, so arrival
 * order is the claim order QUEUE would follow): ROUND_ROBIN takes keys in turns at the claim,
 * a step's group rows leave with their tasks (and come back with retryRun), and a run that ends
 * admits its key's next run in its own transaction.
 */
const REGISTER = `mutation($input: WorkflowInput!) { registerWorkflow(input: $input) { version } }`;
const START = `mutation($wf: String!, $input: JSON) { startRun(workflow: $wf, input: $input) { id status } }`;
const RUN = `query($id: ID!) { run(id: $id) { id status tasks { key status } } }`;
const CLAIM = `mutation($queue: String!, $max: Int!) { claimTasks(queue: $queue, workerId: "w", max: $max, leaseMs: 3600000) { leaseToken task { id runId } } }`;
const COMPLETE = `mutation($id: ID!, $token: String!) { completeTask(taskId: $id, leaseToken: $token, output: {}) { status } }`;
const FAIL = `mutation($id: ID!, $token: String!) { failTask(taskId: $id, leaseToken: $token, error: "boom", retryable: false) { status } }`;
const RETRY = `mutation($id: ID!) { retryRun(id: $id) { status } }`;

interface Lease {
  leaseToken: string;
  task: { id: string; runId: string };
}

describe('concurrency: fairness, group rows, admission in the ending transaction', () => {
  let t: TestApp;
  const clock = new ManualClock(new Date());

  const register = (input: Record<string, unknown>) => t.ok(REGISTER, { input });
  const start = async (wf: string, k: string) => {
    await clock.advance(1);
    return (await t.ok<{ startRun: { id: string } }>(START, { wf, input: { k } })).startRun.id;
  };
  const claim = async (queue: string, max: number) => (await t.ok<{ claimTasks: Lease[] }>(CLAIM, { queue, max })).claimTasks;
  const complete = (l: Lease) => t.ok(COMPLETE, { id: l.task.id, token: l.leaseToken });
  const run = async (id: string) => (await t.ok<{ run: { status: string; tasks: { key: string; status: string }[] } }>(RUN, { id })).run;
  const rowsOf = async (table: string, where = 'TRUE', params: unknown[] = []) =>
    Number((await t.app.db.rows<{ n: string }>(`SELECT count(*)::text AS n FROM ${table} WHERE ${where}`, params))[0]!.n);

  /** 50 runs of key a, then 5 of key b; one worker drains the queue one claim of one task at a time: the keys in claim order. */
  const drainOrder = async (wf: string, queue: string): Promise<string[]> => {
    const keyOf = new Map<string, string>();
    for (let i = 0; i < 50; i++) keyOf.set(await start(wf, 'a'), 'a');
    for (let i = 0; i < 5; i++) keyOf.set(await start(wf, 'b'), 'b');
    const order: string[] = [];
    for (;;) {
      const [l] = await claim(queue, 1);
      if (!l) break;
      order.push(keyOf.get(l.task.runId)!);
      await complete(l);
    }
    expect(order).toHaveLength(55);
    return order;
  };
  /** Positions (1-based) of key b's five in the claim order. */
  const positionsOfB = (order: string[]) => order.flatMap((k, i) => (k === 'b' ? [i + 1] : []));

  beforeAll(async () => {
    t = await startTestApp({ clock });
  });
  afterAll(async () => {
    vi.restoreAllMocks();
    await t?.close();
  });

  it('QUEUE (the control): key b, which arrived last, waits behind all 50 of key a', async () => {
    await register({ name: 'q-runs', concurrency: { key: 'input.k', max: 100, strategy: 'QUEUE' }, steps: [{ key: 'work', type: 'job', queue: 'q-runs' }] });
    const b = positionsOfB(await drainOrder('q-runs', 'q-runs'));
    console.log(`[fairness] QUEUE runs: key b claimed at ${b.join(', ')} of 55`);
    expect(b).toEqual([51, 52, 53, 54, 55]);
  });

  it('ROUND_ROBIN runs: the keys take turns at the claim, so key b is not behind key a', async () => {
    await register({
      name: 'rr-runs',
      concurrency: { key: 'input.k', max: 100, strategy: 'ROUND_ROBIN' },
      steps: [{ key: 'work', type: 'job', queue: 'rr-runs' }],
    });
    const b = positionsOfB(await drainOrder('rr-runs', 'rr-runs'));
    console.log(`[fairness] ROUND_ROBIN runs: key b claimed at ${b.join(', ')} of 55`);
    // Turns: a1 b1 a2 b2 … (b's i-th run right after a's i-th).
    expect(b).toEqual([2, 4, 6, 8, 10]);
  });

  it('ROUND_ROBIN on a step: its tasks are claimed in turns across keys, within the max', async () => {
    await register({
      name: 'rr-step',
      steps: [{ key: 'work', type: 'job', queue: 'rr-step', concurrency: { key: 'input.k', max: 100, strategy: 'ROUND_ROBIN' } }],
    });
    const b = positionsOfB(await drainOrder('rr-step', 'rr-step'));
    console.log(`[fairness] ROUND_ROBIN step: key b claimed at ${b.join(', ')} of 55`);
    expect(b).toEqual([2, 4, 6, 8, 10]);
    // Turns stay within the max: a claim of 10 while 4 of key c and 4 of key d wait, max 2 a key, takes 2 of each.
    await register({
      name: 'rr-step2',
      steps: [{ key: 'work', type: 'job', queue: 'rr-step2', concurrency: { key: 'input.k', max: 2, strategy: 'ROUND_ROBIN' } }],
    });
    const keyOf = new Map<string, string>();
    for (const k of ['c', 'c', 'c', 'c', 'd', 'd', 'd', 'd']) keyOf.set(await start('rr-step2', k), k);
    const got = await claim('rr-step2', 10);
    expect(got.map((l) => keyOf.get(l.task.runId)).sort()).toEqual(['c', 'c', 'd', 'd']);
    for (const l of got) await complete(l);
  });

  it('a step group holds rows of unfinished tasks only; retryRun gates the task again', async () => {
    const wf = 'gated-rows';
    await register({ name: wf, steps: [{ key: 'work', type: 'job', queue: wf, concurrency: { key: 'input.k', max: 1 } }] });
    const groupRows = () => rowsOf('task_concurrency', `"groupKey" LIKE $1`, [`step:${wf}/%`]);
    const ids: string[] = [];
    for (let i = 0; i < 20; i++) ids.push(await start(wf, `k${i % 2}`));
    expect(await groupRows()).toBe(20);
    let done = 0;
    for (;;) {
      const got = await claim(wf, 100);
      if (got.length === 0) break;
      expect(got.length).toBeLessThanOrEqual(2);
      for (const l of got) await complete(l);
      done += got.length;
      expect(await groupRows()).toBe(20 - done);
    }
    console.log(`[fairness] ${done} gated runs done; task_concurrency rows left of them: ${await groupRows()}`);
    expect(done).toBe(20);
    expect(await groupRows()).toBe(0);

    // A failed task leaves; retryRun brings it back gated (max 1 holds against a newer run).
    const failed = await start(wf, 'r');
    const [l] = await claim(wf, 1);
    await t.ok(FAIL, { id: l!.task.id, token: l!.leaseToken });
    expect((await run(failed)).status).toBe('FAILED');
    expect(await groupRows()).toBe(0);
    const other = await start(wf, 'r');
    const [holder] = await claim(wf, 10);
    expect(holder!.task.runId).toBe(other);
    await t.ok(RETRY, { id: failed });
    expect(await groupRows()).toBe(2);
    expect(await claim(wf, 10)).toEqual([]);
    await complete(holder!);
    const [again] = await claim(wf, 10);
    expect(again!.task.runId).toBe(failed);
    await complete(again!);
    expect(await groupRows()).toBe(0);
  });

  it("a waiting run's timeoutMs counts from its start, waiting included", async () => {
    const wf = 'waits-count';
    const version = async (timeoutMs: number | null) =>
      register({ name: wf, ...(timeoutMs ? { timeoutMs } : {}), concurrency: { max: 1 }, steps: [{ key: 'work', type: 'job', queue: wf }] });
    // The holder's version has no timeout: it holds the slot as long as the test lets it.
    await version(null);
    const holder = await start(wf, 'x');
    const [h] = await claim(wf, 10);
    expect(h!.task.runId).toBe(holder);
    await version(10_000);
    const waiter = await start(wf, 'x');
    await clock.advance(5_000);
    const late = await start(wf, 'x');
    expect((await run(waiter)).status).toBe('PENDING');
    // 10 s after its start, never admitted: it times out while waiting; the holder keeps its slot.
    await clock.advance(5_001);
    await expect.poll(async () => (await run(waiter)).status, { timeout: 10_000 }).toBe('FAILED');
    expect(await claim(wf, 10)).toEqual([]);
    // `late` (started 5 s after `waiter`) is admitted when the holder ends, 9 s after its start: it has 1 s left to run, not 10.
    await clock.advance(3_997);
    await complete(h!);
    const [l] = await claim(wf, 10);
    expect(l!.task.runId).toBe(late);
    expect((await run(late)).status).toBe('RUNNING');
    await clock.advance(1_002);
    await expect.poll(async () => (await run(late)).status, { timeout: 10_000 }).toBe('FAILED');
    console.log('[fairness] timeoutMs 10 s: a run waiting 10 s timed out unadmitted; one admitted after 9 s timed out 1 s later');
  });

  it("a run that ends admits its key's next run in the same transaction (one BEGIN, not two)", async () => {
    const wf = 'inline';
    await register({ name: wf, concurrency: { key: 'input.k', max: 1 }, steps: [{ key: 'work', type: 'job', queue: wf }] });
    const first = await start(wf, 'x');
    const next = await start(wf, 'x');
    const [l] = await claim(wf, 10);
    expect(l!.task.runId).toBe(first);
    expect((await run(next)).tasks).toEqual([{ key: 'work', status: 'PENDING' }]);
    const query = vi.spyOn(pg.Client.prototype, 'query');
    await complete(l!);
    const begins = query.mock.calls.filter((c) =>
      /^\s*(BEGIN|START TRANSACTION)/i.test(typeof c[0] === 'string' ? c[0] : String((c[0] as { text?: string })?.text)),
    ).length;
    query.mockRestore();
    console.log(`[fairness] completing the holder took ${begins} transaction(s); the next run was admitted in it`);
    expect(begins).toBe(1);
    expect((await run(next)).tasks).toEqual([{ key: 'work', status: 'QUEUED' }]);
    const rows = await t.app.db.rows<{ admittedAt: Date | null }>(`SELECT "admittedAt" FROM run_concurrency WHERE "runId" = $1`, [next]);
    expect(rows[0]?.admittedAt).not.toBeNull();
    const [n] = await claim(wf, 10);
    expect(n!.task.runId).toBe(next);
    await complete(n!);
  });

  // Holding the group row from a second session needs real Postgres (embedded PGlite serves one session).
  it.skipIf(!process.env['DATABASE_URL'])('a group another transaction holds is admitted after the commit instead (the safety net)', async () => {
    const wf = 'inline-held';
    await register({ name: wf, concurrency: { key: 'input.k', max: 1 }, steps: [{ key: 'work', type: 'job', queue: wf }] });
    const first = await start(wf, 'x');
    const next = await start(wf, 'x');
    const [l] = await claim(wf, 10);
    expect(l!.task.runId).toBe(first);
    const other = new pg.Client({ connectionString: t.env.DATABASE_URL });
    other.on('error', () => undefined);
    await other.connect();
    try {
      await other.query('BEGIN');
      const held = await other.query(`SELECT 1 FROM concurrency_groups WHERE "groupKey" = $1 FOR UPDATE`, [`${wf}/x`]);
      expect(held.rowCount).toBe(1);
      expect((await run(next)).tasks).toEqual([{ key: 'work', status: 'PENDING' }]);
      // The ending transaction skips the held group and commits; the admission after it waits for the lock.
      const completing = complete(l!);
      await expect.poll(async () => (await run(first)).status, { timeout: 10_000 }).toBe('SUCCEEDED');
      expect((await run(next)).tasks).toEqual([{ key: 'work', status: 'PENDING' }]);
      await other.query('ROLLBACK');
      await completing;
      await expect.poll(async () => (await run(next)).tasks, { timeout: 10_000 }).toEqual([{ key: 'work', status: 'QUEUED' }]);
    } finally {
      await other.end();
    }
    const [n] = await claim(wf, 10);
    expect(n!.task.runId).toBe(next);
    await complete(n!);
  });
});
