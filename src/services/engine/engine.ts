import { DEFAULT_PRIORITY_AGING_MS } from '../../domain/priorities';
import type { Clock } from '../../domain/clock';
import { decideCancel, decideLeaseExpired, decideResult, decideRetry, type AttemptResult } from '../../domain/decisions';
import type { Limits } from '../../config/limits';
import { coerceError, DomainError, LeaseLostError, LimitExceededError, NotFoundError, UnavailableError, ValidationError } from '../../domain/errors';
import { storable } from '../../domain/json';
import { checkJson } from '../../domain/json-limits';
import { DEFAULT_EXPANSION_LIMITS } from '../../domain/templates';
import type { Json } from '../../domain/glossary';
import type { EngineHooks } from '../../domain/hooks';
import type { RunRecord, TaskRecord } from '../../domain/model';
import type { Transition } from '../../domain/run-machine';
import type { EventBus } from '../../events/event-bus';
import type { LeaseRef, LeaseStore } from '../../leases/lease-store';
import { GroupCommit } from '../../primitives/group-commit';
import type { LocalDispatch } from '../../scheduler/ports';
import type { ShareBudgets } from '../../primitives/tenant-shares';
import { markFenced } from '../../store/attempts.store';
import type { Database } from '../../store/sql';
import type { WorkflowsService } from '../workflows.service';
import { Announcer } from './announcer';
import { EagerDispatch } from './eager-dispatch';
import { TransitionKernel, type Loader, type Staging } from './kernel';
import { claimed, oneRun, runsOfTasks, unfinishedRunsMatching } from './loaders';
import type { RunListFilter } from '../../store/runs.store';
import type { GatedTasksHint } from '../../store/concurrency.store';
import { RateLimitedTasksHint } from '../../store/rate-limits.store';
import { Timers } from './timers';
import { Waits } from './waits';
import { ChildRuns } from './child-runs';
import { RunConcurrency } from './run-concurrency';
import { Starts } from './starts';
import type { ChildLimits } from './child-lookups';

export interface EngineDeps {
  db: Database;
  workflows: WorkflowsService;
  bus: EventBus;
  leases: LeaseStore;
  clock: Clock;
  hooks: EngineHooks;
  onPublishError: (e: unknown) => void;
  /** This replica's executors, for eager dispatch of built-in steps; null: none (tests, tools). @default null */
  local?: LocalDispatch | null;
  /** Jitter for retry backoff. @default Math.random */
  random?: () => number;
  /** Result groups committing at once (1 for embedded PGlite, which is one session). @default 4 */
  groupCommits?: number;
  /** Output size and depth, template expansion. @default the configuration defaults */
  limits?: Pick<Limits, 'maxJsonDepth' | 'maxOutputBytes' | 'maxTemplateStringBytes' | 'maxTemplateTaskBytes'> & Partial<Pick<Limits, 'maxForEachItems'>>;
  /** MAX_WORKFLOW_DEPTH and TENANT_MAX_ACTIVE_RUNS for child runs. @default DEFAULT_CHILD_LIMITS */
  children?: ChildLimits;
  /** Child runs' chained transitions right after each commit; false: the sweep alone applies them. @default true */
  childFollowUps?: boolean;
  /** PRIORITY_AGING_MS: a waiting task counts one priority level higher per this much ready time. @default DEFAULT_PRIORITY_AGING_MS */
  priorityAgingMs?: number;
  /** Whether tasks gated by a step's concurrency exist (shared with ConcurrencyService, which marks them). @default always look */
  gatedTasks?: GatedTasksHint;
}

/** A holder's result for one attempt, as workers and built-in executors report it. */
interface Report {
  taskId: string;
  fence: string;
  /** The secret of a remote holder's token; undefined for the conductor's own executors. */
  secret?: string | null;
  /** null: the conductor's own executors (any tenant). */
  tenantId: string | null;
  result: AttemptResult;
}

/** The configuration defaults (MAX_JSON_DEPTH, MAX_OUTPUT_BYTES, template limits), for engines built without a config (tools, tests). */
const DEFAULT_ENGINE_LIMITS = Object.freeze({ maxJsonDepth: 64, maxOutputBytes: 1024 * 1024, ...DEFAULT_EXPANSION_LIMITS });

