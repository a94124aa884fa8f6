/**
 * Each tenant's share of a busy replica. While this replica's event loop is busy (its utilization
 * at or over `busyAt`) and more than one tenant is sending requests, a tenant has at most
 * `perTenant` requests executing at once here; its further requests wait (before their body is
 * read, over HTTP) in a queue of their own, and the first of them goes when one of its requests
 * ends. A tenant that keeps one request at a time never waits; a tenant alone on the replica, or
 * any tenant while the loop has room, is not limited at all (the limit costs throughput only
 * where it buys another tenant's latency).
 *
 * Why: a request crosses the event loop many times (each statement, each Redis round trip), and
 * at each crossing waits behind whatever the other requests in flight queued meanwhile. Eight of
 * one tenant's startRun clients kept the loop 80 % busy and another tenant's one-step runs went
 * from 16 to 36 ms at the median and from 30 to 146 ms at p99; with one of the eight executing at
 * a time, 25 and 85 ms (bench scenario 7).
 *
 * And each tenant's share of the replica's time: while limiting, a tenant whose request held its
 * turn for d ms takes its next turn d × (other tenants sending) / `perTenant` later, so a tenant
 * that always has a request waiting executes at most its fraction of the time, not all of it
 * between the others' short requests. (One tenant's startRun clients, one at a time, still kept
 * the loop and the CPUs busy enough to double another tenant's latency: bench scenario 7.)
 *
 * A request waits at most `maxWaitMs`, and a tenant has at most `maxQueued` waiting; past either
 * it is refused with what `refuse` makes (RATE_LIMITED, retry later). Synchronous bookkeeping,
 * single-threaded, like FairTurns.
 */
import type { Clock } from '../domain/clock';

export interface BusySharesOptions {
  /** Requests one tenant may have executing at once while the loop is busy and shared; 0: no limit. */
  perTenant: number;
  /** Event-loop utilization (0–1, smoothed) from which the replica counts as busy; 0: always. */
  busyAt: number;
  maxWaitMs: number;
  maxQueued: number;
  /** A tenant counts as sending for this long after its last request. @default 1000 */
  activeMs?: number;
  clock: Pick<Clock, 'now' | 'setTimer'>;
  refuse: (why: 'waited' | 'queue_full', tenantId: string) => Error;
}

interface Waiter {
  grant: (release: () => void) => void;
  cancel: () => void;
}

/** Below `busyAt` by this much (at most half of it) the replica counts as free again (no flapping at the line). */
const HYSTERESIS = 0.1;
const NO_TURN = (): void => undefined;
/** Weight of the newest utilization sample in the smoothed level. */
const SMOOTHING = 0.5;

export class BusyShares {
  private readonly executing = new Map<string, number>();
  private readonly waiting = new Map<string, Waiter[]>();
  /** When each tenant last sent a request (ms), pruned at each `observe`. */
  private readonly lastSeen = new Map<string, number>();
  /** When a paced tenant may take its next turn (ms), and the timer that lets it go then. */
  private readonly notBefore = new Map<string, number>();
  private readonly pacing = new Map<string, () => void>();
  private level = 0;
  private busy = false;
  private sending = 0;

  constructor(private readonly opts: BusySharesOptions) {
    if (!(Number.isInteger(opts.perTenant) && opts.perTenant >= 0)) throw new RangeError(`perTenant must be an integer >= 0, got ${opts.perTenant}`);
    // busyAt 0: always busy (tenants held to their share whenever more than one sends).
    this.busy = opts.busyAt <= 0;
  }

  /** Whether tenants are held to their share now: busy, and more than one tenant sending. */
  get limiting(): boolean {
    return this.opts.perTenant > 0 && this.busy && this.sending > 1;
  }

  /** Requests executing (all tenants, or one) and waiting (all, or one), for metrics and tests. */
  counts(tenantId?: string): { executing: number; waiting: number } {
    if (tenantId !== undefined) return { executing: this.executing.get(tenantId) ?? 0, waiting: this.waiting.get(tenantId)?.length ?? 0 };
    let executing = 0;
    let waiting = 0;
    for (const n of this.executing.values()) executing += n;
    for (const q of this.waiting.values()) waiting += q.length;
    return { executing, waiting };
  }

