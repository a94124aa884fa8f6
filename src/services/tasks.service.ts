import type { AttemptOutcome, TaskRecord } from '../domain/model';
import type { Clock } from '../domain/clock';
import { QUEUE_PATTERN } from '../domain/dag';
import { isUuid } from '../domain/ids';
import { DomainError, LeaseLostError, NotFoundError, RateLimitedError, RunCancelledError, UnavailableError, ValidationError } from '../domain/errors';
import { checkWellFormed } from '../domain/json-limits';
import { KeyedSlots } from '../primitives/keyed-slots';
import type { Json } from '../domain/glossary';
import type { EventBus } from '../events/event-bus';
import type { LeaseRef, LeaseStore, RenewResult } from '../leases/lease-store';
import type { Database } from '../store/sql';
import { findTask, renewalRefused, runningAttempts } from '../store/tasks.store';
import type { EngineHooks } from '../domain/hooks';
import { formatLeaseToken, parseLeaseToken, secretMatches } from '../domain/lease-token';
import type { Engine } from './engine';
import type { QueuePolls } from './queue-polls';

export const MAX_CLAIM = 100;
export const MIN_LEASE_MS = 1_000;
export const MAX_LEASE_MS = 3_600_000;
export const MAX_WAIT_MS = 60_000;

/** How an attempt ends by its own holder's report, not by losing its lease. */
const ENDED_BY_HOLDER: ReadonlySet<AttemptOutcome> = new Set(['SUCCEEDED', 'FAILED', 'RELEASED']);

function checkLeaseMs(leaseMs: number): void {
  if (!Number.isInteger(leaseMs) || leaseMs < MIN_LEASE_MS || leaseMs > MAX_LEASE_MS) {
    throw new ValidationError(`"leaseMs" must be between ${MIN_LEASE_MS} and ${MAX_LEASE_MS}`, { field: 'leaseMs' });
  }
}

export interface TaskLease {
  task: TaskRecord;
  leaseToken: string;
  leaseExpiresAt: Date;
}

/**
 * The worker protocol: claim, heartbeat, complete, fail, release; and the reaper that returns
 * the work of dead holders. Heartbeats touch only the lease store; every result is checked
 * against the fencing token in Postgres, in the transaction that applies it.
 */
export class TasksService {
  private readonly waiters = new Set<() => void>();
  private draining = false;
  /** Long polls held open per tenant on this replica (LONG_POLLS_PER_TENANT). */
  private readonly longPolls: KeyedSlots;

  constructor(
    private readonly deps: {
      db: Database;
      engine: Engine;
      leases: LeaseStore;
      bus: EventBus;
      clock: Clock;
      hooks: EngineHooks;
      leaseTtlMs: number;
      /** Concurrent long polls (`waitMs` > 0) per tenant on this replica. @default 100 */
      longPollsPerTenant?: number;
      /** A long poll was refused at the cap (metrics). */
      onLongPollRefused?: () => void;
      /** Where claims record that a queue is polled (`waitingFor`: NO_WORKER). */
      queuePolls?: QueuePolls;
    },
  ) {
    this.longPolls = new KeyedSlots(deps.longPollsPerTenant ?? 100);
  }

  /** Long polls `tenantId` holds open on this replica now (LONG_POLLS_PER_TENANT counts them). */
  longPollsHeld(tenantId: string): number {
    return this.longPolls.count(tenantId);
  }

