import type { TaskRecord } from '../domain/model';
import type { Clock } from '../domain/clock';
import { coerceError } from '../domain/errors';
import type { ReadyBuiltIn } from '../events/event-bus';
import type { Executor } from '../executors/executor';
import type { LeaseRef, RenewResult } from '../leases/lease-store';
import { SlotPool } from '../primitives/slot-pool';
import { atShare, sharesFilled, TenantShares } from '../primitives/tenant-shares';
import { runAttempt } from './attempt';
import { Every } from './every';
import { Passes } from './passes';
import type { ClaimedTask, LocalDispatch, SchedulerEngine, SchedulerLeases, SchedulerLog } from './ports';
import { WakeUp } from './wake-up';

export interface SchedulerOptions {
  engine: SchedulerEngine;
  leases: SchedulerLeases;
  executors: ReadonlyMap<string, Executor>;
  /** Every wait of the scheduler is on this clock: its loops, its wake-up, the drain's grace. */
  clock: Clock;
  log: SchedulerLog;
  /** Identifies this replica as the holder of built-in attempts. */
  workerId: string;
  /** Built-in attempts executing at once. */
  concurrency: number;
  /** Built-in attempts of one tenant executing at once (its share). @default concurrency */
  tenantConcurrency?: number;
  /** http steps of one tenant executing at once. @default tenantConcurrency */
  tenantHttpConcurrency?: number;
  /** Longest wait between two looks at the database when nothing wakes the loop. */
  pollIntervalMs: number;
  /** Lease of built-in attempts; renewed every third of it. */
  leaseTtlMs: number;
  reaperIntervalMs: number;
  orphanSweepIntervalMs: number;
}

/** Most tasks one dispatch claim asks for. */
const MAX_CLAIM_BATCH = 100;
/** Dispatch claims in flight at once while the queue is busy. */
const PARALLEL_CLAIMS = 2;
/** Timers and deadlines one `fireDue` call fires; a full batch asks for the next at once. */
const FIRE_BATCH = 100;
/**
 * Results waiting for their group commit beyond the executing attempts. They hold no executor,
 * only a lease and a little memory; with a bound of 2 × concurrency the claim loop stalled
 * behind the commits (900 → 1,467 one-step runs/s with 500).
 */
const AWAITING_COMMIT = 500;
/** Heartbeats come at least this far apart, whatever the lease (a 1 s lease renews every 333 ms). */
const MIN_HEARTBEAT_MS = 100;

type Phase = { kind: 'idle' } | { kind: 'running' } | { kind: 'draining' } | { kind: 'stopped' };

/** A built-in attempt held by this process. */
interface Attempt {
  promise: Promise<void>;
  abort: AbortController;
  lease: LeaseRef;
  /** Parked on a durable timer (a sleep): it holds no lease to renew. */
  parked: boolean;
}

/**
 * The in-process loops: dispatch ready built-in tasks to executors, and fire durable timers.
 * Both coalesce their wake-ups (a wake during a pass asks for one more pass: at most two
 * dispatch claims at once, one timer pass) and are woken by events: a commit that made built-in
 * work ready, a timer coming due; the poll interval is only the fallback for wake-ups lost in
 * transit. Heartbeats, the reaper and the orphan sweep are passes every interval. Every wait is
 * on the injected clock, so a manual clock drives all of it.
 */
export class Scheduler implements LocalDispatch {
  private phase: Phase = { kind: 'idle' };
  private stopping: Promise<void> | null = null;
  /**
   * Attempts in this process by `taskId:fence`: a task retried at once can be claimed again
   * (eagerly, by its own failure's transaction) while its previous attempt still awaits that
   * report, and both must stay tracked.
   */
  private readonly inflight = new Map<string, Attempt>();
  /** Executors running at once: a slot frees when the executor returns, not when its result commits. */
  private readonly executors: SlotPool;
  /**
   * Attempts held in this process: executing, or with a result waiting for its group commit
   * (up to AWAITING_COMMIT more than executors). A claim reserves a slot in both pools.
   */
  private readonly held: SlotPool;
  /** Each tenant's share of the executors: a tenant whose steps hang holds its share, not the pool. */
  private readonly shares: TenantShares;
  /**
   * Tenants whose ready work a claim left behind for their share: the next slot one of them frees
   * dispatches again. Another tenant's freed slot does not (it gives them nothing: a claim per
   * step of every other tenant, each a transaction, while one tenant's steps hang).
   */
  private readonly shareWaiting = new Set<string>();
  /** Dispatch claims: one, or two while claims come back full (see `dispatchPass`). */
  private readonly dispatch: Passes;
  /** Set while a pass that stopped at a full house waits for a slot: one waiter, however many passes stopped. */
  private slotWaiter: Promise<void> | null = null;
  /** The last pass found the house full or claimed a full batch: ready work may be queued (eager starts wait behind it). */
  private backlogged = false;
  private readonly timers: Passes;
  private readonly wakeUp: WakeUp;
  private readonly heartbeats: Every;
  private readonly reaper: Every;
  private readonly orphanSweep: Every;

