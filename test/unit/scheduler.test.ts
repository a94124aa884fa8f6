import { restingTask } from '../../src/domain/resting-task';
import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/domain/manual-clock';
import type { TaskRecord } from '../../src/domain/model';
import type { Executor } from '../../src/executors/executor';
import { UnavailableError } from '../../src/domain/errors';
import { sleepExecutor } from '../../src/executors/sleep';
import type { LeaseRef, RenewResult } from '../../src/leases/lease-store';
import type { ClaimedTask, SchedulerEngine, SchedulerLeases } from '../../src/scheduler/ports';
import { Scheduler, type SchedulerOptions } from '../../src/scheduler/scheduler';
import { gate, settledWithin, ticks, type Gate } from '../helpers/gates';

/**
 * The scheduler alone, on fake ports and a manual clock: every wait is on a gate the test opens,
 * on event-loop turns, or on the clock the test moves. Nothing sleeps.
 */

const T0 = Date.UTC(2030, 0, 1);
const at = (ms: number) => new Date(T0 + ms);

let seq = 0;
function task(type = 'work', input: TaskRecord['input'] = {}): TaskRecord {
  const n = ++seq;
  return restingTask({
    id: `task-${n}`,
    tenantId: 'tenant',
    runId: `run-${n}`,
    position: 0,
    key: 'step',
    type,
    queue: null,
    status: 'RUNNING',
    timeoutMs: null,
    attempt: 1,
    fence: String(n),
    input,
    workerId: 'conductor:test',
    createdAt: new Date(T0),
    queuedAt: new Date(T0),
    startedAt: new Date(T0),
    priority: 2,
    rateLimitLimit: null,
    rateLimitPeriodMs: null,
    rateLimitedUntil: null,
  });
}

/** The engine side: ready tasks to claim, optionally held on a gate per claim; every report recorded. */
class FakeEngine implements SchedulerEngine {
  readonly ready: TaskRecord[] = [];
  /** Limits of the claims made, in order. */
  readonly claims: number[] = [];
  /** While set, each claim waits for the test to answer it. */
  holdClaims = false;
  readonly heldClaims: { limit: number; answer: Gate<TaskRecord[]> }[] = [];
  readonly reports: string[] = [];
  /** While set, `complete` waits on it (a group commit in progress). */
  commit: Gate | null = null;
  /** Clock readings (ms since T0) of each fireDue call. */
  readonly fireDueAt: number[] = [];
  fireDueGate: Gate | null = null;
  fireDueError: Error | null = null;
  next: Date | null = null;

  constructor(private readonly clock: ManualClock) {}

  async claim(opts: { limit: number }): Promise<ClaimedTask[]> {
    this.claims.push(opts.limit);
    let tasks: TaskRecord[];
    if (this.holdClaims) {
      const answer = gate<TaskRecord[]>();
      this.heldClaims.push({ limit: opts.limit, answer });
      tasks = await answer.promise;
    } else {
      tasks = this.ready.splice(0, opts.limit);
    }
    return tasks.map((t) => ({ task: t, expiresAt: new Date(this.clock.now().getTime() + 3_000) }));
  }
  /** While set, every write answers UNAVAILABLE (the database is down); tries are counted. */
  down = false;
  unavailableTries = 0;
  private refuseWhileDown(): void {
    if (!this.down) return;
    this.unavailableTries++;
    throw new UnavailableError('the database is unavailable (ECONNREFUSED)', { retryAfterMs: 1_000 });
  }
  async complete(taskId: string): Promise<unknown> {
    await this.commit?.promise;
    this.refuseWhileDown();
    this.reports.push(`complete ${taskId}`);
    return null;
  }
  async fail(taskId: string, _fence: string, error: string): Promise<unknown> {
    this.reports.push(`fail ${taskId}: ${error}`);
    return null;
  }
  async release(taskId: string): Promise<unknown> {
    this.reports.push(`release ${taskId}`);
    return null;
  }
  async awaitSignal(taskId: string, _fence: string, _tenantId: string, name: string): Promise<boolean> {
    this.refuseWhileDown();
    this.reports.push(`await ${name} ${taskId}`);
    return true;
  }

