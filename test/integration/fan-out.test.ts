import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, waitForRun, type TestApp } from '../helpers/app';
import { REAL_POSTGRES, REAL_REDIS } from '../helpers/db';

/**
 * forEach fan-out / fan-in end to end through the API: items created in the transition that
 * readies the step, at most maxConcurrency in flight (checked from the event history), outputs
 * in item order, a failing item with and without continueOnItemFailure, the items cap, queue
 * steps claimed by workers, retryRun of a failed fan-out, and two replicas sharing one fan-out.
 */

const REGISTER = `mutation($input: WorkflowInput!) { registerWorkflow(input: $input) { version steps { key forEach maxConcurrency continueOnItemFailure } } }`;
const START = `mutation($wf: String!, $input: JSON) { startRun(workflow: $wf, input: $input) { id status } }`;
const RETRY = `mutation($id: ID!) { retryRun(id: $id) { id status } }`;
const RUN = `query($id: ID!, $after: Int) {
  run(id: $id) {
    id status output error
    tasks { id key status parentTaskId item index itemCount failedItems output error attempt }
    events(afterSeq: $after) { seq type status taskId taskKey data }
  }
}`;
const CLAIM = `mutation($queue: String!, $worker: String!, $max: Int) {
  claimTasks(queue: $queue, workerId: $worker, max: $max, waitMs: 2000) { leaseToken task { id key input } }
}`;
const COMPLETE = `mutation($id: ID!, $token: String!, $output: JSON) { completeTask(taskId: $id, leaseToken: $token, output: $output) { id status } }`;
const FAIL = `mutation($id: ID!, $token: String!, $error: String!) { failTask(taskId: $id, leaseToken: $token, error: $error, retryable: false) { id status } }`;

interface TaskView {
  id: string;
  key: string;
  status: string;
  parentTaskId: string | null;
  item: unknown;
  index: number | null;
  itemCount: number | null;
  failedItems: number[] | null;
  output: unknown;
  error: string | null;
  attempt: number;
}
interface EventView {
  seq: number;
  type: string;
  status: string;
  taskId: string | null;
  taskKey: string | null;
  data: any;
}
interface RunView {
  id: string;
  status: string;
  output: any;
  error: string | null;
  tasks: TaskView[];
  events: EventView[];
}

/** Every event of a run (pages of 1,000) with its tasks. */
async function readRun(t: TestApp, id: string): Promise<RunView> {
  const first = (await t.ok<{ run: RunView }>(RUN, { id, after: 0 })).run;
  const events = [...first.events];
  for (let page = first.events; page.length === 1000;) {
    page = (await t.ok<{ run: RunView }>(RUN, { id, after: events[events.length - 1]!.seq })).run.events;
    events.push(...page);
  }
  return { ...first, events };
}

/** The most item tasks QUEUED or RUNNING at once, replaying the history in seq order. */
function maxInFlight(run: RunView, fanId: string): number {
  const items = new Set(run.tasks.filter((x) => x.parentTaskId === fanId).map((x) => x.id));
  const active = new Set<string>();
  let max = 0;
  for (const e of run.events) {
    if (e.type !== 'TASK_STATUS' || !e.taskId || !items.has(e.taskId)) continue;
    if (e.status === 'QUEUED' || e.status === 'RUNNING') active.add(e.taskId);
    else active.delete(e.taskId);
    max = Math.max(max, active.size);
  }
  return max;
}

/** A remote worker: claims from `queue` until `stop`, answering each item with `answer`. */
async function work(
  t: TestApp,
  queue: string,
  worker: string,
  answer: (input: any) => { output: unknown } | { error: string },
  stop: () => boolean,
): Promise<number> {
  let done = 0;
  while (!stop()) {
    const { claimTasks } = await t.ok<{ claimTasks: { leaseToken: string; task: { id: string; input: any } }[] }>(CLAIM, { queue, worker, max: 5 });
    for (const lease of claimTasks) {
      const a = answer(lease.task.input);
      // A result may be refused (RUN_CANCELLED once another item failed the run): the worker goes on.
      if ('error' in a) await t.gql(FAIL, { id: lease.task.id, token: lease.leaseToken, error: a.error });
      else await t.gql(COMPLETE, { id: lease.task.id, token: lease.leaseToken, output: a.output });
      done++;
    }
  }
  return done;
}

