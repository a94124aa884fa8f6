/**
 * What the scheduler needs from the rest of the conductor, and what it offers the engine: small
 * interfaces, so its loops run alone in a unit test on fake ports and a manual clock, and the
 * engine depends on this leaf module instead of on the scheduler.
 */
import type { TaskRecord } from '../domain/model';
import type { LeaseRef, RenewResult } from '../leases/lease-store';
import type { ShareBudgets } from '../primitives/tenant-shares';

/** A task claimed for an executor, with the lease the claim granted. */
export interface ClaimedTask {
  task: TaskRecord;
  expiresAt: Date;
}

/** What the scheduler needs from the engine. */
export interface SchedulerEngine {
  /** Claims ready built-in tasks (queue null) for this replica's executors. */
  claim(opts: { tenantId: null; queue: null; limit: number; workerId: string; leaseMs: number; budgets: ShareBudgets }): Promise<ClaimedTask[]>;
  complete(taskId: string, fence: string, output: TaskRecord['output'], tenantId?: null, opts?: { sanitize?: boolean }): Promise<unknown>;
  fail(taskId: string, fence: string, error: string, retryable: boolean): Promise<unknown>;
  /** Gives an attempt back unfinished and uncounted (a draining replica). */
  release(taskId: string, fence: string): Promise<unknown>;
  /** Parks a running attempt on a durable timer (a sleep); false when the attempt is no longer held. */
  setTimer(taskId: string, fence: string, tenantId: string, at: Date): Promise<boolean>;
  /** A `signal` step waits: takes a pending signal (succeeds) or parks until one or `timeoutAt`; false when the attempt is no longer held. */
  awaitSignal(taskId: string, fence: string, tenantId: string, name: string, timeoutAt: Date | null): Promise<boolean>;
  /** Fires up to `limit` due timers and deadlines; returns how many it fired. */
  fireDue(limit?: number): Promise<number>;
  /** When something time-driven is next due (null: nothing is). */
  nextWakeAt(): Promise<Date | null>;
}

/** The lease side: heartbeats of built-in attempts, and the reaper. */
export interface SchedulerLeases {
  renew(lease: LeaseRef, ttlMs: number): Promise<RenewResult>;
  /** Reclaims the tasks of expired leases; returns how many. */
  reap(): Promise<number>;
  /** Reclaims running tasks whose lease vanished from the store; returns how many. */
  sweepOrphans(): Promise<number>;
}

export interface SchedulerLog {
  error(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  debug(obj: object, msg: string): void;
}

/**
 * The replica's own executor pool, for eager dispatch: when a result makes built-in steps ready,
 * the same transaction claims them for this replica (they are in hand, their run locked), saving
 * a claim transaction and a wake-up per step (Temporal's eager activity dispatch does the like).
 */
export interface LocalDispatch {
  readonly workerId: string;
  readonly leaseMs: number;
  /**
   * Reserves up to `n` executor slots; returns how many it got (0 while draining). `forStart`: for
   * a new run's roots (eager start), none while the dispatcher knows of queued work, which is
   * claimed first, in priority order.
   */
  reserve(n: number, forStart?: boolean): number;
  /** Counts a task of the tenant against its share before an eager claim; false: the tenant holds its share. */
  admit(tenantId: string, type: string): boolean;
  /** An admitted task that was not claimed after all. */
  unadmit(tenantId: string, type: string): void;
  /** Gives back reserved slots that were not used. */
  unreserve(n: number): void;
  /** Starts the claimed tasks on reserved slots (one slot each), each admitted before. */
  take(claimed: readonly ClaimedTask[]): void;
}