  async setTimer(taskId: string, _fence: string, _tenantId: string, when: Date): Promise<boolean> {
    this.refuseWhileDown();
    this.reports.push(`park ${taskId} until +${when.getTime() - T0}`);
    return true;
  }
  async fireDue(): Promise<number> {
    this.fireDueAt.push(this.clock.now().getTime() - T0);
    await this.fireDueGate?.promise;
    if (this.fireDueError) throw this.fireDueError;
    return 0;
  }
  async nextWakeAt(): Promise<Date | null> {
    return this.next;
  }
}

class FakeLeases implements SchedulerLeases {
  readonly renewals: string[] = [];
  readonly lost = new Set<string>();
  /** While set, renewals throw (the lease store unreachable): no answer, not a lost lease. */
  failing = false;
  reaps = 0;
  /** While set, a reap pass waits on it; `reapEntered` opens when one does. */
  reapGate: Gate | null = null;
  reapEntered: Gate | null = null;
  sweeps = 0;
  async renew(lease: LeaseRef): Promise<RenewResult> {
    this.renewals.push(lease.taskId);
    if (this.failing) throw new Error('Connection is closed.');
    return this.lost.has(lease.taskId) ? { ok: false, reason: 'LOST' } : { ok: true, expiresAt: new Date(T0) };
  }
  async reap(): Promise<number> {
    this.reaps++;
    this.reapEntered?.open();
    await this.reapGate?.promise;
    return 0;
  }
  async sweepOrphans(): Promise<number> {
    this.sweeps++;
    return 0;
  }
}

/** An executor that runs until the test opens its task's gate, or until aborted. */
class GatedExecutor implements Executor {
  readonly type = 'work';
  readonly running = new Map<string, Gate<unknown>>();
  readonly aborted: string[] = [];
  async execute(ctx: { taskId: string; signal: AbortSignal }) {
    const done = gate<unknown>();
    this.running.set(ctx.taskId, done);
    const onAbort = () => {
      this.aborted.push(ctx.taskId);
      done.fail(new Error('aborted'));
    };
    ctx.signal.addEventListener('abort', onAbort, { once: true });
    try {
      return { kind: 'completed' as const, output: (await done.promise) as TaskRecord['output'] };
    } finally {
      this.running.delete(ctx.taskId);
    }
  }
  finish(taskId: string, output: unknown = { ok: true }): void {
    const g = this.running.get(taskId);
    if (!g) throw new Error(`${taskId} is not running`);
    g.open(output);
  }
}

function build(options: Partial<SchedulerOptions>) {
  const clock = new ManualClock(T0);
  const engine = new FakeEngine(clock);
  const leases = new FakeLeases();
  const work = new GatedExecutor();
  const errors: string[] = [];
  const warnings: string[] = [];
  const scheduler = new Scheduler({
    engine,
    leases,
    executors: new Map<string, Executor>([
      [work.type, work],
      [sleepExecutor.type, sleepExecutor],
    ]),
    clock,
    log: { error: (_obj, msg) => void errors.push(msg), warn: (_obj, msg) => void warnings.push(msg), debug: () => undefined },
    workerId: 'conductor:test',
    concurrency: 2,
    // Distinct from the other intervals, so each armed timer can be told apart.
    pollIntervalMs: 700,
    // Heartbeats every 1 s.
    leaseTtlMs: 3_000,
    reaperIntervalMs: 500,
    orphanSweepIntervalMs: 5_000,
    ...options,
  });
  return { clock, engine, leases, work, errors, warnings, scheduler };
}

const stoppers: (() => Promise<void>)[] = [];
afterEach(async () => {
  await Promise.all(stoppers.splice(0).map((stop) => stop()));
});

/** A scheduler on fake ports, stopped after the test (grace 0: attempts still running are given back). */
function setup(options: Partial<SchedulerOptions> = {}) {
  const h = build(options);
  stoppers.push(async () => {
    const stopping = h.scheduler.stop(0);
    await h.clock.settle();
    await stopping;
  });
  return h;
}

function started(options: Partial<SchedulerOptions> = {}) {
  const h = setup(options);
  h.scheduler.start();
  return h;
}

