import Redis from 'ioredis';
import { SubscriptionClient } from 'subscriptions-transport-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { ManualClock } from '../../src/domain/manual-clock';
import { collect, startTestApp, type GqlResult, type TestApp } from '../helpers/app';
import { until } from '../helpers/gates';
import { REAL_REDIS } from '../helpers/db';

/**
 * The run lifecycle under faults, through the raw worker protocol: who pays when a worker dies or
 * freezes (the system, not the step's attempts), attempt numbering across retryRun.
 *
 * The conductor runs on a manual clock: its reaper fires when the test moves it and in-memory
 * leases expire by it. With REDIS_URL a lease expires by the Redis server's clock, which no test
 * can move: that expiry is waited for in real time first (as in leases.test.ts).
 */

const REGISTER = `mutation($input: WorkflowInput!) { registerWorkflow(input: $input) { version steps { key retry { maxAttempts maxFaults } } } }`;
const START = `mutation($wf: String!, $input: JSON) { startRun(workflow: $wf, input: $input) { id } }`;
const CLAIM = `mutation($queue: String!, $worker: String!, $leaseMs: Int) {
  claimTasks(queue: $queue, workerId: $worker, leaseMs: $leaseMs) { leaseToken leaseExpiresAt task { id runId key attempt status } }
}`;
const CLAIM_WAIT = `mutation($queue: String!, $worker: String!, $waitMs: Int) {
  claimTasks(queue: $queue, workerId: $worker, leaseMs: 1000, waitMs: $waitMs) { leaseToken task { id attempt } }
}`;
const RENEW = `mutation($id: ID!, $token: String!) { renewLease(taskId: $id, leaseToken: $token) { leaseExpiresAt } }`;
const COMPLETE = `mutation($id: ID!, $token: String!, $output: JSON) { completeTask(taskId: $id, leaseToken: $token, output: $output) { id status attempt } }`;
const FAIL = `mutation($id: ID!, $token: String!, $error: String!, $retryable: Boolean) {
  failTask(taskId: $id, leaseToken: $token, error: $error, retryable: $retryable) { id status attempt }
}`;
const RETRY = `mutation($id: ID!) { retryRun(id: $id) { id status } }`;
const RUN = `query($id: ID!) {
  run(id: $id) {
    status error
    tasks { key status attempt failures faults error attempts { attempt workerId outcome cause fault } }
    events { seq type status taskKey attempt data }
  }
}`;

interface Lease {
  leaseToken: string;
  leaseExpiresAt: string;
  task: { id: string; runId: string; key: string; attempt: number; status: string };
}
interface RunView {
  status: string;
  error: string | null;
  tasks: {
    key: string;
    status: string;
    attempt: number;
    failures: number;
    faults: number;
    error: string | null;
    attempts: { attempt: number; workerId: string; outcome: string | null; cause: string | null; fault: boolean }[];
  }[];
  events: { seq: number; type: string; status: string; taskKey: string | null; attempt: number | null; data: any }[];
}

const code = (r: GqlResult) => r.errors?.[0]?.extensions?.code;
const REAPER_MS = 50;
const LEASE_MS = 1000;