describe('forEach fan-out', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ env: { MAX_FOREACH_ITEMS: '1000' } });
  });
  afterAll(async () => {
    await t?.close();
  });

  const start = async (wf: string, input: unknown): Promise<string> => (await t.ok<{ startRun: { id: string } }>(START, { wf, input })).startRun.id;

  it('runs 1,000 items at most 10 at a time and returns their outputs in order', async () => {
    const { registerWorkflow } = await t.ok(REGISTER, {
      input: {
        name: 'fan-1000',
        steps: [
          { key: 'list', type: 'noop', input: { ids: '{{ input.ids }}' } },
          {
            key: 'each',
            type: 'noop',
            dependsOn: ['list'],
            forEach: '{{ steps.list.output.ids }}',
            maxConcurrency: 10,
            input: { id: '{{ item }}', at: '{{ index }}' },
          },
          { key: 'after', type: 'noop', dependsOn: ['each'], input: { n: '{{ steps.each.output.999.id }}' } },
        ],
      },
    });
    expect(registerWorkflow.steps[1]).toMatchObject({ forEach: '{{ steps.list.output.ids }}', maxConcurrency: 10, continueOnItemFailure: false });
    const ids = Array.from({ length: 1000 }, (_, i) => `id-${i}`);
    const started = Date.now();
    const id = await start('fan-1000', { ids });
    await waitForRun(t, id, 120_000);
    const elapsed = Date.now() - started;
    const run = await readRun(t, id);
    expect(run.status).toBe('SUCCEEDED');
    const fan = run.tasks.find((x) => x.key === 'each' && x.parentTaskId === null)!;
    expect(fan).toMatchObject({ status: 'SUCCEEDED', itemCount: 1000, failedItems: [] });
    expect(fan.output).toEqual(ids.map((v, i) => ({ id: v, at: i })));
    const items = run.tasks.filter((x) => x.parentTaskId === fan.id);
    expect(items.map((x) => x.index)).toEqual(ids.map((_, i) => i));
    expect(items.map((x) => x.item)).toEqual(ids);
    expect(run.output).toEqual({ after: { n: 'id-999' } });
    const max = maxInFlight(run, fan.id);
    console.log(`fan-out: 1,000 noop items, maxConcurrency 10: ${elapsed} ms, at most ${max} in flight`);
    expect(max).toBeLessThanOrEqual(10);
    expect(max).toBeGreaterThan(1);
  }, 180_000);

  it('fails the step and the run on a failed item; with continueOnItemFailure the item yields null', async () => {
    for (const cont of [false, true]) {
      const name = `fan-fail-${cont}`;
      await t.ok(REGISTER, {
        input: {
          name,
          steps: [
            {
              key: 'each',
              type: 'resize',
              queue: name,
              forEach: '{{ input.n }}',
              maxConcurrency: 3,
              continueOnItemFailure: cont,
              retry: { maxAttempts: 1 },
              input: { n: '{{ item }}' },
            },
          ],
        },
      });
      const id = await start(name, { n: [0, 1, 2, 3, 4, 5, 6, 7] });
      let finished = false;
      const worker = work(
        t,
        name,
        'w1',
        (input: { n: number }) => (input.n === 3 ? { error: 'bad item' } : { output: input.n * 10 }),
        () => finished,
      );
      await waitForRun(t, id, 30_000);
      finished = true;
      await worker;
      const run = await readRun(t, id);
      const fan = run.tasks.find((x) => x.parentTaskId === null)!;
      const items = run.tasks.filter((x) => x.parentTaskId === fan.id);
      expect(fan.failedItems).toEqual([3]);
      if (cont) {
        expect(run.status).toBe('SUCCEEDED');
        expect(fan.output).toEqual([0, 10, 20, null, 40, 50, 60, 70]);
        expect(run.output).toEqual({ each: [0, 10, 20, null, 40, 50, 60, 70] });
      } else {
        expect(run.status).toBe('FAILED');
        expect(run.error).toContain('item 3 failed: bad item');
        expect(fan.status).toBe('FAILED');
        expect(items.find((x) => x.index === 3)!.status).toBe('FAILED');
        // Nothing is left unfinished in a failed run.
        expect(items.filter((x) => !['SUCCEEDED', 'FAILED', 'CANCELLED'].includes(x.status))).toEqual([]);
        expect(items.some((x) => x.status === 'CANCELLED')).toBe(true);

        // retryRun: the failed and cancelled items run again; the succeeded ones keep their outputs.
        const kept = items.filter((x) => x.status === 'SUCCEEDED').map((x) => x.id);
        await t.ok(RETRY, { id });
        let again = false;
        const retryWorker = work(
          t,
          name,
          'w2',
          (input: { n: number }) => ({ output: input.n * 10 }),
          () => again,
        );
        await waitForRun(t, id, 30_000);
        again = true;
        await retryWorker;
        const retried = await readRun(t, id);
        expect(retried.status).toBe('SUCCEEDED');
        expect(retried.output).toEqual({ each: [0, 10, 20, 30, 40, 50, 60, 70] });
        for (const k of kept) expect(retried.tasks.find((x) => x.id === k)!.attempt).toBe(1);
      }
    }
  }, 90_000);

  it('refuses a list over MAX_FOREACH_ITEMS: at start for a root step, as a failed step later', async () => {
    await t.ok(REGISTER, {
      input: { name: 'fan-cap-root', steps: [{ key: 'each', type: 'noop', forEach: '{{ input.list }}', input: '{{ item }}' }] },
    });
    const refused = await t.gql(START, { wf: 'fan-cap-root', input: { list: Array.from({ length: 1001 }, (_, i) => i) } });
    expect(refused.errors?.[0]?.extensions?.code).toBe('LIMIT_EXCEEDED');
    expect(refused.errors?.[0]?.message).toContain('MAX_FOREACH_ITEMS');

    await t.ok(REGISTER, {
      input: {
        name: 'fan-cap',
        steps: [
          { key: 'list', type: 'noop', input: '{{ input.list }}' },
          { key: 'each', type: 'noop', dependsOn: ['list'], forEach: '{{ steps.list.output }}', input: '{{ item }}' },
        ],
      },
    });
    const id = await start('fan-cap', { list: Array.from({ length: 1001 }, (_, i) => i) });
    await waitForRun(t, id);
    const run = await readRun(t, id);
    expect(run.status).toBe('FAILED');
    expect(run.tasks.filter((x) => x.parentTaskId !== null)).toEqual([]);
    const failed = run.events.find((e) => e.taskKey === 'each' && e.status === 'FAILED')!;
    expect(failed.data).toMatchObject({ reason: 'LIMIT_EXCEEDED', limit: 'MAX_FOREACH_ITEMS' });

    // Not an array: the step fails and says what it got.
    const notList = await start('fan-cap', { list: { a: 1 } });
    await waitForRun(t, notList);
    expect((await readRun(t, notList)).error).toContain('must yield a JSON array, got an object');

    // An empty list after a step: the step succeeds at once with [] and the run goes on.
    const empty = await start('fan-cap', { list: [] });
    const done = await waitForRun(t, empty);
    expect(done).toMatchObject({ status: 'SUCCEEDED', output: { each: [] } });
  }, 60_000);

  it('takes a CEL expression as the list', async () => {
    await t.ok(REGISTER, {
      input: {
        name: 'fan-cel',
        steps: [
          { key: 'users', type: 'noop', input: '{{ input.users }}' },
          { key: 'each', type: 'noop', dependsOn: ['users'], forEach: 'steps.users.output.filter(u, u.active).map(u, u.id * 2)', input: { v: '{{ item }}' } },
        ],
      },
    });
    const users = [
      { id: 1, active: true },
      { id: 2, active: false },
      { id: 3, active: true },
    ];
    const done = await waitForRun(t, await start('fan-cel', { users }));
    expect(done).toMatchObject({ status: 'SUCCEEDED', output: { each: [{ v: 2 }, { v: 6 }] } });
  });

  it('checks forEach at registration', async () => {
    const bad = async (step: Record<string, unknown>, reason: string, text: string) => {
      const r = await t.gql(REGISTER, {
        input: {
          name: 'fan-bad',
          steps: [
            { key: 'a', type: 'noop' },
            { key: 'b', type: 'noop', ...step },
          ],
        },
      });
      expect(r.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', reason });
      expect(r.errors?.[0]?.message).toContain(text);
    };
    await bad({ forEach: 'items: {{ input.items }}' }, 'INVALID_FOR_EACH', 'must be exactly one template');
    await bad({ forEach: '{{ steps.a.output }}' }, 'TEMPLATE_REFERENCES_NON_DEPENDENCY', 'not a dependency');
    await bad({ forEach: '{{ item }}' }, 'INVALID_FOR_EACH', 'a list comes from input or steps');
    await bad({ maxConcurrency: 3 }, 'INVALID_FOR_EACH', 'applies to a step with forEach only');
    await bad({ forEach: '{{ input.x }}', maxConcurrency: 0 }, 'INVALID_FOR_EACH', 'maxConcurrency 0');
    await bad({ input: '{{ item.id }}' }, 'INVALID_TEMPLATE', 'only a step with forEach has an item');
    await bad({ forEach: 'input.items.map(' }, 'INVALID_FOR_EACH', 'invalid forEach');
    await bad({ forEach: 'steps.a.output', dependsOn: [] }, 'TEMPLATE_REFERENCES_NON_DEPENDENCY', 'not a dependency');
    await bad({ forEach: '1 + 2' }, 'INVALID_FOR_EACH', 'invalid forEach');
  });
});

