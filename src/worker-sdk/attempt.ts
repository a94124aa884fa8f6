import { startAttemptSpan, type AttemptSpan } from './tracing';
import { backoffDelay, sleep, type BackoffOptions } from './backoff';
import type { ConductorClient } from './client';
import { asConductorError, type ConductorError, isLeaseEnded, NonRetryableError, WorkerStoppingError, toError, type LeaseEndedError } from './errors';
import type { AttemptInfo, LeaseLostDuring, WorkerEvents } from './events';
import type { Json, TaskContext, TaskHandler, TaskLease, TaskRef, WorkerLogger } from './types';

/** What an attempt needs from the worker running it. */
export interface AttemptHost {
  readonly client: ConductorClient;
  readonly workerId: string;
  readonly leaseMs: number;
  readonly heartbeatIntervalMs: number;
  readonly backoff: Required<BackoffOptions>;
  readonly handler: TaskHandler;
  readonly log: WorkerLogger;
  emit<K extends keyof WorkerEvents>(event: K, ...args: WorkerEvents[K]): void;
  /** A request got an answer: the conductor is reachable. */
  reachable(): void;
  /** A request failed in a way a retry may fix. */
  unreachable(error: ConductorError, during: string): void;
  /** The attempt is over: its slot is free. */
  settled(attempt: Attempt): void;
}

/**
 * Where an attempt is. `running`: the handler executes (heartbeating); `reporting`: the handler
 * returned and its result is being sent (still heartbeating, retried while the conductor is
 * unreachable); `lost`: the conductor said another attempt owns the task, or the run was
 * cancelled: nothing more is sent; `releasing`: the worker stopped and gives the task back;
 * `done`.
 */
type AttemptPhase = 'running' | 'reporting' | 'lost' | 'releasing' | 'done';

type Outcome = { ok: true; output: unknown } | { ok: false; error: unknown };

/** Release gets a few quick tries: the worker is stopping and has no time for long backoffs. */
const RELEASE_TRIES = 3;
const RELEASE_TIMEOUT_MS = 5_000;

/** One attempt at one claimed task: runs the handler, heartbeats its lease, reports its result once. */
export class Attempt {
  readonly info: AttemptInfo;
  private phase: AttemptPhase = 'running';
  private readonly controller = new AbortController();
  /** Cuts a report's retries short when the worker stops for good. */
  private readonly stopReporting = new AbortController();
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private renewing: Promise<void> | null = null;
  private lostError: LeaseEndedError | null = null;
  /**
   * A heartbeat heard the lease end while the result was already on its way: the answer to the
   * result decides what is logged (refused: LEASE_LOST on complete), and it is not sent again.
   */
  private heardLost: LeaseEndedError | null = null;
  private reportInFlight = false;
  /** The worker is stopping: the result in flight is the last try. */
  private finalTry = false;
  /** Cuts a report's backoff short when a heartbeat hears the lease end. */
  private retryWait: AbortController | null = null;
  private readonly startedAt = performance.now();
  /**
   * When (performance.now()) the lease would lapse if no renewal got through: the send time of
   * the claim or of the last successful renewal plus `leaseMs`. Judged on this process's
   * monotonic clock from durations only, never by comparing the server's `leaseExpiresAt` with
   * the local wall clock: a worker whose clock is off by minutes still counts its lease right.
   */
  private leaseLapsesAt: number;
  /** The attempt's span in the run's trace (no-op without an OpenTelemetry SDK in this process). */
  private readonly span: AttemptSpan;
  private resolveSettled!: () => void;
  /** Resolves when the attempt is over and its slot free. */
  readonly settled = new Promise<void>((resolve) => (this.resolveSettled = resolve));

  /** @param claimedAt performance.now() when the claim that granted the lease was sent. @default now */
  constructor(
    private readonly host: AttemptHost,
    private readonly lease: TaskLease,
    claimedAt: number = performance.now(),
  ) {
    this.leaseLapsesAt = claimedAt + host.leaseMs;
    const t = lease.task;
    this.span = startAttemptSpan(t, host.workerId);
    this.info = { taskId: t.id, runId: t.runId, key: t.key, type: t.type, attempt: t.attempt, leaseToken: lease.leaseToken, workerId: host.workerId };
  }

