import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import Redis from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { ManualClock } from '../../src/domain/manual-clock';
import type { LeaseRef, LeaseStore } from '../../src/leases/lease-store';
import { MemoryLeaseStore } from '../../src/leases/memory-lease-store';
import { RedisLeaseStore } from '../../src/leases/redis-lease-store';
import { startTestApp, waitForRun, type GqlResult, type TestApp } from '../helpers/app';
import { REAL_POSTGRES, REAL_REDIS } from '../helpers/db';
import { ticks } from '../helpers/gates';

/**
 * Leases: "Redis holds liveness, Postgres holds safety". The lease store contract on both
 * implementations, fencing tokens across reclaims and retries, several reapers racing on the
 * same expired leases, the long-poll wake-up latency, and Postgres deciding a renewal whose
 * lease vanished from the store. Everything goes through the raw GraphQL worker protocol.
 *
 * The conductors run on a manual clock: their reapers fire when the test moves it, and in-memory
 * leases expire by it. What stays on real time is labelled: a Redis lease expires by the Redis
 * server's clock (PX, TIME), which no test can move, so with REDIS_URL set the expiry itself is
 * waited for on that clock; and the long-poll latency is a real-time measurement.
 */

const REGISTER = `mutation($input: WorkflowInput!) { registerWorkflow(input: $input) { version } }`;
const START = `mutation($wf: String!, $input: JSON) { startRun(workflow: $wf, input: $input) { id } }`;
const CLAIM = `mutation($queue: String!, $worker: String!, $max: Int, $leaseMs: Int, $waitMs: Int) {
  claimTasks(queue: $queue, workerId: $worker, max: $max, leaseMs: $leaseMs, waitMs: $waitMs) {
    leaseToken leaseExpiresAt task { id runId key attempt status }
  }
}`;
const RENEW = `mutation($id: ID!, $fence: String!, $leaseMs: Int) { renewLease(taskId: $id, leaseToken: $fence, leaseMs: $leaseMs) { taskId leaseToken leaseExpiresAt } }`;
const COMPLETE = `mutation($id: ID!, $fence: String!, $output: JSON) { completeTask(taskId: $id, leaseToken: $fence, output: $output) { id status attempt } }`;
const FAIL = `mutation($id: ID!, $fence: String!, $error: String!, $retryable: Boolean) { failTask(taskId: $id, leaseToken: $fence, error: $error, retryable: $retryable) { id status attempt } }`;
const RELEASE = `mutation($id: ID!, $fence: String!) { releaseTask(taskId: $id, leaseToken: $fence) { id status attempt } }`;
const RETRY = `mutation($id: ID!) { retryRun(id: $id) { id status } }`;
const ATTEMPTS = `query($id: ID!) { run(id: $id) { status tasks { id key status attempt attempts { attempt leaseToken workerId outcome } } } }`;

interface Lease {
  leaseToken: string;
  leaseExpiresAt: string;
  task: { id: string; runId: string; key: string; attempt: number; status: string };
}
interface Attempt {
  attempt: number;
  leaseToken: string;
  workerId: string;
  outcome: string | null;
}

const code = (r: GqlResult) => r.errors?.[0]?.extensions?.code;
const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
const fmt = (n: number) => n.toFixed(1);

async function claim(t: TestApp, vars: { queue: string; worker?: string; max?: number; leaseMs?: number; waitMs?: number }): Promise<Lease[]> {
  return (await t.ok<{ claimTasks: Lease[] }>(CLAIM, { worker: 'w', ...vars })).claimTasks;
}

/** Resolves once `n` events named `event` have been emitted across `apps` (counting from now). */
function countHooks(apps: TestApp[], event: 'task:reclaimed' | 'task:claimed', n: number, timeoutMs: number) {
  const seen: { app: number; taskId: string; at: number }[] = [];
  const offs: (() => void)[] = [];
  let resolve!: () => void;
  let reject!: (e: Error) => void;
  const reached = new Promise<void>((res, rej) => ((resolve = res), (reject = rej)));
  const timer = setTimeout(() => reject(new Error(`only ${seen.length} of ${n} "${event}" hooks within ${timeoutMs} ms`)), timeoutMs);
  apps.forEach((t, i) => {
    const app = t.app;
    const listener = (e: { taskId: string }) => {
      seen.push({ app: i, taskId: e.taskId, at: Date.now() });
      if (seen.length >= n) {
        clearTimeout(timer);
        resolve();
      }
    };
    app.hooks.on(event, listener);
    offs.push(() => app.hooks.off(event, listener));
  });
  return { seen, reached, off: () => (clearTimeout(timer), offs.forEach((f) => f())) };
}

