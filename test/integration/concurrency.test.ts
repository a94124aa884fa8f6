import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/domain/manual-clock';
import { startTestApp, type TestApp } from '../helpers/app';

/**
 * Concurrency keys through the API, each strategy with two keys, on a manual clock. Steps run on
 * a queue the test serves itself, so a run stays in flight exactly until the test completes its
 * task: every admission is observed, none is timed.
 */
const REGISTER = `mutation($input: WorkflowInput!) { registerWorkflow(input: $input) { version concurrency { key max strategy } } }`;
const START = `mutation($wf: String!, $input: JSON) { startRun(workflow: $wf, input: $input) { id status } }`;
const RUN = `query($id: ID!) { run(id: $id) { id status error tasks { id key status } } }`;
const SLEEPING = `query($id: ID!) { run(id: $id) { tasks { status waitingFor { kind } } } }`;
const CLAIM = `mutation($queue: String!) { claimTasks(queue: $queue, workerId: "w", max: 100, leaseMs: 3600000) { leaseToken task { id runId } } }`;
const COMPLETE = `mutation($id: ID!, $token: String!) { completeTask(taskId: $id, leaseToken: $token, output: {}) { status } }`;

interface Lease {
  leaseToken: string;
  task: { id: string; runId: string };
}

describe('concurrency keys', () => {
  let t: TestApp;
  const clock = new ManualClock(new Date());
  const leases = new Map<string, Lease>();

  const register = (name: string, strategy: string, max = 1) =>
    t.ok(REGISTER, { input: { name, concurrency: { key: 'input.k', max, strategy }, steps: [{ key: 'work', type: 'job', queue: `q-${name}` }] } });
  const start = async (wf: string, k: string) => (await t.ok<{ startRun: { id: string } }>(START, { wf, input: { k } })).startRun.id;
  const run = async (id: string) => (await t.ok<{ run: { status: string; error: string | null; tasks: { status: string }[] } }>(RUN, { id })).run;
  /** Claims every ready task of the workflow's queue; the run ids that got one. */
  const claimAll = async (wf: string) => {
    const claimed = (await t.ok<{ claimTasks: Lease[] }>(CLAIM, { queue: `q-${wf}` })).claimTasks;
    for (const l of claimed) leases.set(l.task.runId, l);
    return claimed.map((l) => l.task.runId).sort();
  };
  const finish = async (runId: string) => {
    const l = leases.get(runId)!;
    await t.ok(COMPLETE, { id: l.task.id, token: l.leaseToken });
  };
  const sorted = (...ids: string[]) => [...ids].sort();

  beforeAll(async () => {
    t = await startTestApp({ clock });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('refuses a bad policy with INVALID_CONCURRENCY, naming the field', async () => {
    const bad = async (concurrency: Record<string, unknown>) =>
      (await t.gql(REGISTER, { input: { name: 'bad', concurrency, steps: [{ key: 'a', type: 'noop' }] } })).errors?.[0]?.extensions;
    expect(await bad({ max: 0 })).toMatchObject({ code: 'BAD_USER_INPUT', reason: 'INVALID_CONCURRENCY', field: 'concurrency.max' });
    expect(await bad({ max: 1, key: 'input.' })).toMatchObject({ code: 'BAD_USER_INPUT' });
    await register('keyed', 'QUEUE');
    const refused = await t.gql(START, { wf: 'keyed', input: { k: { nested: true } } });
    expect(refused.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', reason: 'INVALID_CONCURRENCY_KEY' });
  });

  it('QUEUE: one run in flight per key, the next starts in order when it ends', async () => {
    const wf = 'queued';
    expect((await register(wf, 'QUEUE')).registerWorkflow.concurrency).toEqual({ key: 'input.k', max: 1, strategy: 'QUEUE' });
    const a1 = await start(wf, 'a');
    const a2 = await start(wf, 'a');
    const a3 = await start(wf, 'a');
    const b1 = await start(wf, 'b');
    expect(await claimAll(wf)).toEqual(sorted(a1, b1));
    expect(await run(a2)).toMatchObject({ status: 'PENDING', tasks: [{ status: 'PENDING' }] });
    const WAITS = `query($id: ID!) { run(id: $id) { waitingFor { kind taskKey ... on ConcurrencyWait { limit max key position holders } } } }`;
    const waits = async (id: string) => (await t.ok(WAITS, { id })).run.waitingFor;
    expect(await waits(a2)).toEqual([{ kind: 'CONCURRENCY', taskKey: 'work', limit: 'workflow.concurrency', max: 1, key: 'a', position: 1, holders: [a1] }]);
    expect((await waits(a3))[0]).toMatchObject({ kind: 'CONCURRENCY', key: 'a', position: 2, holders: [a1] });
    expect((await waits(b1))[0]).toMatchObject({ kind: 'WORKER' });
    // The gauge counts the waiting runs (a2, a3) under their strategy; every strategy has a series.
    await expect
      .poll(async () => (await t.scrape()).match(/^maestro_runs_waiting_concurrency\{strategy="QUEUE"\} (\d+)$/m)?.[1], { timeout: 10_000 })
      .toBe('2');
    expect(await t.scrape()).toMatch(/^maestro_runs_waiting_concurrency\{strategy="CANCEL_NEWEST"\} 0$/m);
    await finish(a1);
    expect(await claimAll(wf)).toEqual([a2]);
    expect((await run(a3)).status).toBe('PENDING');
    await finish(a2);
    await finish(b1);
    expect(await claimAll(wf)).toEqual([a3]);
    await finish(a3);
    for (const id of [a1, a2, a3, b1]) expect((await run(id)).status).toBe('SUCCEEDED');
  });

  it('ROUND_ROBIN: each key has its own slots; a busy key holds back no other', async () => {
    const wf = 'fair';
    await register(wf, 'ROUND_ROBIN');
    const a = [await start(wf, 'a'), await start(wf, 'a'), await start(wf, 'a')];
    const b1 = await start(wf, 'b');
    expect(await claimAll(wf)).toEqual(sorted(a[0]!, b1));
    await finish(b1);
    const b2 = await start(wf, 'b');
    expect(await claimAll(wf)).toEqual([b2]);
    await finish(a[0]!);
    expect(await claimAll(wf)).toEqual([a[1]]);
  });

  it('CANCEL_IN_PROGRESS: the newest wins, the oldest in flight of its key is cancelled', async () => {
    const wf = 'latest';
    await register(wf, 'CANCEL_IN_PROGRESS');
    const a1 = await start(wf, 'a');
    const b1 = await start(wf, 'b');
    expect(await claimAll(wf)).toEqual(sorted(a1, b1));
    const a2 = await start(wf, 'a');
    const cancelled = await run(a1);
    expect(cancelled.status).toBe('CANCELLED');
    expect(cancelled.error).toMatch(/CANCEL_IN_PROGRESS.*concurrency key "a"/);
    expect((await run(b1)).status).toBe('RUNNING');
    expect(await claimAll(wf)).toEqual([a2]);
    // The cancelled holder's result is refused: its slot went to the newer run.
    const stale = await t.gql(COMPLETE, { id: leases.get(a1)!.task.id, token: leases.get(a1)!.leaseToken });
    expect(stale.errors?.[0]?.extensions?.code).toBe('RUN_CANCELLED');
  });

  it('CANCEL_NEWEST: the running one wins, the new run is cancelled at once with the reason', async () => {
    const wf = 'first';
    await register(wf, 'CANCEL_NEWEST');
    const a1 = await start(wf, 'a');
    const b1 = await start(wf, 'b');
    const a2 = await start(wf, 'a');
    const refused = await run(a2);
    expect(refused.status).toBe('CANCELLED');
    expect(refused.error).toMatch(/CANCEL_NEWEST: concurrency key "a" already has 1 run\(s\) in flight/);
    expect(await claimAll(wf)).toEqual(sorted(a1, b1));
    await finish(a1);
    const a3 = await start(wf, 'a');
    expect(await claimAll(wf)).toEqual([a3]);
  });

  it('a holder that ends otherwise (cancelled, timed out) frees its slot; a retried run waits again', async () => {
    const wf = 'freed';
    await t.ok(REGISTER, {
      input: { name: wf, timeoutMs: 60_000, concurrency: { max: 1 }, steps: [{ key: 'work', type: 'job', queue: `q-${wf}` }] },
    });
    const r1 = await start(wf, 'x');
    const r2 = await start(wf, 'x');
    expect(await claimAll(wf)).toEqual([r1]);
    await t.ok(`mutation($id: ID!) { cancelRun(id: $id) { status } }`, { id: r1 });
    expect(await claimAll(wf)).toEqual([r2]);
    // r3 waits (its own timeout counts from its start, 30 s later).
    await clock.advance(30_000);
    const r3 = await start(wf, 'x');
    // r2's holder crashes and nobody completes it: the run's timeout ends it and frees the slot.
    await clock.advance(31_000);
    await expect.poll(async () => (await run(r2)).status, { timeout: 10_000 }).toBe('FAILED');
    await expect.poll(() => claimAll(wf), { timeout: 10_000 }).toEqual([r3]);
    // r1 retried while r3 holds the only slot: it waits, and starts when r3 ends.
    await t.ok(`mutation($id: ID!) { retryRun(id: $id) { status } }`, { id: r1 });
    expect(await claimAll(wf)).toEqual([]);
    await finish(r3);
    expect(await claimAll(wf)).toEqual([r1]);
  });

  it("step concurrency: a step's tasks RUNNING at once per key, across runs; the rest stay QUEUED", async () => {
    const wf = 'stepped';
    const registered = await t.ok(`mutation($input: WorkflowInput!) { registerWorkflow(input: $input) { steps { key concurrency { key max strategy } } } }`, {
      input: { name: wf, steps: [{ key: 'work', type: 'job', queue: `q-${wf}`, concurrency: { key: 'input.k', max: 2 } }] },
    });
    expect(registered.registerWorkflow.steps[0].concurrency).toEqual({ key: 'input.k', max: 2, strategy: 'QUEUE' });
    const a: string[] = [];
    for (let i = 0; i < 5; i++) a.push(await start(wf, 'a'));
    const b = [await start(wf, 'b'), await start(wf, 'b'), await start(wf, 'b')];
    // Tasks ready in the same instant go in any order: what is counted is how many of each key run.
    const perKey = (ids: string[]) => ({ a: ids.filter((id) => a.includes(id)).length, b: ids.filter((id) => b.includes(id)).length });
    // Every run started (no run-level limit); of each key's tasks two run, the others wait QUEUED.
    const first = await claimAll(wf);
    expect(perKey(first)).toEqual({ a: 2, b: 2 });
    expect(await claimAll(wf)).toEqual([]);
    const waiting = a.find((id) => !first.includes(id))!;
    expect(await run(waiting)).toMatchObject({ status: 'PENDING', tasks: [{ status: 'QUEUED' }] });
    await finish(first.find((id) => a.includes(id))!);
    expect(perKey(await claimAll(wf))).toEqual({ a: 1, b: 0 });
    for (const id of first.filter((id) => b.includes(id))) await finish(id);
    expect(perKey(await claimAll(wf))).toEqual({ a: 0, b: 1 });
  });

  it('step concurrency holds for built-in steps too (a sleep parks RUNNING and keeps its slot)', async () => {
    const wf = 'napping';
    await t.ok(REGISTER, { input: { name: wf, steps: [{ key: 'nap', type: 'sleep', input: { ms: 10_000 }, concurrency: { max: 1 } }] } });
    const ids = [await start(wf, 'x'), await start(wf, 'x'), await start(wf, 'x')];
    // A sleep is RUNNING from its claim, parked (its timer set from the clock's now) a moment
    // later: the clock moves only once the running one says SLEEP, or its timer would start late.
    const statuses = async () => {
      const tasks = await Promise.all(
        ids.map(async (id) => (await t.ok<{ run: { tasks: { status: string; waitingFor: { kind: string } | null }[] } }>(SLEEPING, { id })).run.tasks[0]!),
      );
      return tasks.map((x) => (x.status === 'RUNNING' ? `RUNNING:${x.waitingFor?.kind}` : x.status)).sort();
    };
    await expect.poll(statuses, { timeout: 10_000 }).toEqual(['QUEUED', 'QUEUED', 'RUNNING:SLEEP']);
    await clock.advance(10_000);
    await expect.poll(statuses, { timeout: 10_000 }).toEqual(['QUEUED', 'RUNNING:SLEEP', 'SUCCEEDED']);
    await clock.advance(10_000);
    await expect.poll(statuses, { timeout: 10_000 }).toEqual(['RUNNING:SLEEP', 'SUCCEEDED', 'SUCCEEDED']);
  });

  it('refuses cancelling strategies on a step, and concurrency on a forEach step', async () => {
    const bad = async (step: Record<string, unknown>) =>
      (await t.gql(REGISTER, { input: { name: 'badstep', steps: [{ key: 'a', type: 'noop', ...step }] } })).errors?.[0]?.extensions;
    expect(await bad({ concurrency: { max: 1, strategy: 'CANCEL_NEWEST' } })).toMatchObject({ reason: 'INVALID_CONCURRENCY', step: 'a' });
    expect(await bad({ forEach: 'input.xs', concurrency: { max: 1 } })).toMatchObject({ reason: 'INVALID_CONCURRENCY', field: 'concurrency' });
  });

  it("child runs take their workflow's slots too: a parent's step waits while its child waits", async () => {
    const child = 'kid';
    await register(child, 'QUEUE');
    await t.ok(REGISTER, {
      input: { name: 'parent', steps: [{ key: 'call', type: 'workflow', input: { workflow: child, input: { k: '{{ input.k }}' } } }] },
    });
    const direct = await start(child, 'p');
    const parent = await start('parent', 'p');
    const kidOf = async (id: string) =>
      (await t.ok(`query($id: ID!) { run(id: $id) { children { id status } } }`, { id })).run.children as { id: string; status: string }[];
    await expect.poll(async () => (await kidOf(parent)).length, { timeout: 10_000 }).toBe(1);
    const [kid] = await kidOf(parent);
    // The direct run holds key "p": the child waits for its slot, PENDING.
    expect(kid!.status).toBe('PENDING');
    expect(await claimAll(child)).toEqual([direct]);
    await finish(direct);
    expect(await claimAll(child)).toEqual([kid!.id]);
    await finish(kid!.id);
    await expect.poll(async () => (await run(parent)).status, { timeout: 10_000 }).toBe('SUCCEEDED');
  });
});