describe('Scheduler dispatch', () => {
  it('claims up to the free slots; a slot frees when the executor returns, before its result commits', async () => {
    const { engine, work, scheduler } = setup();
    const tasks = [task(), task(), task(), task()];
    engine.ready.push(...tasks);
    scheduler.start();
    await ticks();
    expect(engine.claims).toEqual([2]);
    expect([...work.running.keys()]).toEqual([tasks[0]!.id, tasks[1]!.id]);
    expect(scheduler.inflightCount).toBe(2);

    // The first result's commit is held: its executor slot is free all the same.
    engine.commit = gate();
    work.finish(tasks[0]!.id);
    await ticks();
    expect(engine.claims).toEqual([2, 1]);
    expect([...work.running.keys()]).toEqual([tasks[1]!.id, tasks[2]!.id]);
    expect(scheduler.inflightCount).toBe(3);
    expect(engine.reports).toEqual([]);
    engine.commit.open();
    engine.commit = null;
    await ticks();
    expect(engine.reports).toEqual([`complete ${tasks[0]!.id}`]);
    expect(scheduler.inflightCount).toBe(2);
    // Nothing freed: no claim (an empty claim would be a transaction for nothing).
    expect(engine.claims).toEqual([2, 1]);
    work.finish(tasks[1]!.id);
    await ticks();
    expect(engine.claims).toEqual([2, 1, 1]);
    expect([...work.running.keys()]).toEqual([tasks[2]!.id, tasks[3]!.id]);
  });

  it('a claim never gets a slot an eager claim reserved, and slots given back dispatch again', async () => {
    const { engine, scheduler } = started();
    await ticks();
    const before = engine.claims.length;
    engine.ready.push(task(), task());
    // An engine transaction claiming eagerly holds both slots.
    expect(scheduler.reserve(5)).toBe(2);
    scheduler.wake();
    await ticks();
    expect(engine.claims).toHaveLength(before);
    // Its transaction rolled back: the slots come back, and the waiting pass claims at once.
    scheduler.unreserve(2);
    await ticks();
    expect(engine.claims.slice(before)).toEqual([2]);
    expect(scheduler.inflightCount).toBe(2);
  });

  it('a wake during a pass asks for one more pass, never more than two claims at once', async () => {
    const { engine, scheduler } = setup({ concurrency: 1_000 });
    engine.holdClaims = true;
    // start() dispatches, and its timer pass dispatches too (retry delays may have ended).
    scheduler.start();
    await ticks();
    expect(engine.heldClaims.map((c) => c.limit)).toEqual([100, 100]);
    for (let i = 0; i < 5; i++) scheduler.wake();
    await ticks();
    expect(engine.heldClaims).toHaveLength(2);
    for (const c of engine.heldClaims.splice(0)) c.answer.open([]);
    await ticks();
    // Five wakes during the passes: one more pass, not five.
    expect(engine.heldClaims).toHaveLength(1);
    engine.heldClaims.splice(0)[0]!.answer.open([]);
    await ticks();
    expect(engine.claims).toHaveLength(3);
  });

  it('a full claim asks for more at once, in a second pass, while the first launches its tasks', async () => {
    const { engine, scheduler } = started({ concurrency: 250 });
    await ticks();
    engine.holdClaims = true;
    scheduler.wake();
    await ticks();
    expect(engine.heldClaims.map((c) => c.limit)).toEqual([100]);
    engine.heldClaims.shift()!.answer.open(Array.from({ length: 100 }, () => task()));
    await ticks();
    // 150 slots left: the first pass claims again and a second pass claims beside it.
    expect(engine.heldClaims.map((c) => c.limit)).toEqual([100, 50]);
    for (const c of engine.heldClaims.splice(0)) c.answer.open([]);
    await ticks();
    expect(scheduler.inflightCount).toBe(100);
  });

  it('a failing claim is logged, gives its slots back, and the next wake claims again', async () => {
    const { engine, errors, scheduler } = started();
    await ticks();
    engine.holdClaims = true;
    scheduler.wake();
    await ticks();
    engine.heldClaims.shift()!.answer.fail(new Error('connection reset'));
    await ticks();
    expect(errors).toEqual(['dispatch pass failed; retrying at the next poll']);
    engine.holdClaims = false;
    engine.ready.push(task(), task());
    scheduler.wake();
    await ticks();
    expect(engine.claims.slice(-1)).toEqual([2]);
    expect(scheduler.inflightCount).toBe(2);
  });

  it('reports a failed attempt and an unknown task type as failures', async () => {
    const { engine, work, scheduler } = started();
    const [flaky, unknown] = [task(), task('no-such-type')];
    engine.ready.push(flaky, unknown);
    scheduler.wake();
    await ticks();
    work.running.get(flaky.id)!.fail(new Error('boom'));
    await ticks();
    expect(engine.reports.sort()).toEqual([`fail ${flaky.id}: boom`, `fail ${unknown.id}: No built-in executor for type "no-such-type"`].sort());
  });
  it("a tenant at its share waits for its own slots: another tenant's freed slot claims nothing, its own claims, also one freed during a claim", async () => {
    // x's steps are http steps, one at a time (its http share); y's are not.
    const http = Object.assign(new GatedExecutor(), { type: 'http' });
    const of = (tenantId: string, type: string) => ({ ...task(type), tenantId });
    const { engine, work, scheduler } = setup({ concurrency: 10, tenantHttpConcurrency: 1 });
    (scheduler as unknown as { opts: { executors: Map<string, Executor> } }).opts.executors.set('http', http);
    engine.holdClaims = true;
    /** Answers the claim waiting now (there must be one) and lets the scheduler go on. */
    const answer = async (tasks: TaskRecord[]) => {
      await ticks();
      const held = engine.heldClaims.shift();
      expect(held, 'a claim waiting for its answer').toBeDefined();
      held!.answer.open(tasks);
      await ticks();
    };
    const [x1, x2, y1] = [of('x', 'http'), of('x', 'http'), of('y', 'work')];
    scheduler.start();
    // x's first step fills x's http share: that claim goes again at once (others' work may be next).
    await answer([x1]);
    await answer([]);
    while (engine.heldClaims.length) await answer([]);
    expect(scheduler.tenantHolding('x')).toEqual({ total: 1, http: 1 });

    // x is at its share: a claim skips it, and y's step runs.
    scheduler.wake();
    await answer([y1]);
    const claims = engine.claims.length;
    work.finish(y1.id);
    await ticks();
    expect(engine.claims).toHaveLength(claims);

    // x's own slot frees while a claim that skips x runs: a second claim at once, x2 claimed.
    scheduler.wake();
    await ticks();
    expect(engine.heldClaims).toHaveLength(1);
    http.finish(x1.id);
    await ticks();
    expect(engine.heldClaims).toHaveLength(2);
    expect(engine.claims).toHaveLength(claims + 2);
    await answer([]);
    await answer([x2]);
    expect([...http.running.keys()]).toEqual([x2.id]);
    while (engine.heldClaims.length) await answer([]);
  });
});