// ---------------------------------------------------------------------------------------------
// The LeaseStore contract, on both implementations.
// ---------------------------------------------------------------------------------------------

interface StoreHarness {
  store: LeaseStore;
  /** The store's clock, in ms: Redis TIME, or the injected clock. */
  storeNow(): Promise<number>;
  /** Until the store's clock is past `at` (ms). */
  passTo(at: number): Promise<void>;
  close(): Promise<void>;
}

function memoryHarness(): StoreHarness {
  // A clock of its own, far from the process's: the store must judge by it alone.
  const clock = new ManualClock(Date.UTC(2001, 0, 1));
  return {
    store: new MemoryLeaseStore(clock),
    storeNow: async () => clock.now().getTime(),
    passTo: async (at) => {
      if (clock.now().getTime() <= at) await clock.set(new Date(at + 1));
    },
    close: async () => undefined,
  };
}

/** The Redis server's clock (TIME), in ms. */
async function redisNow(admin: Redis): Promise<number> {
  const [s, us] = await admin.time();
  return Number(s) * 1000 + Math.floor(Number(us) / 1000);
}

/**
 * Real time: until the Redis server's clock is past `at`. Redis expires keys (PX) and the lease
 * scripts judge expiry by its own clock; a test cannot move it, so it waits, checking every 2 ms.
 */
async function redisPassTo(admin: Redis, at: number): Promise<void> {
  while ((await redisNow(admin)) <= at + 1) await new Promise((r) => setTimeout(r, 2));
}

async function redisHarness(): Promise<StoreHarness> {
  const url = process.env['REDIS_URL']!;
  const prefix = `test-leases-${randomBytes(4).toString('hex')}:`;
  const store = await RedisLeaseStore.connect(url, prefix);
  const admin = new Redis(url);
  return {
    store,
    storeNow: () => redisNow(admin),
    // Real time: Redis cannot be told what time it is.
    passTo: (at) => redisPassTo(admin, at),
    close: async () => {
      const keys = await admin.keys(`${prefix}*`);
      if (keys.length) await admin.del(...keys);
      await store.close();
      await admin.quit();
    },
  };
}

const implementations: [string, () => Promise<StoreHarness>][] = [
  ['MemoryLeaseStore', async () => memoryHarness()],
  ...(REAL_REDIS ? ([['RedisLeaseStore', redisHarness]] as [string, () => Promise<StoreHarness>][]) : []),
];