  /**
   * Claims up to `max` ready tasks of `queue`. With `waitMs`, an empty claim waits (long poll)
   * until a task of the queue becomes ready anywhere in the cluster, then claims again.
   */
  async claim(
    tenantId: string,
    req: { queue: string; workerId: string; max?: number | null; leaseMs?: number | null; waitMs?: number | null },
    /** The caller went away (its HTTP request closed): stop waiting, claim nothing more. */
    signal?: AbortSignal,
  ): Promise<TaskLease[]> {
    const max = req.max ?? 1;
    const leaseMs = req.leaseMs ?? this.deps.leaseTtlMs;
    const waitMs = req.waitMs ?? 0;
    if (!QUEUE_PATTERN.test(req.queue)) throw new ValidationError('"queue" must be 1 to 128 letters, digits, "_", ".", ":" or "-"', { field: 'queue' });
    if (req.workerId.length < 1 || req.workerId.length > 256) throw new ValidationError('"workerId" must be 1 to 256 characters', { field: 'workerId' });
    checkWellFormed('workerId', req.workerId);
    if (!Number.isInteger(max) || max < 1 || max > MAX_CLAIM) throw new ValidationError(`"max" must be between 1 and ${MAX_CLAIM}`, { field: 'max' });
    checkLeaseMs(leaseMs);
    if (!Number.isInteger(waitMs) || waitMs < 0 || waitMs > MAX_WAIT_MS) {
      throw new ValidationError(`"waitMs" must be between 0 and ${MAX_WAIT_MS}`, { field: 'waitMs' });
    }

    if (waitMs === 0) return this.claimUntil(tenantId, req.queue, req.workerId, max, leaseMs, 0, signal);
    // A long poll holds a request, a socket and a bus listener for up to a minute: a tenant may
    // hold only so many at once (300 concurrent 60 s polls were accepted before).
    const release = this.longPolls.tryAcquire(tenantId);
    if (!release) {
      this.deps.onLongPollRefused?.();
      throw new RateLimitedError(
        `This tenant already holds ${this.longPolls.capacity} long polls (claimTasks with waitMs) on this replica: retry later, or claim with waitMs: 0`,
        { retryAfterMs: 1_000, limit: 'LONG_POLLS_PER_TENANT', max: this.longPolls.capacity },
      );
    }
    try {
      return await this.claimUntil(tenantId, req.queue, req.workerId, max, leaseMs, waitMs, signal);
    } finally {
      release();
    }
  }

  private async claimUntil(
    tenantId: string,
    queue: string,
    workerId: string,
    max: number,
    leaseMs: number,
    waitMs: number,
    signal: AbortSignal | undefined,
  ): Promise<TaskLease[]> {
    const req = { queue, workerId };
    const openedAt = this.deps.clock.now();
    const deadline = openedAt.getTime() + waitMs;
    for (;;) {
      // Listen before looking: a task made ready between an empty claim and the wait still wakes us.
      let signalled = false;
      let wake: () => void = () => undefined;
      const woken = new Promise<void>((resolve) => (wake = resolve));
      const off = this.deps.bus.onReady((queue) => {
        if (queue === req.queue) {
          signalled = true;
          wake();
        }
      });
      this.waiters.add(wake);
      signal?.addEventListener('abort', wake, { once: true });
      try {
        if (signal?.aborted) return [];
        // Every claim (each round of a long poll too) is a poll: at most one write a second per queue.
        // Not recording it must not cost the worker its claim: the record only informs waitingFor.
        await this.deps.queuePolls?.record(tenantId, req.queue, req.workerId).catch(() => undefined);
        // A task reclaimed from this worker while this request waited is not handed back to it:
        // a process frozen with its long poll open would get the task it just lost.
        const claimed = await this.deps.engine.claim({ tenantId, queue: req.queue, limit: max, workerId: req.workerId, leaseMs, notReclaimedSince: openedAt });
        if (claimed.length > 0) {
          const leases = claimed.map((c) => ({ task: c.task, leaseToken: formatLeaseToken(c.task.fence, c.task.leaseSecret), leaseExpiresAt: c.expiresAt }));
          // The caller went away while the claim committed: nobody will work on these.
          if (signal?.aborted) {
            await this.giveBack(tenantId, req.workerId, leases);
            return [];
          }
          return leases;
        }
        const remaining = deadline - this.deps.clock.now().getTime();
        if (remaining <= 0 || this.draining) return [];
        if (!signalled) {
          let timer: NodeJS.Timeout | undefined;
          await Promise.race([woken, new Promise<void>((resolve) => (timer = setTimeout(resolve, remaining)))]);
          clearTimeout(timer);
        }
        if (this.draining || signal?.aborted) return [];
      } finally {
        off();
        this.waiters.delete(wake);
        signal?.removeEventListener('abort', wake);
      }
    }
  }

