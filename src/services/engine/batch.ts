import type { ChildRunPlan } from '../../domain/child-runs';
import type { ConcurrencyStrategy } from '../../domain/glossary';
import type { AttemptOutcome, AttemptRecord, RunEvent, RunRecord, SignalRecord, TaskRecord } from '../../domain/model';
import type { ReadyBuiltIn } from '../../events/event-bus';
import type { LeaseRef } from '../../leases/lease-store';

export type AttemptStart = Pick<AttemptRecord, 'taskId' | 'fence' | 'attempt' | 'runId' | 'tenantId' | 'workerId' | 'startedAt'>;
export interface AttemptEnd {
  taskId: string;
  fence: string;
  outcome: AttemptOutcome;
  error: string | null;
  finishedAt: Date;
}

/** A claim a batch made: by the claim statement (for its caller) or eagerly (for this replica's executors). */
export interface Claim {
  task: TaskRecord;
  workerId: string;
  eager: boolean;
  leaseMs: number;
}

/**
 * What one transaction of the engine writes, and what it tells the world once it commits. Built
 * by the transition kernel from the state machine's results; written in one statement; announced
 * after commit. Nothing in it is announced before the commit, so a rollback announces nothing.
 */
export interface Batch {
  readonly now: Date;
  /** Runs this batch changed, in their latest state (several transitions of one run stack up). */
  runs: Map<string, RunRecord>;
  /** Tasks to write, in their latest state. */
  tasks: Map<string, TaskRecord>;
  /** Tasks to insert (a forEach step's items), in their latest state. */
  created: Map<string, TaskRecord>;
  events: RunEvent[];
  attemptsStarted: AttemptStart[];
  attemptsEnded: AttemptEnd[];
  /** Queues with work ready now (null: built-in steps). */
  ready: (string | null)[];
  /** Every built-in step in `ready`, when known (a start's roots): the local scheduler claims only for tenants with room. */
  readyBuiltIn?: ReadyBuiltIn[];
  /** Leases of ended attempts: dropped; revoked when the task was cancelled, so its holder hears RUN_CANCELLED. */
  release: LeaseRef[];
  revoke: LeaseRef[];
  /** Instants something comes due (retry delays, deadlines): the scheduler arms a wake-up. */
  wakeAt: number[];
  claims: Claim[];
  /** Runs created by this batch (a start), for `run:created`. */
  createdRuns: RunRecord[];
  /** Runs that went PENDING → RUNNING, for `run:started`. */
  startedRuns: RunRecord[];
  finishedTasks: { run: RunRecord; task: TaskRecord }[];
  finishedRuns: RunRecord[];
  /** Of `finishedRuns`, those whose workflow has a `concurrency` (only they can hold a group's slot). */
  finishedRunsInGroups: string[];
  /** Tasks of steps with a `rateLimit` became QUEUED in this batch (RateLimitedTasksHint). */
  rateLimitedQueued: boolean;
  /** Signals sent to runs (signalRun), consumed already when a waiting step took them at once. */
  signalsSent: Omit<SignalRecord, 'seq'>[];
  /** Pending signals a step's wait consumed now. */
  signalsConsumed: { id: string; taskId: string; consumedAt: Date }[];
  /** Child runs the transitions started (`workflow` steps): inserted with the batch. */
  childRuns: ChildRunPlan[];
  /** Unfinished child runs whose parent's attempt stopped waiting for them: cancelled after commit. */
  orphanedChildren: string[];
  /** Runs with ready `workflow` steps no transition of theirs looked at yet (children just created): launched after commit. */
  launch: string[];
  /** Local executor slots reserved for this batch's eager claims (given back when unused or rolled back). */
  reserved: number;
  /** Eager candidates counted against their tenant's share, by task id (uncounted when not claimed). */
  admitted: Map<string, { tenantId: string; type: string }>;
  /** Gated tasks (of steps with `concurrency`) that ended: their group rows are deleted with the batch. */
  gatedTasksLeft: string[];
  /** Gated tasks that run again (retryRun): their group rows are written again with the batch. */
  gatedTasksEntered: { taskId: string; tenantId: string; groupKey: string; max: number; strategy: ConcurrencyStrategy }[];
  /** Concurrency groups whose next runs this batch admitted already (`RunConcurrency.admitInline`), by `tenant\ngroupKey`. */
  groupsAdmitted: Set<string>;
}

export function newBatch(now: Date): Batch {
  return {
    now,
    runs: new Map(),
    tasks: new Map(),
    created: new Map(),
    events: [],
    attemptsStarted: [],
    attemptsEnded: [],
    ready: [],
    release: [],
    revoke: [],
    wakeAt: [],
    claims: [],
    createdRuns: [],
    startedRuns: [],
    finishedTasks: [],
    finishedRuns: [],
    finishedRunsInGroups: [],
    rateLimitedQueued: false,
    signalsSent: [],
    signalsConsumed: [],
    childRuns: [],
    orphanedChildren: [],
    launch: [],
    reserved: 0,
    admitted: new Map(),
    gatedTasksLeft: [],
    gatedTasksEntered: [],
    groupsAdmitted: new Set(),
  };
}