  /** Unique per attempt: the same task may come back to this worker under a new token. */
  get id(): string {
    return `${this.info.taskId}:${this.info.leaseToken}`;
  }

  /** Starts the attempt; `settled` says when it is over. */
  start(): void {
    void this.execute().catch((e: unknown) => {
      // Every path above handles its own errors; this is a bug guard, never a silent loss.
      this.host.log.error({ ...this.logFields(), err: toError(e) }, 'attempt crashed');
      this.finish();
    });
  }

  /**
   * The worker stops and its grace period ran out: abort the handler and give the task back
   * (queued again at once, the attempt not counted). A result being reported is given up: the
   * lease then expires and the task is retried elsewhere (at-least-once).
   */
  async forceRelease(): Promise<void> {
    if (this.phase === 'done') return;
    if (this.phase === 'lost') {
      // Already abandoned; only a handler ignoring its signal keeps it: do not wait for it.
      this.finish();
      return;
    }
    if (this.phase === 'reporting') {
      // A result on its way gets its answer (bounded by the request timeout); one waiting out a
      // backoff because the conductor is unreachable is given up now.
      this.finalTry = true;
      if (!this.reportInFlight) this.stopReporting.abort(new WorkerStoppingError());
      await this.settled;
      return;
    }
    this.phase = 'releasing';
    this.stopHeartbeat();
    this.controller.abort(new WorkerStoppingError());
    const ref = this.ref();
    for (let tries = 0; tries < RELEASE_TRIES; tries++) {
      try {
        await this.host.client.releaseTask(ref, undefined, RELEASE_TIMEOUT_MS);
        this.host.reachable();
        this.host.log.info(this.logFields(), 'task released');
        this.host.emit('task:released', this.info);
        break;
      } catch (e: unknown) {
        if (isLeaseEnded(e)) {
          this.leaseEnded(e, 'release');
          break;
        }
        const err = asConductorError(e);
        if (!err.retryable || tries === RELEASE_TRIES - 1) {
          // The lease expires on its own and the conductor reclaims the task (counted as an attempt).
          this.host.log.warn({ ...this.logFields(), err }, 'releasing the task failed; the conductor reclaims it when its lease expires');
          this.host.emit('task:abandoned', { ...this.info, reason: 'STOPPING' });
          break;
        }
        await sleep(backoffDelay(tries, this.host.backoff));
      }
    }
    this.finish();
  }

  private async execute(): Promise<void> {
    this.host.log.info(this.logFields(), 'task started');
    this.host.emit('task:start', this.info);
    this.scheduleHeartbeat();
    const outcome = await this.runHandler();
    if (this.phase === 'lost') {
      // Abandoned when the lease ended; the slot was held until the handler gave up.
      this.finish();
      return;
    }
    // Releasing (the worker stopped): forceRelease settles the attempt.
    if (this.phase !== 'running') return;
    this.phase = 'reporting';
    await this.report(outcome);
    this.finish();
  }

  private async runHandler(): Promise<Outcome> {
    const t = this.lease.task;
    const ctx: TaskContext = {
      taskId: t.id,
      runId: t.runId,
      key: t.key,
      type: t.type,
      attempt: t.attempt,
      input: t.input,
      workerId: this.host.workerId,
      signal: this.controller.signal,
      heartbeat: () => this.heartbeat(true),
    };
    try {
      return { ok: true, output: await this.span.run(async () => this.host.handler(ctx)) };
    } catch (e: unknown) {
      return { ok: false, error: e };
    }
  }

