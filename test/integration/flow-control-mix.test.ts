import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/domain/manual-clock';
import { startTestApp, type TestApp } from '../helpers/app';

/**
 * Flow-control features together (both modes, manual clock): a run that waits for its workflow's
 * concurrency slot keeps the priority it was started with, and a step with both a concurrency key
 * and a rate limit never lets a full group take the rate limit's turn (the key's other groups go on).
 */
const HOUR = 3_600_000;
const REGISTER = `mutation($input: WorkflowInput!) { registerWorkflow(input: $input) { id } }`;
const START = `mutation($wf: String!, $priority: Int, $input: JSON) { startRun(workflow: $wf, priority: $priority, input: $input) { id priority } }`;
const CLAIM = `mutation($queue: String!, $max: Int) {
  claimTasks(queue: $queue, workerId: "w-1", max: $max, leaseMs: ${HOUR}) { leaseToken task { id runId priority input } }
}`;
const COMPLETE = `mutation($id: ID!, $token: String!) { completeTask(taskId: $id, leaseToken: $token, output: {}) { status } }`;
type Claimed = { leaseToken: string; task: { id: string; runId: string; priority: number; input: { customer: string; n: number } } };

describe('flow control, mixed', () => {
  let t: TestApp;
  const clock = new ManualClock(new Date('2031-05-01T00:00:00.000Z'));
  const claim = async (queue: string, max: number) => (await t.ok<{ claimTasks: Claimed[] }>(CLAIM, { queue, max })).claimTasks;
  const complete = async (c: Claimed) => t.ok(COMPLETE, { id: c.task.id, token: c.leaseToken });
  const start = async (wf: string, input: object, priority: number | null = null) =>
    (await t.ok<{ startRun: { id: string; priority: number } }>(START, { wf, priority, input })).startRun;

  beforeAll(async () => {
    t = await startTestApp({ clock, env: { SCHEDULER_POLL_INTERVAL_MS: '5000', REAPER_INTERVAL_MS: '5000' } });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('a run waiting for its concurrency slot keeps its priority when admitted', async () => {
    await t.ok(REGISTER, {
      input: {
        name: 'serial',
        concurrency: { max: 1, strategy: 'QUEUE' },
        steps: [{ key: 'work', type: 'work', queue: 'serial-q', input: { customer: 'x', n: '{{ input.n }}' } }],
      },
    });
    const first = await start('serial', { n: 1 }, 3);
    const waiting = await start('serial', { n: 2 }, 3);
    const held = await claim('serial-q', 5);
    expect(held.map((c) => [c.task.runId, c.task.priority])).toEqual([[first.id, 3]]);
    await complete(held[0]!);
    const next = await claim('serial-q', 5);
    console.log(`[flow-mix] the admitted run's task has priority ${next[0]?.task.priority} (started with 3)`);
    expect(next.map((c) => [c.task.runId, c.task.priority])).toEqual([[waiting.id, 3]]);
    await complete(next[0]!);
  });

  it('a full concurrency group does not hold its rate limit key: the key goes to the next group', async () => {
    await t.ok(REGISTER, {
      input: {
        name: 'per-customer',
        steps: [
          {
            key: 'call',
            type: 'call',
            queue: 'api-q',
            input: { customer: '{{ input.customer }}', n: '{{ input.n }}' },
            concurrency: { key: 'input.customer', max: 1, strategy: 'QUEUE' },
            rateLimit: { key: 'api', limit: 1, periodMs: 1_000 },
          },
        ],
      },
    });
    // Customer a: two runs (its group holds one at a time); then customer b.
    await start('per-customer', { customer: 'a', n: 1 });
    await clock.advance(1);
    await start('per-customer', { customer: 'a', n: 2 });
    await clock.advance(1);
    await start('per-customer', { customer: 'b', n: 3 });
    const firstClaim = await claim('api-q', 5);
    expect(firstClaim.map((c) => c.task.input.n)).toEqual([1]);
    // The key's next token, a period later: a's second task is held by a's group (a1 still runs),
    // so the token must go to b, not be offered to a2 and wasted.
    await clock.advance(1_000);
    const second = await claim('api-q', 5);
    console.log(`[flow-mix] second claim took n=${second.map((c) => c.task.input.n).join(',')} while a's group is full`);
    expect(second.map((c) => c.task.input.n)).toEqual([3]);
    await complete(firstClaim[0]!);
    await complete(second[0]!);
    await clock.advance(1_000);
    expect((await claim('api-q', 5)).map((c) => c.task.input.n)).toEqual([2]);
  });
});
