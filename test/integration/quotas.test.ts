/**
 * Per-tenant quotas on runs in flight and queued tasks (issue #11, fair shares): startRun beyond
 * them answers QUOTA_EXCEEDED naming the quota, changes nothing, and leaves other tenants alone.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/domain/manual-clock';
import { startTestApp, type TestApp } from '../helpers/app';

const REGISTER = `mutation($input: WorkflowInput!) { registerWorkflow(input: $input) { version } }`;
const START = `mutation($wf: String!, $key: String) { startRun(workflow: $wf, idempotencyKey: $key) { id } }`;
const CANCEL = `mutation($id: ID!) { cancelRun(id: $id) { status } }`;
const COUNT = `query { runs(first: 100) { nodes { id } } }`;

describe('tenant quotas', () => {
  let t: TestApp;
  const clock = new ManualClock(new Date('2026-01-01T00:00:00Z'));
  let keyA: string;
  let keyB: string;
  let keyC: string;

  beforeAll(async () => {
    t = await startTestApp({ clock, env: { TENANT_MAX_ACTIVE_RUNS: '3', TENANT_MAX_QUEUED_TASKS: '5' } });
    keyA = (await t.app.services.auth.createKey('quota-a')).key;
    keyB = (await t.app.services.auth.createKey('quota-b')).key;
    keyC = (await t.app.services.auth.createKey('quota-c')).key;
    for (const key of [keyA, keyB]) await t.ok(REGISTER, { input: { name: 'parked', steps: [{ key: 'w', type: 'work', queue: 'nobody' }] } }, key);
    const four = ['a', 'b', 'c', 'd'].map((k) => ({ key: k, type: 'work', queue: 'nobody' }));
    await t.ok(REGISTER, { input: { name: 'wide', steps: four } }, keyC);
  });
  afterAll(async () => {
    await t?.close();
  });

  it('refuses a start beyond the runs in flight, with a typed error, and lets the tenant start again once runs end', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await t.ok(START, { wf: 'parked', key: `k${i}` }, keyA)).startRun.id);
    const refused = await t.gql(START, { wf: 'parked' }, keyA);
    expect(refused.errors?.[0]?.extensions).toMatchObject({ code: 'QUOTA_EXCEEDED', quota: 'TENANT_MAX_ACTIVE_RUNS', max: 3 });
    expect(refused.errors?.[0]?.message).toContain('TENANT_MAX_ACTIVE_RUNS');
    // Nothing was created.
    expect((await t.ok(COUNT, {}, keyA)).runs.nodes).toHaveLength(3);
    // Repeating an accepted start answers its run, quota or not.
    expect((await t.ok(START, { wf: 'parked', key: 'k0' }, keyA)).startRun.id).toBe(ids[0]);
    // Another tenant is not held back.
    expect((await t.gql(START, { wf: 'parked' }, keyB)).errors).toBeUndefined();

    await t.ok(CANCEL, { id: ids[0] }, keyA);
    await clock.advance(1_000);
    expect((await t.gql(START, { wf: 'parked' }, keyA)).errors).toBeUndefined();
  });

  it('refuses a start beyond the queued tasks', async () => {
    expect((await t.gql(START, { wf: 'wide' }, keyC)).errors).toBeUndefined();
    expect((await t.gql(START, { wf: 'wide' }, keyC)).errors).toBeUndefined();
    const refused = await t.gql(START, { wf: 'wide' }, keyC);
    expect(refused.errors?.[0]?.extensions).toMatchObject({ code: 'QUOTA_EXCEEDED', quota: 'TENANT_MAX_QUEUED_TASKS', max: 5 });
  });
});

describe('tenant quotas: concurrent starts', () => {
  let t: TestApp;
  let key: string;
  beforeAll(async () => {
    t = await startTestApp({ env: { TENANT_MAX_ACTIVE_RUNS: '3' } });
    key = (await t.app.services.auth.createKey('burst')).key;
    await t.ok(REGISTER, { input: { name: 'parked', steps: [{ key: 'w', type: 'work', queue: 'nobody' }] } }, key);
  });
  afterAll(async () => {
    await t?.close();
  });

  it('20 starts at once cannot all pass the same count: 3 runs, 17 QUOTA_EXCEEDED', async () => {
    // Before: each start took its place only after its insert, so all 20 passed a count of 0.
    const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => t.gql(START, { wf: 'parked', key: `burst-${i}` }, key)));
    const refused = answers.filter((a) => a.errors?.[0]?.extensions?.['quota'] === 'TENANT_MAX_ACTIVE_RUNS');
    const runs = (await t.ok(COUNT, {}, key)).runs.nodes.length;
    console.log(`20 concurrent starts at TENANT_MAX_ACTIVE_RUNS=3: ${runs} runs, ${refused.length} refused`);
    expect(runs).toBe(3);
    expect(refused).toHaveLength(17);
  });
});

describe('tenant quotas: the items of a fan-out', () => {
  let t: TestApp;
  let keyA: string;
  let keyB: string;
  const RUN = `query($id: ID!) { run(id: $id) { status error tasks { key status error parentTaskId } } }`;

  beforeAll(async () => {
    t = await startTestApp({ env: { TENANT_MAX_QUEUED_TASKS: '5' } });
    keyA = (await t.app.services.auth.createKey('fan-a')).key;
    keyB = (await t.app.services.auth.createKey('fan-b')).key;
    const fan = {
      name: 'fan',
      steps: [
        { key: 'root', type: 'noop' },
        { key: 'each', type: 'work', queue: 'nobody', dependsOn: ['root'], forEach: 'input.items' },
      ],
    };
    for (const key of [keyA, keyB]) await t.ok(REGISTER, { input: fan }, key);
  });
  afterAll(async () => {
    await t?.close();
  });

  /** Polls a run until its forEach step has fanned out or failed. */
  async function settled(
    id: string,
    key: string,
  ): Promise<{ status: string; error: string | null; tasks: { key: string; status: string; error: string | null; parentTaskId: string | null }[] }> {
    const deadline = Date.now() + 15_000;
    for (;;) {
      const { run } = await t.ok(RUN, { id }, key);
      const each = run.tasks.find((x: { key: string; parentTaskId: string | null }) => x.key === 'each' && x.parentTaskId === null);
      // The run is read before its tasks: a failed step's run may not read FAILED yet.
      if ((each.status !== 'PENDING' && (each.status !== 'FAILED' || run.status === 'FAILED')) || Date.now() > deadline) return run;
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  it("fails a forEach step whose items would put the tenant past TENANT_MAX_QUEUED_TASKS, creating none; others' fan-outs go on", async () => {
    const items = (n: number) => ({ items: Array.from({ length: n }, (_, i) => i) });
    const first = (await t.ok(`mutation($input: JSON) { startRun(workflow: "fan", input: $input) { id } }`, { input: items(3) }, keyA)).startRun;
    const fanned = await settled(first.id, keyA);
    expect(fanned.tasks.filter((x) => x.parentTaskId !== null && x.status === 'QUEUED')).toHaveLength(3);

    // 3 queued + 10 more > 5: before, all 10 were created (and 10,000 per run at the default MAX_FOREACH_ITEMS).
    const second = (await t.ok(`mutation($input: JSON) { startRun(workflow: "fan", input: $input) { id } }`, { input: items(10) }, keyA)).startRun;
    const refused = await settled(second.id, keyA);
    expect(refused.status).toBe('FAILED');
    const each = refused.tasks.find((x) => x.key === 'each' && x.parentTaskId === null)!;
    expect(each.status).toBe('FAILED');
    expect(each.error).toMatch(/forEach of 10 items .*TENANT_MAX_QUEUED_TASKS/);
    expect(refused.tasks.filter((x) => x.parentTaskId !== null)).toEqual([]);

    // What still fits is admitted: 3 + 2 = 5.
    const fits = (await t.ok(`mutation($input: JSON) { startRun(workflow: "fan", input: $input) { id } }`, { input: items(2) }, keyA)).startRun;
    expect((await settled(fits.id, keyA)).tasks.filter((x) => x.parentTaskId !== null)).toHaveLength(2);

    // Another tenant counts its own.
    const other = (await t.ok(`mutation($input: JSON) { startRun(workflow: "fan", input: $input) { id } }`, { input: items(4) }, keyB)).startRun;
    expect((await settled(other.id, keyB)).tasks.filter((x) => x.parentTaskId !== null && x.status === 'QUEUED')).toHaveLength(4);
  });
});
