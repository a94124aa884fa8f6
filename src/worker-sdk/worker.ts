import { EventEmitter } from 'node:events';
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { Attempt, type AttemptHost } from './attempt';
import { backoffDelay, DEFAULT_BACKOFF, sleep, type BackoffOptions } from './backoff';
import { ConductorClient } from './client';
import { asConductorError, toError, type ConductorError } from './errors';
import type { WorkerEvents } from './events';
import { silentLogger, type TaskHandler, type TaskLease, type WorkerLogger } from './types';

/** The conductor's bounds (claimTasks): a claim takes at most 100 tasks, leases 1 s to 1 h, long polls up to 60 s. */
export const MAX_CLAIM = 100;
export const MIN_LEASE_MS = 1_000;
export const MAX_LEASE_MS = 3_600_000;
export const MAX_POLL_WAIT_MS = 60_000;
export const QUEUE_PATTERN = /^[A-Za-z0-9_.:-]{1,128}$/;

export interface WorkerOptions {
  /** The conductor's GraphQL endpoint, e.g. `http://localhost:4000/graphql`. */
  url: string;
  /** An API key of the tenant whose tasks to run (`npm run apikey -- create --tenant <t>`). */
  apiKey?: string;
  /** The queue to claim from: the `queue` of the steps this worker executes. */
  queue: string;
  /** Runs one attempt; its return value is the task's output. */
  handler: TaskHandler;
  /**
   * Attempts executing at once; each claim asks for as many tasks as there are free slots.
   * @default 4
   */
  concurrency?: number;
  /** Shown in the task's attempts (`workerId`). @default `${hostname}:${pid}:${6 random hex digits}` */
  workerId?: string;
  /**
   * Lease asked for each attempt (1000 to 3600000). A crashed worker's tasks are reclaimed after
   * this (plus the conductor's reaper interval): shorter reclaims sooner, longer tolerates longer
   * pauses (GC, network blips) without losing the task.
   * @default 30000
   */
  leaseMs?: number;
  /**
   * Heartbeat every `leaseMs × heartbeatFraction`. 1/3: two heartbeats may fail before the lease
   * runs out.
   * @default 1/3
   */
  heartbeatFraction?: number;
  /**
   * Long poll of an empty claim (0 to 60000): the conductor answers as soon as a task becomes
   * ready, so this only bounds how long a request stays open.
   * @default 20000
   */
  pollWaitMs?: number;
  /** How long `stop()` lets in-flight handlers finish before releasing them. @default 10000 */
  graceMs?: number;
  /** Backoff while the conductor cannot be reached. @default { initialDelayMs: 100, maxDelayMs: 5000 } */
  backoff?: BackoffOptions;
  /** Bound of one request (long polls get their wait on top). @default 15000 */
  requestTimeoutMs?: number;
  /** pino-compatible. @default silent */
  logger?: WorkerLogger;
  /** A fetch implementation (a proxy agent, or a spy in tests). @default globalThis.fetch */
  fetch?: typeof fetch;
}

/**
 * Where a worker is in its life. `running` claims and executes; `stopping` claims no more and
 * drains; `stopped` is final.
 */
export type WorkerState =
  { phase: 'created' } | { phase: 'running'; loop: Promise<void> } | { phase: 'stopping'; drained: Promise<void> } | { phase: 'stopped' };

/**
 * A remote worker: claims tasks of one queue in batches (one claim for all free slots, long
 * polling when there are none), runs the handler for each, heartbeats their leases, and reports
 * each result once. When the conductor says a lease is lost or the run cancelled, the handler's
 * signal is aborted and its result never reported. While the conductor cannot be reached,
 * claims, heartbeats and reports are retried with capped, jittered backoff.
 *
 * ```ts
 * const worker = new Worker({ url: 'http://localhost:4000/graphql', apiKey, queue: 'images',
 *   handler: async ({ input, signal }) => resize(input, { signal }) });
 * worker.start();
 * process.once('SIGTERM', () => void worker.stop({ graceMs: 10_000 }));
 * ```
 */
