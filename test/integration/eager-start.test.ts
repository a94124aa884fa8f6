import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import Redis from 'ioredis';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { ManualClock } from '../../src/domain/manual-clock';
import { MemoryLeaseStore } from '../../src/leases/memory-lease-store';
import { RedisLeaseStore } from '../../src/leases/redis-lease-store';
import { Starts } from '../../src/services/engine/starts';
import { startTestApp, waitForRun, type TestApp } from '../helpers/app';
import { REAL_REDIS } from '../helpers/db';
import { until } from '../helpers/gates';

/**
 * Eager start: a run's plain ready built-in roots are claimed for the replica's executors in the
 * start's own insert (no claim transaction after it), as far as the tenant's share and the free
 * slots allow. What must hold: the history and attempts a claim writes, nothing claimed past a
 * share nor ahead of older queued work, slots given back by a start that inserts nothing, and a
 * root whose replica died after the insert handed back (by the orphan sweep before its lease was
 * granted, by the reaper after).
 */

const REGISTER = `mutation($input: WorkflowInput!) { registerWorkflow(input: $input) { version } }`;
const START = `mutation($wf: String!, $key: String) { startRun(workflow: $wf, idempotencyKey: $key) { id status } }`;
const HISTORY = `query($id: ID!) {
  run(id: $id) { status tasks { key status attempt attempts { outcome workerId } } events { seq type status taskKey attempt } }
}`;