  /** Sends the result until the conductor answers: recorded, or refused because the lease ended. */
  private async report(outcome: Outcome): Promise<void> {
    const ref = this.ref();
    let call: { during: LeaseLostDuring; send: () => Promise<unknown>; recorded: () => void };
    const toFailure = (error: Error, retryable: boolean) => {
      const message = error.message || error.name || 'The handler failed';
      return {
        during: 'fail' as const,
        send: () => this.host.client.failTask(ref, message, retryable, this.stopReporting.signal, this.span.headers()),
        recorded: () => {
          const durationMs = this.elapsedMs();
          this.host.log.warn({ ...this.logFields(), error: message, retryable, durationMs }, 'task failed');
          this.host.emit('task:failed', { ...this.info, error: message, retryable, durationMs });
        },
      };
    };
    if (outcome.ok) {
      // `undefined` (a handler returning nothing) is recorded as null.
      const output = (outcome.output === undefined ? null : outcome.output) as Json;
      call = {
        during: 'complete',
        send: () => this.host.client.completeTask(ref, output, this.stopReporting.signal, this.span.headers()),
        recorded: () => {
          const durationMs = this.elapsedMs();
          this.host.log.info({ ...this.logFields(), durationMs }, 'task succeeded');
          this.host.emit('task:done', { ...this.info, output, durationMs });
        },
      };
    } else {
      const error = toError(outcome.error);
      call = toFailure(error, !(error instanceof NonRetryableError));
    }

    const givenUp = () => {
      this.host.log.warn(this.logFields(), 'the worker stopped before the result was recorded; the conductor retries the task when its lease expires');
      this.host.emit('task:abandoned', { ...this.info, reason: 'STOPPING' });
    };
    for (let failures = 0; ;) {
      this.reportInFlight = true;
      try {
        await call.send();
        this.host.reachable();
        call.recorded();
        return;
      } catch (e: unknown) {
        if (this.phase !== 'reporting') return;
        if (isLeaseEnded(e)) {
          this.host.reachable();
          this.leaseEnded(e, call.during);
          return;
        }
        if (this.stopReporting.signal.aborted) return givenUp();
        // The lease is gone (a heartbeat said so): sending the result again would be refused.
        if (this.heardLost) return this.leaseEnded(this.heardLost, 'heartbeat');
        const err = asConductorError(e);
        if (err.retryable) {
          // Unreachable, or UNAVAILABLE (its database is restarting): the result is kept and sent
          // again with backoff for as long as the lease holds; the heartbeats go on meanwhile, and
          // each one that gets through extends it.
          this.host.unreachable(err, call.during);
          if (this.finalTry) return givenUp();
          const leftMs = this.leaseLapsesAt - performance.now();
          if (leftMs <= 0) return this.lapsed(err);
          this.reportInFlight = false;
          this.retryWait = new AbortController();
          await sleep(Math.min(backoffDelay(failures++, this.host.backoff), leftMs), AbortSignal.any([this.stopReporting.signal, this.retryWait.signal]));
          this.retryWait = null;
          if (this.phase !== 'reporting') return;
          if (this.stopReporting.signal.aborted || this.finalTry) return givenUp();
          if (this.heardLost) return this.leaseEnded(this.heardLost, 'heartbeat');
          continue;
        }
        if (call.during === 'complete' && err.code === 'BAD_USER_INPUT') {
          // The output was refused (not JSON, too large): a bug in the handler that no retry fixes.
          this.host.log.error({ ...this.logFields(), err }, 'the conductor refused the output; failing the task');
          call = toFailure(new Error(`The output was refused: ${err.message}`), false);
          continue;
        }
        this.host.log.error({ ...this.logFields(), err }, 'reporting the result failed; the conductor retries the task when its lease expires');
        this.host.emit('task:abandoned', { ...this.info, reason: 'REPORT_FAILED' });
        this.host.emit('error', err);
        return;
      } finally {
        this.reportInFlight = false;
      }
    }
  }

  /** The conductor stayed unavailable until the lease would have lapsed: it reclaims the task when it is back. */
  private lapsed(err: ConductorError): void {
    this.host.log.warn(
      { ...this.logFields(), code: err.code, err: err.message },
      'the conductor stayed unavailable until the lease lapsed; giving up the result (the task is retried when the conductor is back)',
    );
    this.host.emit('task:abandoned', { ...this.info, reason: 'LEASE_LAPSED' });
  }

  private scheduleHeartbeat(): void {
    if (this.phase !== 'running' && this.phase !== 'reporting') return;
    if (this.lostError || this.heardLost) return;
    clearTimeout(this.heartbeatTimer);
    this.heartbeatTimer = setTimeout(() => void this.heartbeat(false).catch(() => undefined), this.host.heartbeatIntervalMs);
  }