describe('Scheduler timers', () => {
  it('runs one timer pass at a time; wakes during it ask for one more', async () => {
    const { engine, scheduler } = setup();
    engine.fireDueGate = gate();
    scheduler.start();
    await ticks();
    expect(engine.fireDueAt).toEqual([0]);
    for (let i = 0; i < 3; i++) scheduler.wakeTimers();
    await ticks();
    expect(engine.fireDueAt).toEqual([0]);
    engine.fireDueGate.open();
    await ticks();
    expect(engine.fireDueAt).toEqual([0, 0]);
  });

  it('arms the next wake-up for the soonest thing due, and fires then', async () => {
    const { clock, engine, scheduler } = setup();
    engine.next = at(350);
    scheduler.start();
    await ticks();
    expect(engine.fireDueAt).toEqual([0]);
    expect(clock.pending()).toContainEqual(at(350));
    await clock.advance(349);
    expect(engine.fireDueAt).toEqual([0]);
    // Nothing more is due after this pass: the wake-up falls back to the poll interval.
    engine.next = null;
    await clock.advance(1);
    expect(engine.fireDueAt).toEqual([0, 350]);
    expect(clock.pending()).toContainEqual(at(1_050));
  });

  it('armTimer brings the wake-up forward, never back', async () => {
    const { clock, engine, scheduler } = started();
    await ticks();
    expect(clock.pending()).toContainEqual(at(700));
    scheduler.armTimer(at(250));
    scheduler.armTimer(at(600));
    expect(clock.pending()).toContainEqual(at(250));
    expect(clock.pending()).not.toContainEqual(at(600));
    expect(clock.pending()).not.toContainEqual(at(700));
    await clock.advance(250);
    expect(engine.fireDueAt).toEqual([0, 250]);
  });

  it('polls every interval when nothing is known to come due, and caps a far wake-up at the poll interval', async () => {
    const { clock, engine } = started();
    engine.next = at(3_600_000);
    await ticks();
    await clock.advance(2_100);
    expect(engine.fireDueAt).toEqual([0, 700, 1_400, 2_100]);
  });

  it('a failing timer pass is logged and tried again at the next poll', async () => {
    const { clock, engine, errors, scheduler } = setup();
    engine.fireDueError = new Error('database down');
    scheduler.start();
    await ticks();
    await clock.advance(700);
    expect(errors).toEqual(['timer pass failed; retrying at the next poll', 'timer pass failed; retrying at the next poll']);
    engine.fireDueError = null;
    await clock.advance(700);
    expect(engine.fireDueAt).toEqual([0, 700, 1_400]);
    expect(errors).toHaveLength(2);
  });

  it('a sleep parks its attempt on a durable timer and frees its slot; the timer pass wakes when it is due', async () => {
    const { clock, engine, leases, scheduler } = started();
    const nap = task('sleep', { ms: 500 });
    engine.ready.push(nap);
    scheduler.wake();
    await ticks();
    expect(engine.reports).toEqual([`park ${nap.id} until +500`]);
    // Waiting is a state, not a held slot.
    expect(scheduler.inflightCount).toBe(0);
    expect(clock.pending()).toContainEqual(at(500));
    await clock.advance(500);
    expect(engine.fireDueAt).toContain(500);
    await clock.advance(500);
    expect(leases.renewals).toEqual([]);
  });
});

