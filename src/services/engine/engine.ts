import type { Clock } from '../../domain/clock';
import { decideCancel, decideLeaseExpired, decideResult, decideRetry, type AttemptResult } from '../../domain/decisions';
import { coerceError, LeaseLostError, NotFoundError } from '../../domain/errors';
import type { Json } from '../../domain/glossary';
import type { EngineHooks } from '../../domain/hooks';
import type { RunEvent, RunRecord, TaskRecord } from '../../domain/model';
import type { Transition } from '../../domain/run-machine';
import type { EventBus } from '../../events/event-bus';
import type { LeaseRef, LeaseStore } from '../../leases/lease-store';
import { GroupCommit } from '../../primitives/group-commit';
import type { LocalDispatch } from '../../scheduler/ports';
import { markFenced } from '../../store/attempts.store';
import type { Database } from '../../store/sql';
import type { WorkflowsService } from '../workflows.service';
import { Announcer } from './announcer';
import { newBatch } from './batch';
import { EagerDispatch } from './eager-dispatch';
import { TransitionKernel, type Loader, type Staging } from './kernel';
import { claimed, oneRun, runsOfTasks } from './loaders';
import { Timers } from './timers';

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

/** Results of one group commit at most (one transaction). */
const MAX_RESULT_GROUP = 100;

/**
 * Every state change of runs and tasks: claims, results, reclaims, timers, cancellation and
 * retries. Each is a decision (src/domain/decisions.ts) applied through the transition kernel:
 * lock the runs, decide, apply the state machine, write in one statement, announce after commit.
 */
export class Engine {
  private readonly kernel: TransitionKernel;
  private readonly results: GroupCommit<Report, TaskRecord>;
  private readonly timers: Timers;

  constructor(private readonly deps: EngineDeps) {
    const eager = deps.local ? new EagerDispatch(deps.local) : null;
    const announcer = new Announcer({ bus: deps.bus, leases: deps.leases, hooks: deps.hooks, eager, onPublishError: deps.onPublishError });
    this.kernel = new TransitionKernel({ db: deps.db, clock: deps.clock, announcer, eager, random: deps.random ?? Math.random });
    // Results arriving together (many workers completing at once) commit together; each keeps
    // its own answer: a stale token in the group gets LEASE_LOST without touching the others.
    this.results = new GroupCommit((reports) => this.recordResults(reports), { maxGroup: MAX_RESULT_GROUP, maxInFlight: deps.groupCommits ?? 4 });
    this.timers = new Timers({ ...deps, kernel: this.kernel });
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
    /** Skip tasks reclaimed from `workerId` since then (its long poll predates the reclaim). @default null */
    notReclaimedSince?: Date | null;
  }): Promise<{ task: TaskRecord; expiresAt: Date }[]> {
    if (opts.limit <= 0) return [];
    const { value: tasks, expiries } = await this.kernel.run(
      claimed(this.deps.workflows, opts),
      (s) => s.runs.flatMap(({ run, tasks: picked }) => s.apply(run.id, { kind: 'claimed', taskIds: picked.map((t) => t.id), workerId: opts.workerId }).tasks),
      opts.leaseMs,
    );
    this.deps.hooks.emit('claim:committed', { queue: opts.queue, workerId: opts.workerId, claimed: tasks.length });
    return tasks.map((task) => ({ task, expiresAt: expiries.get(task.id) ?? this.deps.clock.now() }));
  }

  /** Records a successful attempt. Accepted only with the task's current fencing token. */
  complete(taskId: string, fence: string, output: Json, tenantId: string | null = null, secret?: string | null): Promise<TaskRecord> {
    return this.report({ taskId, fence, secret, tenantId, result: { kind: 'succeeded', output } });
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
      (s) => leases.filter((lease) => s.applyToTask(lease.taskId, (task) => decideLeaseExpired(task, lease.fence))),
    );
    for (const lease of reclaimed) this.deps.hooks.emit('task:reclaimed', { taskId: lease.taskId, fence: lease.fence, tenantId: lease.tenantId });
    this.deps.hooks.emit('reclaim:committed', { tried: leases.length, reclaimed: reclaimed.length });
    return reclaimed.length;
  }

  /** Cancels a run: every task not finished is CANCELLED; running attempts' results are refused. */
  async cancel(tenantId: string, runId: string, reason = 'Cancelled by request'): Promise<RunRecord> {
    return this.onRun(oneRun(this.deps.workflows, runId, tenantId), (run) => decideCancel(run, reason));
  }

  /** Re-runs a FAILED or CANCELLED run from its failed and cancelled steps, keeping succeeded outputs. */
  async retryRun(tenantId: string, runId: string): Promise<RunRecord> {
    return this.onRun(oneRun(this.deps.workflows, runId, tenantId), (run) => decideRetry(run));
  }

  /** Parks a running attempt on a durable timer (a `sleep` step); false when the attempt is no longer held. */
  setTimer(taskId: string, fence: string, tenantId: string, at: Date): Promise<boolean> {
    return this.timers.park(taskId, fence, tenantId, at);
  }

  /** One pass over everything time-driven; how many transitions it applied. */
  fireDue(limit = 100): Promise<number> {
    return this.timers.fireDue(limit);
  }

  /** When the scheduler next has something to do. */
  nextWakeAt(): Promise<Date | null> {
    return this.timers.nextWakeAt();
  }

  /** Announces a run just created (its start is one insert, no lock to take): its first events, ready roots, deadline. */
  async announceStart(run: RunRecord, events: RunEvent[], readyQueues: (string | null)[]): Promise<void> {
    const batch = newBatch(run.createdAt);
    batch.createdRuns.push(run);
    batch.events.push(...events);
    batch.ready.push(...readyQueues);
    if (run.deadlineAt) batch.wakeAt.push(run.deadlineAt.getTime());
    await this.kernel.announce(batch);
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
    if (await markFenced(this.deps.db, taskId, fence)) this.deps.hooks.emit('task:fenced', { taskId, fence });
  }

  /** A group of results in one transaction; if the group fails as a whole (a value Postgres refuses), each alone. */
  private async recordResults(reports: readonly Report[]): Promise<(TaskRecord | Error)[]> {
    try {
      const { value } = await this.kernel.run(
        runsOfTasks(
          this.deps.workflows,
          reports.map((r) => r.taskId),
        ),
        (s) => reports.map((r) => this.decideReport(s, r)),
      );
      return value;
    } catch (e: unknown) {
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