/** Results of one group commit at most (one transaction). */
const MAX_RESULT_GROUP = 100;

/**
 * Runs one bulk-cancel transaction cancels at most: 100 runs with their tasks are one lock
 * statement, one load and one write (a few thousand rows), short enough not to hold up the
 * claims and results of the runs it locks for long.
 */
const CANCEL_BATCH = 100;

/**
 * Every state change of runs and tasks: claims, results, reclaims, timers, cancellation and
 * retries. Each is a decision (src/domain/decisions.ts) applied through the transition kernel:
 * lock the runs, decide, apply the state machine, write in one statement, announce after commit.
 */
export class Engine {
  private readonly kernel: TransitionKernel;
  private readonly results: GroupCommit<Report, TaskRecord>;
  private readonly timers: Timers;
  private readonly waits: Waits;
  private readonly children: ChildRuns;
  private readonly concurrency: RunConcurrency;
  private readonly limits: NonNullable<EngineDeps['limits']>;
  /** Whether ready rate-limited tasks may exist, for claims (src/store/rate-limits.store.ts). */
  private readonly rateLimited = new RateLimitedTasksHint();
  /** Before and after a start's insert: its eager claim and its announcement. */
  readonly starts: Starts;

  constructor(private readonly deps: EngineDeps) {
    const eager = deps.local ? new EagerDispatch(deps.local) : null;
    const announcer = new Announcer({ bus: deps.bus, leases: deps.leases, hooks: deps.hooks, eager, onPublishError: deps.onPublishError });
    this.limits = deps.limits ?? DEFAULT_ENGINE_LIMITS;
    this.kernel = new TransitionKernel({
      db: deps.db,
      clock: deps.clock,
      announcer,
      eager,
      random: deps.random ?? Math.random,
      limits: this.limits,
      maxForEachItems: this.limits.maxForEachItems,
      children: deps.children,
      onGatedTasks: () => deps.gatedTasks?.seen(),
      onRoundRobinRuns: () => deps.gatedTasks?.seenRoundRobin(),
      onRateLimitedTasks: () => this.rateLimited.seen(),
      // Runs that end admit their groups' next runs in the same transaction (QUEUE, ROUND_ROBIN).
      inTransaction: (sql, staging, batch) => this.concurrency.admitInline(sql, staging, batch),
      afterCommit: async (batch) => {
        if (deps.childFollowUps !== false) await this.children.afterCommit(batch);
        // Runs that ended free their concurrency slots: their groups admit the next.
        await this.concurrency.afterCommit(batch);
      },
    });
    this.starts = new Starts({ kernel: this.kernel, eager, onPublishError: deps.onPublishError });
    this.children = new ChildRuns({ db: deps.db, workflows: deps.workflows, kernel: this.kernel, limits: this.limits, onError: deps.onPublishError });
    this.concurrency = new RunConcurrency({ db: deps.db, workflows: deps.workflows, kernel: this.kernel, onError: deps.onPublishError });
    // Results arriving together (many workers completing at once) commit together; each keeps
    // its own answer: a stale token in the group gets LEASE_LOST without touching the others.
    this.results = new GroupCommit((reports) => this.recordResults(reports), { maxGroup: MAX_RESULT_GROUP, maxInFlight: deps.groupCommits ?? 4 });
    this.timers = new Timers({ ...deps, kernel: this.kernel });
    this.waits = new Waits({ ...deps, kernel: this.kernel });
  }