describe.runIf(REAL_POSTGRES && REAL_REDIS)('forEach over two replicas', () => {
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

  it('spreads one fan-out over workers of both replicas and fans in once, in order', async () => {
    await a.ok(REGISTER, {
      input: { name: 'fan-two', steps: [{ key: 'each', type: 'thumb', queue: 'fan-two', forEach: '{{ input.n }}', maxConcurrency: 8, input: '{{ item }}' }] },
    });
    const n = Array.from({ length: 200 }, (_, i) => i);
    const id = (await a.ok<{ startRun: { id: string } }>(START, { wf: 'fan-two', input: { n } })).startRun.id;
    let finished = false;
    const [onA, onB] = await Promise.all([
      work(
        a,
        'fan-two',
        'worker-a',
        (x: number) => ({ output: x + 1 }),
        () => finished,
      ),
      work(
        b,
        'fan-two',
        'worker-b',
        (x: number) => ({ output: x + 1 }),
        () => finished,
      ),
      waitForRun(b, id, 60_000).then(() => (finished = true)),
    ]);
    console.log(`two replicas: worker-a did ${onA} items, worker-b ${onB}`);
    expect(onA).toBeGreaterThan(0);
    expect(onB).toBeGreaterThan(0);
    expect(onA + onB).toBe(200);
    const run = await readRun(a, id);
    expect(run.status).toBe('SUCCEEDED');
    expect(run.output).toEqual({ each: n.map((x) => x + 1) });
    const fan = run.tasks.find((x) => x.parentTaskId === null)!;
    expect(maxInFlight(run, fan.id)).toBeLessThanOrEqual(8);
    // One fan-in: the step's SUCCEEDED is in the history once.
    expect(run.events.filter((e) => e.taskId === fan.id && e.status === 'SUCCEEDED')).toHaveLength(1);
  }, 90_000);
});
