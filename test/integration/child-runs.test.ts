import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, waitForRun, type TestApp } from '../helpers/app';

/**
 * Child workflows through the GraphQL API (real Postgres and Redis with DATABASE_URL/REDIS_URL,
 * the embedded default without): a `workflow` step starts a child run inside the transition that
 * readies it, waits for it without a lease, and takes its output; cancelling a parent cancels its
 * children and theirs; a failed child fails the attempt (a retry starts a new child); the nesting
 * depth is capped. The last block runs with the post-commit follow-ups off: every chained
 * transition then comes from the sweep, as after a crash between a commit and its follow-up.
 */
const REGISTER = `mutation($input: WorkflowInput!) { registerWorkflow(input: $input) { id version } }`;
const START = `mutation($wf: String!, $input: JSON) { startRun(workflow: $wf, input: $input) { id status } }`;
const CANCEL = `mutation($id: ID!) { cancelRun(id: $id) { id status } }`;
const RETRY = `mutation($id: ID!) { retryRun(id: $id) { id status } }`;
const RUN = `query($id: ID!) {
  run(id: $id) {
    id status output error depth
    trigger { kind scheduleId fireTime eventName eventId }
    parent { id }
    parentTask { id key }
    children { id status error depth workflow { name } }
    tasks { id key status attempt failures error childRun { id status } }
    events { type status taskKey data }
  }
}`;

interface TaskView {
  id: string;
  key: string;
  status: string;
  attempt: number;
  failures: number;
  error: string | null;
  childRun: { id: string; status: string } | null;
}
interface RunView {
  id: string;
  status: string;
  output: any;
  error: string | null;
  depth: number;
  trigger: { kind: string; scheduleId: string | null; fireTime: string | null; eventName: string | null; eventId: string | null };
  parent: { id: string } | null;
  parentTask: { id: string; key: string } | null;
  children: { id: string; status: string; error: string | null; depth: number; workflow: { name: string } }[];
  tasks: TaskView[];
  events: { type: string; status: string; taskKey: string | null; data: any }[];
}

const leaf = { name: 'leaf', steps: [{ key: 'echo', type: 'noop', input: { v: '{{ input.v }}', from: 'leaf' } }] };
const middle = {
  name: 'middle',
  steps: [{ key: 'call', type: 'workflow', input: { workflow: 'leaf', input: { v: '{{ input.v }}' } } }],
};
const top = {
  name: 'top',
  steps: [
    { key: 'call', type: 'workflow', input: { workflow: 'middle', input: { v: '{{ input.v }}' } } },
    { key: 'after', type: 'noop', dependsOn: ['call'], input: { got: '{{ steps.call.output }}' } },
  ],
};
/** A leaf that waits for a remote worker nobody runs: the chain stays open until cancelled. */
const stuckLeaf = { name: 'stuck-leaf', steps: [{ key: 'wait', type: 'work', queue: 'nobody-polls', input: {} }] };
const stuckMiddle = { name: 'stuck-middle', steps: [{ key: 'call', type: 'workflow', input: { workflow: 'stuck-leaf' } }] };
const stuckTop = { name: 'stuck-top', steps: [{ key: 'call', type: 'workflow', input: { workflow: 'stuck-middle' } }] };
/** A child that always fails: its second step reads a path its first step's output lacks. */
const broken = {
  name: 'broken',
  steps: [
    { key: 'a', type: 'noop', input: { x: 1 } },
    { key: 'b', type: 'noop', dependsOn: ['a'], input: { y: '{{ steps.a.output.missing }}' } },
  ],
};
const retrying = {
  name: 'retrying',
  steps: [{ key: 'call', type: 'workflow', input: { workflow: 'broken' }, retry: { maxAttempts: 2, initialDelayMs: 0, maxDelayMs: 0 } }],
};
/** Starts itself: stopped by MAX_WORKFLOW_DEPTH (3 here), not by a retry loop (3 attempts per level). */
const recursive = { name: 'rec', steps: [{ key: 'again', type: 'workflow', input: { workflow: 'rec' } }] };
/** Its step's timeoutMs bounds the child run: the attempt times out, the child is cancelled. */
const timed = {
  name: 'timed',
  steps: [{ key: 'call', type: 'workflow', timeoutMs: 400, retry: { maxAttempts: 1 }, input: { workflow: 'stuck-leaf' } }],
};
const ghost = { name: 'ghost-caller', steps: [{ key: 'call', type: 'workflow', input: { workflow: 'no-such-workflow' } }] };