  constructor(private readonly opts: SchedulerOptions) {
    const { clock, leases } = opts;
    const running = () => this.phase.kind === 'running';
    this.executors = new SlotPool(opts.concurrency);
    this.held = new SlotPool(opts.concurrency + AWAITING_COMMIT);
    const tenantTotal = Math.min(opts.concurrency, opts.tenantConcurrency ?? opts.concurrency);
    this.shares = new TenantShares({ total: tenantTotal, http: Math.min(tenantTotal, opts.tenantHttpConcurrency ?? tenantTotal) });
    this.dispatch = new Passes(() => this.dispatchPass(), { parallel: PARALLEL_CLAIMS, active: running });
    this.timers = new Passes(() => this.timerPass(), { parallel: 1, active: running });
    this.wakeUp = new WakeUp(clock, opts.pollIntervalMs, () => {
      this.wakeTimers();
      return this.timers.idle();
    });
    // Every third of the lease: two heartbeats may be lost before it expires.
    this.heartbeats = new Every(
      clock,
      Math.max(MIN_HEARTBEAT_MS, Math.floor(opts.leaseTtlMs / 3)),
      this.guarded('heartbeat', () => this.heartbeat()),
    );
    this.reaper = new Every(
      clock,
      opts.reaperIntervalMs,
      this.guarded('reaper', () => leases.reap()),
    );
    this.orphanSweep = new Every(
      clock,
      opts.orphanSweepIntervalMs,
      this.guarded('orphan sweep', () => leases.sweepOrphans()),
    );
  }

  start(): void {
    if (this.phase.kind !== 'idle') return;
    this.phase = { kind: 'running' };
    this.wake();
    this.wakeTimers();
    this.heartbeats.start();
    this.reaper.start();
    this.orphanSweep.start();
  }

  /** Something built-in became ready: dispatch. */
  wake(): void {
    this.dispatch.request();
  }

  /**
   * Built-in steps of known tenants became ready (a start's roots): dispatch, unless all their
   * tenants hold their shares here (a claim would skip them; their next freed slot dispatches).
   */
  wakeFor(ready: readonly ReadyBuiltIn[]): void {
    if (ready.some((r) => this.shares.hasRoom(r.tenantId, r.type === 'http'))) this.wake();
    else for (const r of ready) this.shareWaiting.add(r.tenantId);
  }

  /** A timer or a delayed task may be due: look. */
  wakeTimers(): void {
    this.timers.request();
  }

  /**
   * A timer pass now; resolves when no timer pass and no dispatch pass (the timer pass wakes one)
   * runs: a seam for tests and tools ("has everything due fired, and been claimed if it could?").
   */
  async settleTimers(): Promise<void> {
    this.wakeTimers();
    await this.timers.idle();
    await this.dispatch.idle();
  }

  /** Something comes due at `at` (a retry delay, a deadline): make sure a timer pass runs then. */
  armTimer(at: Date): void {
    if (this.phase.kind !== 'running') return;
    this.wakeUp.arm(at);
  }

  /** Stop taking work; wait up to `graceMs` (on the clock) for running attempts, then abort them. */
  stop(graceMs: number): Promise<void> {
    return (this.stopping ??= this.drain(graceMs));
  }

  get workerId(): string {
    return this.opts.workerId;
  }

  get leaseMs(): number {
    return this.opts.leaseTtlMs;
  }

  /**
   * Promises up to `n` free slots to a claim in progress (the dispatch loop's, or a transaction
   * claiming eagerly). A slot frees when its executor returns, not when its result commits:
   * results are group-committed meanwhile, and up to AWAITING_COMMIT more may wait for theirs.
   */
  reserve(n: number, forStart = false): number {
    if (this.phase.kind !== 'running' || (forStart && this.backlogged)) return 0;
    const granted = Math.max(0, Math.min(n, this.executors.available, this.held.available));
    this.executors.reserve(granted);
    this.held.reserve(granted);
    return granted;
  }

  unreserve(n: number): void {
    this.executors.release(n);
    this.held.release(n);
  }

