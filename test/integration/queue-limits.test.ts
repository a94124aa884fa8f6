import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/domain/manual-clock';
import { startTestApp, type TestApp } from '../helpers/app';
import { REAL_POSTGRES, REAL_REDIS } from '../helpers/db';

/**
 * setQueueLimit held by claimTasks: two workers (and, on real Postgres and Redis, two replicas)
 * claiming as fast as they can never run more than the limit at once. Measured twice: by the
 * workers themselves (held between a claim's answer and the completion's request: never more
 * than Postgres counts) and by sampling Postgres's RUNNING tasks of the queue.
 */
const REGISTER = `mutation($input: WorkflowInput!) { registerWorkflow(input: $input) { version } }`;
const START = `mutation($wf: String!) { startRun(workflow: $wf) { id } }`;
const CLAIM = `mutation($queue: String!, $w: String!) { claimTasks(queue: $queue, workerId: $w, max: 5, leaseMs: 3600000) { leaseToken task { id } } }`;
const COMPLETE = `mutation($id: ID!, $token: String!) { completeTask(taskId: $id, leaseToken: $token, output: {}) { status } }`;
const SET = `mutation($queue: String!, $max: Int!) { setQueueLimit(queue: $queue, maxInFlight: $max) { queue maxInFlight inFlight } }`;
const LIMIT = 3;
const RUNS = 60;

const url0 = (replicas: TestApp[]): boolean => Boolean(replicas[0]?.env.DATABASE_URL);

async function load(replicas: TestApp[], wf: string, queue: string, workersPerReplica: number): Promise<{ workerMax: number; dbMax: number; done: number }> {
  const [first] = replicas;
  for (let i = 0; i < RUNS; i++) await replicas[i % replicas.length]!.ok(START, { wf });
  let held = 0;
  let workerMax = 0;
  let done = 0;
  let dbMax = url0(replicas) ? 0 : -1; // -1: not sampled (embedded)
  let stop = false;
  const url = first!.env.DATABASE_URL;
  // Sampling Postgres: a second connection (embedded PGlite serves one session; there the workers' own count stands alone).
  const sampler = (async () => {
    if (!url) return;
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      while (!stop) {
        const { rows } = await client.query<{ n: number }>(`SELECT count(*)::int AS n FROM tasks WHERE queue = $1 AND status = 'RUNNING'`, [queue]);
        dbMax = Math.max(dbMax, rows[0]!.n);
      }
    } finally {
      await client.end();
    }
  })();
  const worker = async (t: TestApp, id: string) => {
    while (done < RUNS) {
      const leases = (await t.ok<{ claimTasks: { leaseToken: string; task: { id: string } }[] }>(CLAIM, { queue, w: id })).claimTasks;
      held += leases.length;
      workerMax = Math.max(workerMax, held);
      for (const l of leases) {
        // Given up before the completion is sent: the slot frees at its commit, never before this.
        held--;
        await t.ok(COMPLETE, { id: l.task.id, token: l.leaseToken });
        done++;
      }
      if (leases.length === 0) await new Promise((r) => setImmediate(r));
    }
  };
  await Promise.all(replicas.flatMap((t, r) => Array.from({ length: workersPerReplica }, (_, w) => worker(t, `r${r}-w${w}`))));
  stop = true;
  await sampler;
  return { workerMax, dbMax, done };
}