describe('Scheduler leases', () => {
  it('heartbeats every third of the lease; an attempt whose lease is lost is abandoned, unreported', async () => {
    const { clock, engine, leases, work, scheduler } = started();
    const [kept, lost] = [task(), task()];
    engine.ready.push(kept, lost);
    scheduler.wake();
    await ticks();
    await clock.advance(999);
    expect(leases.renewals).toEqual([]);
    leases.lost.add(lost.id);
    await clock.advance(1);
    expect(leases.renewals.sort()).toEqual([kept.id, lost.id].sort());
    expect(work.aborted).toEqual([lost.id]);
    // Whoever holds the task now decides: no report, and its slot is free again.
    expect(engine.reports).toEqual([]);
    expect(scheduler.inflightCount).toBe(1);
    await clock.advance(1_000);
    expect(leases.renewals.filter((id) => id === kept.id)).toHaveLength(2);
    work.finish(kept.id);
    await ticks();
    expect(engine.reports).toEqual([`complete ${kept.id}`]);
  });

  it('a result the database cannot take is kept with its lease (renewed) and written with backoff once it is back', async () => {
    const { clock, engine, leases, work, scheduler, warnings } = started();
    const t1 = task();
    engine.ready.push(t1);
    scheduler.wake();
    await ticks();
    engine.down = true;
    work.finish(t1.id);
    await ticks();
    expect(engine.unavailableTries).toBe(1);
    expect(warnings).toEqual(['the database is unavailable: keeping the result of a built-in attempt (and its lease) and retrying']);
    // Ten seconds of outage, three lease TTLs: still held, renewed every second, tried again and again.
    await clock.advance(10_000);
    expect(scheduler.inflightCount).toBe(1);
    expect(leases.renewals.filter((id) => id === t1.id)).toHaveLength(10);
    // Backoff 100 ms doubling to a 2 s cap (equal jitter: 50–100 % of it): 6 to 14 tries in 10 s.
    expect(engine.unavailableTries).toBeGreaterThanOrEqual(6);
    expect(engine.unavailableTries).toBeLessThanOrEqual(14);
    expect(engine.reports).toEqual([]);
    engine.down = false;
    await clock.advance(2_000);
    expect(engine.reports).toEqual([`complete ${t1.id}`]);
    expect(scheduler.inflightCount).toBe(0);
    expect(warnings.at(-1)).toBe('result of a built-in attempt recorded after the database came back');
  });

  it('a result waiting for the database is dropped when its lease is lost meanwhile', async () => {
    const { clock, engine, leases, work, scheduler } = started();
    const t1 = task();
    engine.ready.push(t1);
    scheduler.wake();
    await ticks();
    engine.down = true;
    work.finish(t1.id);
    await ticks();
    leases.lost.add(t1.id);
    await clock.advance(1_000);
    expect(scheduler.inflightCount).toBe(0);
    const tries = engine.unavailableTries;
    engine.down = false;
    await clock.advance(5_000);
    // Whoever holds the task now decides: nothing more is written.
    expect(engine.reports).toEqual([]);
    expect(engine.unavailableTries).toBe(tries);
  });

  it('a sleep that cannot park keeps renewing its lease until parking gets through', async () => {
    const { clock, engine, leases, scheduler } = started();
    const nap = task('sleep', { ms: 60_000 });
    engine.ready.push(nap);
    engine.down = true;
    scheduler.wake();
    await ticks();
    await clock.advance(3_000);
    expect(leases.renewals.filter((id) => id === nap.id)).toHaveLength(3);
    engine.down = false;
    await clock.advance(2_000);
    expect(engine.reports).toEqual([`park ${nap.id} until +60000`]);
    const renewed = leases.renewals.length;
    await clock.advance(3_000);
    // Parked: no lease to renew any more.
    expect(leases.renewals).toHaveLength(renewed);
  });

  it('a renewal that gets no answer is not a lost lease: the attempt goes on', async () => {
    const { clock, leases, work, engine, scheduler, warnings } = started();
    const t1 = task();
    engine.ready.push(t1);
    scheduler.wake();
    await ticks();
    leases.failing = true;
    await clock.advance(3_000);
    expect(work.aborted).toEqual([]);
    expect(warnings).toContain('lease renewals of built-in attempts failed; the attempts go on, retrying at the next heartbeat');
    leases.failing = false;
    work.finish(t1.id);
    await ticks();
    expect(engine.reports).toEqual([`complete ${t1.id}`]);
  });

  it('reaps and sweeps every interval on the clock; a slow pass delays the next instead of overlapping it', async () => {
    const { clock, leases } = started();
    await clock.advance(1_000);
    expect(leases.reaps).toBe(2);
    leases.reapGate = gate();
    leases.reapEntered = gate();
    const moving = clock.advance(2_000);
    await leases.reapEntered.promise;
    expect(leases.reaps).toBe(3);
    expect(clock.now()).toEqual(at(1_500));
    expect(await settledWithin(moving)).toBe(false);
    leases.reapGate.open();
    leases.reapGate = null;
    await moving;
    // Held from +1,500 until released; then every 500 ms again from where the clock stood.
    expect(leases.reaps).toBe(6);
    expect(leases.sweeps).toBe(0);
    await clock.advance(2_000);
    expect(leases.sweeps).toBe(1);
  });
});

