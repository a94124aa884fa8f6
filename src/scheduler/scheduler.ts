import type { TaskRecord } from '../domain/model';
import type { Clock } from '../domain/clock';
import { coerceError, DomainError, LeaseLostError, RunCancelledError } from '../domain/errors';
import { storable } from '../domain/json';
import { TaskFailure, type ExecutionResult, type Executor } from '../executors/executor';
import type { LeaseRef, RenewResult } from '../leases/lease-store';
import type { LocalDispatch } from './ports';


/** What the scheduler needs from the engine; an interface so its loops are testable alone. */
export interface SchedulerEngine {
  claim(opts: { tenantId: null; queue: null; limit: number; workerId: string; leaseMs: number }): Promise<{ task: TaskRecord; expiresAt: Date }[]>;
  complete(taskId: string, fence: string, output: TaskRecord['output']): Promise<unknown>;
  fail(taskId: string, fence: string, error: string, retryable: boolean): Promise<unknown>;
  release(taskId: string, fence: string): Promise<unknown>;
  setTimer(taskId: string, fence: string, tenantId: string, at: Date): Promise<boolean>;
  fireDue(limit?: number): Promise<number>;
  nextWakeAt(): Promise<Date | null>;
}

/** The lease side: heartbeats of built-in attempts, and the reaper. */
export interface SchedulerLeases {
  renew(lease: LeaseRef, ttlMs: number): Promise<RenewResult>;
  reap(): Promise<number>;
  sweepOrphans(): Promise<number>;
}

export interface SchedulerLog {
  error(obj: object, msg: string): void;
  debug(obj: object, msg: string): void;
}

export interface SchedulerOptions {
  engine: SchedulerEngine;
  leases: SchedulerLeases;
  executors: ReadonlyMap<string, Executor>;
  clock: Clock;
  log: SchedulerLog;
  /** Identifies this replica as the holder of built-in attempts. */
  workerId: string;
  /** Built-in attempts executing at once. */
  concurrency: number;
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
/**
 * Results waiting for their group commit beyond the executing attempts. They hold no executor,
 * only a lease and a little memory; with a bound of 2 × concurrency the claim loop stalled
 * behind the commits (900 → 1,467 one-step runs/s with 500).
 */
const AWAITING_COMMIT = 500;

type Phase = { kind: 'idle' } | { kind: 'running' } | { kind: 'draining' } | { kind: 'stopped' };

/**
 * The in-process loops: dispatch ready built-in tasks to executors, and fire durable timers.
 * Both are single-flight (a wake during a pass asks for one more pass, never a parallel one)
 * and woken by events: a commit that made built-in work ready, a timer coming due; the poll
 * interval is only the fallback for wake-ups lost in transit.
 */
export class Scheduler implements LocalDispatch {
  private phase: Phase = { kind: 'idle' };
  /**
   * Attempts in this process by `taskId:fence`: a task retried at once can be claimed again
   * (eagerly, by its own failure's transaction) while its previous attempt still awaits that
   * report, and both must stay tracked.
   */
  private readonly inflight = new Map<string, { promise: Promise<void>; abort: AbortController; lease: LeaseRef; parked: boolean }>();
  /** The pending timer of each loop, by name: one handle per loop, so stop() can clear them all. */
  private readonly loops = new Map<string, NodeJS.Timeout>();
  private readonly loopRuns = new Set<Promise<unknown>>();
  /** Attempts whose executor is running; the rest of `inflight` await their result's commit. */
  private executing = 0;
  /** Slots promised to tasks an engine transaction is claiming eagerly (see `reserve`). */
  private reserved = 0;
  private reservationsSettled: (() => void)[] = [];
  /** The last dispatch pass stopped for want of a free slot: a freed slot must dispatch again. */
  private waitingForSlot = false;
  /** Dispatch loops running: one, or two while claims come back full (see `wake`). */
  private readonly dispatching = new Set<Promise<void>>();
  private dispatchAgain = false;
  private timing: Promise<void> | null = null;
  private timingAgain = false;
  private wakeTimer: NodeJS.Timeout | null = null;
  private wakeAt = Infinity;

