import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, waitForRun, type TestApp } from '../helpers/app';

const REGISTER = `mutation($input: WorkflowInput!) { registerWorkflow(input: $input) { version } }`;
const CLAIM = `mutation($queue: String!, $max: Int, $leaseMs: Int, $waitMs: Int) {
  claimTasks(queue: $queue, workerId: "w1", max: $max, leaseMs: $leaseMs, waitMs: $waitMs) { leaseToken leaseExpiresAt task { id runId key input attempt status } }
}`;
const COMPLETE = `mutation($id: ID!, $fence: String!, $output: JSON) { completeTask(taskId: $id, leaseToken: $fence, output: $output) { id status output } }`;
const FAIL = `mutation($id: ID!, $fence: String!, $error: String!, $retryable: Boolean) { failTask(taskId: $id, leaseToken: $fence, error: $error, retryable: $retryable) { id status attempt error } }`;
const RENEW = `mutation($id: ID!, $fence: String!) { renewLease(taskId: $id, leaseToken: $fence) { leaseExpiresAt } }`;

describe('worker protocol', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ env: { LEASE_TTL_MS: '1000', REAPER_INTERVAL_MS: '50' } });
    await t.ok(REGISTER, {
      input: {
        name: 'remote',
        steps: [
          { key: 'prep', type: 'noop', input: { n: '{{ input.n }}' } },
          {
            key: 'work',
            type: 'resize',
            queue: 'images',
            dependsOn: ['prep'],
            input: { n: '{{ steps.prep.output.n }}' },
            retry: { maxAttempts: 2, initialDelayMs: 10 },
          },
          { key: 'after', type: 'noop', dependsOn: ['work'], input: '{{ steps.work.output }}' },
        ],
      },
    });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('claims with a long poll woken by the task becoming ready, completes with the token, and the run finishes', async () => {
    const claim = t.ok(CLAIM, { queue: 'images', waitMs: 10_000 });
    const { startRun } = await t.ok(`mutation { startRun(workflow: "remote", input: { n: 7 }) { id } }`);
    const [lease] = (await claim).claimTasks;
    expect(lease.task).toMatchObject({ runId: startRun.id, key: 'work', input: { n: 7 }, attempt: 1, status: 'RUNNING' });
    await t.ok(RENEW, { id: lease.task.id, fence: lease.leaseToken });
    const { completeTask } = await t.ok(COMPLETE, { id: lease.task.id, fence: lease.leaseToken, output: { done: true } });
    expect(completeTask.status).toBe('SUCCEEDED');
    // Completing twice with the current token is idempotent.
    expect((await t.ok(COMPLETE, { id: lease.task.id, fence: lease.leaseToken, output: { other: 1 } })).completeTask.output).toEqual({ done: true });
    const run = await waitForRun(t, startRun.id);
    expect(run).toMatchObject({ status: 'SUCCEEDED', output: { after: { done: true } } });
  });

  it('completeTasks records a batch in order, each answering on its own: a stale token fails only itself', async () => {
    const COMPLETE_MANY = `mutation($results: [TaskCompletionInput!]!) {
      completeTasks(results: $results) { taskId task { id status output } error { code message } }
    }`;
    const ids: string[] = [];
    for (const n of [1, 2, 3]) ids.push((await t.ok(`mutation($n: Int) { startRun(workflow: "remote", input: { n: $n }) { id } }`, { n })).startRun.id);
    const leases: { leaseToken: string; task: { id: string; runId: string } }[] = [];
    while (leases.length < 3) leases.push(...(await t.ok(CLAIM, { queue: 'images', max: 3, waitMs: 10_000 })).claimTasks);
    const [a, b, c] = leases as [(typeof leases)[0], (typeof leases)[0], (typeof leases)[0]];
    const stale = `${BigInt(b.leaseToken.split('.')[0]) - 1n}.${b.leaseToken.split('.')[1]}`;
    const { completeTasks } = await t.ok(COMPLETE_MANY, {
      results: [
        { taskId: a.task.id, leaseToken: a.leaseToken, output: { n: 'a' } },
        { taskId: b.task.id, leaseToken: stale, output: { n: 'stale' } },
        { taskId: c.task.id, leaseToken: c.leaseToken, output: { n: 'c' } },
      ],
    });
    expect(completeTasks).toEqual([
      { taskId: a.task.id, task: { id: a.task.id, status: 'SUCCEEDED', output: { n: 'a' } }, error: null },
      { taskId: b.task.id, task: null, error: { code: 'LEASE_LOST', message: expect.any(String) } },
      { taskId: c.task.id, task: { id: c.task.id, status: 'SUCCEEDED', output: { n: 'c' } }, error: null },
    ]);
    // The holder of b still owns it and completes it.
    await t.ok(COMPLETE, { id: b.task.id, fence: b.leaseToken, output: { n: 'b' } });
    for (const id of ids) expect((await waitForRun(t, id)).status).toBe('SUCCEEDED');

    const empty = await t.gql(COMPLETE_MANY, { results: [] });
    expect(empty.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect(empty.errors?.[0]?.message).toMatch(/1 to 100 results/);
    const tooMany = await t.gql(COMPLETE_MANY, { results: Array.from({ length: 101 }, () => ({ taskId: a.task.id, leaseToken: a.leaseToken })) });
    expect(tooMany.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
  });

  it('reclaims an expired lease, refuses the stale holder, and records the attempts', async () => {
    const { startRun } = await t.ok(`mutation { startRun(workflow: "remote", input: { n: 1 }) { id } }`);
    const [first] = (await t.ok(CLAIM, { queue: 'images', waitMs: 10_000 })).claimTasks;
    // No heartbeat: after the 1 s lease the reaper hands the task back, to another worker (a
    // worker's own poll left open when its lease expired is never handed back the task it lost).
    const [second] = (await t.ok(CLAIM.replace('"w1"', '"w2"'), { queue: 'images', waitMs: 10_000 })).claimTasks;
    expect(second.task.id).toBe(first.task.id);
    expect(BigInt(second.leaseToken.split('.')[0])).toBeGreaterThan(BigInt(first.leaseToken.split('.')[0]));
    const stale = await t.gql(COMPLETE, { id: first.task.id, fence: first.leaseToken, output: { stale: true } });
    expect(stale.errors?.[0]?.extensions?.code).toBe('LEASE_LOST');
    const renew = await t.gql(RENEW, { id: first.task.id, fence: first.leaseToken });
    expect(renew.errors?.[0]?.extensions?.code).toBe('LEASE_LOST');
    await t.ok(COMPLETE, { id: second.task.id, fence: second.leaseToken, output: { fresh: true } });
    const run = await waitForRun(t, startRun.id);
    expect(run.output).toEqual({ after: { fresh: true } });
    const { run: withAttempts } = await t.ok(`query($id: ID!) { run(id: $id) { tasks { key attempts { attempt leaseToken outcome workerId } } } }`, {
      id: startRun.id,
    });
    const work = withAttempts.tasks.find((x: { key: string }) => x.key === 'work');
    expect(work.attempts.map((a: { outcome: string }) => a.outcome)).toEqual(['FENCED', 'SUCCEEDED']);
  });

  it('fails at once with retryable: false, and retryRun re-runs from the failed step keeping earlier outputs', async () => {
    const { startRun } = await t.ok(`mutation { startRun(workflow: "remote", input: { n: 2 }) { id } }`);
    const [lease] = (await t.ok(CLAIM, { queue: 'images', waitMs: 10_000 })).claimTasks;
    const { failTask } = await t.ok(FAIL, { id: lease.task.id, fence: lease.leaseToken, error: 'bad image', retryable: false });
    expect(failTask).toMatchObject({ status: 'FAILED', attempt: 1 });
    const failed = await waitForRun(t, startRun.id);
    expect(failed.status).toBe('FAILED');
    const prepBefore = failed.tasks.find((x: { key: string }) => x.key === 'prep');

    const { retryRun } = await t.ok(`mutation($id: ID!) { retryRun(id: $id) { status } }`, { id: startRun.id });
    expect(retryRun.status).toBe('RUNNING');
    const [again] = (await t.ok(CLAIM, { queue: 'images', waitMs: 10_000 })).claimTasks;
    expect(again.task).toMatchObject({ id: lease.task.id, attempt: 2, input: { n: 2 } });
    await t.ok(COMPLETE, { id: again.task.id, fence: again.leaseToken, output: { ok: 2 } });
    const done = await waitForRun(t, startRun.id);
    expect(done.status).toBe('SUCCEEDED');
    expect(done.tasks.find((x: { key: string }) => x.key === 'prep')).toEqual(prepBefore);
    const conflict = await t.gql(`mutation($id: ID!) { retryRun(id: $id) { status } }`, { id: startRun.id });
    expect(conflict.errors?.[0]?.extensions?.code).toBe('CONFLICT');
  });

  it('cancelling a run makes the running attempt hear RUN_CANCELLED and refuses its completion', async () => {
    const { startRun } = await t.ok(`mutation { startRun(workflow: "remote", input: { n: 3 }) { id } }`);
    const [lease] = (await t.ok(CLAIM, { queue: 'images', waitMs: 10_000 })).claimTasks;
    await t.ok(`mutation($id: ID!) { cancelRun(id: $id) { status } }`, { id: startRun.id });
    expect((await t.gql(RENEW, { id: lease.task.id, fence: lease.leaseToken })).errors?.[0]?.extensions?.code).toBe('RUN_CANCELLED');
    expect((await t.gql(COMPLETE, { id: lease.task.id, fence: lease.leaseToken })).errors?.[0]?.extensions?.code).toBe('RUN_CANCELLED');
  });

  it('a long poll whose client went away claims nothing for it', async () => {
    await t.ok(REGISTER, { input: { name: 'gone', steps: [{ key: 'only', type: 'x', queue: 'gone-q' }] } });
    const abort = new AbortController();
    const poll = fetch(t.app.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: `mutation { claimTasks(queue: "gone-q", workerId: "gone-worker", waitMs: 10000) { leaseToken } }` }),
      signal: abort.signal,
    }).catch(() => null);
    // Abort only once the poll is really waiting on the server.
    const deadline = Date.now() + 5_000;
    while (t.app.services.tasks.waitingClaims === 0) {
      if (Date.now() > deadline) throw new Error('the long poll never reached the server');
      await new Promise((r) => setImmediate(r));
    }
    abort.abort();
    await poll;
    const { startRun } = await t.ok(`mutation { startRun(workflow: "gone") { id } }`);
    const [lease] = (await t.ok(`mutation { claimTasks(queue: "gone-q", workerId: "present", waitMs: 5000) { task { runId attempt workerId } } }`)).claimTasks;
    expect(lease.task).toEqual({ runId: startRun.id, attempt: 1, workerId: 'present' });
  });

  it.each([
    [{ queue: 'bad queue!' }, 'queue'],
    [{ queue: 'q', max: 0 }, 'max'],
    [{ queue: 'q', max: 101 }, 'max'],
    [{ queue: 'q', leaseMs: 10 }, 'leaseMs'],
    [{ queue: 'q', waitMs: 60_001 }, 'waitMs'],
  ])('claimTasks(%j) is BAD_USER_INPUT naming %s', async (vars, field) => {
    const { errors } = await t.gql(CLAIM, vars);
    expect(errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field });
  });

  it('answers a malformed token with BAD_USER_INPUT and an unknown task with LEASE_LOST', async () => {
    for (const token of ['abc', '01', '9999999999999999999', '-1']) {
      expect((await t.gql(COMPLETE, { id: '00000000-0000-0000-0000-000000000000', token })).errors?.[0]?.extensions?.code, token).toBe('BAD_USER_INPUT');
    }
    expect((await t.gql(COMPLETE, { id: '00000000-0000-0000-0000-000000000000', fence: '1' })).errors?.[0]?.extensions?.code).toBe('LEASE_LOST');
  });

  it('refuses values Postgres cannot store with BAD_USER_INPUT, not a server error', async () => {
    const nul = await t.gql(`mutation($input: JSON) { startRun(workflow: "remote", input: $input) { id } }`, { input: { n: 'a\u0000b' } });
    expect(nul.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    const key = await t.gql(`mutation { startRun(workflow: "remote", idempotencyKey: "k\u0000") { id } }`);
    expect(key.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    const cursor = await t.gql(`query($after: String) { runs(after: $after) { totalCount } }`, {
      after: Buffer.from(`2020-01-01T00:00:00.000Z|${'-'.repeat(36)}`).toString('base64url'),
    });
    expect(cursor.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
  });

  it('a step timeout bounds a sleeping attempt too (no spin on a parked task past its deadline)', async () => {
    await t.ok(REGISTER, { input: { name: 'nap', steps: [{ key: 'nap', type: 'sleep', input: { ms: 60000 }, timeoutMs: 300 }] } });
    const { startRun } = await t.ok(`mutation { startRun(workflow: "nap") { id } }`);
    const run = await waitForRun(t, startRun.id, 10_000);
    expect(run.status).toBe('FAILED');
    expect(run.tasks[0].error).toMatch(/timed out after 300 ms/);
  });

  it('a task running when its run failed is cancelled with it, not run again: its release answers RUN_CANCELLED', async () => {
    await t.ok(REGISTER, {
      input: {
        name: 'fork',
        steps: [
          { key: 'a', type: 'x', queue: 'fork-q' },
          { key: 'b', type: 'x', queue: 'fork-q' },
        ],
      },
    });
    const { startRun } = await t.ok(`mutation { startRun(workflow: "fork") { id } }`);
    const leases = (await t.ok(`mutation { claimTasks(queue: "fork-q", workerId: "w", max: 2, waitMs: 5000) { leaseToken task { id key } } }`)).claimTasks;
    expect(leases).toHaveLength(2);
    await t.ok(FAIL, { id: leases[0].task.id, fence: leases[0].leaseToken, error: 'boom', retryable: false });
    // The run failing cancelled the running sibling: giving it back answers RUN_CANCELLED.
    const released = await t.gql(`mutation($id: ID!, $tok: String!) { releaseTask(taskId: $id, leaseToken: $tok) { status } }`, {
      id: leases[1].task.id,
      tok: leases[1].leaseToken,
    });
    expect(released.errors?.[0]?.extensions).toMatchObject({ code: 'RUN_CANCELLED', runStatus: 'FAILED' });
    const run = await waitForRun(t, startRun.id);
    expect(run.status).toBe('FAILED');
    expect(run.tasks.find((x: { key: string }) => x.key === leases[1].task.key).status).toBe('CANCELLED');
  });
});