describe('Scheduler drain', () => {
  it('gives back the attempts still running when the grace period ends, and completes those that finish in it', async () => {
    const { clock, engine, work, scheduler } = setup();
    const [quick, slow] = [task(), task()];
    engine.ready.push(quick, slow);
    scheduler.start();
    await ticks();
    const stopping = scheduler.stop(5_000);
    await ticks();
    // Draining: no new reservations, no claims.
    expect(scheduler.reserve(1)).toBe(0);
    work.finish(quick.id);
    await clock.advance(4_999);
    expect(await settledWithin(stopping)).toBe(false);
    expect(engine.reports).toEqual([`complete ${quick.id}`]);
    await clock.advance(1);
    await stopping;
    // Given back, not failed: a deploy must not use up a step's retry budget.
    expect(work.aborted).toEqual([slow.id]);
    expect(engine.reports).toEqual([`complete ${quick.id}`, `release ${slow.id}`]);
    expect(scheduler.inflightCount).toBe(0);
    expect(clock.pending()).toEqual([]);
  });

  it('a claim committing while the drain starts joins it: its tasks are taken in and waited for', async () => {
    const { clock, engine, work, scheduler } = setup();
    scheduler.start();
    await ticks();
    // An engine transaction reserved a slot, then the drain began before it committed.
    expect(scheduler.reserve(1)).toBe(1);
    const stopping = scheduler.stop(5_000);
    await ticks();
    expect(await settledWithin(stopping)).toBe(false);
    const eager = task();
    scheduler.take([{ task: eager, expiresAt: at(3_000) }]);
    await ticks();
    expect(work.running.has(eager.id)).toBe(true);
    work.finish(eager.id);
    await ticks();
    await stopping;
    expect(engine.reports).toEqual([`complete ${eager.id}`]);
    expect(clock.pending()).toEqual([]);
  });

  it('stops every loop: nothing is armed and moving the clock runs nothing', async () => {
    const { clock, engine, leases, scheduler } = setup();
    scheduler.start();
    await ticks();
    await scheduler.stop(0);
    expect(clock.pending()).toEqual([]);
    await clock.advance(60_000);
    expect(engine.fireDueAt).toEqual([0]);
    expect(leases.reaps + leases.sweeps + leases.renewals.length).toBe(0);
  });
});