  constructor(private readonly opts: SchedulerOptions) {}

  start(): void {
    if (this.phase.kind !== 'idle') return;
    this.phase = { kind: 'running' };
    this.wake();
    this.wakeTimers();
    // Heartbeats go on while draining: attempts finishing in the grace period keep their leases.
    this.every(Math.max(100, Math.floor(this.opts.leaseTtlMs / 3)), () => this.heartbeat(), 'heartbeat', true);
    this.every(this.opts.reaperIntervalMs, () => this.opts.leases.reap(), 'reaper');
    this.every(this.opts.orphanSweepIntervalMs, () => this.opts.leases.sweepOrphans(), 'orphan sweep');
  }

  /** A loop that never overlaps itself: the next pass is scheduled when this one ends. */
  private every(intervalMs: number, pass: () => Promise<unknown>, name: string, whileDraining = false): void {
    const active = () => this.phase.kind === 'running' || (whileDraining && this.phase.kind === 'draining');
    const schedule = () => {
      if (!active()) return;
      const timer = setTimeout(() => {
        this.loops.delete(name);
        if (!active()) return;
        const run = pass()
          .catch((e: unknown) => this.opts.log.error({ err: coerceError(e) }, `${name} pass failed; retrying at the next interval`))
          .finally(() => {
            this.loopRuns.delete(run);
            schedule();
          });
        this.loopRuns.add(run);
      }, intervalMs);
      timer.unref();
      this.loops.set(name, timer);
    };
    schedule();
  }

  /** Renews the leases of running built-in attempts; one that lost its lease is abandoned. */
  private async heartbeat(): Promise<void> {
    await Promise.all(
      [...this.inflight.values()].map(async (a) => {
        const taskId = a.lease.taskId;
        if (a.parked) return;
        const result = await this.opts.leases.renew(a.lease, this.opts.leaseTtlMs);
        if (!result.ok) {
          this.opts.log.debug({ taskId, reason: result.reason }, 'built-in attempt lost its lease; abandoning it');
          a.abort.abort();
        }
      }),
    );
  }

  /** Something built-in became ready: dispatch. */
  wake(): void {
    if (this.phase.kind !== 'running') return;
    if (this.dispatching.size >= PARALLEL_CLAIMS) {
      this.dispatchAgain = true;
      return;
    }
    const loop: Promise<void> = this.dispatchLoop().finally(() => {
      this.dispatching.delete(loop);
      if (this.dispatchAgain) this.wake();
    });
    this.dispatching.add(loop);
  }

  /**
   * Dispatch again only if the last pass stopped at a full house: otherwise it stopped because
   * nothing was ready, and the next ready signal wakes it (an empty claim is a transaction).
   */
  private slotFreed(): void {
    if (!this.waitingForSlot) return;
    this.waitingForSlot = false;
    this.wake();
  }

  /** A timer or a delayed task may be due: look. */
  wakeTimers(): void {
    if (this.phase.kind !== 'running') return;
    if (this.timing) {
      this.timingAgain = true;
      return;
    }
    this.timing = this.timerPass().finally(() => {
      this.timing = null;
      if (this.timingAgain) this.wakeTimers();
    });
  }

  /** Something comes due at `at` (a retry delay, a deadline): make sure a timer pass runs then. */
  armTimer(at: Date): void {
    this.scheduleTimerWake(at);
  }