describe.each(implementations)('%s: the lease store contract', (_name, make) => {
  let h: StoreHarness;
  let n = 0;
  /** A fresh lease reference (a task id of its own). */
  const ref = (fence = '7', tenantId = 'tenant-a'): LeaseRef => ({ taskId: `00000000-0000-4000-8000-${String(++n).padStart(12, '0')}`, fence, tenantId });

  beforeAll(async () => {
    h = await make();
  });
  afterAll(async () => {
    await h?.close();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('acquire grants a lease expiring ttl after the store clock; renew extends it; held sees it', async () => {
    const l = ref();
    const before = await h.storeNow();
    const [expiresAt] = await h.store.acquire([{ ...l, ttlMs: 5_000 }]);
    const after = await h.storeNow();
    expect(expiresAt!.getTime()).toBeGreaterThanOrEqual(before + 5_000);
    expect(expiresAt!.getTime()).toBeLessThanOrEqual(after + 5_000);
    expect(await h.store.held([l])).toEqual([true]);
    const renewed = await h.store.renew(l, 20_000);
    expect(renewed.ok).toBe(true);
    if (renewed.ok) expect(renewed.expiresAt.getTime()).toBeGreaterThanOrEqual(before + 20_000);
    expect(await h.store.expired(100)).not.toContainEqual(l);
  });

  it('judges expiry by the store clock, never by the process clock', async () => {
    // The process believes it is 1990; the lease's expiry still comes from the store's clock.
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(new Date('1990-01-01T00:00:00Z'));
    const l = ref();
    const before = await h.storeNow();
    const [expiresAt] = await h.store.acquire([{ ...l, ttlMs: 1_000 }]);
    vi.useRealTimers();
    expect(expiresAt!.getTime()).toBeGreaterThanOrEqual(before + 1_000);
    expect(expiresAt!.getFullYear()).not.toBe(1990);
  });

  it('answers LOST to another token and to another tenant, MISSING when there is no lease', async () => {
    const l = ref('41', 'tenant-a');
    await h.store.acquire([{ ...l, ttlMs: 5_000 }]);
    expect(await h.store.renew({ ...l, fence: '40' }, 5_000)).toEqual({ ok: false, reason: 'LOST' });
    expect(await h.store.renew({ ...l, fence: '42' }, 5_000)).toEqual({ ok: false, reason: 'LOST' });
    expect(await h.store.renew({ ...l, tenantId: 'tenant-b' }, 5_000)).toEqual({ ok: false, reason: 'LOST' });
    expect(await h.store.renew(ref(), 5_000)).toEqual({ ok: false, reason: 'MISSING' });
    expect(await h.store.held([{ ...l, fence: '40' }, { ...l, tenantId: 'tenant-b' }, l])).toEqual([false, false, true]);
    // The holder is untouched by the failed attempts.
    expect((await h.store.renew(l, 5_000)).ok).toBe(true);
  });

  it('a newer token supersedes the lease: the old holder hears LOST', async () => {
    const old = ref('1');
    await h.store.acquire([{ ...old, ttlMs: 5_000 }]);
    const next = { ...old, fence: '2' };
    await h.store.acquire([{ ...next, ttlMs: 5_000 }]);
    expect(await h.store.renew(old, 5_000)).toEqual({ ok: false, reason: 'LOST' });
    expect(await h.store.held([old, next])).toEqual([false, true]);
  });

  it('revoke: the holder hears CANCELLED, the lease still counts as held; another token or tenant cannot revoke it', async () => {
    const l = ref();
    await h.store.acquire([{ ...l, ttlMs: 5_000 }]);
    await h.store.revoke([
      { ...l, fence: '8' },
      { ...l, tenantId: 'tenant-b' },
    ]);
    expect((await h.store.renew(l, 5_000)).ok).toBe(true);
    await h.store.revoke([l]);
    expect(await h.store.renew(l, 5_000)).toEqual({ ok: false, reason: 'CANCELLED' });
    expect(await h.store.renew(l, 5_000)).toEqual({ ok: false, reason: 'CANCELLED' });
    expect(await h.store.held([l])).toEqual([true]);
    // Another tenant knowing the task id and token still gets LOST, not the cancellation.
    expect(await h.store.renew({ ...l, tenantId: 'tenant-b' }, 5_000)).toEqual({ ok: false, reason: 'LOST' });
    // Releasing a revoked lease with its token drops it.
    await h.store.release([l]);
    expect(await h.store.renew(l, 5_000)).toEqual({ ok: false, reason: 'MISSING' });
  });

  it('release drops only the lease of its token, and the reaper never sees a released lease', async () => {
    const l = ref();
    const [at] = await h.store.acquire([{ ...l, ttlMs: 30 }]);
    await h.store.release([
      { ...l, fence: '99' },
      { ...l, tenantId: 'tenant-b' },
    ]);
    expect(await h.store.held([l])).toEqual([true]);
    await h.store.release([l]);
    expect(await h.store.held([l])).toEqual([false]);
    expect(await h.store.renew(l, 5_000)).toEqual({ ok: false, reason: 'MISSING' });
    await h.passTo(at!.getTime());
    expect(await h.store.expired(1_000)).not.toContainEqual(l);
  });

  it('expiry: past it the lease is MISSING and not held, expired() lists it (oldest first, limited) until forget()', async () => {
    const [a, b, c] = [ref('1'), ref('2'), ref('3')];
    const expiries = await h.store.acquire([
      { ...a, ttlMs: 40 },
      { ...b, ttlMs: 60 },
      { ...c, ttlMs: 80 },
    ]);
    // Not one of them is expired before its time (the store clock has not moved past them yet
    // in memory; in Redis the first check is within a few ms of the grant).
    const listed = await h.store.expired(1_000);
    if ((await h.storeNow()) < expiries[0]!.getTime()) expect(listed).not.toContainEqual(a);
    await h.passTo(expiries[2]!.getTime());
    expect(await h.store.renew(a, 5_000)).toEqual({ ok: false, reason: 'MISSING' });
    expect(await h.store.held([a, b, c])).toEqual([false, false, false]);
    const all = await h.store.expired(1_000);
    const mine = all.filter((x) => [a, b, c].some((y) => y.taskId === x.taskId));
    expect(mine).toEqual([a, b, c]);
    const firstTwo = await h.store.expired(2);
    expect(firstTwo).toHaveLength(2);
    await h.store.forget([a, b, c]);
    const after = await h.store.expired(1_000);
    expect(after.filter((x) => [a, b, c].some((y) => y.taskId === x.taskId))).toEqual([]);
  });

  it('a renewal moves the expiry the reaper sees', async () => {
    const l = ref();
    const [first] = await h.store.acquire([{ ...l, ttlMs: 30 }]);
    const renewed = await h.store.renew(l, 60_000);
    expect(renewed.ok).toBe(true);
    await h.passTo(first!.getTime());
    expect(await h.store.expired(1_000)).not.toContainEqual(l);
    expect(await h.store.held([l])).toEqual([true]);
  });
});

describe('MemoryLeaseStore boundary', () => {
  it('expires exactly at expiresAt by its clock, not a millisecond before', async () => {
    const clock = new ManualClock(1_000_000);
    const store = new MemoryLeaseStore(clock);
    const l: LeaseRef = { taskId: '00000000-0000-4000-8000-000000000001', fence: '1', tenantId: 't' };
    await store.acquire([{ ...l, ttlMs: 500 }]);
    await clock.advance(499);
    expect(await store.held([l])).toEqual([true]);
    expect(await store.expired(10)).toEqual([]);
    await clock.advance(1);
    expect(await store.held([l])).toEqual([false]);
    expect(await store.renew(l, 500)).toEqual({ ok: false, reason: 'MISSING' });
    expect(await store.expired(10)).toEqual([l]);
  });
});

// ---------------------------------------------------------------------------------------------
// Through the worker protocol.
// ---------------------------------------------------------------------------------------------

/** The scheduler's reaper interval in the manual-clock conductors below. */
const REAPER_MS = 250;

describe('fencing tokens and reapers in one conductor', () => {
  let t: TestApp;
  let admin: Redis | null = null;
  const clock = new ManualClock(new Date());
  /**
   * Lets the leases expire and the scheduler's reaper run: the clock moves past the last expiry
   * and one reaper interval more. With Redis, the expiry is the Redis server's: waited for in
   * real time first.
   */
  const expire = async (leases: Lease[], beforeTheReaper?: () => void) => {
    const expiry = Math.max(...leases.map((l) => new Date(l.leaseExpiresAt).getTime()));
    if (admin) await redisPassTo(admin, expiry);
    beforeTheReaper?.();
    await clock.advance(Math.max(0, expiry - clock.now().getTime()) + REAPER_MS);
  };
  beforeAll(async () => {
    t = await startTestApp({ clock, env: { LEASE_TTL_MS: '1000', REAPER_INTERVAL_MS: String(REAPER_MS) } });
    if (REAL_REDIS) admin = new Redis(process.env['REDIS_URL']!);
    await t.ok(REGISTER, {
      input: { name: 'fenced', steps: [{ key: 'work', type: 'job', queue: 'fence-q', retry: { maxAttempts: 3, initialDelayMs: 0 } }] },
    });
  });
  afterAll(async () => {
    await admin?.quit();
    await t?.close();
  });

  it('only ever increase: across a release, a reclaim, a failure and retryRun', async () => {
    const runId = (await t.ok(START, { wf: 'fenced' })).startRun.id as string;
    const tokens: bigint[] = [];

    // 1. Claimed, then released (a draining worker).
    const [first] = await claim(t, { queue: 'fence-q', waitMs: 5_000 });
    tokens.push(BigInt(first!.leaseToken.split('.')[0]!));
    expect((await t.ok(RELEASE, { id: first!.task.id, fence: first!.leaseToken })).releaseTask).toMatchObject({ status: 'QUEUED', attempt: 0 });

    // 2. Claimed and abandoned: no heartbeat, the reaper reclaims it after the 1 s lease.
    const reclaimed = countHooks([t], 'task:reclaimed', 1, 10_000);
    const [second] = await claim(t, { queue: 'fence-q', waitMs: 5_000, leaseMs: 1_000 });
    tokens.push(BigInt(second!.leaseToken.split('.')[0]!));
    await expire([second!]);
    await reclaimed.reached;
    reclaimed.off();

    // 3. Claimed again (woken by the reclaim), then failed for good.
    const [third] = await claim(t, { queue: 'fence-q', waitMs: 5_000 });
    tokens.push(BigInt(third!.leaseToken.split('.')[0]!));
    expect(third!.task.attempt).toBe(2);
    await t.ok(FAIL, { id: third!.task.id, fence: third!.leaseToken, error: 'broken', retryable: false });
    expect((await waitForRun(t, runId)).status).toBe('FAILED');

    // 4. retryRun: a fresh attempt budget; the attempt number and the token keep counting up.
    await t.ok(RETRY, { id: runId });
    const [fourth] = await claim(t, { queue: 'fence-q', waitMs: 5_000 });
    tokens.push(BigInt(fourth!.leaseToken.split('.')[0]!));
    expect(fourth!.task.attempt).toBe(3);

    for (let i = 1; i < tokens.length; i++) expect(tokens[i]!).toBeGreaterThan(tokens[i - 1]!);
    // Every earlier token is refused, whatever it asks.
    for (const stale of [first!, second!, third!]) {
      expect(code(await t.gql(COMPLETE, { id: stale.task.id, fence: stale.leaseToken }))).toBe('LEASE_LOST');
      expect(code(await t.gql(RENEW, { id: stale.task.id, fence: stale.leaseToken }))).toBe('LEASE_LOST');
    }
    await t.ok(COMPLETE, { id: fourth!.task.id, fence: fourth!.leaseToken, output: { ok: true } });
    expect((await waitForRun(t, runId)).status).toBe('SUCCEEDED');

    const { run } = await t.ok<{ run: { tasks: { attempts: Attempt[] }[] } }>(ATTEMPTS, { id: runId });
    const attempts = run.tasks[0]!.attempts;
    expect(attempts.map((a) => a.outcome)).toEqual(['RELEASED', 'FENCED', 'FAILED', 'SUCCEEDED']);
    expect(attempts.map((a) => BigInt(a.leaseToken))).toEqual(tokens);
    console.log(`[fencing] tokens of one task across release, reclaim, failure, retryRun: ${tokens.join(' < ')}`);
  });

  it('four concurrent reap passes plus the scheduler reaper reclaim each of 50 abandoned tasks once', async () => {
    const { runIds, leases } = await abandonFifty(t, 'abandoned-local', 'reap-local');
    const reclaims = countHooks([t], 'task:reclaimed', 50, 15_000);
    // Extra reapers racing the scheduler's own, until every lease has been dealt with: each
    // yields one event-loop turn between passes, never a sleep.
    let racing = true;
    let racers: Promise<void>[] = [];
    const race = () => {
      racers = Array.from({ length: 4 }, async () => {
        while (racing) {
          await t.app.services.tasks.reap(7);
          await ticks(1);
        }
      });
    };
    await expire(leases, race);
    await reclaims.reached;
    racing = false;
    await Promise.all(racers);
    const rescueClaims = countHooks([t], 'task:claimed', 50, 15_000);
    await drain([t], 'reap-local', 50);
    await rescueClaims.reached;
    const byTask = await attemptsOfRuns(t, runIds);
    // Let a last reaper pass run: it must find nothing more to reclaim.
    await t.app.services.tasks.reap();
    reclaims.off();
    rescueClaims.off();
    expectReclaimedOnce(reclaims.seen, rescueClaims.seen, leases, byTask);
    console.log(
      `[reaper] one conductor, 5 reapers racing: 50 of 50 abandoned 1 s leases reclaimed once each ` +
        `(${REAL_REDIS ? 'expired by the Redis clock, waited for in real time' : 'expired by the manual clock'}; scheduler reaper every ${REAPER_MS} ms of the clock)`,
    );
  });
});

/** 50 runs of a one-step remote workflow, claimed in one batch and then abandoned. */
async function abandonFifty(t: TestApp, workflow: string, queue: string): Promise<{ runIds: string[]; leases: Lease[] }> {
  await t.ok(REGISTER, { input: { name: workflow, steps: [{ key: 'work', type: 'job', queue, retry: { maxAttempts: 2, initialDelayMs: 0 } }] } });
  const runIds: string[] = [];
  for (let i = 0; i < 50; i++) runIds.push((await t.ok(START, { wf: workflow, input: { i } })).startRun.id);
  const leases = await claim(t, { queue, worker: 'doomed', max: 50, leaseMs: 1_000 });
  expect(leases).toHaveLength(50);
  return { runIds, leases };
}

/** Claims from the given replicas in turn until `n` tasks have been completed; returns the ids. */
async function drain(apps: TestApp[], queue: string, n: number): Promise<string[]> {
  const done: string[] = [];
  for (let i = 0; done.length < n; i++) {
    const leases = await claim(apps[i % apps.length]!, { queue, worker: `rescuer-${i % apps.length}`, max: 10, waitMs: 2_000 });
    if (leases.length === 0) throw new Error(`nothing to claim after ${done.length} of ${n}`);
    for (const l of leases) {
      await apps[(i + 1) % apps.length]!.ok(COMPLETE, { id: l.task.id, fence: l.leaseToken, output: { rescued: true } });
      done.push(l.task.id);
    }
  }
  return done;
}

async function attemptsOfRuns(t: TestApp, runIds: string[]): Promise<Map<string, { status: string; attempts: Attempt[] }>> {
  const out = new Map<string, { status: string; attempts: Attempt[] }>();
  for (let i = 0; i < runIds.length; i += 10) {
    const batch = await Promise.all(
      runIds.slice(i, i + 10).map((id) => t.ok<{ run: { status: string; tasks: { id: string; attempts: Attempt[] }[] } }>(ATTEMPTS, { id })),
    );
    for (const { run } of batch) out.set(run.tasks[0]!.id, { status: run.status, attempts: run.tasks[0]!.attempts });
  }
  return out;
}

function expectReclaimedOnce(
  reclaims: { taskId: string }[],
  claims: { taskId: string }[],
  leases: Lease[],
  byTask: Map<string, { status: string; attempts: Attempt[] }>,
) {
  const ids = leases.map((l) => l.task.id).sort();
  expect(reclaims).toHaveLength(50);
  expect(reclaims.map((r) => r.taskId).sort()).toEqual(ids);
  // Each task claimed twice in all: the abandoned attempt and the rescue.
  const perTask = new Map<string, number>();
  for (const c of claims) perTask.set(c.taskId, (perTask.get(c.taskId) ?? 0) + 1);
  expect([...perTask.keys()].sort()).toEqual(ids);
  expect(new Set(perTask.values())).toEqual(new Set([1]));
  for (const id of ids) {
    const task = byTask.get(id)!;
    expect(task.status).toBe('SUCCEEDED');
    expect(task.attempts.map((a) => a.outcome)).toEqual(['LEASE_EXPIRED', 'SUCCEEDED']);
    expect(task.attempts.filter((a) => a.outcome === 'LEASE_EXPIRED')).toHaveLength(1);
  }
}

/**
 * Real time: two replicas share one Redis, whose clock alone expires the leases; both reapers run
 * every 10 ms of the system clock and race for the same expired entries.
 */
describe.runIf(REAL_POSTGRES && REAL_REDIS)('real time: several reapers, two replicas', () => {
  let a: TestApp;
  let b: TestApp;
  beforeAll(async () => {
    const env = { LEASE_TTL_MS: '1000', REAPER_INTERVAL_MS: '10' };
    a = await startTestApp({ env });
    b = await startTestApp({ env, replicaOf: a });
  });
  afterAll(async () => {
    await b?.close();
    await a?.close();
  });

  it('reclaims each of 50 abandoned leased tasks exactly once, then each is re-claimed and completed once', async () => {
    const { runIds, leases } = await abandonFifty(a, 'abandoned', 'reap-q');
    // Instrumentation only: how many leases each replica's reaper tried to reclaim, won or lost.
    const tries = [0, 0];
    const offTries = [a, b].map((t, i) => {
      const count = (e: { tried: number }) => void (tries[i]! += e.tried);
      t.app.hooks.on('reclaim:committed', count);
      return () => t.app.hooks.off('reclaim:committed', count);
    });
    const reclaims = countHooks([a, b], 'task:reclaimed', 50, 15_000);
    const expiry = Math.max(...leases.map((l) => new Date(l.leaseExpiresAt).getTime()));
    await reclaims.reached;
    const rescueClaims = countHooks([a, b], 'task:claimed', 50, 15_000);
    await drain([a, b], 'reap-q', 50);
    await rescueClaims.reached;
    const byTask = await attemptsOfRuns(a, runIds);
    // One more pass of each reaper after everything: nothing left to reclaim twice.
    await Promise.all([a.app.services.tasks.reap(), b.app.services.tasks.reap()]);
    offTries.forEach((off) => off());
    reclaims.off();
    rescueClaims.off();
    expectReclaimedOnce(reclaims.seen, rescueClaims.seen, leases, byTask);
    const perReplica = { a: reclaims.seen.filter((r) => r.app === 0).length, b: reclaims.seen.filter((r) => r.app === 1).length };
    const last = Math.max(...reclaims.seen.map((r) => r.at));
    console.log(
      `[reaper] two replicas racing: 50 of 50 abandoned leases reclaimed once each (applied by a ${perReplica.a}, b ${perReplica.b}; ` +
        `leases taken to reclaim: a ${tries[0]}, b ${tries[1]}); last reclaim ${last - expiry} ms after the lease expiry`,
    );
  });
});

/** Real time: a latency measurement of the wake-up path (no timer involved). */
describe('real time: long-poll wake-up latency', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
    await t.ok(REGISTER, { input: { name: 'latency', steps: [{ key: 'first', type: 'job', queue: 'lat-q' }] } });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('wakes a waiting claim the moment a startRun commits a ready task (N=200)', async () => {
    const N = 200;
    // Instrumentation only, through the app's hooks: when the startRun insert committed
    // (`run:created` is said at commit, before anything is published), and when the waiting
    // claim's first (empty) look has returned, so each sample measures the wake-up path.
    let committedAt = 0;
    let signalledAt = 0;
    const offReady = t.app.bus.onReady((queue) => {
      if (queue === 'lat-q') signalledAt = performance.now();
    });
    let emptyLook: (() => void) | null = null;
    const onCreated = () => void (committedAt = performance.now());
    const onClaim = (e: { queue: string | null; claimed: number }) => {
      if (e.queue === 'lat-q' && e.claimed === 0) emptyLook?.();
    };
    t.app.hooks.on('run:created', onCreated);
    t.app.hooks.on('claim:committed', onClaim);
    const samples: number[] = [];
    const signals: number[] = [];
    try {
      for (let i = 0; i < N; i++) {
        const looked = new Promise<void>((r) => (emptyLook = r));
        const pending = claim(t, { queue: 'lat-q', waitMs: 10_000, leaseMs: 60_000 });
        await looked;
        emptyLook = null;
        const { startRun } = await t.ok(START, { wf: 'latency', input: { i } });
        const [lease] = await pending;
        const answeredAt = performance.now();
        expect(lease?.task.runId).toBe(startRun.id);
        samples.push(answeredAt - committedAt);
        signals.push(signalledAt - committedAt);
        await t.ok(COMPLETE, { id: lease!.task.id, fence: lease!.leaseToken });
      }
    } finally {
      t.app.hooks.off('run:created', onCreated);
      t.app.hooks.off('claim:committed', onClaim);
      offReady();
    }
    const sorted = [...samples].sort((x, y) => x - y);
    const p50 = percentile(sorted, 50);
    const p99 = percentile(sorted, 99);
    const max = sorted[sorted.length - 1]!;
    const sig = [...signals].sort((x, y) => x - y);
    const backends = `${REAL_POSTGRES ? 'postgres' : 'pglite'}+${REAL_REDIS ? 'redis' : 'in-memory bus'}`;
    console.log(`[latency] long-poll wake (startRun commit → claim response) p50=${fmt(p50)}ms p99=${fmt(p99)}ms max=${fmt(max)}ms n=${N} (${backends})`);
    console.log(
      `[latency] of which commit → ready signal on the bus p50=${fmt(percentile(sig, 50))}ms p99=${fmt(percentile(sig, 99))}ms; the rest is the claim transaction and the response`,
    );
    expect(samples).toHaveLength(N);
    // Sanity only (timing in tests is noise): a wake-up by polling would sit near its interval.
    expect(p99).toBeLessThan(250);
  });
});

describe('a renewal after the lease vanished from the store', () => {
  let t: TestApp;
  let admin: Redis | null = null;
  // Embedded: the lease store judges expiry by the app clock, which this test moves.
  const clock = new ManualClock(new Date());
  beforeAll(async () => {
    // No reaper or orphan sweep within the test: Postgres alone must decide the renewal.
    t = await startTestApp({ clock, env: { LEASE_TTL_MS: '1000', REAPER_INTERVAL_MS: '60000', ORPHAN_SWEEP_INTERVAL_MS: '600000' } });
    if (REAL_REDIS) admin = new Redis(process.env['REDIS_URL']!);
    await t.ok(REGISTER, { input: { name: 'vanish', steps: [{ key: 'work', type: 'job', queue: 'vanish-q' }] } });
  });
  afterAll(async () => {
    await admin?.quit();
    await t?.close();
  });

  /** The lease key disappears: deleted from Redis (an eviction, a flush), or expired by the store clock. */
  const vanish = async (lease: Lease) => {
    if (admin) expect(await admin.del(`${t.env.REDIS_KEY_PREFIX}lease:${lease.task.id}`)).toBe(1);
    else await clock.advance(new Date(lease.leaseExpiresAt).getTime() - clock.now().getTime() + 1_000);
  };

  it('re-establishes the lease while the token is still current (Postgres decides), and the result is accepted', async () => {
    const runId = (await t.ok(START, { wf: 'vanish' })).startRun.id as string;
    const [lease] = await claim(t, { queue: 'vanish-q', waitMs: 5_000, leaseMs: 1_000 });
    await vanish(lease!);
    const renewed = (await t.ok(RENEW, { id: lease!.task.id, fence: lease!.leaseToken, leaseMs: 5_000 })).renewLease;
    expect(renewed).toMatchObject({ taskId: lease!.task.id, leaseToken: lease!.leaseToken });
    expect(new Date(renewed.leaseExpiresAt).getTime()).toBeGreaterThan(new Date(lease!.leaseExpiresAt).getTime());
    // The re-established lease is a real one: renewable again, and held by this token only.
    expect((await t.ok(RENEW, { id: lease!.task.id, fence: lease!.leaseToken })).renewLease.leaseToken).toBe(lease!.leaseToken);
    expect(code(await t.gql(RENEW, { id: lease!.task.id, fence: `${BigInt(lease!.leaseToken.split('.')[0]!) + 1n}.${lease!.leaseToken.split('.')[1]}` }))).toBe(
      'LEASE_LOST',
    );
    await t.ok(COMPLETE, { id: lease!.task.id, fence: lease!.leaseToken, output: { kept: true } });
    expect((await waitForRun(t, runId)).status).toBe('SUCCEEDED');
    const { run } = await t.ok<{ run: { tasks: { attempts: Attempt[] }[] } }>(ATTEMPTS, { id: runId });
    expect(run.tasks[0]!.attempts.map((a) => a.outcome)).toEqual(['SUCCEEDED']);
  });

  it('does not re-establish it for a token Postgres no longer runs (the attempt was failed meanwhile)', async () => {
    await t.ok(REGISTER, {
      input: { name: 'vanish2', steps: [{ key: 'work', type: 'job', queue: 'vanish-q2', retry: { maxAttempts: 2, initialDelayMs: 0 } }] },
    });
    await t.ok(START, { wf: 'vanish2' });
    const [lease] = await claim(t, { queue: 'vanish-q2', waitMs: 5_000, leaseMs: 1_000 });
    await t.ok(FAIL, { id: lease!.task.id, fence: lease!.leaseToken, error: 'flaky' });
    expect(code(await t.gql(RENEW, { id: lease!.task.id, fence: lease!.leaseToken }))).toBe('LEASE_LOST');
  });
});