async function until<T>(what: string, read: () => Promise<T>, done: (v: T) => boolean, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await read();
    if (done(v)) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(v)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function suite(name: string, opts: { childFollowUps: boolean }) {
  describe(name, () => {
    let t: TestApp;
    const read = async (id: string) => (await t.ok<{ run: RunView }>(RUN, { id })).run;
    const start = async (wf: string, input: unknown = {}) => (await t.ok<{ startRun: { id: string } }>(START, { wf, input })).startRun.id;
    const finished = (id: string) =>
      until(
        `run ${id} to finish`,
        () => read(id),
        (r) => ['SUCCEEDED', 'FAILED', 'CANCELLED'].includes(r.status),
      );

    beforeAll(async () => {
      t = await startTestApp({ env: { MAX_WORKFLOW_DEPTH: '3' }, childFollowUps: opts.childFollowUps });
      for (const input of [leaf, middle, top, stuckLeaf, stuckMiddle, stuckTop, broken, retrying, recursive, ghost, timed]) await t.ok(REGISTER, { input });
    });

    afterAll(async () => {
      await t?.close();
    });

    it('parent → child → grandchild: the output propagates up; parent, children and childRun link them', async () => {
      const topId = await start('top', { v: 42 });
      await waitForRun(t, topId);
      const run = await finished(topId);
      expect(run.status).toBe('SUCCEEDED');
      expect(run.output).toEqual({ after: { got: { call: { echo: { v: 42, from: 'leaf' } } } } });
      expect(run.depth).toBe(0);
      expect(run.trigger).toEqual({ kind: 'API', scheduleId: null, fireTime: null, eventName: null, eventId: null });
      expect(run.parent).toBeNull();
      expect(run.children).toHaveLength(1);
      const [child] = run.children;
      expect(child).toMatchObject({ status: 'SUCCEEDED', depth: 1, workflow: { name: 'middle' } });
      const call = run.tasks.find((x) => x.key === 'call')!;
      expect(call).toMatchObject({ status: 'SUCCEEDED', attempt: 1, childRun: { id: child!.id, status: 'SUCCEEDED' } });

      const mid = await read(child!.id);
      expect(mid.parent).toEqual({ id: topId });
      expect(mid.trigger.kind).toBe('PARENT');
      expect(mid.parentTask).toEqual({ id: call.id, key: 'call' });
      expect(mid.output).toEqual({ call: { echo: { v: 42, from: 'leaf' } } });
      expect(mid.children).toHaveLength(1);
      const grandchild = await read(mid.children[0]!.id);
      expect(grandchild).toMatchObject({ status: 'SUCCEEDED', depth: 2, parent: { id: mid.id }, output: { echo: { v: 42, from: 'leaf' } } });
      // The waiting attempt is recorded as started by its child run.
      expect(run.events.find((e) => e.taskKey === 'call' && e.status === 'RUNNING')?.data).toMatchObject({ childRunId: child!.id, workflow: 'middle' });
    });

    it('cancelling the parent cancels its child and grandchild', async () => {
      const topId = await start('stuck-top');
      const mid = await until(
        'the child',
        () => read(topId),
        (r) => r.children.length === 1,
      ).then((r) => r.children[0]!.id);
      const leafId = await until(
        'the grandchild',
        () => read(mid),
        (r) => r.children.length === 1,
      ).then((r) => r.children[0]!.id);
      expect((await read(leafId)).tasks[0]).toMatchObject({ status: 'QUEUED' });

      expect((await t.ok<{ cancelRun: { status: string } }>(CANCEL, { id: topId })).cancelRun.status).toBe('CANCELLED');
      const [m, l] = await Promise.all([finished(mid), finished(leafId)]);
      expect(m.status).toBe('CANCELLED');
      expect(m.error).toMatch(/parent/);
      expect(l.status).toBe('CANCELLED');
      expect(l.tasks[0]!.status).toBe('CANCELLED');
      const topRun = await read(topId);
      expect(topRun.status).toBe('CANCELLED');
      expect(topRun.tasks[0]!.status).toBe('CANCELLED');
    });

    it('a failed child fails the attempt; the retry starts a new child; retryRun of the parent starts another', async () => {
      const id = await start('retrying');
      const run = await finished(id);
      expect(run.status).toBe('FAILED');
      const call = run.tasks[0]!;
      expect(call).toMatchObject({ status: 'FAILED', attempt: 2, failures: 2 });
      expect(call.error).toMatch(/Child run .* FAILED: Step "b" failed/);
      expect(run.children).toHaveLength(2);
      expect(run.children.map((c) => c.status)).toEqual(['FAILED', 'FAILED']);
      expect(call.childRun?.id).toBe(run.children[1]!.id);

      // A child run is not retried on its own: its parent is.
      const refused = await t.gql(RETRY, { id: run.children[0]!.id });
      expect(refused.errors?.[0]?.extensions?.code).toBe('CONFLICT');
      expect(refused.errors?.[0]?.message).toMatch(/child run of run .*retry the parent/);

      await t.ok(RETRY, { id });
      const again = await finished(id);
      expect(again.status).toBe('FAILED');
      expect(again.children).toHaveLength(4);
      expect(again.tasks[0]!.attempt).toBe(4);
    });

    it('a workflow that starts itself stops at MAX_WORKFLOW_DEPTH, once, without retries', async () => {
      const id = await start('rec');
      const run = await finished(id);
      expect(run.status).toBe('FAILED');
      expect(run.error).toMatch(/MAX_WORKFLOW_DEPTH/);
      // Runs at depth 0 to 3, one each: the depth-3 run's step is refused, and no level retries.
      const chain: RunView[] = [run];
      while (chain.at(-1)!.children.length) {
        expect(chain.at(-1)!.children).toHaveLength(1);
        chain.push(await read(chain.at(-1)!.children[0]!.id));
      }
      expect(chain.map((r) => r.depth)).toEqual([0, 1, 2, 3]);
      expect(chain.every((r) => r.status === 'FAILED')).toBe(true);
      const deepest = chain.at(-1)!;
      expect(deepest.tasks[0]).toMatchObject({ status: 'FAILED', attempt: 0 });
      expect(deepest.tasks[0]!.error).toMatch(/^LIMIT_EXCEEDED: .*4 levels deep; the limit is 3 \(MAX_WORKFLOW_DEPTH\)/);
      const failed = deepest.events.find((e) => e.taskKey === 'again' && e.status === 'FAILED');
      expect(failed?.data).toMatchObject({ reason: 'LIMIT_EXCEEDED', limit: 'MAX_WORKFLOW_DEPTH', max: 3 });
      expect(run.tasks[0]).toMatchObject({ attempt: 1, failures: 1 });
    });

    it("the step's timeoutMs ends the attempt and cancels the child", async () => {
      const id = await start('timed');
      const run = await finished(id);
      expect(run.status).toBe('FAILED');
      expect(run.tasks[0]!.error).toMatch(/timed out after 400 ms/);
      expect(run.children).toHaveLength(1);
      const child = await finished(run.children[0]!.id);
      expect(child.status).toBe('CANCELLED');
      expect(child.tasks[0]!.status).toBe('CANCELLED');
    });

    it('an unknown child workflow fails the step at once, saying so', async () => {
      const id = await start('ghost-caller');
      const run = await finished(id);
      expect(run.status).toBe('FAILED');
      expect(run.tasks[0]).toMatchObject({ status: 'FAILED', attempt: 0 });
      expect(run.tasks[0]!.error).toMatch(/NOT_FOUND: this tenant has no workflow named "no-such-workflow"/);
      expect(run.children).toHaveLength(0);
    });

    it('registration refuses a workflow step with a queue or without a workflow name', async () => {
      const withQueue = await t.gql(REGISTER, { input: { name: 'bad1', steps: [{ key: 's', type: 'workflow', queue: 'q', input: { workflow: 'leaf' } }] } });
      expect(withQueue.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', reason: 'INVALID_QUEUE' });
      const noName = await t.gql(REGISTER, { input: { name: 'bad2', steps: [{ key: 's', type: 'workflow', input: { input: {} } }] } });
      expect(noName.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', reason: 'INVALID_STEP_INPUT' });
      expect(noName.errors?.[0]?.message).toMatch(/needs "workflow"/);
    });
  });
}

suite('child workflows', { childFollowUps: true });
suite('child workflows recovered by the sweep alone (follow-ups lost)', { childFollowUps: false });

describe('child runs and TENANT_MAX_ACTIVE_RUNS', () => {
  let t: TestApp;
  const read = async (id: string) => (await t.ok<{ run: RunView }>(RUN, { id })).run;
  const start = async (wf: string, input: unknown = {}) => (await t.ok<{ startRun: { id: string } }>(START, { wf, input })).startRun.id;

  beforeAll(async () => {
    t = await startTestApp({ env: { TENANT_MAX_ACTIVE_RUNS: '2' } });
    for (const input of [leaf, middle, stuckLeaf]) await t.ok(REGISTER, { input });
  });

  afterAll(async () => {
    await t?.close();
  });

  it('a child over the quota waits (QUEUED, no run, no failure) and starts once a run ends', async () => {
    const blocker = await start('stuck-leaf');
    const id = await start('middle', { v: 1 });
    // Two runs are active: the child cannot start; the step waits and is looked at every second.
    const waiting = await until(
      'the quota wait',
      () => read(id),
      (r) => r.tasks[0]!.status === 'QUEUED' && r.status === 'PENDING',
    );
    expect(waiting.children).toHaveLength(0);
    await new Promise((r) => setTimeout(r, 1_500));
    const still = await read(id);
    expect(still.tasks[0]).toMatchObject({ status: 'QUEUED', attempt: 0, failures: 0 });
    expect(still.children).toHaveLength(0);

    await t.ok(CANCEL, { id: blocker });
    const run = await until(
      'the run to finish',
      () => read(id),
      (r) => r.status === 'SUCCEEDED',
      10_000,
    );
    expect(run.children).toHaveLength(1);
    expect(run.output).toEqual({ call: { echo: { v: 1, from: 'leaf' } } });
  });
});