  /**
   * Claims up to `limit` ready tasks of a queue (null: built-in steps) for `workerId`, each with
   * a new fencing token and a lease of `leaseMs`; their runs become RUNNING.
   */
  async claim(opts: {
    tenantId: string | null;
    queue: string | null;
    limit: number;
    workerId: string;
    leaseMs: number;
    /** Built-in claims: what each tenant may still start (fair shares, round robin). */
    budgets?: ShareBudgets;
    /** Skip tasks reclaimed from `workerId` since then (its long poll predates the reclaim). @default null */
    notReclaimedSince?: Date | null;
  }): Promise<{ task: TaskRecord; expiresAt: Date }[]> {
    if (opts.limit <= 0) return [];
    const { value: tasks, expiries } = await this.kernel.run(
      claimed(this.deps.workflows, {
        ...opts,
        priorityAgingMs: this.deps.priorityAgingMs ?? DEFAULT_PRIORITY_AGING_MS,
        gated: this.deps.gatedTasks,
        rateLimited: this.rateLimited,
      }),
      (s) => s.runs.flatMap(({ run, tasks: picked }) => s.apply(run.id, { kind: 'claimed', taskIds: picked.map((t) => t.id), workerId: opts.workerId }).tasks),
      opts.leaseMs,
    );
    this.deps.hooks.emit('claim:committed', { queue: opts.queue, workerId: opts.workerId, claimed: tasks.length });
    return tasks.map((task) => ({ task, expiresAt: expiries.get(task.id) ?? this.deps.clock.now() }));
  }

  /**
   * Records a successful attempt. Accepted only with the task's current fencing token.
   *
   * An output deeper than MAX_JSON_DEPTH or larger than MAX_OUTPUT_BYTES is never stored: the
   * attempt fails, not retryably (the step would produce the same output again; event reason
   * OUTPUT_TOO_DEEP / OUTPUT_TOO_LARGE), and the caller gets the LimitExceededError. With
   * `sanitize` (the conductor's own executors, e.g. an http response) NUL characters and unpaired
   * surrogates become U+FFFD, and anything else that cannot be stored fails the attempt the same
   * way (OUTPUT_UNSTORABLE); without it, such an output is refused (BAD_USER_INPUT) and nothing
   * changes, as the API refuses it anyway. `secret`: the lease token's secret, for remote workers.
   */
  async complete(
    taskId: string,
    fence: string,
    output: Json,
    tenantId: string | null = null,
    opts: { sanitize?: boolean; secret?: string | null } = {},
  ): Promise<TaskRecord> {
    const { secret } = opts;
    let stored: Json;
    try {
      checkJson(output, {
        what: 'the step output',
        maxDepth: this.limits.maxJsonDepth,
        maxBytes: this.limits.maxOutputBytes,
        bytesLimit: 'MAX_OUTPUT_BYTES',
        strict: !opts.sanitize,
      });
      stored = opts.sanitize ? storable(output) : output;
    } catch (e: unknown) {
      if (!opts.sanitize && !(e instanceof LimitExceededError)) throw e;
      const refusal =
        e instanceof DomainError ? e : new ValidationError(`The step output cannot be stored: ${coerceError(e).message}`, { reason: 'OUTPUT_UNSTORABLE' });
      const reason = !(refusal instanceof LimitExceededError)
        ? 'OUTPUT_UNSTORABLE'
        : refusal.data.limit === 'MAX_JSON_DEPTH'
          ? 'OUTPUT_TOO_DEEP'
          : 'OUTPUT_TOO_LARGE';
      await this.report({ taskId, fence, secret, tenantId, result: { kind: 'failed', error: `${reason}: ${refusal.message}`, retryable: false, reason } });
      throw refusal;
    }
    return this.report({ taskId, fence, secret, tenantId, result: { kind: 'succeeded', output: stored } });
  }

  /** Records a failed attempt: retried after backoff while the policy allows, else the run fails. */
  fail(taskId: string, fence: string, error: string, retryable: boolean, tenantId: string | null = null, secret?: string | null): Promise<TaskRecord> {
    return this.report({ taskId, fence, secret, tenantId, result: { kind: 'failed', error, retryable } });
  }

  /** Gives an attempt back unfinished: the task is queued again and the attempt does not count. */
  release(taskId: string, fence: string, tenantId: string | null = null, secret?: string | null): Promise<TaskRecord> {
    return this.report({ taskId, fence, secret, tenantId, result: { kind: 'released' } });
  }