describe('queue limits', () => {
  let t: TestApp;
  const clock = new ManualClock(new Date());
  beforeAll(async () => {
    t = await startTestApp({ clock });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('are set, read and cleared; bad arguments are BAD_USER_INPUT naming the field', async () => {
    expect((await t.ok(SET, { queue: 'lim-a', max: 2 })).setQueueLimit).toEqual({ queue: 'lim-a', maxInFlight: 2, inFlight: 0 });
    expect((await t.ok(SET, { queue: 'lim-a', max: 4 })).setQueueLimit.maxInFlight).toBe(4);
    expect((await t.ok(`{ queueLimits { queue maxInFlight } }`)).queueLimits).toEqual([{ queue: 'lim-a', maxInFlight: 4 }]);
    expect((await t.gql(SET, { queue: 'lim-a', max: 0 })).errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'maxInFlight' });
    expect((await t.gql(SET, { queue: 'bad queue', max: 1 })).errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'queue' });
    expect((await t.ok(`mutation { clearQueueLimit(queue: "lim-a") }`)).clearQueueLimit).toBe(true);
    expect((await t.ok(`mutation { clearQueueLimit(queue: "lim-a") }`)).clearQueueLimit).toBe(false);
    expect((await t.ok(`{ queueLimits { queue } }`)).queueLimits).toEqual([]);
  });

  it('a holder whose attempt times out frees its slot', async () => {
    await t.ok(REGISTER, {
      input: { name: 'crashy', steps: [{ key: 'work', type: 'job', queue: 'lim-crash', timeoutMs: 10_000, retry: { initialDelayMs: 0 } }] },
    });
    await t.ok(SET, { queue: 'lim-crash', max: 1 });
    await t.ok(START, { wf: 'crashy' });
    await t.ok(START, { wf: 'crashy' });
    const claim = async () => (await t.ok(CLAIM, { queue: 'lim-crash', w: 'w' })).claimTasks as unknown[];
    expect(await claim()).toHaveLength(1);
    expect(await claim()).toHaveLength(0);
    // The holder never reports: its attempt times out, the task is queued again, the slot is free.
    await clock.advance(11_000);
    await expect.poll(async () => (await t.ok(`{ queueLimits { inFlight } }`)).queueLimits[0].inFlight, { timeout: 10_000 }).toBe(0);
    expect(await claim()).toHaveLength(1);
  });

  it('two workers under load never run more than the limit', async () => {
    await t.ok(REGISTER, { input: { name: 'limited', steps: [{ key: 'work', type: 'job', queue: 'lim-load' }] } });
    await t.ok(SET, { queue: 'lim-load', max: LIMIT });
    const r = await load([t], 'limited', 'lim-load', 2);
    console.log(`[queue-limits] one replica, 2 workers: limit ${LIMIT}, max held by workers ${r.workerMax}, max RUNNING sampled ${r.dbMax}, ${r.done} tasks`);
    expect(r.done).toBe(RUNS);
    expect(r.workerMax).toBeLessThanOrEqual(LIMIT);
    expect(r.dbMax).toBeLessThanOrEqual(LIMIT);
    expect(Math.max(r.workerMax, r.dbMax)).toBe(LIMIT);
  });
  it("two workers under load never run more of a step's tasks than its concurrency max", async () => {
    await t.ok(REGISTER, { input: { name: 'gated', steps: [{ key: 'work', type: 'job', queue: 'gate-load', concurrency: { max: LIMIT } }] } });
    const r = await load([t], 'gated', 'gate-load', 2);
    console.log(`[queue-limits] step concurrency, one replica, 2 workers: max ${LIMIT}, max held by workers ${r.workerMax}, max RUNNING sampled ${r.dbMax}`);
    expect(r.done).toBe(RUNS);
    expect(r.workerMax).toBeLessThanOrEqual(LIMIT);
    expect(r.dbMax).toBeLessThanOrEqual(LIMIT);
    expect(Math.max(r.workerMax, r.dbMax)).toBe(LIMIT);
  });
});