describe('eager start', () => {
  let t: TestApp;
  let server: Server;
  let url = '';
  const held: (() => void)[] = [];

  beforeAll(async () => {
    // A step endpoint that holds every request until released.
    server = createServer((_req, res) => {
      held.push(() => {
        res.setHeader('content-type', 'application/json');
        res.end('{"ok":true}');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    // No fallback poll: a claim during the test is one a start or a freed slot woke.
    t = await startTestApp({ env: { DISPATCH_CONCURRENCY: '2', HTTP_STEP_TENANT_CONCURRENCY: '2', SCHEDULER_POLL_INTERVAL_MS: '60000' } });
    await t.ok(REGISTER, { input: { name: 'one', steps: [{ key: 'only', type: 'noop' }] } });
    await t.ok(REGISTER, { input: { name: 'call', steps: [{ key: 'call', type: 'http', input: { url, method: 'GET' } }] } });
  });
  afterAll(async () => {
    for (const release of held.splice(0)) release();
    await t?.close();
    await new Promise((r) => server?.close(r));
  });

  // A dispatch pass holds the free slots while it looks (a start then finds none and leaves its
  // roots QUEUED for that pass, correctly): each case begins once no pass runs.
  beforeEach(() => t.app.scheduler.settleTimers());

  /** Every executor slot free and no tenant holding any: what a start reserved came back. */
  const expectAllFree = () => {
    const free = t.app.scheduler.reserve(100);
    t.app.scheduler.unreserve(free);
    expect(free).toBe(2);
    expect(t.app.scheduler.tenantHolding('default')).toEqual({ total: 0, http: 0 });
  };

  it('claims a run’s built-in root in its insert: no claim transaction, the history and attempt a claim writes', async () => {
    let claims = 0;
    // Claims that took a task (the scheduler's first pass may commit an empty one meanwhile).
    const onClaim = (e: { queue: string | null; claimed: number }) => void (e.queue === null && e.claimed > 0 && claims++);
    t.app.hooks.on('claim:committed', onClaim);
    try {
      const { startRun } = await t.ok(START, { wf: 'one' });
      // The answer is the inserted run: RUNNING, its root claimed.
      expect(startRun.status).toBe('RUNNING');
      expect((await waitForRun(t, startRun.id)).status).toBe('SUCCEEDED');
      expect(claims).toBe(0);
      const { run } = await t.ok(HISTORY, { id: startRun.id });
      expect(run.tasks).toEqual([
        { key: 'only', status: 'SUCCEEDED', attempt: 1, attempts: [{ outcome: 'SUCCEEDED', workerId: expect.stringMatching(/^conductor:/) }] },
      ]);
      expect(
        run.events.map((e: { seq: number; type: string; status: string; attempt: number | null }) => `${e.seq} ${e.type} ${e.status} ${e.attempt}`),
      ).toEqual([
        '1 RUN_STATUS PENDING null',
        '2 TASK_STATUS QUEUED 0',
        '3 RUN_STATUS RUNNING null',
        '4 TASK_STATUS RUNNING 1',
        '5 TASK_STATUS SUCCEEDED 1',
        '6 RUN_STATUS SUCCEEDED null',
      ]);
      // The claim's lease fields, as the claim statement writes them: a fence of 1 and a secret.
      const [row] = await t.app.db.rows<{ fence: string; leaseSecret: string | null; queued: boolean; started: boolean }>(
        `SELECT fence::text, "leaseSecret", "queuedAt" = "createdAt" AS queued, "startedAt" = "createdAt" AS started FROM tasks WHERE "runId" = $1`,
        [startRun.id],
      );
      expect(row).toMatchObject({ fence: '1', queued: true, started: true });
      expect(row!.leaseSecret).toMatch(/^[A-Za-z0-9_-]{22}$/);
    } finally {
      t.app.hooks.off('claim:committed', onClaim);
    }
    expectAllFree();
  });

  it('claims nothing past the tenant’s share: the next root waits QUEUED for the slot a finished step frees', async () => {
    const first = await Promise.all([t.ok(START, { wf: 'call' }), t.ok(START, { wf: 'call' })]);
    expect(first.map((r) => r.startRun.status)).toEqual(['RUNNING', 'RUNNING']);
    await until(() => held.length === 2, 'both calls to arrive');
    const third = await t.ok(START, { wf: 'call' });
    expect(third.startRun.status).toBe('PENDING');
    expect(t.app.scheduler.tenantHolding('default')).toEqual({ total: 2, http: 2 });
    held.shift()!();
    await until(() => held.length === 2, 'the third call to take the freed slot');
    for (const release of held.splice(0)) release();
    for (const r of [...first, third]) expect((await waitForRun(t, r.startRun.id)).status).toBe('SUCCEEDED');
    expectAllFree();
  });

  it('gives back the slots of starts that insert nothing (concurrent starts with one idempotency key)', async () => {
    const reserve = vi.spyOn(Starts.prototype, 'reserve');
    const release = vi.spyOn(Starts.prototype, 'release');
    // The key's lookups go out together, before any insert: the starts that then find a free
    // slot reserve it, one inserts, the others give theirs back.
    const answers = await Promise.all(Array.from({ length: 6 }, () => t.app.services.runs.start('default', { workflow: 'one', idempotencyKey: 'same-start' })));
    const reserved = reserve.mock.results.filter((r) => r.value !== null).length;
    const given = release.mock.calls.filter(([r]) => r !== null).length;
    reserve.mockRestore();
    release.mockRestore();
    console.log(`[eager-start] six starts with one key: ${reserved} reserved slots, ${given} given back`);
    expect(reserved).toBeGreaterThanOrEqual(1);
    expect(given).toBe(reserved - 1);
    const ids = new Set(answers.map((a) => a.id));
    expect(ids.size).toBe(1);
    expect((await waitForRun(t, [...ids][0]!)).status).toBe('SUCCEEDED');
    await until(() => t.app.scheduler.inflightCount === 0, 'the attempt to be over');
    expectAllFree();
  });

  it('leaves a new run QUEUED while older work waits for the slot that freed (it is claimed first)', async () => {
    const first = await Promise.all([t.ok(START, { wf: 'call' }), t.ok(START, { wf: 'call' })]);
    await until(() => held.length === 2, 'both calls to hold the house');
    // A third run finds the house full: QUEUED, and the dispatcher knows work waits.
    const older = await t.ok(START, { wf: 'call' });
    expect(older.startRun.status).toBe('PENDING');
    await t.app.scheduler.settleTimers();
    // A slot frees, and a new run starts before the dispatcher's pass takes it.
    const wake = vi.spyOn(t.app.scheduler, 'wake').mockImplementation(() => undefined);
    try {
      held.shift()!();
      await until(() => t.app.scheduler.inflightCount === 1, 'the first call to end');
      const newer = await t.ok(START, { wf: 'one' });
      expect(newer.startRun.status).toBe('PENDING');
      wake.mockRestore();
      t.app.scheduler.wake();
      // The older run's call takes the slot; the newer run waits behind it.
      await until(() => held.length === 2, 'the older run to take the freed slot');
      for (const release of held.splice(0)) release();
      for (const id of [...first.map((r) => r.startRun.id), older.startRun.id, newer.startRun.id]) expect((await waitForRun(t, id)).status).toBe('SUCCEEDED');
    } finally {
      wake.mockRestore();
    }
    await until(() => t.app.scheduler.inflightCount === 0, 'every attempt to be over');
    expectAllFree();
  });
});

describe('eager start, the replica dying after the insert', () => {
  const clock = new ManualClock(new Date());
  let t: TestApp;
  let admin: Redis | null = null;
  beforeAll(async () => {
    t = await startTestApp({ clock, env: { LEASE_TTL_MS: '1000', REAPER_INTERVAL_MS: '100', SCHEDULER_POLL_INTERVAL_MS: '60000' } });
    if (REAL_REDIS) admin = new Redis(process.env['REDIS_URL']!);
    await t.ok(REGISTER, { input: { name: 'one', steps: [{ key: 'only', type: 'noop' }] } });
  });
  afterAll(async () => {
    vi.restoreAllMocks();
    await admin?.quit();
    await t?.close();
  });

  /**
   * The replica dies once its next claimed tasks are handed over: they never run (the runs they
   * belong to are returned); what it held dies with it, its slot and its tenant's share count.
   */
  function dieAtHandOver(): string[] {
    const scheduler = t.app.scheduler;
    const original = scheduler.take.bind(scheduler);
    const dropped: string[] = [];
    vi.spyOn(scheduler, 'take').mockImplementation((claimed) => {
      if (dropped.length > 0 || claimed.length === 0) return original(claimed);
      dropped.push(...claimed.map((c) => c.task.runId));
      scheduler.unreserve(claimed.length);
      for (const c of claimed) scheduler.unadmit(c.task.tenantId, c.task.type);
    });
    return dropped;
  }

  it('hands its claimed root back when it died before the lease was granted (the orphan sweep), and the run finishes', async () => {
    const scheduler = t.app.scheduler;
    const dropped = dieAtHandOver();
    // The lease never reaches the store: the replica died between the insert and the grant.
    const acquire = vi.spyOn(REAL_REDIS ? RedisLeaseStore.prototype : MemoryLeaseStore.prototype, 'acquire').mockRejectedValueOnce(new Error('replica died'));
    await scheduler.settleTimers();
    const { startRun } = await t.ok(START, { wf: 'one' });
    expect(startRun.status).toBe('RUNNING');
    await until(() => dropped.length === 1, 'the claimed root to be handed over');
    expect(dropped).toEqual([startRun.id]);
    expect(acquire).toHaveBeenCalled();
    vi.mocked(scheduler.take).mockRestore();
    // No lease to expire: the orphan sweep takes RUNNING attempts without one, two TTLs old.
    await clock.advance(2 * 1_000 + 100);
    expect(await t.app.services.tasks.sweepOrphans()).toBe(1);
    const run = await waitForRun(t, startRun.id);
    expect(run.status).toBe('SUCCEEDED');
    const { run: history } = await t.ok(HISTORY, { id: startRun.id });
    expect(history.tasks[0].attempts.map((a: { outcome: string }) => a.outcome)).toEqual(['LEASE_EXPIRED', 'SUCCEEDED']);
  });

  it('hands its claimed root back when the lease expires, and the run finishes', async () => {
    // The insert committed and the lease was granted, then the replica died: its executor never ran.
    const scheduler = t.app.scheduler;
    const dropped = dieAtHandOver();
    await scheduler.settleTimers();
    const startedAt = Date.now();
    const { startRun } = await t.ok(START, { wf: 'one' });
    expect(startRun.status).toBe('RUNNING');
    await until(() => dropped.length === 1, 'the claimed root to be handed over');
    expect(dropped).toEqual([startRun.id]);
    // Past the lease's expiry (Redis's clock is real time), then one reaper pass.
    if (admin) {
      const due = startedAt + 1_000;
      const redisNow = async () => {
        const [s, us] = await admin!.time();
        return Number(s) * 1000 + Math.floor(Number(us) / 1000);
      };
      while ((await redisNow()) <= due + 50) await new Promise((r) => setTimeout(r, 10));
    }
    await clock.advance(1_000 + 200);
    const run = await waitForRun(t, startRun.id);
    expect(run.status).toBe('SUCCEEDED');
    const { run: history } = await t.ok(HISTORY, { id: startRun.id });
    expect(history.tasks[0].attempts.map((a: { outcome: string }) => a.outcome)).toEqual(['LEASE_EXPIRED', 'SUCCEEDED']);
  });
});