  /**
   * The reaper's transition: leases expired. Each is reclaimed only if its task still runs under
   * the token the reaper saw, so replicas reaping the same lease reclaim it once. All in ONE
   * transaction: 100 leases of a dead worker took ~1 s one by one, ~0.1 s together on Postgres.
   * Returns how many this call reclaimed.
   */
  async reclaim(leases: readonly LeaseRef[]): Promise<number> {
    if (leases.length === 0) return 0;
    const { value: reclaimed } = await this.kernel.run(
      runsOfTasks(
        this.deps.workflows,
        leases.map((l) => l.taskId),
      ),
      (s) =>
        leases.flatMap((lease) => {
          // Read before applying: the run's ids for the log line and the hook.
          const run = s.ofTask(lease.taskId)?.locked.run;
          return run && s.applyToTask(lease.taskId, (task) => decideLeaseExpired(task, lease.fence))
            ? [{ taskId: lease.taskId, fence: lease.fence, tenantId: run.tenantId, runId: run.id, workflow: run.workflowName }]
            : [];
        }),
    );
    for (const hook of reclaimed) this.deps.hooks.emit('task:reclaimed', hook);
    this.deps.hooks.emit('reclaim:committed', { tried: leases.length, reclaimed: reclaimed.length });
    return reclaimed.length;
  }

  /** Cancels a run: every task not finished is CANCELLED; running attempts' results are refused. */
  async cancel(tenantId: string, runId: string, reason = 'Cancelled by request'): Promise<RunRecord> {
    return this.onRun(oneRun(this.deps.workflows, runId, tenantId), (run) => decideCancel(run, reason));
  }

  /**
   * Cancels up to `max` unfinished runs of a tenant matching a filter, each through the same
   * decision and transition as `cancel`, CANCEL_BATCH runs per transaction. Returns how many it
   * cancelled; fewer than `max` means none matching is left (but runs started meanwhile).
   */
  async cancelRuns(tenantId: string, filter: RunListFilter, max: number, reason: string): Promise<number> {
    let cancelled = 0;
    while (cancelled < max) {
      const { value } = await this.kernel.run(unfinishedRunsMatching(this.deps.workflows, tenantId, filter, Math.min(CANCEL_BATCH, max - cancelled)), (s) => {
        let n = 0;
        for (const { run } of s.runs) {
          const transition = decideCancel(run, reason);
          if (transition) {
            s.apply(run.id, transition);
            n++;
          }
        }
        return n;
      });
      if (value === 0) break;
      cancelled += value;
    }
    return cancelled;
  }

  /** Re-runs a FAILED or CANCELLED run from its failed and cancelled steps, keeping succeeded outputs. */
  async retryRun(tenantId: string, runId: string): Promise<RunRecord> {
    // A run with a concurrency key gives up its slot and waits again: its group admits it after commit.
    const held: { group?: { tenantId: string; groupKey: string } } = {};
    const run = await this.onRun(this.concurrency.retryLoader(runId, tenantId, held), (r) => decideRetry(r));
    if (!held.group) return run;
    await this.admit(held.group.tenantId, held.group.groupKey);
    return run;
  }

  /** Admits the waiting runs of a concurrency group as far as its limit and strategy allow (see RunConcurrency). */
  admit(tenantId: string, groupKey: string): Promise<{ admitted: number; cancelled: number }> {
    return this.concurrency.admit(tenantId, groupKey);
  }

  /** signalRun: delivers a signal to the step waiting for it, or keeps it for the step to come. */
  signal(tenantId: string, runId: string, name: string, payload: Json): Promise<RunRecord> {
    return this.waits.signal(tenantId, runId, name, payload);
  }

  /** A `signal` step's attempt waits: takes a pending signal and succeeds, or parks; false when the attempt is no longer held. */
  awaitSignal(taskId: string, fence: string, tenantId: string, name: string, timeoutAt: Date | null): Promise<boolean> {
    return this.waits.awaitSignal(taskId, fence, tenantId, name, timeoutAt);
  }

  /** pauseRun: nothing new starts until resume; running attempts finish. */
  pause(tenantId: string, runId: string): Promise<RunRecord> {
    return this.waits.pause(tenantId, runId);
  }