  admit(tenantId: string, type: string): boolean {
    return this.phase.kind === 'running' && this.shares.take(tenantId, type === 'http');
  }

  unadmit(tenantId: string, type: string): void {
    this.shares.free(tenantId, type === 'http');
  }

  /** What a tenant executes now (tests and metrics). */
  tenantHolding(tenantId: string): { total: number; http: number } {
    return this.shares.holding(tenantId);
  }

  /**
   * Tasks claimed on reserved slots, each admitted to its tenant's share. Launched even while
   * draining: they are claimed, and drain waits for them.
   */
  take(claimed: readonly ClaimedTask[]): void {
    this.executors.take(claimed.length);
    this.held.take(claimed.length);
    for (const { task } of claimed) this.launch(task);
  }

  get inflightCount(): number {
    return this.inflight.size;
  }

  private async drain(graceMs: number): Promise<void> {
    const { clock } = this.opts;
    this.phase = { kind: 'draining' };
    this.executors.close();
    this.held.close();
    this.wakeUp.disarm();
    // Heartbeats go on while draining: attempts finishing in the grace period keep their leases.
    const loopsStopped = [this.reaper.stop(), this.orphanSweep.stop()];
    await Promise.all([this.dispatch.idle(), this.timers.idle()]);
    // One deadline for the whole drain, whatever it waits for.
    let cancelGrace = () => {};
    const graceOver = new Promise<true>((resolve) => (cancelGrace = clock.setTimer(new Date(clock.now().getTime() + graceMs), () => resolve(true))));
    // Claims committing right now (eager dispatch) join the drain.
    await Promise.race([this.executors.settled(), graceOver]);
    const all = Promise.allSettled([...this.inflight.values()].map((a) => a.promise));
    const timedOut = await Promise.race([all.then(() => false), graceOver]);
    cancelGrace();
    if (timedOut) {
      // Given back, not failed: a deploy must not use up a step's retry budget.
      for (const a of this.inflight.values()) a.abort.abort();
      await all;
    }
    this.phase = { kind: 'stopped' };
    await Promise.allSettled([...loopsStopped, this.heartbeats.stop()]);
  }

  /** A loop's pass with its failure logged: the next interval tries again. */
  private guarded(name: string, pass: () => Promise<unknown>): () => Promise<void> {
    return async () => {
      try {
        await pass();
      } catch (e: unknown) {
        this.opts.log.error({ err: coerceError(e) }, `${name} pass failed; retrying at the next interval`);
      }
    };
  }

  /**
   * Renews the leases of running built-in attempts; one that lost its lease is abandoned. A
   * renewal that fails (the lease store or the database unreachable) is not a lost lease: the
   * attempt goes on, and the next heartbeat tries again.
   */
  private async heartbeat(): Promise<void> {
    let failed = 0;
    let firstError: unknown;
    await Promise.all(
      [...this.inflight.values()].map(async (a) => {
        if (a.parked) return;
        let result: RenewResult;
        try {
          result = await this.opts.leases.renew(a.lease, this.opts.leaseTtlMs);
        } catch (e: unknown) {
          failed++;
          firstError ??= e;
          return;
        }
        if (!result.ok) {
          this.opts.log.debug({ taskId: a.lease.taskId, reason: result.reason }, 'built-in attempt lost its lease; abandoning it');
          a.abort.abort();
        }
      }),
    );
    if (failed > 0) {
      this.opts.log.warn(
        { failed, err: coerceError(firstError) },
        'lease renewals of built-in attempts failed; the attempts go on, retrying at the next heartbeat',
      );
    }
  }

