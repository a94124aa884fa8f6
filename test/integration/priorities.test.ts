import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/domain/manual-clock';
import { startTestApp, type TestApp } from '../helpers/app';

/**
 * Priorities through the API, on a manual clock (both modes): startRun(priority) and
 * StepInput.priority order claims within a queue, out-of-range values are typed errors, and
 * aging (PRIORITY_AGING_MS) serves the lowest priority under a steady flood of the highest.
 */
const AGING_MS = 1_000;
const HOUR = 3_600_000;
const REGISTER = `mutation($input: WorkflowInput!) { registerWorkflow(input: $input) { id } }`;
const START = `mutation($wf: String!, $priority: Int, $input: JSON) { startRun(workflow: $wf, priority: $priority, input: $input) { id priority } }`;
const CLAIM = `mutation($queue: String!, $max: Int) {
  claimTasks(queue: $queue, workerId: "w-1", max: $max, leaseMs: ${HOUR}) { task { id runId key priority input } }
}`;

type Claimed = { task: { id: string; runId: string; key: string; priority: number; input: { n: number } } };

describe('priorities', () => {
  let t: TestApp;
  const clock = new ManualClock(new Date('2031-04-01T00:00:00.000Z'));
  const claim = async (queue: string, max: number) => (await t.ok<{ claimTasks: Claimed[] }>(CLAIM, { queue, max })).claimTasks;
  const start = async (wf: string, priority: number | null, n = 0) =>
    (await t.ok<{ startRun: { id: string; priority: number } }>(START, { wf, priority, input: { n } })).startRun;

  beforeAll(async () => {
    t = await startTestApp({ clock, env: { PRIORITY_AGING_MS: String(AGING_MS), SCHEDULER_POLL_INTERVAL_MS: '5000', REAPER_INTERVAL_MS: '5000' } });
    for (const [name, queue, priority] of [
      ['prio', 'prio-q', null],
      ['prio-step', 'prio-q', 3],
      ['flood', 'flood-q', null],
    ] as const) {
      await t.ok(REGISTER, { input: { name, steps: [{ key: 'work', type: 'work', queue, input: { n: '{{ input.n }}' }, priority }] } });
    }
  });
  afterAll(async () => {
    await t?.close();
  });

  it('refuses a priority out of 1 to 3, on startRun and on a step', async () => {
    for (const p of [0, 4, -1]) {
      const res = await t.gql(START, { wf: 'prio', priority: p });
      expect(res.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', reason: 'INVALID_PRIORITY', field: 'priority' });
      expect(res.errors?.[0]?.message).toContain('from 1 (low) to 3 (high)');
    }
    const res = await t.gql(REGISTER, { input: { name: 'bad-prio', steps: [{ key: 'a', type: 'noop', priority: 9 }] } });
    expect(res.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', reason: 'INVALID_PRIORITY', field: 'steps[0].priority' });
    expect((await start('prio', null)).priority).toBe(2);
    // Drain what these starts queued.
    expect(await claim('prio-q', 10)).toHaveLength(1);
  });

  it('claims higher priority first within a queue, oldest first within a level; a step priority overrides the run', async () => {
    // Interleaved, one per 10 ms of the clock: 1, 2, 3, 1, 2, 3, …
    const started: { n: number; priority: number }[] = [];
    for (let n = 0; n < 9; n++) {
      const priority = (n % 3) + 1;
      await start('prio', priority, n);
      started.push({ n, priority });
      await clock.advance(10);
    }
    // A run of priority 1 whose step says 3.
    await start('prio-step', 1, 100);
    const order: Claimed[] = [];
    for (let got = await claim('prio-q', 1); got.length > 0; got = await claim('prio-q', 1)) order.push(...got);
    expect(order.map((c) => c.task.priority)).toEqual([3, 3, 3, 3, 2, 2, 2, 1, 1, 1]);
    expect(order.map((c) => c.task.input.n)).toEqual([2, 5, 8, 100, 1, 4, 7, 0, 3, 6]);
  });

  it('serves the lowest priority under a steady flood of the highest: age raises it one level per PRIORITY_AGING_MS', async () => {
    const low = await start('flood', 1, -1);
    const t0 = clock.now().getTime();
    let servedAt: number | null = null;
    let highClaimed = 0;
    // Every 100 ms two priority-3 runs arrive and the worker takes one: the backlog only grows.
    for (let ms = 0; ms <= 20_000 && servedAt === null; ms += 100) {
      await clock.set(new Date(t0 + ms));
      await start('flood', 3, ms);
      await start('flood', 3, ms);
      for (const c of await claim('flood-q', 1)) {
        if (c.task.runId === low.id) servedAt = ms;
        else highClaimed++;
      }
    }
    console.log(
      `[priorities] priority 1 under a 2:1 flood of priority 3, aging ${AGING_MS} ms/level: served after ${servedAt} ms, ${highClaimed} of priority 3 first`,
    );
    expect(servedAt).not.toBeNull();
    // It ranks like a priority-3 task that arrived 2 × aging earlier; the oldest queued priority-3
    // task arrived at ~ms/2, so it goes at ~4 × aging. Wide margin: within 8 × aging.
    expect(servedAt!).toBeGreaterThanOrEqual(2 * AGING_MS);
    expect(servedAt!).toBeLessThanOrEqual(8 * AGING_MS);
  });
});
