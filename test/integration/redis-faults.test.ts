import Redis from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EventBus, ReadyBuiltIn, ReadyListener, Unsubscribe } from '../../src/events/event-bus';
import type { RunEvent } from '../../src/domain/model';
import { collect, startTestApp, type GqlResult, type TestApp } from '../helpers/app';
import { REAL_POSTGRES, REAL_REDIS } from '../helpers/db';
import { startPrivateRedis, type PrivateRedis } from '../helpers/private-services';

/**
 * Faults under load: Redis flushed, Redis killed and restarted, the conductor restarted. Redis
 * holds only liveness, so none of them may lose a run or apply a result twice: renewals
 * re-establish leases from Postgres, the orphan sweep reclaims attempts whose lease vanished
 * with no one renewing, and event subscribers resync from the stored history.
 *
 * The workers are small loops in this file speaking the raw GraphQL protocol
 * (claim → work → renew → complete), tolerant of transport errors like a real worker.
 */

const REGISTER = `mutation($input: WorkflowInput!) { registerWorkflow(input: $input) { version } }`;
const START = `mutation($wf: String!, $input: JSON) { startRun(workflow: $wf, input: $input) { id } }`;
const CLAIM = `mutation($queue: String!, $worker: String!, $max: Int, $leaseMs: Int, $waitMs: Int) {
  claimTasks(queue: $queue, workerId: $worker, max: $max, leaseMs: $leaseMs, waitMs: $waitMs) { leaseToken task { id runId key input } }
}`;
const RENEW = `mutation($id: ID!, $fence: String!) { renewLease(taskId: $id, leaseToken: $fence) { leaseExpiresAt } }`;
const COMPLETE = `mutation($id: ID!, $fence: String!, $output: JSON) { completeTask(taskId: $id, leaseToken: $fence, output: $output) { id status } }`;
const FINISHED = `query($wf: String!) { runs(first: 1, filter: { workflow: $wf, status: [SUCCEEDED, FAILED, CANCELLED] }) { totalCount } }`;
const PAGE = `query($wf: String!, $after: String) {
  runs(first: 50, after: $after, filter: { workflow: $wf }) {
    nodes { id status error tasks { id key status attempts { outcome leaseToken } } events { type status taskId } }
    pageInfo { endCursor hasNextPage }
  }
}`;

interface Lease {
  leaseToken: string;
  task: { id: string; runId: string; key: string; input: { i?: number } | null };
}
interface RunRecord {
  id: string;
  status: string;
  error: string | null;
  tasks: { id: string; key: string; status: string; attempts: { outcome: string | null; leaseToken: string }[] }[];
  events: { type: string; status: string; taskId: string | null }[];
}

const pause = (msec: number) => new Promise((r) => setTimeout(r, msec));

/** The app's event bus, its failed publishes reported: a decorator the app is given (`wrapBus`). */
class ObservedBus implements EventBus {
  /** Called with the events of each publish that threw. */
  onPublishFailed: ((events: readonly RunEvent[]) => void) | null = null;

  constructor(private readonly inner: EventBus) {}

  async publish(events: readonly RunEvent[]): Promise<void> {
    try {
      await this.inner.publish(events);
    } catch (e: unknown) {
      this.onPublishFailed?.(events);
      throw e;
    }
  }

  subscribe(tenantId: string, listener: (event: RunEvent) => void): Unsubscribe {
    return this.inner.subscribe(tenantId, listener);
  }

  signalReady(queues: readonly (string | null)[], builtIn?: readonly ReadyBuiltIn[]): Promise<void> {
    return this.inner.signalReady(queues, builtIn);
  }

  onReady(listener: ReadyListener): Unsubscribe {
    return this.inner.onReady(listener);
  }

  onResync(listener: () => void): Unsubscribe {
    return this.inner.onResync(listener);
  }

  announceRevoked(apiKeyIds: readonly string[]): Promise<void> {
    return this.inner.announceRevoked(apiKeyIds);
  }

  onRevoked(listener: (apiKeyId: string) => void): Unsubscribe {
    return this.inner.onRevoked(listener);
  }

