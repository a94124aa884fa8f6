import { performance } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/domain/manual-clock';
import { startTestApp, waitForRun, type GqlResult, type TestApp } from '../helpers/app';
import { until } from '../helpers/gates';

/**
 * Retries, backoff, step and run timeouts, cancellation and retryRun, driven through the raw
 * GraphQL worker protocol the way a remote worker would: claim, heartbeat, complete, fail,
 * release. The conductor runs on a manual clock: a delay or a deadline comes due when the test
 * moves the clock, so each is checked to the millisecond and nothing waits on the wall clock.
 * One end-to-end case at the end runs on the system clock, for what only real time shows.
 */

const REGISTER = `mutation($input: WorkflowInput!) { registerWorkflow(input: $input) { version } }`;
const START = `mutation($wf: String!, $input: JSON) { startRun(workflow: $wf, input: $input) { id status } }`;
const CLAIM = `mutation($queue: String!, $max: Int, $leaseMs: Int, $waitMs: Int) {
  claimTasks(queue: $queue, workerId: "tw", max: $max, leaseMs: $leaseMs, waitMs: $waitMs) {
    leaseToken leaseExpiresAt task { id runId key attempt status input }
  }
}`;
const RENEW = `mutation($id: ID!, $fence: String!) { renewLease(taskId: $id, leaseToken: $fence) { leaseExpiresAt } }`;
const COMPLETE = `mutation($id: ID!, $fence: String!, $output: JSON) { completeTask(taskId: $id, leaseToken: $fence, output: $output) { id status attempt output } }`;
const FAIL = `mutation($id: ID!, $fence: String!, $error: String!, $retryable: Boolean) {
  failTask(taskId: $id, leaseToken: $fence, error: $error, retryable: $retryable) { id status attempt error }
}`;
const RELEASE = `mutation($id: ID!, $fence: String!) { releaseTask(taskId: $id, leaseToken: $fence) { id status attempt } }`;
const CANCEL = `mutation($id: ID!) { cancelRun(id: $id) { id status } }`;
const RETRY = `mutation($id: ID!) { retryRun(id: $id) { id status } }`;
const RUN = `query($id: ID!) {
  run(id: $id) {
    id status error output createdAt finishedAt
    tasks { id key status attempt input output error startedAt finishedAt attempts { attempt leaseToken outcome error startedAt finishedAt } }
    events { seq type status taskKey attempt data }
  }
}`;

interface Lease {
  leaseToken: string;
  leaseExpiresAt: string;
  task: { id: string; runId: string; key: string; attempt: number; status: string; input: unknown };
}
interface Attempt {
  attempt: number;
  leaseToken: string;
  outcome: string | null;
  error: string | null;
  startedAt: string;
  finishedAt: string | null;
}
interface TaskView {
  id: string;
  key: string;
  status: string;
  attempt: number;
  input: unknown;
  output: unknown;
  error: string | null;
  startedAt: string | null;
  finishedAt: string | null;
  attempts: Attempt[];
}
interface RunView {
  id: string;
  status: string;
  error: string | null;
  output: unknown;
  createdAt: string;
  finishedAt: string | null;
  tasks: TaskView[];
  events: { seq: number; type: string; status: string; taskKey: string | null; attempt: number | null; data: any }[];
}

const code = (r: GqlResult) => r.errors?.[0]?.extensions?.code;
const ms = (iso: string | null) => new Date(iso ?? NaN).getTime();