  /**
   * Extends a lease in the lease store only. When the store has no lease at all (it expired
   * unreaped, or Redis lost it), Postgres decides: the holder of the current token gets it back.
   */
  async renew(
    tenantId: string,
    taskId: string,
    leaseToken: string,
    leaseMs?: number | null,
  ): Promise<{ taskId: string; leaseToken: string; leaseExpiresAt: Date }> {
    const ref = this.ref(tenantId, taskId, leaseToken);
    const ttl = leaseMs ?? this.deps.leaseTtlMs;
    checkLeaseMs(ttl);
    const result = await this.deps.leases.renew(ref, ttl);
    if (result.ok) return { taskId, leaseToken, leaseExpiresAt: result.expiresAt };
    if (result.reason === 'MISSING') {
      const task = await findTask(this.deps.db, tenantId, ref.taskId);
      const current = task !== undefined && task.fence === ref.fence && secretMatches(task.leaseSecret, ref.secret ?? null);
      if (task && current && task.status === 'RUNNING' && task.timerAt === null) {
        const [expiresAt] = await this.deps.leases.acquire([{ ...ref, ttlMs: ttl }]);
        if (expiresAt) return { taskId, leaseToken, leaseExpiresAt: expiresAt };
      }
      if (task && current && task.status === 'CANCELLED') return await this.renewFailed(ref, new RunCancelledError(task.runId, taskId));
      return await this.renewFailed(ref, new LeaseLostError(taskId, ref.fence));
    }
    if (result.reason === 'CANCELLED') {
      const task = await findTask(this.deps.db, tenantId, ref.taskId);
      return await this.renewFailed(ref, new RunCancelledError(task?.runId ?? 'unknown', taskId));
    }
    return await this.renewFailed(ref, new LeaseLostError(taskId, ref.fence));
  }

  /**
   * The heartbeat of a built-in attempt (the scheduler's): the same path as a remote worker's
   * renewal, so a lost lease is counted and Postgres decides a missing one, with the refusal as
   * a result rather than an error: CANCELLED when the run was cancelled, LOST when another token
   * holds it. Anything else (Redis or the database unreachable) is thrown: no answer is not a
   * lost lease, and the attempt goes on.
   */
  async heartbeat(lease: LeaseRef, ttlMs: number): Promise<RenewResult> {
    let renewed: { leaseExpiresAt: Date };
    try {
      renewed = await this.renew(lease.tenantId, lease.taskId, formatLeaseToken(lease.fence, lease.secret ?? null), ttlMs);
    } catch (e: unknown) {
      if (e instanceof UnavailableError) throw e;
      if (e instanceof RunCancelledError) return { ok: false, reason: 'CANCELLED' };
      if (e instanceof DomainError) return { ok: false, reason: 'LOST' };
      throw e;
    }
    return { ok: true, expiresAt: renewed.leaseExpiresAt };
  }

  async complete(tenantId: string, taskId: string, leaseToken: string, output: Json): Promise<TaskRecord> {
    const ref = this.ref(tenantId, taskId, leaseToken);
    return this.notFoundAsLost(ref, () => this.deps.engine.complete(ref.taskId, ref.fence, output, tenantId, { secret: ref.secret ?? null }));
  }

  async fail(tenantId: string, taskId: string, leaseToken: string, error: string, retryable: boolean): Promise<TaskRecord> {
    const ref = this.ref(tenantId, taskId, leaseToken);
    if (error.length === 0) throw new ValidationError('"error" must say what went wrong', { field: 'error' });
    // Bounded: an error is for people and logs, not a payload. Cut on a code point, never inside a
    // surrogate pair (a lone surrogate cannot be stored in jsonb).
    const cut = /[\uD800-\uDBFF]/.test(error[8_191] ?? '') ? 8_191 : 8_192;
    const message = error.length > 8_192 ? `${error.slice(0, cut)}… (truncated)` : error;
    return this.notFoundAsLost(ref, () => this.deps.engine.fail(ref.taskId, ref.fence, message, retryable, tenantId, ref.secret ?? null));
  }

  async release(tenantId: string, taskId: string, leaseToken: string): Promise<TaskRecord> {
    const ref = this.ref(tenantId, taskId, leaseToken);
    return this.notFoundAsLost(ref, () => this.deps.engine.release(ref.taskId, ref.fence, tenantId, ref.secret ?? null));
  }