describe.runIf(REAL_POSTGRES && REAL_REDIS)('queue limits across two replicas', () => {
  let a: TestApp;
  let b: TestApp;
  beforeAll(async () => {
    a = await startTestApp();
    b = await startTestApp({ replicaOf: a });
  });
  afterAll(async () => {
    await b?.close();
    await a?.close();
  });

  it('four workers on two replicas never run more than the limit', async () => {
    await a.ok(REGISTER, { input: { name: 'limited2', steps: [{ key: 'work', type: 'job', queue: 'lim-two' }] } });
    await b.ok(SET, { queue: 'lim-two', max: LIMIT });
    const r = await load([a, b], 'limited2', 'lim-two', 2);
    console.log(`[queue-limits] two replicas, 4 workers: limit ${LIMIT}, max held by workers ${r.workerMax}, max RUNNING sampled ${r.dbMax}, ${r.done} tasks`);
    expect(r.done).toBe(RUNS);
    expect(r.workerMax).toBeLessThanOrEqual(LIMIT);
    expect(r.dbMax).toBeLessThanOrEqual(LIMIT);
    expect(Math.max(r.workerMax, r.dbMax)).toBe(LIMIT);
  });

  it("four workers on two replicas never run more of a step's tasks than its concurrency max", async () => {
    await a.ok(REGISTER, { input: { name: 'gated2', steps: [{ key: 'work', type: 'job', queue: 'gate-two', concurrency: { max: LIMIT } }] } });
    const r = await load([a, b], 'gated2', 'gate-two', 2);
    console.log(`[queue-limits] step concurrency, two replicas, 4 workers: max ${LIMIT}, max held by workers ${r.workerMax}, max RUNNING sampled ${r.dbMax}`);
    expect(r.done).toBe(RUNS);
    expect(r.workerMax).toBeLessThanOrEqual(LIMIT);
    expect(r.dbMax).toBeLessThanOrEqual(LIMIT);
    expect(Math.max(r.workerMax, r.dbMax)).toBe(LIMIT);
  });

  it('runs started on two replicas at once never exceed a concurrency key max (racing admissions)', async () => {
    const MAX = 2;
    await a.ok(REGISTER, {
      input: { name: 'keyed2', concurrency: { key: 'input.k', max: MAX }, steps: [{ key: 'work', type: 'job', queue: 'keyed-two' }] },
    });
    const client = new pg.Client({ connectionString: a.env.DATABASE_URL });
    await client.connect();
    let sampled = 0;
    let stop = false;
    // Truth from the tasks: a run is in flight while its step is QUEUED or RUNNING.
    const sampler = (async () => {
      while (!stop) {
        const { rows } = await client.query<{ n: number }>(
          `SELECT count(DISTINCT r.id)::int AS n FROM runs r JOIN tasks t ON t."runId" = r.id
           WHERE r."workflowName" = 'keyed2' AND t.status IN ('QUEUED', 'RUNNING') GROUP BY r.input->>'k' ORDER BY n DESC LIMIT 1`,
        );
        sampled = Math.max(sampled, rows[0]?.n ?? 0);
      }
    })();
    try {
      const START_K = `mutation($k: String!) { startRun(workflow: "keyed2", input: { k: $k }) { id } }`;
      const total = 40;
      let done = 0;
      const starts = Promise.all(Array.from({ length: total }, (_, i) => (i % 2 ? a : b).ok(START_K, { k: `k${i % 2 === 0 ? 0 : 1}` })));
      const worker = async (t: TestApp, id: string) => {
        while (done < total) {
          const leases = (await t.ok<{ claimTasks: { leaseToken: string; task: { id: string } }[] }>(CLAIM, { queue: 'keyed-two', w: id })).claimTasks;
          for (const l of leases) {
            await t.ok(COMPLETE, { id: l.task.id, token: l.leaseToken });
            done++;
          }
          if (leases.length === 0) await new Promise((r) => setImmediate(r));
        }
      };
      await Promise.all([starts, worker(a, 'a1'), worker(b, 'b1')]);
      stop = true;
      await sampler;
      console.log(`[queue-limits] concurrency key max ${MAX}, ${total} runs started on two replicas at once: at most ${sampled} of a key in flight (sampled)`);
      expect(done).toBe(total);
      expect(sampled).toBeLessThanOrEqual(MAX);
      expect(sampled).toBe(MAX);
    } finally {
      stop = true;
      await sampler;
      await client.end();
    }
  });
});