describe('the default retry policy survives faults of the system', () => {
  let t: TestApp;
  let admin: Redis | null = null;
  const clock = new ManualClock(new Date());
  const run = async (id: string) => (await t.ok<{ run: RunView }>(RUN, { id })).run;
  const claim = async (queue: string, worker: string) => (await t.ok<{ claimTasks: Lease[] }>(CLAIM, { queue, worker, leaseMs: LEASE_MS })).claimTasks;
  const start = async (wf: string) => (await t.ok(START, { wf })).startRun.id as string;

  /** Lets the lease expire (by the Redis clock in real time first, when leases live there) and the reaper run. */
  const expire = async (lease: Lease) => {
    const expiry = new Date(lease.leaseExpiresAt).getTime();
    if (admin) {
      for (;;) {
        const [s, us] = await admin.time();
        if (Number(s) * 1000 + Math.floor(Number(us) / 1000) > expiry + 1) break;
        await new Promise((r) => setTimeout(r, 5));
      }
    }
    const reclaimed = new Promise<void>((resolve) => {
      const on = (e: { taskId: string }) => {
        if (e.taskId !== lease.task.id) return;
        t.app.hooks.off('task:reclaimed', on);
        resolve();
      };
      t.app.hooks.on('task:reclaimed', on);
    });
    await clock.advance(Math.max(0, expiry - clock.now().getTime()) + REAPER_MS);
    await reclaimed;
  };

  beforeAll(async () => {
    t = await startTestApp({ clock, env: { LEASE_TTL_MS: String(LEASE_MS), REAPER_INTERVAL_MS: String(REAPER_MS) } });
    if (REAL_REDIS) admin = new Redis(process.env['REDIS_URL']!);
    // No retry policy given: the default one applies.
    const registered = await t.ok(REGISTER, { input: { name: 'plain', steps: [{ key: 'work', type: 'job', queue: 'life-q' }] } });
    expect(registered.registerWorkflow.steps[0].retry).toEqual({ maxAttempts: 3, maxFaults: 10 });
    await t.ok(REGISTER, {
      input: { name: 'strict', steps: [{ key: 'work', type: 'job', queue: 'strict-q', retry: { maxAttempts: 1, maxFaults: 1 } }] },
    });
    await t.ok(REGISTER, {
      input: {
        name: 'pair',
        steps: [
          { key: 'a', type: 'job', queue: 'pair-a', retry: { maxAttempts: 1 } },
          { key: 'b', type: 'job', queue: 'pair-b', retry: { maxAttempts: 1 } },
        ],
      },
    });
  });

  afterAll(async () => {
    admin?.disconnect();
    await t?.close();
  });

  it('a worker killed mid-task: the task goes back to its queue, another worker finishes it, the run SUCCEEDS', async () => {
    const id = await start('plain');
    const [dead] = await claim('life-q', 'dead-worker');
    expect(dead!.task.attempt).toBe(1);
    // The worker dies: no heartbeat, no result.
    await expire(dead!);

    const [live] = await claim('life-q', 'live-worker');
    expect(live!.task).toMatchObject({ id: dead!.task.id, attempt: 2 });
    await t.ok(COMPLETE, { id: live!.task.id, token: live!.leaseToken, output: { ok: true } });

    const r = await run(id);
    expect(r.status).toBe('SUCCEEDED');
    expect(r.tasks[0]).toMatchObject({ status: 'SUCCEEDED', attempt: 2, failures: 0, faults: 1 });
    expect(r.tasks[0]!.attempts).toEqual([
      { attempt: 1, workerId: 'dead-worker', outcome: 'LEASE_EXPIRED', cause: 'SYSTEM', fault: true },
      { attempt: 2, workerId: 'live-worker', outcome: 'SUCCEEDED', cause: 'NONE', fault: false },
    ]);
    const requeued = r.events.find((e) => e.taskKey === 'work' && e.status === 'QUEUED' && e.attempt === 1)!;
    expect(requeued.data).toMatchObject({ failure: 'LEASE_EXPIRED', fault: true, retryInMs: 0 });
  });

  it('a worker frozen past its lease: its late heartbeat and result are refused, the run SUCCEEDS with the result recorded once', async () => {
    const id = await start('plain');
    const [frozen] = await claim('life-q', 'frozen-worker');
    await expire(frozen!);
    const [live] = await claim('life-q', 'live-worker');
    expect(live!.task.attempt).toBe(2);

    // The frozen worker wakes up: its heartbeat and its result come too late.
    expect(code(await t.gql(RENEW, { id: frozen!.task.id, token: frozen!.leaseToken }))).toBe('LEASE_LOST');
    expect(code(await t.gql(COMPLETE, { id: frozen!.task.id, token: frozen!.leaseToken, output: 'late' }))).toBe('LEASE_LOST');
    await t.ok(COMPLETE, { id: live!.task.id, token: live!.leaseToken, output: 'on time' });

    const r = await run(id);
    expect(r.status).toBe('SUCCEEDED');
    expect(r.tasks[0]!.attempts.map((a) => [a.attempt, a.outcome, a.cause])).toEqual([
      [1, 'FENCED', 'SYSTEM'],
      [2, 'SUCCEEDED', 'NONE'],
    ]);
    expect(r.events.filter((e) => e.taskKey === 'work' && e.status === 'SUCCEEDED')).toHaveLength(1);
  });

  it("faults do not spend the step's attempts: a one-attempt step survives its fault, and its own failure still ends it", async () => {
    const id = await start('strict');
    const [first] = await claim('strict-q', 'dead-worker');
    await expire(first!);
    const [second] = await claim('strict-q', 'live-worker');
    expect(second!.task.attempt).toBe(2);
    await t.ok(FAIL, { id: second!.task.id, token: second!.leaseToken, error: 'bad input', retryable: true });

    const r = await run(id);
    expect(r.status).toBe('FAILED');
    expect(r.tasks[0]).toMatchObject({ status: 'FAILED', failures: 1, faults: 1, error: 'bad input' });
    expect(r.tasks[0]!.attempts.map((a) => [a.outcome, a.cause])).toEqual([
      ['LEASE_EXPIRED', 'SYSTEM'],
      ['FAILED', 'STEP'],
    ]);
  });

  it('a poison task that kills every worker still ends: the fault past maxFaults fails it', async () => {
    const id = await start('strict');
    for (const worker of ['w1', 'w2']) {
      const [lease] = await claim('strict-q', worker);
      await expire(lease!);
    }
    const r = await run(id);
    expect(r.status).toBe('FAILED');
    expect(r.tasks[0]).toMatchObject({ status: 'FAILED', failures: 0, faults: 2 });
    expect(r.tasks[0]!.error).toContain('fault 2; the step allows 1');
    expect(r.tasks[0]!.attempts.map((a) => a.cause)).toEqual(['SYSTEM', 'SYSTEM']);
  });

  it('attempts-ended metrics say whose fault each end was', async () => {
    const text = await t.app.metrics.registry.metrics();
    const value = (outcome: string, cause: string) =>
      Number(new RegExp(`maestro_task_attempts_ended_total\\{outcome="${outcome}",cause="${cause}"\\} (\\d+)`).exec(text)?.[1]);
    expect(value('LEASE_EXPIRED', 'SYSTEM')).toBeGreaterThanOrEqual(5);
    expect(value('FAILED', 'STEP')).toBeGreaterThanOrEqual(1);
    expect(value('SUCCEEDED', 'NONE')).toBeGreaterThanOrEqual(2);
  });

  it('retryRun continues the attempt numbering: attempt 1 FAILED, attempt 2 SUCCEEDED, the worker sees attempt 2', async () => {
    const id = await start('strict');
    const [first] = await claim('strict-q', 'w');
    await t.ok(FAIL, { id: first!.task.id, token: first!.leaseToken, error: 'boom', retryable: false });
    expect((await run(id)).status).toBe('FAILED');

    await t.ok(RETRY, { id });
    const [second] = await claim('strict-q', 'w');
    expect(second!.task.attempt).toBe(2);
    await t.ok(COMPLETE, { id: second!.task.id, token: second!.leaseToken, output: null });

    const r = await run(id);
    expect(r.status).toBe('SUCCEEDED');
    expect(r.tasks[0]).toMatchObject({ attempt: 2, failures: 0, faults: 0 });
    expect(r.tasks[0]!.attempts.map((a) => [a.attempt, a.outcome])).toEqual([
      [1, 'FAILED'],
      [2, 'SUCCEEDED'],
    ]);
    expect(r.events.filter((e) => e.taskKey === 'work' && e.status === 'RUNNING').map((e) => e.attempt)).toEqual([1, 2]);
  });

  it("a run's terminal event is its last: a sibling still running when the run fails is cancelled, its late result refused", async () => {
    const id = await start('pair');
    const [a] = await claim('pair-a', 'wa');
    const [b] = await claim('pair-b', 'wb');
    await t.ok(FAIL, { id: a!.task.id, token: a!.leaseToken, error: 'broken', retryable: false });

    // b was running: it is cancelled with the run, and hears so on its next heartbeat and result.
    expect(code(await t.gql(RENEW, { id: b!.task.id, token: b!.leaseToken }))).toBe('RUN_CANCELLED');
    const late = await t.gql(COMPLETE, { id: b!.task.id, token: b!.leaseToken, output: 'late' });
    expect(code(late)).toBe('RUN_CANCELLED');
    expect(late.errors![0]!.message).toContain('ended FAILED');

    const r = await run(id);
    expect(r.status).toBe('FAILED');
    expect(r.tasks.find((x) => x.key === 'b')).toMatchObject({ status: 'CANCELLED' });
    expect(r.tasks.find((x) => x.key === 'b')!.attempts.map((x) => x.outcome)).toEqual(['CANCELLED']);
    const last = r.events.at(-1)!;
    expect(last).toMatchObject({ type: 'RUN_STATUS', status: 'FAILED' });
    expect(r.events.filter((e) => e.taskKey === 'b').map((e) => e.status)).toEqual(['QUEUED', 'RUNNING', 'CANCELLED']);
  });

  describe("runUpdated completes after the run's terminal event", () => {
    const RUN_UPDATED = `subscription($id: ID!, $afterSeq: Int) { runUpdated(id: $id, afterSeq: $afterSeq) { seq type status } }`;
    type Ev = { runUpdated: { seq: number; type: string; status: string } };
    /** A finished run and its last seq. */
    const finished = async () => {
      const id = await start('strict');
      const [lease] = await claim('strict-q', 'w');
      await t.ok(COMPLETE, { id: lease!.task.id, token: lease!.leaseToken, output: null });
      const r = await run(id);
      expect(r.status).toBe('SUCCEEDED');
      return { id, lastSeq: r.events.at(-1)!.seq };
    };
    /** Everything the legacy protocol (Playground's) delivers until it completes. */
    const legacy = (variables: Record<string, unknown>) =>
      new Promise<Ev['runUpdated'][]>((resolve, reject) => {
        const client = new SubscriptionClient(t.app.url.replace(/^http/, 'ws'), { reconnect: false }, WebSocket);
        const seen: Ev['runUpdated'][] = [];
        const timer = setTimeout(() => {
          client.close();
          reject(new Error(`legacy subscription did not complete: ${JSON.stringify(seen)}`));
        }, 10_000);
        client.request({ query: RUN_UPDATED, variables }).subscribe({
          next: (r) => (r.errors ? reject(new Error(JSON.stringify(r.errors))) : seen.push((r.data as Ev).runUpdated)),
          error: reject,
          complete: () => {
            clearTimeout(timer);
            client.close();
            resolve(seen);
          },
        });
      });

    it('replaying a finished run completes after its terminal event (graphql-ws and the legacy protocol)', async () => {
      const { id, lastSeq } = await finished();
      const modern = await collect<Ev>(t.ws(), RUN_UPDATED, { id, afterSeq: 0 }, () => false, 10_000).done;
      expect(modern.map((e) => e.runUpdated.seq)).toEqual(Array.from({ length: lastSeq }, (_, i) => i + 1));
      expect(modern.at(-1)!.runUpdated).toMatchObject({ type: 'RUN_STATUS', status: 'SUCCEEDED' });
      const old = await legacy({ id, afterSeq: 0 });
      expect(old.map((e) => e.seq)).toEqual(modern.map((e) => e.runUpdated.seq));
    });

    it('resuming after the terminal event completes at once with nothing (both protocols)', async () => {
      const { id, lastSeq } = await finished();
      expect(await collect<Ev>(t.ws(), RUN_UPDATED, { id, afterSeq: lastSeq }, () => false, 10_000).done).toEqual([]);
      expect(await legacy({ id, afterSeq: lastSeq })).toEqual([]);
      // Resuming in the middle replays the rest, then completes.
      const rest = await collect<Ev>(t.ws(), RUN_UPDATED, { id, afterSeq: lastSeq - 2 }, () => false, 10_000).done;
      expect(rest.map((e) => e.runUpdated.seq)).toEqual([lastSeq - 1, lastSeq]);
    });

    it('a live subscriber is completed by the terminal event', async () => {
      const id = await start('strict');
      const live = collect<Ev>(t.ws(), RUN_UPDATED, { id }, () => false, 10_000);
      const [lease] = await claim('strict-q', 'w');
      await t.ok(COMPLETE, { id: lease!.task.id, token: lease!.leaseToken, output: null });
      const events = await live.done;
      expect(events.at(-1)!.runUpdated).toMatchObject({ type: 'RUN_STATUS', status: 'SUCCEEDED' });
    });
  });

  it('a lease token carries a secret: the right fence with a wrong or missing secret is refused as LEASE_LOST', async () => {
    const id = await start('strict');
    const [lease] = await claim('strict-q', 'w');
    expect(lease!.leaseToken).toMatch(/^\d+\.[A-Za-z0-9_-]{22}$/);
    const [fence, secret] = lease!.leaseToken.split('.') as [string, string];
    const forged = `${fence}.${secret.startsWith('A') ? 'B' : 'A'}${secret.slice(1)}`;
    for (const token of [forged, fence]) {
      expect(code(await t.gql(RENEW, { id: lease!.task.id, token })), token).toBe('LEASE_LOST');
      expect(code(await t.gql(COMPLETE, { id: lease!.task.id, token, output: 'forged' })), token).toBe('LEASE_LOST');
      expect(code(await t.gql(FAIL, { id: lease!.task.id, token, error: 'forged', retryable: false })), token).toBe('LEASE_LOST');
    }
    // The holder's own token still works, and nothing the forger sent was recorded.
    await t.ok(RENEW, { id: lease!.task.id, token: lease!.leaseToken });
    await t.ok(COMPLETE, { id: lease!.task.id, token: lease!.leaseToken, output: 'real' });
    const r = await run(id);
    expect(r.status).toBe('SUCCEEDED');
    expect(r.tasks[0]!.attempts.map((a) => a.outcome)).toEqual(['SUCCEEDED']);
    // The history shows the fencing number only, never the secret.
    expect((await t.ok(`query($id: ID!) { run(id: $id) { tasks { attempts { leaseToken } } } }`, { id })).run.tasks[0].attempts[0].leaseToken).toBe(fence);
  });

  describe('no work handed to a dead or frozen worker', () => {
    it('a worker frozen with its long poll open is not handed back the task it lost; a live worker gets it', async () => {
      const id = await start('plain');
      const [lost] = await claim('life-q', 'frozen');
      // The frozen worker's next long poll is already open (its process stops right after sending it).
      const poll = t.gql(CLAIM_WAIT, { queue: 'life-q', worker: 'frozen', waitMs: 30_000 });
      await until(() => t.app.services.tasks.waitingClaims > 0, 'the long poll to wait');
      await expire(lost!);
      // The reclaim woke the poll; it must not take the task back. A live worker does.
      const [live] = await claim('life-q', 'live');
      expect(live!.task).toMatchObject({ id: lost!.task.id, attempt: 2 });
      await t.ok(COMPLETE, { id: live!.task.id, token: live!.leaseToken, output: null });
      expect((await run(id)).status).toBe('SUCCEEDED');
      // Other work still reaches the open poll.
      const other = await start('plain');
      const got = (await poll).data!.claimTasks as { task: { id: string } }[];
      expect(got).toHaveLength(1);
      expect(got[0]!.task.id).not.toBe(lost!.task.id);
      const otherRun = await run(other);
      expect(otherRun.tasks[0]!.attempts.map((a) => a.workerId)).toEqual(['frozen']);
    });

    it('a claim whose caller went away while it committed gives its tasks back at once, the attempt not counted', async () => {
      const id = await start('strict');
      const caller = new AbortController();
      const leave = (e: { workerId: string; claimed: number }) => {
        if (e.workerId === 'leaving' && e.claimed > 0) caller.abort();
      };
      t.app.hooks.on('claim:committed', leave);
      const givenBack = new Promise<string[]>((resolve) => t.app.hooks.once('claim:undelivered', (e) => resolve(e.taskIds)));
      try {
        const tenantId = (await t.app.services.auth.authenticate(undefined)).tenantId;
        const leases = await t.app.services.tasks.claim(tenantId, { queue: 'strict-q', workerId: 'leaving', waitMs: 5_000 }, caller.signal);
        expect(leases).toEqual([]);
      } finally {
        t.app.hooks.off('claim:committed', leave);
      }
      expect(await givenBack).toHaveLength(1);
      const before = await run(id);
      expect(before.tasks[0]).toMatchObject({ status: 'QUEUED', attempt: 0, failures: 0, faults: 0 });
      expect(before.tasks[0]!.attempts.map((a) => [a.workerId, a.outcome])).toEqual([['leaving', 'RELEASED']]);
      // Queued again at once: the next worker gets it as attempt 1.
      const [next] = await claim('strict-q', 'next');
      expect(next!.task.attempt).toBe(1);
      await t.ok(COMPLETE, { id: next!.task.id, token: next!.leaseToken, output: null });
      expect((await run(id)).status).toBe('SUCCEEDED');
    });
  });
});