  ping(): Promise<void> {
    return this.inner.ping();
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
const code = (r: GqlResult) => r.errors?.[0]?.extensions?.code;
/** Answers a worker acts on; anything else (a network error, a 500, Redis down) it retries. */
const FINAL_CODES = new Set(['LEASE_LOST', 'RUN_CANCELLED', 'BAD_USER_INPUT', 'NOT_FOUND']);

type Outcome<T> = { ok: true; data: T } | { ok: false; code: string | undefined; transient: boolean };

async function call<T>(t: TestApp, query: string, variables: Record<string, unknown>): Promise<Outcome<T>> {
  try {
    const r = await t.gql<T>(query, variables);
    if (!r.errors?.length) return { ok: true, data: r.data as T };
    const c = r.errors[0]?.extensions?.code;
    return { ok: false, code: c, transient: !FINAL_CODES.has(String(c)) };
  } catch {
    return { ok: false, code: undefined, transient: true };
  }
}

/**
 * A two-step DAG per run (a → b) on one queue: `runs` runs are 2 × `runs` tasks. `retry`: the
 * steps' policy; null leaves it out (the default policy).
 */
async function registerLoad(
  t: TestApp,
  workflow: string,
  queue: string,
  retry: Record<string, unknown> | null = { maxAttempts: 5, initialDelayMs: 0 },
): Promise<void> {
  const policy = retry ? { retry } : {};
  await t.ok(REGISTER, {
    input: {
      name: workflow,
      steps: [
        { key: 'a', type: 'job', queue, input: { i: '{{ input.i }}' }, ...policy },
        { key: 'b', type: 'job', queue, dependsOn: ['a'], input: { i: '{{ steps.a.output.i }}' }, ...policy },
      ],
    },
  });
}

interface LoadStats {
  /** Accepted completions as the workers saw them: task → the tokens it was accepted with. */
  accepted: Map<string, Set<string>>;
  /** Leases claimed just before the fault and renewed (re-established) after it. */
  heldAcross: { claimed: number; renewed: number; completed: number };
  /** When each task's first accepted completion came back. */
  acceptedAt: number[];
  refused: number;
  abandoned: number;
  transientErrors: number;
  faultAt: number;
  faultDoneAt: number;
  finishedAt: number;
}

/**
 * Starts `runs` runs, processes them with `workers` worker loops, runs `fault` once when half of
 * the tasks are done, and returns when every run is finished.
 */
async function runLoad(
  t: TestApp,
  o: { workflow: string; queue: string; runs: number; workers: number; hold: number; fault: (mark: () => void) => Promise<void>; timeoutMs: number },
): Promise<LoadStats> {
  const total = o.runs * 2;
  const stats: LoadStats = {
    accepted: new Map(),
    heldAcross: { claimed: 0, renewed: 0, completed: 0 },
    acceptedAt: [],
    refused: 0,
    abandoned: 0,
    transientErrors: 0,
    faultAt: 0,
    faultDoneAt: 0,
    finishedAt: 0,
  };
  for (let i = 0; i < o.runs; i += 25) {
    await Promise.all(Array.from({ length: Math.min(25, o.runs - i) }, (_, j) => t.ok(START, { wf: o.workflow, input: { i: i + j } })));
  }
  let stop = false;
  let faulted: Promise<void> | null = null;
  let done = 0;
  const deadline = Date.now() + o.timeoutMs;

  const retrying = async <T>(query: string, vars: Record<string, unknown>): Promise<Outcome<T>> => {
    for (;;) {
      const r = await call<T>(t, query, vars);
      if (r.ok || !r.transient || Date.now() > deadline) return r;
      stats.transientErrors++;
      await pause(25);
    }
  };

  /** Heartbeat, then report; false when the attempt was lost on the way. */
  const finish = async (lease: Lease): Promise<{ renewed: boolean; completed: boolean }> => {
    const renewed = await retrying(RENEW, { id: lease.task.id, fence: lease.leaseToken });
    if (!renewed.ok) {
      stats.abandoned++;
      return { renewed: false, completed: false };
    }
    const completed = await retrying(COMPLETE, { id: lease.task.id, fence: lease.leaseToken, output: { i: lease.task.input?.i, by: lease.leaseToken } });
    if (!completed.ok) {
      stats.refused++;
      return { renewed: true, completed: false };
    }
    const tokens = stats.accepted.get(lease.task.id) ?? new Set<string>();
    if (tokens.size === 0) {
      done++;
      stats.acceptedAt.push(Date.now());
    }
    tokens.add(lease.leaseToken);
    stats.accepted.set(lease.task.id, tokens);
    return { renewed: true, completed: true };
  };

  /**
   * The fault, with a worker that holds `hold` tasks across it: claimed just before, renewed
   * (its lease re-established) and completed after.
   */
  const inject = async () => {
    const held = await retrying<{ claimTasks: Lease[] }>(CLAIM, { queue: o.queue, worker: 'holder', max: o.hold, leaseMs: 5_000, waitMs: 2_000 });
    const leases = held.ok ? held.data.claimTasks : [];
    stats.heldAcross.claimed = leases.length;
    await o.fault(() => void (stats.faultAt = Date.now()));
    stats.faultDoneAt = Date.now();
    for (const r of await Promise.all(leases.map(finish))) {
      if (r.renewed) stats.heldAcross.renewed++;
      if (r.completed) stats.heldAcross.completed++;
    }
  };

  const work = async (lease: Lease) => {
    // The work itself: 5–25 ms.
    await pause(5 + Math.random() * 20);
    await finish(lease);
    if (done >= total / 2 && !faulted) faulted = inject();
  };

  const loop = async (id: string) => {
    while (!stop && Date.now() < deadline) {
      const r = await call<{ claimTasks: Lease[] }>(t, CLAIM, { queue: o.queue, worker: id, max: 4, leaseMs: 1_000, waitMs: 300 });
      if (!r.ok) {
        stats.transientErrors++;
        await pause(25);
        continue;
      }
      await Promise.all(r.data.claimTasks.map(work));
    }
  };

  const watcher = async () => {
    while (Date.now() < deadline) {
      const r = await call<{ runs: { totalCount: number } }>(t, FINISHED, { wf: o.workflow });
      if (r.ok && r.data.runs.totalCount === o.runs && faulted) {
        await faulted;
        stats.finishedAt = Date.now();
        break;
      }
      await pause(50);
    }
    stop = true;
  };

  await Promise.all([watcher(), ...Array.from({ length: o.workers }, (_, i) => loop(`worker-${i}`))]);
  if (!stats.finishedAt) throw new Error(`the load did not finish within ${o.timeoutMs} ms (${done} of ${total} tasks done)`);
  return stats;
}

/** How long after `from` the workers' completions were accepted again, and the rate afterwards. */
function resumed(stats: LoadStats, from: number): string {
  const after = stats.acceptedAt.filter((x) => x >= from);
  const before = stats.acceptedAt.filter((x) => x < stats.faultAt);
  const rate = (xs: number[]) => (xs.length > 1 ? (1000 * (xs.length - 1)) / (xs.at(-1)! - xs[0]!) : 0);
  return `first completion ${after.length ? after[0]! - from : NaN} ms later; ${rate(before).toFixed(0)} tasks/s before, ${rate(after).toFixed(0)} tasks/s after`;
}

async function allRuns(t: TestApp, workflow: string): Promise<RunRecord[]> {
  const out: RunRecord[] = [];
  let after: string | null = null;
  for (;;) {
    const page: { runs: { nodes: RunRecord[]; pageInfo: { endCursor: string | null; hasNextPage: boolean } } } = await t.ok(PAGE, { wf: workflow, after });
    const { runs } = page;
    out.push(...runs.nodes);
    if (!runs.pageInfo.hasNextPage) return out;
    after = runs.pageInfo.endCursor;
  }
}

/** Every run SUCCEEDED; every task's result recorded exactly once (history, events and workers agree). */
async function expectExactlyOnce(t: TestApp, workflow: string, runCount: number, stats: LoadStats): Promise<{ attemptsPerTask: number }> {
  const runs = await allRuns(t, workflow);
  expect(runs).toHaveLength(runCount);
  expect(runs.filter((r) => r.status !== 'SUCCEEDED').map((r) => [r.id, r.status, r.error])).toEqual([]);
  let attempts = 0;
  for (const run of runs) {
    for (const task of run.tasks) {
      attempts += task.attempts.length;
      expect(task.status).toBe('SUCCEEDED');
      // The history: exactly one attempt ended SUCCEEDED.
      expect(task.attempts.filter((a) => a.outcome === 'SUCCEEDED')).toHaveLength(1);
      // The events: the task became SUCCEEDED once.
      expect(run.events.filter((e) => e.type === 'TASK_STATUS' && e.taskId === task.id && e.status === 'SUCCEEDED')).toHaveLength(1);
      // The workers: their completions were accepted under one token only (a retried request with
      // the same token is the idempotent case).
      expect(stats.accepted.get(task.id)?.size).toBe(1);
    }
    expect(run.events.filter((e) => e.type === 'RUN_STATUS' && e.status === 'SUCCEEDED')).toHaveLength(1);
  }
  // The leases held across the fault: renewed (re-established from Postgres) and completed.
  expect(stats.heldAcross.claimed).toBeGreaterThan(0);
  expect(stats.heldAcross).toEqual({ claimed: stats.heldAcross.claimed, renewed: stats.heldAcross.claimed, completed: stats.heldAcross.claimed });
  return { attemptsPerTask: attempts / (runCount * 2) };
}

// ---------------------------------------------------------------------------------------------
// A private redis-server (test/helpers/private-services.ts): the faults must never touch the shared one.
// ---------------------------------------------------------------------------------------------

describe.runIf(REAL_POSTGRES && REAL_REDIS)('Redis faults mid-load (a dedicated redis-server)', () => {
  let redis: PrivateRedis;
  let t: TestApp;
  let bus: ObservedBus;

  beforeAll(async () => {
    redis = await startPrivateRedis();
    t = await startTestApp({
      wrapBus: (inner) => (bus = new ObservedBus(inner)),
      // RATE_LIMIT_COST_PER_TENANT off: the checks poll heavy run pages; the cost budget is tenant-cost.test's.
      env: { REDIS_URL: redis.url, LEASE_TTL_MS: '1000', REAPER_INTERVAL_MS: '50', ORPHAN_SWEEP_INTERVAL_MS: '100', RATE_LIMIT_COST_PER_TENANT: '0' },
    });
    await registerLoad(t, 'flushed', 'flush-q');
    await registerLoad(t, 'restarted', 'restart-q');
    await registerLoad(t, 'defaulted', 'default-q', null);
    await t.ok(REGISTER, { input: { name: 'sentinel', steps: [{ key: 'only', type: 'job', queue: 'sentinel-q' }] } });
  });
  afterAll(async () => {
    await t?.close();
    await redis?.close();
  });

  it('FLUSHALL halfway through 300 tasks: no double completion, every run SUCCEEDED, abandoned attempts swept', async () => {
    const admin = new Redis(redis.url);
    // A worker that dies at the moment of the flush: its leases vanish with it, so the reaper
    // never sees them expire; only the orphan sweep can hand its tasks back.
    let doomed: Lease[] = [];
    const orphanReclaims = new Map<string, number>();
    const onReclaimed = (e: { taskId: string }) => orphanReclaims.set(e.taskId, Date.now());
    t.app.hooks.on('task:reclaimed', onReclaimed);
    const stats = await runLoad(t, {
      workflow: 'flushed',
      queue: 'flush-q',
      runs: 150,
      workers: 6,
      hold: 3,
      timeoutMs: 40_000,
      fault: async (mark) => {
        doomed = (await t.ok<{ claimTasks: Lease[] }>(CLAIM, { queue: 'flush-q', worker: 'doomed', max: 3, leaseMs: 1_000, waitMs: 2_000 })).claimTasks;
        mark();
        expect(await admin.flushall()).toBe('OK');
      },
    });
    t.app.hooks.off('task:reclaimed', onReclaimed);
    await admin.quit();
    const { attemptsPerTask } = await expectExactlyOnce(t, 'flushed', 150, stats);

    // The dead worker's tasks were reclaimed (by the sweep) and finished by others; its late
    // results are refused.
    expect(doomed.length).toBeGreaterThan(0);
    for (const l of doomed) {
      expect(orphanReclaims.has(l.task.id)).toBe(true);
      expect(code(await t.gql(COMPLETE, { id: l.task.id, fence: l.leaseToken, output: { stale: true } }))).toBe('LEASE_LOST');
    }
    const runs = await allRuns(t, 'flushed');
    for (const l of doomed) {
      const task = runs.flatMap((r) => r.tasks).find((x) => x.id === l.task.id)!;
      expect(task.attempts.find((a) => a.leaseToken === l.leaseToken.split('.')[0])?.outcome).toBe('FENCED');
    }
    const sweptIn = Math.max(...doomed.map((l) => orphanReclaims.get(l.task.id)! - stats.faultAt));
    console.log(
      `[redis-faults] FLUSHALL at 150/300 tasks: all 150 runs SUCCEEDED, 0 double completions; ` +
        `${stats.heldAcross.renewed} of ${stats.heldAcross.claimed} leases held across it re-established by renewal and completed; ${doomed.length} abandoned attempts swept ${sweptIn} ms after the flush ` +
        `(2 × LEASE_TTL_MS=1000 + sweep interval 100); load finished ${stats.finishedAt - stats.faultAt} ms after the flush (${resumed(stats, stats.faultDoneAt)}); ` +
        `${attemptsPerTask.toFixed(3)} attempts/task, ${stats.refused} results refused, ${stats.abandoned} attempts abandoned, ${stats.transientErrors} transient errors`,
    );
  });

  it('Redis killed (-9) and restarted halfway through 300 tasks: no double completion, every run SUCCEEDED, a subscriber resyncs', async () => {
    // A run whose last event is committed while Redis is down: its live copy is lost, and the
    // subscriber must get it from the history once the bus is back.
    const sentinel = (await t.ok(START, { wf: 'sentinel' })).startRun.id as string;
    let seenAt = 0;
    const feed = collect<{ runUpdated: { seq: number; type: string; status: string } }>(
      t.ws(),
      `subscription($id: ID!) { runUpdated(id: $id, afterSeq: 0) { seq type status } }`,
      { id: sentinel },
      (items) => {
        const seen = items.some((i) => i.runUpdated.type === 'RUN_STATUS' && i.runUpdated.status === 'SUCCEEDED');
        if (seen && !seenAt) seenAt = Date.now();
        return seen;
      },
      40_000,
    );
    // Instrumentation only: did the live copy of the sentinel's last events get lost, and did the
    // bus announce a resync?
    let sentinelPublishFailed = 0;
    bus.onPublishFailed = (events) => {
      if (events.some((e) => e.runId === sentinel)) sentinelPublishFailed++;
    };
    let resyncs = 0;
    const offResync = bus.onResync(() => resyncs++);
    const [held] = (await t.ok<{ claimTasks: Lease[] }>(CLAIM, { queue: 'sentinel-q', worker: 'sentinel', leaseMs: 60_000, waitMs: 5_000 })).claimTasks;
    // Live: it has seen the claim (PENDING, QUEUED, RUNNING, RUNNING).
    while (feed.items.length < 4) await pause(10);

    let respawnedAt = 0;
    let downFor = 0;
    const stats = await runLoad(t, {
      workflow: 'restarted',
      queue: 'restart-q',
      runs: 150,
      workers: 6,
      hold: 3,
      timeoutMs: 45_000,
      fault: async (mark) => {
        mark();
        const killedAt = Date.now();
        await redis.kill();
        // Committed in Postgres while Redis is down; its publish fails.
        const done = await t.gql(COMPLETE, { id: held!.task.id, fence: held!.leaseToken, output: { during: 'outage' } });
        expect(done.errors).toBeUndefined();
        await redis.start();
        respawnedAt = Date.now();
        downFor = respawnedAt - killedAt;
      },
    });
    const items = await feed.done;
    bus.onPublishFailed = null;
    offResync();
    expect(resyncs).toBeGreaterThan(0);
    const resyncedIn = seenAt - respawnedAt;
    expect(items.map((i) => i.runUpdated.seq)).toEqual(items.map((_, i) => i + 1));
    expect(items.at(-1)!.runUpdated).toMatchObject({ type: 'RUN_STATUS', status: 'SUCCEEDED' });
    const { attemptsPerTask } = await expectExactlyOnce(t, 'restarted', 150, stats);
    console.log(
      `[redis-faults] Redis kill -9 at 150/300 tasks, down ${downFor} ms: all 150 runs SUCCEEDED, 0 double completions; ` +
        `${stats.heldAcross.renewed} of ${stats.heldAcross.claimed} leases held across it re-established by renewal and completed; load finished ${stats.finishedAt - respawnedAt} ms after the respawn (${resumed(stats, respawnedAt)}); ` +
        `the runUpdated subscriber got the SUCCEEDED event committed during the outage ${resyncedIn} ms after the respawn ` +
        `(its live publish ${sentinelPublishFailed ? 'failed' : 'went through'}; ${resyncs} bus resync(s)); ` +
        `${attemptsPerTask.toFixed(3)} attempts/task, ${stats.refused} results refused, ${stats.abandoned} attempts abandoned, ${stats.transientErrors} transient errors`,
    );
  });
  it('Redis killed (-9) and restarted empty halfway through 300 tasks, with the DEFAULT retry policy: 0 double completions, 0 failed runs', async () => {
    let downFor = 0;
    let respawnedAt = 0;
    const reclaims: string[] = [];
    const onReclaimed = (e: { taskId: string }) => reclaims.push(e.taskId);
    t.app.hooks.on('task:reclaimed', onReclaimed);
    const stats = await runLoad(t, {
      workflow: 'defaulted',
      queue: 'default-q',
      runs: 150,
      workers: 6,
      hold: 3,
      timeoutMs: 45_000,
      fault: async (mark) => {
        mark();
        const killedAt = Date.now();
        await redis.kill();
        await pause(500);
        // Nothing saved: the new server is empty, every lease gone (a restart and a flush at once).
        await redis.start();
        respawnedAt = Date.now();
        downFor = respawnedAt - killedAt;
      },
    });
    t.app.hooks.off('task:reclaimed', onReclaimed);
    const runs = await allRuns(t, 'defaulted');
    const failed = runs.filter((r) => r.status !== 'SUCCEEDED');
    console.log(
      `[redis-faults] default policy: Redis kill -9, down ${downFor} ms, restarted empty at 150/300 tasks: ${runs.length - failed.length} of ${runs.length} runs SUCCEEDED, ${failed.length} not ` +
        `(${failed
          .slice(0, 3)
          .map((r) => `${r.status}: ${r.error}`)
          .join('; ')}); ${reclaims.length} reclaims; load finished ${stats.finishedAt - respawnedAt} ms after the respawn; ` +
        `${stats.refused} results refused, ${stats.abandoned} attempts abandoned, ${stats.transientErrors} transient errors`,
    );
    expect(failed.map((r) => [r.status, r.error])).toEqual([]);
    const { attemptsPerTask } = await expectExactlyOnce(t, 'defaulted', 150, stats);
    console.log(`[redis-faults] default policy: 0 double completions, ${attemptsPerTask.toFixed(3)} attempts/task`);
  });
});

/**
 * Both modes. Embedded, the restart loses the in-memory leases (as a Redis flush would) and the
 * bus; with Redis, the leases survive it.
 */
describe('conductor restarted mid-load', () => {
  let t: TestApp;
  beforeAll(async () => {
    // A 5 s TTL: the orphan sweep (2 × TTL) must not take the held tasks while the conductor restarts.
    t = await startTestApp({
      persistent: true,
      env: { LEASE_TTL_MS: '5000', REAPER_INTERVAL_MS: '50', ORPHAN_SWEEP_INTERVAL_MS: '100', RATE_LIMIT_COST_PER_TENANT: '0' },
    });
    await registerLoad(t, 'rebooted', 'reboot-q');
  });
  afterAll(async () => {
    await t?.close();
  });

  it('a restart halfway through 300 tasks: no double completion, every run SUCCEEDED', async () => {
    let restartedIn = 0;
    const stats = await runLoad(t, {
      workflow: 'rebooted',
      queue: 'reboot-q',
      runs: 150,
      workers: 6,
      hold: 3,
      timeoutMs: 50_000,
      fault: async (mark) => {
        mark();
        const from = Date.now();
        await t.restart();
        restartedIn = Date.now() - from;
      },
    });
    const { attemptsPerTask } = await expectExactlyOnce(t, 'rebooted', 150, stats);
    const backends = `${REAL_POSTGRES ? 'postgres' : 'pglite'}+${REAL_REDIS ? 'redis' : 'in-memory leases'}`;
    console.log(
      `[restart] conductor restarted at 150/300 tasks (${backends}; stop+start took ${restartedIn} ms): all 150 runs SUCCEEDED, 0 double completions; ` +
        `load finished ${stats.finishedAt - stats.faultDoneAt} ms after the restart (${resumed(stats, stats.faultDoneAt)}); ${stats.heldAcross.renewed} of ${stats.heldAcross.claimed} leases held across it renewed and completed; ` +
        `${attemptsPerTask.toFixed(3)} attempts/task, ${stats.refused} results refused, ${stats.abandoned} attempts abandoned, ${stats.transientErrors} transient errors`,
    );
  });
});