  /** Stop taking work; wait up to `graceMs` for running attempts, then abort them. */
  async stop(graceMs: number): Promise<void> {
    if (this.phase.kind === 'stopped') return;
    this.phase = { kind: 'draining' };
    if (this.wakeTimer) clearTimeout(this.wakeTimer);
    for (const [name, t] of this.loops) {
      if (name !== 'heartbeat') clearTimeout(t);
    }
    await Promise.allSettled([...this.dispatching, this.timing]);
    // One deadline for the whole drain, whatever it waits for.
    const graceOver = new Promise<true>((r) => setTimeout(() => r(true), graceMs).unref());
    // Claims committing right now (eager dispatch) join the drain.
    if (this.reserved > 0) await Promise.race([new Promise<void>((r) => this.reservationsSettled.push(r)), graceOver]);
    const all = Promise.allSettled([...this.inflight.values()].map((a) => a.promise));
    const timedOut = await Promise.race([all.then(() => false), graceOver]);
    if (timedOut) {
      // Given back, not failed: a deploy must not use up a step's retry budget.
      for (const a of this.inflight.values()) a.abort.abort();
      await all;
    }
    this.phase = { kind: 'stopped' };
    for (const t of this.loops.values()) clearTimeout(t);
    await Promise.allSettled([...this.loopRuns]);
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
   * results are group-committed meanwhile, and up to `concurrency` more may wait for theirs.
   */
  reserve(n: number): number {
    if (this.phase.kind !== 'running') return 0;
    const free = Math.min(this.opts.concurrency - this.executing, this.opts.concurrency + AWAITING_COMMIT - this.inflight.size) - this.reserved;
    const granted = Math.max(0, Math.min(n, free));
    this.reserved += granted;
    return granted;
  }

  unreserve(n: number): void {
    this.settleReservations(n);
    this.slotFreed();
  }

  /** Tasks claimed eagerly on reserved slots. Launched even while draining: they are claimed, and drain waits for them. */
  take(claimed: readonly { task: TaskRecord; expiresAt: Date }[]): void {
    for (const { task } of claimed) this.launch(task);
    this.settleReservations(claimed.length);
  }

  private settleReservations(n: number): void {
    this.reserved = Math.max(0, this.reserved - n);
    if (this.reserved > 0) return;
    for (const resolve of this.reservationsSettled.splice(0)) resolve();
  }

  get inflightCount(): number {
    return this.inflight.size;
  }

  private async dispatchLoop(): Promise<void> {
    do {
      this.dispatchAgain = false;
      try {
        // Claim while there is room and the last claim was full.
        for (;;) {
          if (this.phase.kind !== 'running') break;
          // The claim holds its slots while it runs, as an eager claim does: the two never
          // promise one slot twice.
          const limit = this.reserve(MAX_CLAIM_BATCH);
          if (limit <= 0) {
            this.waitingForSlot = true;
            break;
          }
          let claimed: Awaited<ReturnType<SchedulerEngine['claim']>> = [];
          try {
            claimed = await this.opts.engine.claim({ tenantId: null, queue: null, limit, workerId: this.opts.workerId, leaseMs: this.opts.leaseTtlMs });
            for (const { task } of claimed) this.launch(task);
          } finally {
            this.settleReservations(limit);
          }
          if (claimed.length < limit) {
            // Slots this claim held and did not use may have turned others away meanwhile (an
            // eager claim, a ready signal): they get their turn now, not at the next poll.
            this.slotFreed();
            break;
          }
          // A full claim: there is likely more. A second loop claims while this one commits
          // (claims skip each other's rows): 1.5k → 2.xk one-step runs/s in bench scenario 1.
          this.wake();
        }
      } catch (e: unknown) {
        this.opts.log.error({ err: coerceError(e) }, 'dispatch pass failed; retrying at the next poll');
      }
    } while (this.dispatchAgain && this.phase.kind === 'running');
  }

  private launch(task: TaskRecord): void {
    const abort = new AbortController();
    const entry = { promise: Promise.resolve(), abort, lease: { taskId: task.id, fence: task.fence, tenantId: task.tenantId }, parked: false };
    const key = `${task.id}:${task.fence}`;
    this.inflight.set(key, entry);
    entry.promise = this.execute(task, abort.signal).finally(() => {
      this.inflight.delete(key);
      this.slotFreed();
    });
  }

  private async execute(task: TaskRecord, signal: AbortSignal): Promise<void> {
    const { engine, executors, clock } = this.opts;
    const ctx = { taskId: task.id, runId: task.runId, tenantId: task.tenantId };
    const executor = executors.get(task.type);
    let result: ExecutionResult;
    this.executing++;
    let executed = false;
    const executorDone = () => {
      if (executed) return;
      executed = true;
      this.executing--;
      this.slotFreed();
    };
    try {
      if (!executor) throw new TaskFailure(`No built-in executor for type "${task.type}"`, false);
      result = await executor.execute({
        taskId: task.id,
        runId: task.runId,
        tenantId: task.tenantId,
        attempt: task.attempt,
        input: task.input,
        timeoutMs: task.timeoutMs,
        signal,
        now: () => clock.now(),
      });
    } catch (e: unknown) {
      executorDone();
      // Abandoned (lease lost, run cancelled): whoever holds the task now decides.
      if (signal.aborted && this.phase.kind === 'running') return;
      // Aborted by shutdown: give the task back to another replica, uncounted.
      if (signal.aborted) {
        await this.report(ctx, () => engine.release(task.id, task.fence));
        return;
      }
      const failure = e instanceof TaskFailure ? e : new TaskFailure(coerceError(e).message, true);
      await this.report(ctx, () => engine.fail(task.id, task.fence, storable(failure.message) as string, failure.retryable));
      return;
    }
    executorDone();
    if (result.kind === 'sleep') {
      if (result.until.getTime() <= clock.now().getTime()) {
        await this.report(ctx, () => engine.complete(task.id, task.fence, task.input));
      } else {
        const entry = this.inflight.get(`${task.id}:${task.fence}`);
        if (entry) entry.parked = true;
        await this.report(ctx, () => engine.setTimer(task.id, task.fence, task.tenantId, result.until));
        this.scheduleTimerWake(result.until);
      }
      return;
    }
    await this.report(ctx, () => engine.complete(task.id, task.fence, storable(result.output)));
  }

  private async report(ctx: object, write: () => Promise<unknown>): Promise<void> {
    try {
      await write();
    } catch (e: unknown) {
      if (e instanceof LeaseLostError || e instanceof RunCancelledError) {
        this.opts.log.debug({ ...ctx, code: e.code }, 'result of a built-in attempt refused');
      } else if (e instanceof DomainError) {
        this.opts.log.debug({ ...ctx, code: e.code }, 'result of a built-in attempt not recorded');
      } else {
        // The attempt stays RUNNING; its lease expiry hands it to another attempt.
        this.opts.log.error({ ...ctx, err: coerceError(e) }, 'could not record the result of a built-in attempt');
      }
    }
  }

  private async timerPass(): Promise<void> {
    do {
      this.timingAgain = false;
      try {
        while ((await this.opts.engine.fireDue(100)) >= 100 && this.phase.kind === 'running');
        // Delayed built-in tasks (retry backoff) become claimable on their own: dispatch.
        this.wake();
        // Keeps a sooner timer armed meanwhile (armTimer during this pass), else arms this one.
        const next = await this.opts.engine.nextWakeAt();
        this.scheduleTimerWake(next ?? new Date(this.opts.clock.now().getTime() + this.opts.pollIntervalMs));
      } catch (e: unknown) {
        this.opts.log.error({ err: coerceError(e) }, 'timer pass failed; retrying at the next poll');
        this.scheduleTimerWake(new Date(this.opts.clock.now().getTime() + this.opts.pollIntervalMs));
      }
    } while (this.timingAgain && this.phase.kind === 'running');
  }

  /** Arms the one wake-up timer for `at` if that is sooner than the armed one (never beyond a poll interval). */
  private scheduleTimerWake(at: Date): void {
    if (this.phase.kind !== 'running') return;
    const now = this.opts.clock.now().getTime();
    const target = Math.min(at.getTime(), now + this.opts.pollIntervalMs);
    if (target >= this.wakeAt) return;
    if (this.wakeTimer) clearTimeout(this.wakeTimer);
    this.wakeAt = target;
    this.wakeTimer = setTimeout(() => {
      this.wakeTimer = null;
      this.wakeAt = Infinity;
      this.wakeTimers();
    }, Math.max(0, target - now));
    this.wakeTimer.unref();
  }
}