  /** resumeRun: the run continues where it stopped. */
  resume(tenantId: string, runId: string): Promise<RunRecord> {
    return this.waits.resume(tenantId, runId);
  }

  /**
   * Decides the steps of a run whose dependencies are done (its conditional roots, right after
   * the start inserted them PENDING): queued, or SKIPPED by a false `when`; the run finishes if
   * nothing is left. Any tenant: the engine's own follow-up of a start.
   */
  async promote(runId: string): Promise<RunRecord> {
    return this.onRun(oneRun(this.deps.workflows, runId, null), () => ({ kind: 'promote' }));
  }

  /** Parks a running attempt on a durable timer (a `sleep` step); false when the attempt is no longer held. */
  setTimer(taskId: string, fence: string, tenantId: string, at: Date): Promise<boolean> {
    return this.timers.park(taskId, fence, tenantId, at);
  }

  /** One pass over everything time-driven; how many transitions it applied. */
  async fireDue(limit = 100): Promise<number> {
    const fired = await this.timers.fireDue(limit);
    const children = await this.children.sweep(this.deps.clock.now(), limit);
    return fired + children + (await this.concurrency.sweep(limit));
  }

  /** When the scheduler next has something to do. */
  nextWakeAt(): Promise<Date | null> {
    return this.timers.nextWakeAt();
  }

  /** A start wrote tasks of steps with a `rateLimit`: claims look for them at once. */
  sawRateLimitedTasks(): void {
    this.rateLimited.seen();
  }

  private async report(r: Report): Promise<TaskRecord> {
    try {
      return await this.results.submit(r);
    } catch (e: unknown) {
      if (e instanceof LeaseLostError) await this.recordFenced(r.taskId, r.fence);
      throw e;
    }
  }

  /** Records that a stale holder's result was refused (history and metrics). */
  private async recordFenced(taskId: string, fence: string): Promise<void> {
    const fenced = await markFenced(this.deps.db, taskId, fence);
    if (fenced) this.deps.hooks.emit('task:fenced', { taskId, fence, ...fenced });
  }

  /**
   * A group of results in one transaction; if the group fails as a whole (a value Postgres
   * refuses), each alone. Not when the database is unavailable: each alone would fail the same
   * way, one connection timeout after another; the whole group is refused at once and retried by
   * its reporters.
   */
  private async recordResults(reports: readonly Report[]): Promise<(TaskRecord | Error)[]> {
    try {
      // Successes and releases touch their own tasks and their fan tasks' next items; a failure
      // may fail the run and cancel every unfinished task, so it loads them all.
      const full = reports.some((r) => r.result.kind === 'failed');
      const { value } = await this.kernel.run(
        runsOfTasks(
          this.deps.workflows,
          reports.map((r) => r.taskId),
          { full },
        ),
        (s) => reports.map((r) => this.decideReport(s, r)),
      );
      return value;
    } catch (e: unknown) {
      if (e instanceof UnavailableError) throw e;
      if (reports.length === 1) return [coerceError(e)];
      const out: (TaskRecord | Error)[] = [];
      for (const r of reports) out.push(...(await this.recordResults([r])));
      return out;
    }
  }

  private decideReport(s: Staging, r: Report): TaskRecord | Error {
    const found = s.ofTask(r.taskId);
    if (!found || (r.tenantId !== null && found.locked.run.tenantId !== r.tenantId)) return new NotFoundError('Task', r.taskId);
    const decision = decideResult(found.locked.run, found.task, r.fence, r.result, r.secret);
    if ('refused' in decision) return decision.refused;
    if ('unchanged' in decision) return found.task;
    return s.apply(found.locked.run.id, decision.transition).tasks.find((t) => t.id === r.taskId)!;
  }

  /** One run's transition as `decide` says (null: none); the run as it ends up. */
  private async onRun(load: Loader, decide: (run: RunRecord) => Transition | null): Promise<RunRecord> {
    const { value } = await this.kernel.run(load, (s) => {
      const [locked] = s.runs;
      if (!locked) throw new Error('a run loader returned no run');
      const transition = decide(locked.run);
      return transition ? s.apply(locked.run.id, transition).run : locked.run;
    });
    return value;
  }
}