export class Worker extends EventEmitter<WorkerEvents> {
  readonly workerId: string;
  readonly queue: string;
  readonly concurrency: number;
  readonly leaseMs: number;
  readonly heartbeatIntervalMs: number;
  readonly pollWaitMs: number;
  private readonly graceMs: number;
  private readonly backoff: Required<BackoffOptions>;
  private readonly client: ConductorClient;
  private readonly log: WorkerLogger;
  /** The logger is a child carrying workerId and queue: lines need not repeat them. */
  private readonly logBindsIds: boolean;
  private readonly handler: TaskHandler;
  private readonly active = new Map<string, Attempt>();
  /** Ends the long poll and backoff sleeps when stopping. */
  private readonly stopping = new AbortController();
  private slotWaiters: (() => void)[] = [];
  private downSince: number | null = null;
  private lifecycle: WorkerState = { phase: 'created' };
  private readonly host: AttemptHost;

  constructor(options: WorkerOptions) {
    super();
    this.queue = options.queue;
    this.concurrency = options.concurrency ?? 4;
    this.leaseMs = options.leaseMs ?? 30_000;
    const fraction = options.heartbeatFraction ?? 1 / 3;
    this.pollWaitMs = options.pollWaitMs ?? 20_000;
    this.graceMs = options.graceMs ?? 10_000;
    this.workerId = options.workerId ?? `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
    this.backoff = { ...DEFAULT_BACKOFF, ...options.backoff };
    validate(options, {
      concurrency: this.concurrency,
      leaseMs: this.leaseMs,
      fraction,
      pollWaitMs: this.pollWaitMs,
      graceMs: this.graceMs,
      workerId: this.workerId,
    });
    this.heartbeatIntervalMs = Math.max(1, Math.floor(this.leaseMs * fraction));
    this.handler = options.handler;
    const logger = options.logger ?? silentLogger;
    this.log = logger.child ? logger.child({ workerId: this.workerId, queue: this.queue }) : logger;
    this.logBindsIds = Boolean(logger.child);
    this.client = new ConductorClient({ url: options.url, apiKey: options.apiKey, requestTimeoutMs: options.requestTimeoutMs, fetch: options.fetch });
    this.host = {
      client: this.client,
      workerId: this.workerId,
      leaseMs: this.leaseMs,
      heartbeatIntervalMs: this.heartbeatIntervalMs,
      backoff: this.backoff,
      handler: this.handler,
      log: this.log,
      emit: (event, ...args) => this.emitSafely(event, ...args),
      reachable: () => this.reachable(),
      unreachable: (error, during) => this.unreachable(error, during),
      settled: (attempt) => this.settled(attempt),
    };
  }

  get state(): WorkerState['phase'] {
    return this.lifecycle.phase;
  }

  /** Attempts in flight (a slot each). */
  get inFlight(): number {
    return this.active.size;
  }

  /** Starts claiming. The conductor need not be up yet: the worker keeps trying until it is. */
  start(): void {
    if (this.lifecycle.phase !== 'created') throw new Error(`Worker.start(): the worker is ${this.lifecycle.phase}; create a new one`);
    this.log.info(
      {
        ...(this.logBindsIds ? {} : { workerId: this.workerId, queue: this.queue }),
        url: this.client.url,
        concurrency: this.concurrency,
        leaseMs: this.leaseMs,
        heartbeatMs: this.heartbeatIntervalMs,
      },
      'worker started',
    );
    const loop = this.claimLoop().catch((e: unknown) => {
      // The loop handles its errors; this guards against a bug leaving a silent, idle worker.
      this.log.error({ err: toError(e) }, 'the claim loop crashed');
      this.emitSafely('error', toError(e));
    });
    this.lifecycle = { phase: 'running', loop };
  }

  /**
   * Stops claiming, lets in-flight handlers finish for up to `graceMs`, then aborts the rest and
   * releases their tasks (queued again at once, the attempt not counted). Resolves when nothing
   * is in flight. Calling it again returns the same promise.
   */
  stop(opts: { graceMs?: number } = {}): Promise<void> {
    switch (this.lifecycle.phase) {
      case 'created':
        this.lifecycle = { phase: 'stopped' };
        return Promise.resolve();
      case 'stopping':
        return this.lifecycle.drained;
      case 'stopped':
        return Promise.resolve();
      case 'running': {
        const drained = this.drain(this.lifecycle.loop, opts.graceMs ?? this.graceMs);
        this.lifecycle = { phase: 'stopping', drained };
        return drained;
      }
      default: {
        const exhaustive: never = this.lifecycle;
        return exhaustive;
      }
    }
  }

  private async drain(loop: Promise<void>, graceMs: number): Promise<void> {
    this.log.info({ inFlight: this.active.size, graceMs }, 'draining');
    // Ends the long poll at once rather than up to pollWaitMs later. The conductor should drop a
    // poll whose client went away; until it does, a task made ready within that poll's wait may
    // still be claimed for this worker, and is reclaimed when its lease expires.
    this.stopping.abort();
    this.wakeSlotWaiters();
    await loop;
    if (this.active.size > 0) {
      const drained = new AbortController();
      await Promise.race([Promise.all([...this.active.values()].map((a) => a.settled)).then(() => drained.abort()), sleep(graceMs, drained.signal)]);
      drained.abort();
    }
    if (this.active.size > 0) {
      this.log.warn({ unfinished: this.active.size, graceMs }, 'grace period over: releasing unfinished tasks');
      await Promise.all([...this.active.values()].map((a) => a.forceRelease()));
    }
    this.lifecycle = { phase: 'stopped' };
    this.log.info({}, 'stopped');
    this.emitSafely('stopped');
  }

  private async claimLoop(): Promise<void> {
    let failures = 0;
    let earlyEmpty = 0;
    const signal = this.stopping.signal;
    while (!signal.aborted) {
      const free = this.concurrency - this.active.size;
      if (free <= 0) {
        await this.slotFreed();
        continue;
      }
      const max = Math.min(free, MAX_CLAIM);
      const sentAt = performance.now();
      let leases: TaskLease[];
      try {
        leases = await this.client.claimTasks({ queue: this.queue, workerId: this.workerId, max, leaseMs: this.leaseMs, waitMs: this.pollWaitMs }, signal);
      } catch (e: unknown) {
        if (signal.aborted) break;
        const err = asConductorError(e);
        if (err.retryable) {
          this.unreachable(err, 'claim');
        } else {
          // A bad API key or queue name: retrying will not fix it, but a person may (revoke → new key).
          this.log.error({ err }, 'claiming failed');
          this.emitSafely('error', err);
          failures = Math.max(failures, 30);
        }
        await sleep(backoffDelay(failures++, this.backoff), signal);
        continue;
      }
      failures = 0;
      this.reachable();
      if (signal.aborted) {
        // Stopped while the claim was answered: give the tasks straight back.
        await Promise.all(leases.map((l) => new Attempt(this.host, l).forceRelease()));
        break;
      }
      if (leases.length > 0) {
        earlyEmpty = 0;
        this.log.debug({ count: leases.length, max }, 'claimed');
        this.emitSafely('tasks:claimed', { count: leases.length, max });
        for (const lease of leases) {
          const attempt = new Attempt(this.host, lease, sentAt);
          this.active.set(attempt.id, attempt);
          attempt.start();
        }
      } else if (this.pollWaitMs === 0 || performance.now() - sentAt < this.pollWaitMs / 2) {
        // An empty answer long before the long poll ends: the conductor is draining (it answers at
        // once while it stops), or long polls are off. Back off instead of spinning.
        await sleep(backoffDelay(earlyEmpty++, this.backoff), signal);
      } else {
        earlyEmpty = 0;
      }
    }
  }

  private slotFreed(): Promise<void> {
    if (this.stopping.signal.aborted) return Promise.resolve();
    return new Promise((resolve) => this.slotWaiters.push(resolve));
  }

  private wakeSlotWaiters(): void {
    const waiters = this.slotWaiters;
    this.slotWaiters = [];
    for (const wake of waiters) wake();
  }

  private settled(attempt: Attempt): void {
    this.active.delete(attempt.id);
    this.wakeSlotWaiters();
  }

  private reachable(): void {
    if (this.downSince === null) return;
    const downMs = Math.round(performance.now() - this.downSince);
    this.downSince = null;
    this.log.info({ downMs }, 'the conductor answers again');
    this.emitSafely('connection:restored', { downMs });
  }

  private unreachable(error: ConductorError, during: string): void {
    if (this.downSince !== null) {
      this.log.debug({ during, code: error.code, err: error.message }, 'the conductor is still unreachable');
      return;
    }
    this.downSince = performance.now();
    this.log.warn({ during, code: error.code, err: error.message }, 'the conductor is unreachable; retrying with backoff');
    this.emitSafely('connection:lost', { error });
  }

  /** Listeners' exceptions must not break the worker; an 'error' nobody listens to is only logged. */
  private emitSafely<K extends keyof WorkerEvents>(event: K, ...args: WorkerEvents[K]): void {
    if (event === 'error' && this.listenerCount('error') === 0) return;
    try {
      (this.emit as (e: K, ...a: WorkerEvents[K]) => boolean)(event, ...args);
    } catch (e: unknown) {
      this.log.error({ err: toError(e), event }, 'a worker event listener threw');
    }
  }
}

function validate(
  options: WorkerOptions,
  v: { concurrency: number; leaseMs: number; fraction: number; pollWaitMs: number; graceMs: number; workerId: string },
): void {
  const fail = (option: string, expected: string, got: unknown) => {
    throw new RangeError(`Worker: "${option}" must be ${expected} (got ${JSON.stringify(got)})`);
  };
  try {
    const url = new URL(options.url);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') fail('url', 'an http(s) URL', options.url);
  } catch (e: unknown) {
    if (e instanceof RangeError) throw e;
    fail('url', 'an http(s) URL', options.url);
  }
  if (typeof options.queue !== 'string' || !QUEUE_PATTERN.test(options.queue)) fail('queue', '1 to 128 letters, digits, "_", ".", ":" or "-"', options.queue);
  if (typeof options.handler !== 'function') fail('handler', 'a function', typeof options.handler);
  if (!Number.isInteger(v.concurrency) || v.concurrency < 1 || v.concurrency > 10_000) fail('concurrency', 'an integer from 1 to 10000', v.concurrency);
  if (!Number.isInteger(v.leaseMs) || v.leaseMs < MIN_LEASE_MS || v.leaseMs > MAX_LEASE_MS) {
    fail('leaseMs', `an integer from ${MIN_LEASE_MS} to ${MAX_LEASE_MS}`, v.leaseMs);
  }
  if (!(v.fraction > 0 && v.fraction < 1)) fail('heartbeatFraction', 'between 0 and 1 (exclusive)', v.fraction);
  if (!Number.isInteger(v.pollWaitMs) || v.pollWaitMs < 0 || v.pollWaitMs > MAX_POLL_WAIT_MS) {
    fail('pollWaitMs', `an integer from 0 to ${MAX_POLL_WAIT_MS}`, v.pollWaitMs);
  }
  if (!Number.isFinite(v.graceMs) || v.graceMs < 0) fail('graceMs', 'a number >= 0', v.graceMs);
  if (v.workerId.length < 1 || v.workerId.length > 256) fail('workerId', '1 to 256 characters', v.workerId);
}