describe('retries, timeouts, cancel and retryRun over the worker protocol', () => {
  let t: TestApp;
  // Starts at the wall clock's time: Redis (which judges leases by its own clock) stays near it.
  const clock = new ManualClock(new Date());
  const run = async (id: string) => (await t.ok<{ run: RunView }>(RUN, { id })).run;
  const task = (r: RunView, key: string) => r.tasks.find((x) => x.key === key)!;
  const claim = async (queue: string, vars: { waitMs?: number; leaseMs?: number; max?: number } = {}) =>
    (await t.ok<{ claimTasks: Lease[] }>(CLAIM, { queue, ...vars })).claimTasks;
  const start = async (wf: string, input?: unknown) => (await t.ok(START, { wf, input })).startRun.id as string;

  /**
   * What a worker does while it works: heartbeat every `everyMs` of the clock until a renewal is
   * refused. Resolves with the refusal's code and when it came (ms of the clock since `from`).
   */
  const heartbeatUntilRefused = async (
    lease: Lease,
    from: Date,
    everyMs = 100,
    maxMs = 10_000,
  ): Promise<{ code: unknown; afterMs: number; renewals: number }> => {
    let renewals = 0;
    while (clock.now().getTime() - from.getTime() <= maxMs) {
      const r = await t.gql(RENEW, { id: lease.task.id, fence: lease.leaseToken });
      if (r.errors) return { code: code(r), afterMs: clock.now().getTime() - from.getTime(), renewals };
      renewals++;
      await clock.advance(everyMs);
    }
    throw new Error(`renewals of ${lease.task.id} were never refused within ${maxMs} ms of the clock`);
  };

  beforeAll(async () => {
    // The production poll interval: a delay or deadline that came due only at the next poll would
    // show as up to 1 s late.
    t = await startTestApp({ clock, env: { LEASE_TTL_MS: '5000', REAPER_INTERVAL_MS: '50', SCHEDULER_POLL_INTERVAL_MS: '1000' } });
    const steps = (defs: object[]) => defs;
    await t.ok(REGISTER, {
      input: {
        name: 'flaky',
        steps: steps([
          { key: 'work', type: 'job', queue: 'flaky-q', retry: { maxAttempts: 3, initialDelayMs: 200, backoffFactor: 2, maxDelayMs: 10_000 } },
          { key: 'after', type: 'job', queue: 'flaky-q', dependsOn: ['work'] },
          // A root step nobody claims: still QUEUED when the run fails.
          { key: 'side', type: 'job', queue: 'nobody-q' },
        ]),
      },
    });
    await t.ok(REGISTER, {
      input: {
        name: 'fatal',
        steps: [
          { key: 'work', type: 'job', queue: 'fatal-q', retry: { maxAttempts: 3, initialDelayMs: 200 } },
          { key: 'after', type: 'noop', dependsOn: ['work'] },
        ],
      },
    });
    await t.ok(REGISTER, {
      input: { name: 'slow', steps: [{ key: 'work', type: 'job', queue: 'slow-q', timeoutMs: 500, retry: { maxAttempts: 2, initialDelayMs: 0 } }] },
    });
    await t.ok(REGISTER, {
      input: {
        name: 'bounded',
        timeoutMs: 600,
        steps: [
          { key: 'work', type: 'job', queue: 'bounded-q' },
          { key: 'next', type: 'job', queue: 'bounded-q', dependsOn: ['work'] },
        ],
      },
    });
    await t.ok(REGISTER, {
      input: {
        name: 'cancellable',
        steps: [
          { key: 'work', type: 'job', queue: 'cancel-q' },
          { key: 'next', type: 'noop', dependsOn: ['work'] },
        ],
      },
    });
    await t.ok(REGISTER, { input: { name: 'drained', steps: [{ key: 'work', type: 'job', queue: 'release-q' }] } });
    await t.ok(REGISTER, {
      input: {
        name: 'pipeline',
        steps: [
          { key: 'prep', type: 'noop', input: { n: '{{ input.n }}' } },
          { key: 'a', type: 'job', queue: 'pipe-q', dependsOn: ['prep'], input: { n: '{{ steps.prep.output.n }}' } },
          { key: 'b', type: 'job', queue: 'pipe-q', dependsOn: ['a'], input: { fromA: '{{ steps.a.output.v }}' } },
          { key: 'c', type: 'job', queue: 'pipe-q', dependsOn: ['b'] },
        ],
      },
    });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('backs off 200 ms then 400 ms (±20 %) between attempts, wakes the waiting claim when the delay ends, and fails the run once attempts are exhausted', async () => {
    const runId = await start('flaky');
    const figures: string[] = [];
    let lease = (await claim('flaky-q', { waitMs: 5_000 }))[0]!;
    expect(lease.task).toMatchObject({ key: 'work', attempt: 1 });
    for (const [attempt, nominal] of [
      [1, 200],
      [2, 400],
    ] as const) {
      const failed = (await t.ok(FAIL, { id: lease.task.id, fence: lease.leaseToken, error: `flaky ${attempt}`, retryable: true })).failTask;
      expect(failed).toMatchObject({ status: 'QUEUED', attempt, error: `flaky ${attempt}` });
      const view = await run(runId);
      const retried = view.events.find((e) => e.taskKey === 'work' && e.status === 'QUEUED' && e.attempt === attempt && e.data?.retryInMs !== undefined)!;
      const delay = retried.data.retryInMs as number;
      expect(delay).toBeGreaterThanOrEqual(0.8 * nominal);
      expect(delay).toBeLessThanOrEqual(1.2 * nominal);
      // The failed attempt ended now, by the conductor's clock: the task is available `delay` later.
      expect(ms(task(view, 'work').attempts[attempt - 1]!.finishedAt)).toBe(clock.now().getTime());

      // A waiting claim (its own deadline is 20 s of real time away): it must be woken.
      const waiting = claim('flaky-q', { waitMs: 20_000 });
      await until(() => t.app.services.tasks.waitingClaims === 1, 'the claim to wait');
      await clock.advance(delay - 1);
      // A millisecond before the delay ends: still waiting, and nothing to claim.
      expect(t.app.services.tasks.waitingClaims).toBe(1);
      expect(await claim('flaky-q')).toEqual([]);
      const dueAt = performance.now();
      await clock.advance(1);
      const [next] = await waiting;
      const answeredMs = performance.now() - dueAt;
      expect(next?.task).toMatchObject({ id: lease.task.id, key: 'work', attempt: attempt + 1 });
      expect(BigInt(next!.leaseToken.split('.')[0]!)).toBeGreaterThan(BigInt(lease.leaseToken.split('.')[0]!));
      figures.push(
        `attempt ${attempt}→${attempt + 1}: delay ${delay} ms (nominal ${nominal}); the waiting claim answered ${answeredMs.toFixed(1)} ms (real) after the clock reached the delay's end`,
      );
      lease = next!;
    }
    const last = (await t.ok(FAIL, { id: lease.task.id, fence: lease.leaseToken, error: 'flaky 3', retryable: true })).failTask;
    expect(last).toMatchObject({ status: 'FAILED', attempt: 3 });
    const done = await waitForRun(t, runId);
    expect(done.status).toBe('FAILED');
    expect(done.error).toContain('work');
    expect(done.error).toContain('flaky 3');
    const view = await run(runId);
    expect(task(view, 'work').attempts.map((a) => a.outcome)).toEqual(['FAILED', 'FAILED', 'FAILED']);
    // Steps that had not started are cancelled: the dependent (PENDING) and the unclaimed root (QUEUED).
    expect(task(view, 'after').status).toBe('CANCELLED');
    expect(task(view, 'side').status).toBe('CANCELLED');
    expect(task(view, 'side').attempts).toEqual([]);
    for (const f of figures) console.log(`[retry] ${f}`);
  });

  it('failTask retryable: false fails the step and the run at once, attempts left or not', async () => {
    const runId = await start('fatal');
    const [lease] = await claim('fatal-q', { waitMs: 5_000 });
    const failed = (await t.ok(FAIL, { id: lease!.task.id, fence: lease!.leaseToken, error: 'corrupt input', retryable: false })).failTask;
    expect(failed).toMatchObject({ status: 'FAILED', attempt: 1, error: 'corrupt input' });
    // Already final when failTask answers: no backoff, no waiting.
    const view = await run(runId);
    expect(view.status).toBe('FAILED');
    expect(view.error).toContain('corrupt input');
    expect(task(view, 'after').status).toBe('CANCELLED');
    expect(await claim('fatal-q')).toEqual([]);
  });

  it('a step timeoutMs bounds one attempt even while the worker keeps renewing; the step is retried per policy', async () => {
    const runId = await start('slow');
    const [lease] = await claim('slow-q', { waitMs: 5_000, leaseMs: 5_000 });
    const claimedAt = clock.now();
    // The worker heartbeats every 100 ms, well within its 5 s lease; only the step's 500 ms bound ends it.
    const refused = await heartbeatUntilRefused(lease!, claimedAt);
    expect(refused).toEqual({ code: 'LEASE_LOST', afterMs: 500, renewals: 5 });
    expect(code(await t.gql(COMPLETE, { id: lease!.task.id, fence: lease!.leaseToken, output: { late: true } }))).toBe('LEASE_LOST');
    expect(code(await t.gql(FAIL, { id: lease!.task.id, fence: lease!.leaseToken, error: 'late' }))).toBe('LEASE_LOST');

    const [second] = await claim('slow-q', { waitMs: 5_000 });
    expect(second!.task).toMatchObject({ id: lease!.task.id, attempt: 2 });
    await t.ok(COMPLETE, { id: second!.task.id, fence: second!.leaseToken, output: { fast: true } });
    const done = await waitForRun(t, runId);
    expect(done.status).toBe('SUCCEEDED');
    const attempts = task(await run(runId), 'work').attempts;
    expect(attempts.map((a) => a.outcome)).toEqual(['TIMED_OUT', 'SUCCEEDED']);
    expect(attempts[0]!.error).toMatch(/timed out after 500 ms/);
    // Ended by a wake-up armed for the deadline, not by the 1 s poll.
    const lasted = ms(attempts[0]!.finishedAt) - ms(attempts[0]!.startedAt);
    expect(lasted).toBe(500);
    console.log(
      `[timeout] step timeoutMs=500, heartbeats every 100 ms of the clock: TIMED_OUT ${lasted} ms after the claim; LEASE_LOST after ${refused.renewals} accepted renewals`,
    );
  });

  it('a run-level timeoutMs fails the run and cancels the running attempt (its renewal answers RUN_CANCELLED)', async () => {
    const runId = await start('bounded');
    const [lease] = await claim('bounded-q', { waitMs: 5_000, leaseMs: 5_000 });
    const refused = await heartbeatUntilRefused(lease!, clock.now());
    expect(refused).toMatchObject({ code: 'RUN_CANCELLED', afterMs: 600 });
    expect(code(await t.gql(COMPLETE, { id: lease!.task.id, fence: lease!.leaseToken, output: {} }))).toBe('RUN_CANCELLED');
    const view = await run(runId);
    expect(view.status).toBe('FAILED');
    expect(view.error).toMatch(/timed out/);
    expect(task(view, 'work')).toMatchObject({ status: 'CANCELLED' });
    expect(task(view, 'work').attempts.map((a) => a.outcome)).toEqual(['CANCELLED']);
    expect(task(view, 'next').status).toBe('CANCELLED');
    const lasted = ms(view.finishedAt) - ms(view.createdAt);
    expect(lasted).toBe(600);
    console.log(`[timeout] run timeoutMs=600: run FAILED ${lasted} ms (clock) after it was created; "${view.error}"`);
  });

  it('cancelRun during a running attempt: renew answers RUN_CANCELLED, results are refused and change nothing; retryRun re-runs it', async () => {
    const runId = await start('cancellable');
    const [lease] = await claim('cancel-q', { waitMs: 5_000 });
    expect((await t.ok(CANCEL, { id: runId })).cancelRun.status).toBe('CANCELLED');
    const before = await run(runId);
    expect(task(before, 'work').status).toBe('CANCELLED');
    expect(task(before, 'work').attempts.map((a) => a.outcome)).toEqual(['CANCELLED']);
    expect(code(await t.gql(RENEW, { id: lease!.task.id, fence: lease!.leaseToken }))).toBe('RUN_CANCELLED');
    expect(code(await t.gql(COMPLETE, { id: lease!.task.id, fence: lease!.leaseToken, output: { late: 1 } }))).toBe('RUN_CANCELLED');
    expect(code(await t.gql(FAIL, { id: lease!.task.id, fence: lease!.leaseToken, error: 'late' }))).toBe('RUN_CANCELLED');
    expect(code(await t.gql(RELEASE, { id: lease!.task.id, fence: lease!.leaseToken }))).toBe('RUN_CANCELLED');
    expect(await run(runId)).toEqual(before);

    // A cancelled run can be retried: the cancelled steps run again under a new token.
    expect((await t.ok(RETRY, { id: runId })).retryRun.status).toBe('RUNNING');
    const [again] = await claim('cancel-q', { waitMs: 5_000 });
    // The attempt numbering carries on across the retry.
    expect(again!.task).toMatchObject({ id: lease!.task.id, attempt: 2 });
    expect(BigInt(again!.leaseToken.split('.')[0]!)).toBeGreaterThan(BigInt(lease!.leaseToken.split('.')[0]!));
    await t.ok(COMPLETE, { id: again!.task.id, fence: again!.leaseToken, output: { ok: true } });
    expect((await waitForRun(t, runId)).status).toBe('SUCCEEDED');
  });

  it('releaseTask queues the task again and does not count the attempt', async () => {
    // maxAttempts 1 (the default): two releases must not use up the only attempt.
    const runId = await start('drained');
    const tokens: string[] = [];
    for (let i = 0; i < 2; i++) {
      const [lease] = await claim('release-q', { waitMs: 5_000 });
      expect(lease!.task.attempt).toBe(1);
      tokens.push(lease!.leaseToken);
      expect((await t.ok(RELEASE, { id: lease!.task.id, fence: lease!.leaseToken })).releaseTask).toMatchObject({ status: 'QUEUED', attempt: 0 });
      expect(task(await run(runId), 'work')).toMatchObject({ status: 'QUEUED', attempt: 0 });
      expect(code(await t.gql(RENEW, { id: lease!.task.id, fence: lease!.leaseToken }))).toBe('LEASE_LOST');
    }
    // Released work is claimable at once (no backoff).
    const [last] = await claim('release-q');
    expect(last!.task.attempt).toBe(1);
    await t.ok(COMPLETE, { id: last!.task.id, fence: last!.leaseToken, output: { finally: true } });
    expect((await waitForRun(t, runId)).status).toBe('SUCCEEDED');
    const attempts = task(await run(runId), 'work').attempts;
    expect(attempts.map((a) => [a.attempt, a.outcome])).toEqual([
      [1, 'RELEASED'],
      [1, 'RELEASED'],
      [1, 'SUCCEEDED'],
    ]);
    // The history shows each token's fencing number, never its secret.
    expect(attempts.map((a) => a.leaseToken)).toEqual([...tokens, last!.leaseToken].map((token) => token.split('.')[0]));
  });

  it('retryRun keeps the outputs of succeeded steps and re-runs only the failed and cancelled ones', async () => {
    const runId = await start('pipeline', { n: 5 });
    const [a] = await claim('pipe-q', { waitMs: 5_000 });
    expect(a!.task).toMatchObject({ key: 'a', input: { n: 5 } });
    await t.ok(COMPLETE, { id: a!.task.id, fence: a!.leaseToken, output: { v: 42 } });
    const [b] = await claim('pipe-q', { waitMs: 5_000 });
    expect(b!.task).toMatchObject({ key: 'b', input: { fromA: 42 } });

    // CONFLICT while it runs.
    expect(code(await t.gql(RETRY, { id: runId }))).toBe('CONFLICT');
    await t.ok(FAIL, { id: b!.task.id, fence: b!.leaseToken, error: 'b broke', retryable: false });
    const failed = await run(runId);
    expect(failed.status).toBe('FAILED');
    expect(failed.tasks.map((x) => [x.key, x.status])).toEqual([
      ['prep', 'SUCCEEDED'],
      ['a', 'SUCCEEDED'],
      ['b', 'FAILED'],
      ['c', 'CANCELLED'],
    ]);

    // Another tenant cannot retry it, nor learn that it exists.
    const { key: other } = await t.app.services.auth.createKey('someone-else');
    const foreign = await t.gql(RETRY, { id: runId }, other);
    expect(code(foreign)).toBe('NOT_FOUND');
    expect(await run(runId)).toEqual(failed);

    expect((await t.ok(RETRY, { id: runId })).retryRun.status).toBe('RUNNING');
    const claimedKeys: string[] = [];
    for (;;) {
      const [next] = await claim('pipe-q', { waitMs: 5_000 });
      if (!next) throw new Error('the retried run stalled');
      claimedKeys.push(next.task.key);
      if (next.task.key === 'b') expect(next.task.input).toEqual({ fromA: 42 });
      await t.ok(COMPLETE, { id: next.task.id, fence: next.leaseToken, output: { step: next.task.key } });
      if (next.task.key === 'c') break;
    }
    expect(claimedKeys).toEqual(['b', 'c']);
    const done = await waitForRun(t, runId);
    expect(done.status).toBe('SUCCEEDED');
    expect(done.output).toEqual({ c: { step: 'c' } });
    const after = await run(runId);
    // Succeeded steps untouched: same output, same attempts, same timestamps.
    for (const key of ['prep', 'a']) expect(task(after, key)).toEqual(task(failed, key));
    expect(task(after, 'b').attempts.map((x) => x.outcome)).toEqual(['FAILED', 'SUCCEEDED']);
    expect(code(await t.gql(RETRY, { id: runId }))).toBe('CONFLICT');
  });
});

/**
 * End to end on the system clock, at the production SCHEDULER_POLL_INTERVAL_MS (1000 ms): the
 * manual-clock cases above prove when each wake-up is armed; this one proves real timers fire
 * them (setTimeout through the clock port), and prints how late, in real time. It waits on the
 * server's own signals (a woken long poll, hooks), never on a sleep. The three are armed right
 * after a timer pass (a built-in step becoming ready runs one), so a wake-up left to the poll
 * would be ~700 ms late; the bound (500 ms) leaves a loaded 2-core CI box room either way.
 */
describe('real time: timer wake-ups for remote work do not wait for the scheduler poll', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ env: { SCHEDULER_POLL_INTERVAL_MS: '1000', LEASE_TTL_MS: '5000' } });
    await t.ok(REGISTER, { input: { name: 'tick', steps: [{ key: 'only', type: 'noop' }] } });
    await t.ok(REGISTER, {
      input: { name: 'retry-once', steps: [{ key: 'work', type: 'job', queue: 'late-retry-q', retry: { maxAttempts: 2, initialDelayMs: 200 } }] },
    });
    await t.ok(REGISTER, {
      input: { name: 'step-bound', steps: [{ key: 'work', type: 'job', queue: 'late-step-q', timeoutMs: 300, retry: { maxAttempts: 1 } }] },
    });
    await t.ok(REGISTER, { input: { name: 'run-bound', timeoutMs: 300, steps: [{ key: 'work', type: 'job', queue: 'late-run-q' }] } });
  });
  afterAll(async () => {
    await t?.close();
  });

  const start = async (wf: string) => (await t.ok(START, { wf })).startRun.id as string;
  const claim = async (queue: string, waitMs = 0) => (await t.ok<{ claimTasks: Lease[] }>(CLAIM, { queue, waitMs })).claimTasks;
  /** A built-in step becoming ready makes the scheduler run a timer pass now; wait for its run to end. */
  const timerPassNow = async () => expect((await waitForRun(t, await start('tick'))).status).toBe('SUCCEEDED');
  const attemptsOf = async (runId: string) => (await t.ok<{ run: RunView }>(RUN, { id: runId })).run;
  /** Resolves when the engine reports a task of `workflow` finished. */
  const taskFinished = (workflow: string) =>
    new Promise<void>((resolve) => {
      const listener = (e: { workflow: string }) => {
        if (e.workflow === workflow) {
          t.app.hooks.off('task:finished', listener);
          resolve();
        }
      };
      t.app.hooks.on('task:finished', listener);
    });

  it('reports how late a retry wakes its waiting claim, and how late step and run timeouts fire', async () => {
    const retryRun = await start('retry-once');
    const [first] = await claim('late-retry-q', 5_000);
    const stepEnded = taskFinished('step-bound');
    const stepRun = await start('step-bound');
    // Right after a timer pass the next poll is 1 s away; the three below come due within ~300 ms.
    await timerPassNow();
    // Step timeout: 300 ms per attempt; the worker holds a 5 s lease and says nothing.
    await claim('late-step-q', 5_000);
    // Retry backoff: 200 ms (±20 %), ending a waiting claim.
    await t.ok(FAIL, { id: first!.task.id, fence: first!.leaseToken, error: 'once' });
    const waitFrom = Date.now();
    const retried = claim('late-retry-q', 10_000).then((leases) => ({ leases, at: Date.now() }));
    // Run timeout: 300 ms.
    const boundRun = await start('run-bound');
    const [{ leases, at: gotAt }, , done] = await Promise.all([retried, stepEnded, waitForRun(t, boundRun)]);

    expect(leases[0]?.task.attempt).toBe(2);
    const view = await attemptsOf(retryRun);
    const delay = view.events.find((e) => e.status === 'QUEUED' && e.data?.retryInMs !== undefined)!.data.retryInMs as number;
    const retryLate = gotAt - (ms(view.tasks[0]!.attempts[0]!.finishedAt) + delay);
    // Never early, and woken before the long poll's own deadline.
    expect(retryLate).toBeGreaterThanOrEqual(0);
    expect(gotAt - waitFrom).toBeLessThan(10_000);
    await t.ok(COMPLETE, { id: leases[0]!.task.id, fence: leases[0]!.leaseToken });

    const step = (await attemptsOf(stepRun)).tasks[0]!.attempts[0]!;
    expect(step.outcome).toBe('TIMED_OUT');
    const stepLate = ms(step.finishedAt) - ms(step.startedAt) - 300;

    expect(done.status).toBe('FAILED');
    const r = await attemptsOf(boundRun);
    const runLate = ms(r.finishedAt) - ms(r.createdAt) - 300;

    console.log(
      `[timers] real time, SCHEDULER_POLL_INTERVAL_MS=1000: retry delay ${delay} ms woke the waiting claim ${retryLate} ms after it ended; ` +
        `step timeoutMs=300 fired ${stepLate} ms late; run timeoutMs=300 fired ${runLate} ms late`,
    );
    // Each comes due on a timer armed when it was scheduled, not at the next 1 s poll.
    expect(retryLate).toBeLessThan(500);
    expect(stepLate).toBeLessThan(500);
    expect(runLate).toBeLessThan(500);
  });
});