  /** Reclaims the tasks of expired leases (each reclaimed once however many replicas reap). */
  async reap(limit = 100): Promise<number> {
    const expired = await this.deps.leases.takeExpired(limit);
    // One transaction for the whole batch: a dead worker's 100 tasks come back at once.
    let reclaimed: number;
    try {
      reclaimed = await this.deps.engine.reclaim(expired);
    } catch (e: unknown) {
      // Not reclaimed (the database is down): back in line for the next pass.
      await this.deps.leases.untake(expired).catch(() => undefined);
      throw e;
    }
    return expired.length === limit ? reclaimed + (await this.reap(limit)) : reclaimed;
  }

  /**
   * Running attempts older than two lease TTLs whose lease is gone from the store entirely (a
   * Redis flush, or a crash between the claim's commit and its lease grant) are reclaimed too.
   */
  async sweepOrphans(limit = 500): Promise<number> {
    const cutoff = new Date(this.deps.clock.now().getTime() - 2 * this.deps.leaseTtlMs);
    const running = await runningAttempts(this.deps.db, cutoff, limit);
    if (running.length === 0) return 0;
    const refs: LeaseRef[] = running.map((t) => ({ taskId: t.id, fence: t.fence, tenantId: t.tenantId }));
    const held = await this.deps.leases.held(refs);
    return this.deps.engine.reclaim(refs.filter((_, i) => !held[i]));
  }

  /**
   * Gives back claimed tasks whose response could not be delivered (the client went away): each
   * is queued again at once and its attempt is not counted (RELEASED), instead of waiting for its
   * lease to expire. A task another attempt already holds is left alone.
   */
  async giveBack(tenantId: string, workerId: string, leases: readonly TaskLease[]): Promise<void> {
    const given = await Promise.allSettled(leases.map((l) => this.deps.engine.release(l.task.id, l.task.fence, tenantId, l.task.leaseSecret)));
    this.deps.hooks.emit('claim:undelivered', { workerId, taskIds: leases.filter((_, i) => given[i]!.status === 'fulfilled').map((l) => l.task.id) });
  }

  /** Long polls waiting right now on this replica. */
  get waitingClaims(): number {
    return this.waiters.size;
  }

  /** Long polls return at once (empty) so requests drain. */
  stopWaiting(): void {
    this.draining = true;
    for (const wake of this.waiters) wake();
  }

  private ref(tenantId: string, taskId: string, leaseToken: string): LeaseRef {
    // `<fence>.<secret>`, the fence a canonical decimal within Postgres bigint ("01" or 2^63 would
    // compare wrong or overflow there); a bare fence only matches an attempt from before secrets.
    const token = parseLeaseToken(leaseToken);
    if (!token) throw new ValidationError('"leaseToken" is not a token this API issued', { field: 'leaseToken' });
    if (!isUuid(taskId)) throw new NotFoundError('Task', taskId);
    return { taskId: taskId.toLowerCase(), fence: token.fence, secret: token.secret, tenantId };
  }

  /**
   * Counts and logs a refused renewal (with the run's ids: a rare event, one small query), then
   * throws. A heartbeat answered after its own attempt's result ended it (completed, failed or
   * given back by its holder: a heartbeat races the report it goes on beside) is refused the
   * same way, but nothing was lost: it is not counted. (Told by its token while the task still
   * carries it; once another attempt holds the task, the refusal counts.)
   */
  private async renewFailed(ref: LeaseRef, error: LeaseLostError | RunCancelledError): Promise<never> {
    const run = await renewalRefused(this.deps.db, ref.tenantId, ref.taskId, ref.fence).catch(() => undefined);
    const reported = run?.outcome != null && ENDED_BY_HOLDER.has(run.outcome) && run.fence === ref.fence && secretMatches(run.leaseSecret, ref.secret ?? null);
    if (error instanceof LeaseLostError && reported) throw error;
    this.deps.hooks.emit('lease:renew-failed', {
      taskId: ref.taskId,
      tenantId: ref.tenantId,
      fence: ref.fence,
      runId: run?.runId ?? null,
      workflow: run?.workflow ?? null,
      reason: error.code,
    });
    throw error;
  }

  /** Another tenant's task is answered like a lost lease: nothing about it leaks. */
  private async notFoundAsLost(ref: LeaseRef, fn: () => Promise<TaskRecord>): Promise<TaskRecord> {
    try {
      return await fn();
    } catch (e: unknown) {
      if (e instanceof NotFoundError) throw new LeaseLostError(ref.taskId, ref.fence);
      throw e;
    }
  }
}
