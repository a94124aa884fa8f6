import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collect, startTestApp, waitForRun, type TestApp } from '../helpers/app';

/**
 * `when` conditions end to end through the API: an if/else pair joined by a third step, a run
 * whose every step is skipped, run-time evaluation errors, retryRun re-deciding skipped steps,
 * the SKIPPED event in the history and the subscription, registration errors with their offset,
 * and literal built-in inputs refused at registration. Real Postgres + Redis, or embedded.
 */

const REGISTER = `mutation($input: WorkflowInput!) { registerWorkflow(input: $input) { id name version steps { key when } } }`;
const START = `mutation($wf: String!, $input: JSON) { startRun(workflow: $wf, input: $input) { id status } }`;
const RETRY = `mutation($id: ID!) { retryRun(id: $id) { id status } }`;
const RUN = `query($id: ID!) {
  run(id: $id) {
    id status output error
    tasks { key status input output error finishedAt }
    events { seq type status taskKey data }
  }
}`;
const RUN_UPDATED = `subscription($id: ID!, $afterSeq: Int) { runUpdated(id: $id, afterSeq: $afterSeq) { seq type status taskKey data } }`;

interface RunView {
  id: string;
  status: string;
  output: any;
  error: string | null;
  tasks: { key: string; status: string; input: any; output: any; error: string | null; finishedAt: string | null }[];
  events: { seq: number; type: string; status: string; taskKey: string | null; data: any }[];
}

