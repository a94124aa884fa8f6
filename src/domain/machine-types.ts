/**
 * The state machine's vocabulary: what it reads and changes of runs and tasks, what it is asked
 * (a `Transition`) and what it answers (a `TransitionResult`). The machine is run-machine.ts.
 */
import type { Json, WorkflowDefinition } from './glossary';
import type { AttemptOutcome, RunRecord, TaskRecord } from './model';
import type { ExpansionLimits } from './templates';
import type { CreatedTask } from './fan-out-machine';
import type { EventDraft } from './run-plan';
import type { ChildContext, ChildRunPlan } from './child-runs';

/** What the machine reads and changes of a task: the fields a transition may move. */
export type TaskState = Pick<
  TaskRecord,
  | 'id'
  | 'key'
  | 'status'
  | 'attempt'
  | 'failures'
  | 'faults'
  | 'fence'
  | 'leaseSecret'
  | 'input'
  | 'output'
  | 'error'
  | 'workerId'
  | 'availableAt'
  | 'timerAt'
  | 'signalName'
  | 'childRunId'
  | 'deadlineAt'
  | 'queuedAt'
  | 'startedAt'
  | 'finishedAt'
  | 'parentTaskId'
  | 'item'
  | 'itemIndex'
  | 'itemCount'
  | 'itemsLeft'
  | 'itemsActive'
  | 'failedItems'
  | 'rateLimitKey'
>;

/** What the machine reads and changes of a run. */
export type RunState = Pick<RunRecord, 'id' | 'status' | 'input' | 'output' | 'error' | 'startedAt' | 'finishedAt' | 'deadlineAt' | 'pausedAt'> & {
  /** It waits for a concurrency slot (not a column: its loader reads it): nothing of it is promoted until its admission. */
  concurrencyHeld?: boolean;
};

export interface TransitionResult {
  /** Tasks whose state changed, in their new state. */
  tasks: TaskState[];
  /** Tasks this transition created (a forEach step's items), in their state at its end. */
  created: CreatedTask[];
  /** The run in its new state when it changed, else null. */
  run: RunState | null;
  events: EventDraft[];
  /** Tasks made ready now, for waking the dispatcher (built-ins: queue null) and queue pollers. */
  ready: { queue: string | null; availableAt: Date | null }[];
  /** Attempts this transition began (claims), under their fencing tokens. */
  attemptsStarted: { taskId: string; fence: string; attempt: number; workerId: string }[];
  /** Attempts this transition ended, and how. */
  attemptsEnded: { taskId: string; fence: string; outcome: AttemptOutcome; error: string | null }[];
  /** Child runs `workflow` steps started (written with the transition). */
  childRuns: ChildRunPlan[];
  /** Unfinished child runs whose waiting attempt ended otherwise than by them: to cancel. */
  orphanedChildren: string[];
}

export interface MachineContext {
  definition: WorkflowDefinition;
  run: RunState;
  tasks: TaskState[];
  now: Date;
  /** Jitter source for retry backoff; injected so tests are deterministic. */
  random: () => number;
  /** How far templates may expand a step's input. @default DEFAULT_EXPANSION_LIMITS */
  /** Template expansion limits, and MAX_OUTPUT_BYTES (the output of a forEach step holds its items'). */
  limits?: ExpansionLimits & { maxOutputBytes?: number };
  /** A new lease secret for each claim made in memory (128 random bits, base64url); injected: the domain does no I/O. */
  newSecret: () => string;
  /** An id for each task a transition creates (a forEach step's items). */
  newId: () => string;
  /** MAX_FOREACH_ITEMS. @default DEFAULT_MAX_FOREACH_ITEMS */
  maxForEachItems?: number;
  /** What starting child runs needs (`workflow` steps); absent: such a step fails, saying so. */
  children?: ChildContext & { parent: Pick<RunRecord, 'tenantId' | 'depth' | 'traceparent'> };
}

/** A task the machine knows how to claim: the step's per-attempt bound decides the deadline. */
export type ClaimableTask = TaskState & { timeoutMs: number | null };

/** Why an attempt failed: its own error, its step's timeout, or its lease expiring unrenewed. */
export type FailureKind = 'FAILED' | 'TIMED_OUT' | 'LEASE_EXPIRED';

export type Transition =
  /** `childRunId`: the result is the child run's this `workflow` step waited for. */
  | { kind: 'succeeded'; taskId: string; output: Json; childRunId?: string }
  | { kind: 'failed'; taskId: string; error: string; retryable: boolean; failure?: FailureKind; reason?: string; childRunId?: string }
  /** Ready `workflow` steps start their child runs (the sweep, or a run just created). */
  | { kind: 'launchChildren' }
  /** The holder gives the attempt back unfinished (a worker draining): queued again, not counted. */
  | { kind: 'released'; taskId: string }
  | { kind: 'cancel'; reason: string }
  /** The run's own timeout: it fails, and every unfinished task is cancelled. */
  | { kind: 'runTimedOut'; error: string }
  /**
   * retryRun: failed and cancelled steps run again; succeeded ones keep their outputs, skipped
   * ones stay SKIPPED: a step is only skipped once its dependencies are all done and none failed,
   * so nothing its condition read runs again.
   */
  | { kind: 'retry' }
  /** Queue (or skip) the steps whose dependencies are done, finish the run when all are: a run's conditional roots after its start. */
  | { kind: 'promote' }
  /** Claims QUEUED tasks in memory, under the run's lock (eager dispatch): each gets a new fencing token. */
  | { kind: 'claim'; taskIds: readonly string[]; workerId: string }
  /** The claim statement already claimed these tasks (they are RUNNING): the run starts, the claims are recorded. */
  | { kind: 'claimed'; taskIds: readonly string[]; workerId: string }
  /** A `signal` step's attempt parks until a signal of `name` or `timeoutAt` (null: no timeout): RUNNING, no lease. */
  | { kind: 'awaitSignal'; taskId: string; name: string; timeoutAt: Date | null }
  /** pauseRun: nothing new starts; running attempts finish, their dependents wait for resume. */
  | { kind: 'pause' }
  /** resumeRun: the run continues where it stopped (dependents of what finished meanwhile become ready). */
  | { kind: 'resume' };