  /** Claims while there is room and the last claim came back full. */
  private async dispatchPass(): Promise<void> {
    try {
      while (this.phase.kind === 'running') {
        // The claim holds its slots while it runs, as an eager claim does: the two never
        // promise one slot twice.
        const limit = this.reserve(MAX_CLAIM_BATCH);
        if (limit <= 0) {
          this.backlogged = true;
          this.dispatchWhenFree();
          return;
        }
        let claimed: ClaimedTask[];
        // Round robin across tenants, none beyond its share: one tenant's hanging steps leave
        // the rest of the pool to the others.
        const budgets = this.shares.budgets();
        // Tenants at their share are skipped: a slot one of them frees while the claim runs
        // dispatches again (it finds them waiting).
        for (const tenant of atShare(budgets)) this.shareWaiting.add(tenant);
        try {
          claimed = await this.opts.engine.claim({ tenantId: null, queue: null, limit, workerId: this.opts.workerId, leaseMs: this.opts.leaseTtlMs, budgets });
        } catch (e: unknown) {
          this.unreserve(limit);
          throw e;
        } finally {
          this.shares.settle(budgets);
        }
        const admitted: ClaimedTask[] = [];
        const over: ClaimedTask[] = [];
        for (const c of claimed) (this.shares.take(c.task.tenantId, c.task.type === 'http') ? admitted : over).push(c);
        this.take(admitted);
        // A tenant new to both claims running at once can come back over its share: those go back
        // to the queue, uncounted.
        for (const { task } of over) void this.giveBack(task);
        // Slots this claim held and did not use may have turned others away meanwhile (an eager
        // claim, a ready signal): giving them back wakes a pass waiting for a slot now, not at
        // the next poll.
        this.unreserve(limit - admitted.length);
        // A claim cut short by a tenant's share is not an empty queue: claim again at once (the
        // others' work may be next), and when that tenant frees a slot. A tenant that was at its
        // share already was skipped, not cut: it waits for its own slot, the others had their turn.
        const filled = sharesFilled(
          budgets,
          claimed.map(({ task }) => ({ tenantId: task.tenantId, http: task.type === 'http' })),
        );
        for (const { tenantId, http } of filled) {
          // A slot it freed while the claim ran found it not waiting yet: dispatch now.
          if (this.shares.hasRoom(tenantId, http)) this.wake();
          else this.shareWaiting.add(tenantId);
        }
        this.backlogged = claimed.length >= limit;
        if (claimed.length === 0 || (claimed.length < limit && filled.length === 0)) return;
        // A full claim: there is likely more. A second pass claims while this one commits
        // (claims skip each other's rows): 1.5k → 2.xk one-step runs/s in bench scenario 1.
        this.wake();
      }
    } catch (e: unknown) {
      this.opts.log.error({ err: coerceError(e) }, 'dispatch pass failed; retrying at the next poll');
    }
  }

  /**
   * A full house: the next freed slot dispatches again. Otherwise a pass stops because nothing
   * was ready, and the next ready signal wakes it (an empty claim is a transaction).
   */
  private dispatchWhenFree(): void {
    this.slotWaiter ??= Promise.race([this.executors.whenFree(), this.held.whenFree()]).then(() => {
      this.slotWaiter = null;
      this.wake();
    });
  }

  private async timerPass(): Promise<void> {
    const { engine, log } = this.opts;
    try {
      while ((await engine.fireDue(FIRE_BATCH)) >= FIRE_BATCH && this.phase.kind === 'running');
      // Delayed built-in tasks (retry backoff) become claimable on their own: dispatch.
      this.wake();
      // Keeps a sooner wake-up armed meanwhile (armTimer during this pass), else arms this one.
      const next = await engine.nextWakeAt();
      if (next) this.armTimer(next);
      else if (this.phase.kind === 'running') this.wakeUp.poll();
    } catch (e: unknown) {
      log.error({ err: coerceError(e) }, 'timer pass failed; retrying at the next poll');
      if (this.phase.kind === 'running') this.wakeUp.poll();
    }
  }

  private async giveBack(task: TaskRecord): Promise<void> {
    try {
      await this.opts.engine.release(task.id, task.fence);
    } catch (e: unknown) {
      // Its lease expires and the reaper queues it again.
      this.opts.log.error(
        { err: coerceError(e), taskId: task.id, runId: task.runId, tenantId: task.tenantId },
        'could not give back a task over its tenant share',
      );
    }
  }

  private launch(task: TaskRecord): void {
    const abort = new AbortController();
    const attempt: Attempt = {
      promise: Promise.resolve(),
      abort,
      lease: { taskId: task.id, fence: task.fence, tenantId: task.tenantId, secret: task.leaseSecret },
      parked: false,
    };
    const key = `${task.id}:${task.fence}`;
    this.inflight.set(key, attempt);
    let executorDone = false;
    attempt.promise = runAttempt(task, abort.signal, {
      ...this.opts,
      executorDone: () => {
        if (executorDone) return;
        executorDone = true;
        this.executors.free();
        this.shares.free(task.tenantId, task.type === 'http');
        if (this.shareWaiting.delete(task.tenantId)) this.wake();
      },
      // An abort while running abandons the attempt (lease lost); while draining, gives it back.
      draining: () => this.phase.kind !== 'running',
      parking: () => {
        attempt.parked = true;
      },
      unparked: () => {
        attempt.parked = false;
      },
      parked: (until) => this.armTimer(until),
    }).finally(() => {
      this.inflight.delete(key);
      this.held.free();
    });
  }
}