describe('conditions (`when`) and SKIPPED', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(async () => {
    await t?.close();
  });

  const register = (name: string, steps: unknown[]) => t.ok(REGISTER, { input: { name, steps } });
  const start = async (wf: string, input: unknown): Promise<string> => (await t.ok<{ startRun: { id: string } }>(START, { wf, input })).startRun.id;
  const read = async (id: string): Promise<RunView> => (await t.ok<{ run: RunView }>(RUN, { id })).run;
  const runToEnd = async (wf: string, input: unknown): Promise<RunView> => {
    const id = await start(wf, input);
    await waitForRun(t, id);
    return read(id);
  };
  const status = (run: RunView) => Object.fromEntries(run.tasks.map((x) => [x.key, x.status]));

  // check → (big | small) → join: the if/else pair reads check's output; join reads both branches.
  const ifElse = [
    { key: 'check', type: 'noop', input: { amount: '{{ input.amount }}' } },
    { key: 'big', type: 'noop', dependsOn: ['check'], when: 'steps.check.output.amount > 100', input: { path: 'big' } },
    { key: 'small', type: 'noop', dependsOn: ['check'], when: '!(steps.check.output.amount > 100)', input: { path: 'small' } },
    { key: 'join', type: 'noop', dependsOn: ['big', 'small'], input: { big: '{{ steps.big.output }}', small: '{{ steps.small.output }}' } },
  ];

  it('if/else joined by a third step: one branch runs, the other is SKIPPED, the join runs', async () => {
    const wf = await register('if-else', ifElse);
    expect(wf.registerWorkflow.steps[1].when).toBe('steps.check.output.amount > 100');
    expect(wf.registerWorkflow.steps[0].when).toBeNull();

    const big = await runToEnd('if-else', { amount: 500 });
    expect(big.status).toBe('SUCCEEDED');
    expect(status(big)).toEqual({ check: 'SUCCEEDED', big: 'SUCCEEDED', small: 'SKIPPED', join: 'SUCCEEDED' });
    expect(big.output).toEqual({ join: { big: { path: 'big' }, small: null } });
    const skipped = big.tasks.find((x) => x.key === 'small')!;
    expect(skipped).toMatchObject({ input: null, output: null, error: null });
    expect(skipped.finishedAt).not.toBeNull();
    const event = big.events.find((e) => e.taskKey === 'small' && e.status === 'SKIPPED');
    expect(event?.data).toEqual({ reason: 'CONDITION_FALSE', when: '!(steps.check.output.amount > 100)' });
    // The skipped task never went QUEUED or RUNNING.
    expect(big.events.filter((e) => e.taskKey === 'small').map((e) => e.status)).toEqual(['SKIPPED']);

    const small = await runToEnd('if-else', { amount: 7 });
    expect(status(small)).toEqual({ check: 'SUCCEEDED', big: 'SKIPPED', small: 'SUCCEEDED', join: 'SUCCEEDED' });
    expect(small.output).toEqual({ join: { big: null, small: { path: 'small' } } });
  });

  it('a run whose every step is skipped SUCCEEDS, roots included, with null outputs', async () => {
    await register('all-skipped', [
      { key: 'a', type: 'noop', when: 'input.go' },
      { key: 'b', type: 'noop', dependsOn: ['a'], when: 'steps.a.output != null' },
    ]);
    const run = await runToEnd('all-skipped', { go: false });
    expect(run.status).toBe('SUCCEEDED');
    expect(status(run)).toEqual({ a: 'SKIPPED', b: 'SKIPPED' });
    expect(run.output).toEqual({ b: null });
    expect(run.events.filter((e) => e.type === 'RUN_STATUS').map((e) => e.status)).toEqual(['PENDING', 'SUCCEEDED']);

    const ran = await runToEnd('all-skipped', { go: true });
    expect(status(ran)).toEqual({ a: 'SUCCEEDED', b: 'SUCCEEDED' });
  });

  it('a start whose conditional roots were never promoted (the replica died) is promoted by the timer sweep', async () => {
    await register('stranded', [{ key: 'a', type: 'noop', when: 'input.go' }]);
    const id = await start('stranded', { go: false });
    await waitForRun(t, id);
    // Put the run back as a crash right after the start's insert leaves it: PENDING, nothing moved, older than 10 s.
    await t.app.db.rows(`UPDATE tasks SET status = 'PENDING', "finishedAt" = NULL WHERE "runId" = $1`, [id]);
    await t.app.db.rows(
      `UPDATE runs SET status = 'PENDING', output = NULL, "startedAt" = NULL, "finishedAt" = NULL, "createdAt" = "createdAt" - interval '1 minute' WHERE id = $1`,
      [id],
    );
    const swept = await waitForRun(t, id, 30_000);
    expect(swept.status).toBe('SUCCEEDED');
    expect(swept.tasks[0].status).toBe('SKIPPED');
  });

  it('the SKIPPED event reaches a runUpdated subscriber', async () => {
    await register('skip-sub', [
      { key: 'first', type: 'sleep', input: { ms: 50 } },
      { key: 'maybe', type: 'noop', dependsOn: ['first'], when: 'input.flag == true' },
    ]);
    const id = await start('skip-sub', { flag: false });
    const sub = collect<{ runUpdated: { status: string; taskKey: string | null; data: any } }>(t.ws(), RUN_UPDATED, { id, afterSeq: 0 }, (items) =>
      items.some((i) => i.runUpdated.taskKey === null && i.runUpdated.status === 'SUCCEEDED'),
    );
    const items = await sub.done;
    const skip = items.find((i) => i.runUpdated.taskKey === 'maybe');
    expect(skip?.runUpdated).toMatchObject({ status: 'SKIPPED', data: { reason: 'CONDITION_FALSE' } });
  });

  it('a condition that fails at run time fails the task at once (no retry) with a message naming the step and path', async () => {
    await register('cond-error', [
      { key: 'a', type: 'noop', input: { x: 1 } },
      { key: 'b', type: 'noop', dependsOn: ['a'], when: 'steps.a.output.missing > 1', retry: { maxAttempts: 5 } },
    ]);
    const run = await runToEnd('cond-error', {});
    expect(run.status).toBe('FAILED');
    const b = run.tasks.find((x) => x.key === 'b')!;
    expect(b.status).toBe('FAILED');
    expect(b.error).toMatch(/the condition of step "b" \(steps\[1\]\.when\) failed at offset \d+ \(`steps\.a\.output\.missing`\): No such key: missing/);
    const failed = run.events.find((e) => e.taskKey === 'b' && e.status === 'FAILED');
    expect(failed?.data).toMatchObject({ reason: 'CONDITION_ERROR', when: 'steps.a.output.missing > 1' });
    expect(run.error).toContain('Step "b" failed');
  });

  it('a condition on a root that fails at start fails the run', async () => {
    await register('root-error', [{ key: 'r', type: 'noop', when: 'input.n > 1' }]);
    const run = await runToEnd('root-error', { m: 1 });
    expect(run.status).toBe('FAILED');
    expect(run.tasks[0].error).toContain('No such key: n');
  });

  it('retryRun runs failed steps again and keeps SKIPPED ones (nothing they read reruns)', async () => {
    // `fail` is a sleep with a bad templated ms: it fails at run time, not retryably.
    await register('retry-skip', [
      { key: 'a', type: 'noop', input: '{{ input }}' },
      { key: 'skipme', type: 'noop', dependsOn: ['a'], when: 'steps.a.output.go' },
      { key: 'fail', type: 'sleep', dependsOn: ['skipme'], input: { ms: '{{ input.ms }}' }, retry: { maxAttempts: 1 } },
    ]);
    const run = await runToEnd('retry-skip', { go: false, ms: -1 });
    expect(status(run)).toEqual({ a: 'SUCCEEDED', skipme: 'SKIPPED', fail: 'FAILED' });
    await t.ok(RETRY, { id: run.id });
    await waitForRun(t, run.id);
    const again = await read(run.id);
    // skipme's dependency (a) did not run again: it stays SKIPPED; fail ran again and failed again.
    expect(status(again)).toEqual({ a: 'SUCCEEDED', skipme: 'SKIPPED', fail: 'FAILED' });
  });

  describe('registration errors', () => {
    const refuse = async (name: string, steps: unknown[]) => {
      const res = await t.gql(REGISTER, { input: { name, steps } });
      expect(res.errors, JSON.stringify(res)).toHaveLength(1);
      const err = res.errors![0];
      expect(err.extensions?.code).toBe('BAD_USER_INPUT');
      return err;
    };

    it.each<[string, string, string, number]>([
      ['syntax', 'steps.a.output.x >', 'INVALID_CONDITION', 18],
      ['unknown variable', 'foo == 1', 'INVALID_CONDITION', 0],
      ['type error', 'input.ok && size(1) > 0', 'INVALID_CONDITION', 12],
      ['not a bool', '"yes"', 'INVALID_CONDITION', 0],
      ['unknown step', 'steps.nope.output == null', 'CONDITION_REFERENCES_NON_DEPENDENCY', 6],
      ['non-dependency', 'steps.c.output == null', 'CONDITION_REFERENCES_NON_DEPENDENCY', 6],
    ])('%s → %s with the field path and offset', async (_, when, reason, offset) => {
      const err = await refuse('bad-when', [
        { key: 'a', type: 'noop' },
        { key: 'b', type: 'noop', dependsOn: ['a'], when },
        { key: 'c', type: 'noop' },
      ]);
      expect(err.message).toContain('steps[1].when');
      expect(err.extensions).toMatchObject({ reason, field: 'steps[1].when', offset, step: 'b' });
    });

    it.each<[string, unknown, string]>([
      ['sleep', { ms: -5 }, 'steps[0].input.ms'],
      ['sleep', { ms: 'soon' }, 'steps[0].input.ms'],
      ['sleep', 'not an object', 'steps[0].input'],
      ['http', { url: 'not a url' }, 'steps[0].input.url'],
      ['http', { url: 'ftp://127.0.0.1/x' }, 'steps[0].input.url'],
      ['http', { url: 'http://127.0.0.1/x', method: 'FETCH' }, 'steps[0].input.method'],
      ['http', { url: 'http://127.0.0.1/x', timeoutMs: 0 }, 'steps[0].input.timeoutMs'],
      ['http', { url: 'http://127.0.0.1/x', headers: { a: 1 } }, 'steps[0].input.headers.a'],
    ])('a literal %s input %j → BAD_USER_INPUT naming %s', async (type, input, field) => {
      const err = await refuse('bad-input', [{ key: 's', type, input }]);
      expect(err.extensions).toMatchObject({ reason: 'INVALID_STEP_INPUT', field, step: 's' });
      expect(err.message).toContain(field);
    });

    it('templated built-in inputs are left to run time', async () => {
      await register('templated-input', [
        { key: 's', type: 'sleep', input: { ms: '{{ input.ms }}' } },
        { key: 'h', type: 'http', input: { url: '{{ input.url }}', method: '{{ input.method }}' } },
      ]);
    });
  });
});