  /**
   * One event-loop utilization sample (0–1, since the previous one): updates the smoothed level,
   * whether the replica is busy, and how many tenants are sending; lets waiting requests go when
   * the limit no longer holds them.
   */
  observe(utilization: number): void {
    this.level = SMOOTHING * utilization + (1 - SMOOTHING) * this.level;
    const { busyAt } = this.opts;
    this.busy = this.busy ? this.level >= Math.max(busyAt - HYSTERESIS, busyAt / 2) : this.level >= busyAt;
    const now = this.now();
    const since = now - (this.opts.activeMs ?? 1_000);
    for (const [tenantId, at] of this.lastSeen) if (at < since && !this.executing.has(tenantId)) this.lastSeen.delete(tenantId);
    for (const [tenantId, at] of this.notBefore) if (at <= now) this.notBefore.delete(tenantId);
    this.sending = this.lastSeen.size;
    for (const tenantId of [...this.waiting.keys()]) this.dispatch(tenantId);
  }

  /** A turn to execute one request of `tenantId`: its release (idempotent) once granted. */
  enter(tenantId: string): Promise<() => void> {
    if (this.opts.perTenant === 0) return Promise.resolve(NO_TURN);
    if (!this.lastSeen.has(tenantId)) this.sending++;
    this.lastSeen.set(tenantId, this.opts.clock.now().getTime());
    if (!this.waiting.has(tenantId) && this.mayTake(tenantId)) return Promise.resolve(this.take(tenantId));
    const q = this.waiting.get(tenantId) ?? [];
    if (q.length >= this.opts.maxQueued) return Promise.reject(this.opts.refuse('queue_full', tenantId));
    return new Promise((resolve, reject) => {
      const cancelTimer = this.opts.clock.setTimer(new Date(this.opts.clock.now().getTime() + this.opts.maxWaitMs), () => {
        const i = q.indexOf(waiter);
        if (i < 0) return;
        q.splice(i, 1);
        if (!q.length && this.waiting.get(tenantId) === q) this.waiting.delete(tenantId);
        reject(this.opts.refuse('waited', tenantId));
      });
      const waiter: Waiter = { grant: resolve, cancel: cancelTimer };
      q.push(waiter);
      this.waiting.set(tenantId, q);
      // Held by its pause alone (no request of its own to end): it goes when the pause ends.
      this.dispatch(tenantId);
    });
  }

  private now(): number {
    return this.opts.clock.now().getTime();
  }

  private mayTake(tenantId: string): boolean {
    if (!this.limiting) return true;
    return (this.executing.get(tenantId) ?? 0) < this.opts.perTenant && (this.notBefore.get(tenantId) ?? 0) <= this.now();
  }

  private take(tenantId: string): () => void {
    this.executing.set(tenantId, (this.executing.get(tenantId) ?? 0) + 1);
    const startedAt = this.now();
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const n = (this.executing.get(tenantId) ?? 1) - 1;
      if (n > 0) this.executing.set(tenantId, n);
      else this.executing.delete(tenantId);
      // Its share of the time: the turn it held, again for each other tenant sending, before its next.
      const held = this.now() - startedAt;
      if (this.limiting && held > 0) {
        const until = this.now() + (held * (this.sending - 1)) / this.opts.perTenant;
        this.notBefore.set(tenantId, Math.max(this.notBefore.get(tenantId) ?? 0, until));
      }
      this.dispatch(tenantId);
    };
  }

  /** Lets the tenant's waiting requests go, in order, while it is under its share; a pause ends on a timer. */
  private dispatch(tenantId: string): void {
    const q = this.waiting.get(tenantId);
    while (q?.length && this.mayTake(tenantId)) {
      const waiter = q.shift()!;
      waiter.cancel();
      waiter.grant(this.take(tenantId));
    }
    if (q && !q.length) this.waiting.delete(tenantId);
    const at = this.notBefore.get(tenantId);
    if (q?.length && at !== undefined && at > this.now() && !this.pacing.has(tenantId)) {
      this.pacing.set(
        tenantId,
        this.opts.clock.setTimer(new Date(at), () => {
          this.pacing.delete(tenantId);
          this.dispatch(tenantId);
        }),
      );
    }
  }
}

/**
 * Samples this process's event-loop utilization every `intervalMs` into `shares.observe`; returns
 * the stop. The timer is unref'd: it never keeps the process alive.
 */
export function watchEventLoop(shares: Pick<BusyShares, 'observe'>, intervalMs = 100): () => void {
  let last = performance.eventLoopUtilization();
  const timer = setInterval(() => {
    const now = performance.eventLoopUtilization();
    shares.observe(performance.eventLoopUtilization(now, last).utilization);
    last = now;
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