  private stopHeartbeat(): void {
    clearTimeout(this.heartbeatTimer);
    this.heartbeatTimer = undefined;
  }

  /**
   * Renews the lease (coalesced: one renewal in flight at a time). Rejects only when the lease
   * ended; an unreachable conductor is retried at the next beat (two more before a lease of
   * three beats runs out). Heartbeats go on while the result is being reported: a slow or
   * retried report must not let the lease expire under it.
   */
  private heartbeat(fromHandler: boolean): Promise<void> {
    const ended = this.lostError ?? this.heardLost;
    if (ended) return Promise.reject(ended);
    if (this.phase !== 'running' && this.phase !== 'reporting') return Promise.resolve();
    if (this.renewing) return this.renewing;
    this.stopHeartbeat();
    // A release (the worker stopping) or the end of the attempt cancels a renewal in flight.
    const signal = AbortSignal.any([this.controller.signal, this.stopReporting.signal]);
    this.renewing = (async () => {
      try {
        // A renewal slower than a beat is worth less than the next beat: bound it by one.
        const timeoutMs = Math.max(1_000, this.host.heartbeatIntervalMs);
        const sentAt = performance.now();
        const { leaseExpiresAt } = await this.host.client.renewLease(this.ref(), this.host.leaseMs, signal, timeoutMs);
        this.leaseLapsesAt = Math.max(this.leaseLapsesAt, sentAt + this.host.leaseMs);
        this.host.reachable();
        this.host.emit('lease:renewed', { ...this.info, leaseExpiresAt });
      } catch (e: unknown) {
        if (signal.aborted || (this.phase !== 'running' && this.phase !== 'reporting')) return;
        if (isLeaseEnded(e)) {
          this.host.reachable();
          if (this.phase === 'reporting') {
            // The handler is done and its result on its way (or waiting to be retried): no more
            // heartbeats nor retries; the answer to the result in flight has the last word.
            this.heardLost = e;
            this.stopHeartbeat();
            this.controller.abort(e);
            if (!this.reportInFlight) this.retryWait?.abort();
          } else {
            this.leaseEnded(e, 'heartbeat');
          }
          throw e;
        }
        const err = asConductorError(e);
        if (err.retryable) this.host.unreachable(err, 'heartbeat');
        else this.host.log.warn({ ...this.logFields(), err }, 'heartbeat failed');
        if (fromHandler) this.host.log.debug(this.logFields(), 'ctx.heartbeat(): the conductor did not answer; the lease stands until it says otherwise');
      } finally {
        this.renewing = null;
        this.scheduleHeartbeat();
      }
    })();
    return this.renewing;
  }

  /**
   * The conductor said this attempt no longer owns its task: abort the handler, stop
   * heartbeating, report nothing. The slot stays taken until the handler returns (it was told
   * through its signal), so a handler that ignores its signal cannot push the worker past its
   * concurrency.
   */
  private leaseEnded(e: LeaseEndedError, during: LeaseLostDuring): void {
    if (this.lostError || this.phase === 'done') return;
    this.lostError = e;
    this.phase = 'lost';
    this.stopHeartbeat();
    this.controller.abort(e);
    this.host.log.warn({ ...this.logFields(), code: e.code, during }, 'lease lost');
    this.host.emit('lease:lost', { ...this.info, code: e.code, during, message: e.message });
    this.host.emit('task:abandoned', { ...this.info, reason: e.code });
  }

  private finish(): void {
    if (this.phase === 'done') return;
    this.phase = 'done';
    this.stopHeartbeat();
    this.stopReporting.abort();
    this.span.end();
    this.resolveSettled();
    this.host.settled(this);
  }

  private ref(): TaskRef {
    return { taskId: this.info.taskId, leaseToken: this.info.leaseToken };
  }

  private elapsedMs(): number {
    return Math.round(performance.now() - this.startedAt);
  }

  private logFields(): Record<string, unknown> {
    return { taskId: this.info.taskId, runId: this.info.runId, key: this.info.key, attempt: this.info.attempt, leaseToken: this.info.leaseToken };
  }
}
