/**
 * The records the engine works on, as plain data: what the store reads and writes, what the
 * scheduler executes and what the API maps to its types. Entities implement these; nothing above
 * the store sees an entity.
 */
import type { Json, RunStatus, TaskStatus, WorkflowDefinition } from './glossary';

/** One version of a workflow definition, immutable once written. */
export interface WorkflowRecord {
  id: string;
  tenantId: string;
  name: string;
  version: number;
  description: string | null;
  definition: WorkflowDefinition;
  /** sha256 of the canonical definition: registering an identical one returns this version. */
  definitionHash: string;
  createdAt: Date;
}

/**
 * What started a run: a startRun call, a parent's `workflow` step, a schedule's fire time, a
 * published event or a webhook. Kept as the run's `trigger` (jsonb), answered by `Run.trigger`.
 */
export type RunTrigger =
  | { kind: 'API' }
  | { kind: 'PARENT' }
  | { kind: 'SCHEDULE'; scheduleId: string; fireTime: string }
  | { kind: 'EVENT' | 'WEBHOOK'; eventName: string; eventId: string };

/** One execution of one workflow version. */
export interface RunRecord {
  id: string;
  tenantId: string;
  workflowId: string;
  workflowName: string;
  workflowVersion: number;
  status: RunStatus;
  input: Json;
  output: Json;
  error: string | null;
  idempotencyKey: string | null;
  /** With an idempotency key: SHA-256 of the request it was first used with (null before this was kept). */
  requestHash: string | null;
  /** Labels from startRun, distinct and sorted; [] when none (and for runs stored before tags existed). */
  tags: string[];
  /** A JSON object from startRun, for filters on its top-level keys; {} when none. */
  metadata: { [key: string]: Json };
  /** Seq of the last event appended; bumped under the run's row lock so seqs have no gaps. */
  lastSeq: number;
  createdAt: Date;
  startedAt: Date | null;
  finishedAt: Date | null;
  /** W3C trace context of the run's root span: every span about the run joins this trace. */
  traceparent: string | null;
  /** When the run times out (the workflow's timeoutMs after start or retry). */
  deadlineAt: Date | null;
  /** When the run was paused (pauseRun); null unless it is PAUSED. */
  pausedAt: Date | null;
  /** A child run: the run whose `workflow` step started it; null for a run started by startRun. */
  parentRunId: string | null;
  /** A child run: the parent's task (the `workflow` step's attempt) that waits for it. */
  parentTaskId: string | null;
  /** Levels of parents above the run: 0 for a run started by startRun, its parent's + 1 for a child. */
  depth: number;
  /** What started it; `{ kind: 'API' }` for runs stored before triggers were kept. */
  trigger: RunTrigger;
  /** 1 (low) to 3 (high) from startRun, default 2: its tasks' unless a step sets its own. */
  priority: number;
}

/** One step of one run. */
export interface TaskRecord {
  id: string;
  tenantId: string;
  runId: string;
  /** The step's index in the definition: tasks list in declaration order. */
  position: number;
  key: string;
  type: string;
  queue: string | null;
  status: TaskStatus;
  /** The step's per-attempt bound, copied from the definition so a claim needs no join. */
  timeoutMs: number | null;
  /** Attempts started so far; the current attempt while RUNNING. Never reset (retryRun continues it). */
  attempt: number;
  /** The step's own failed attempts since the run started or was last retried: the `maxAttempts` budget. */
  failures: number;
  /** Faults of the system (expired leases) since the run started or was last retried: the `maxFaults` budget. */
  faults: number;
  /** Fencing fence: bumped on every claim, never reset; results must present the current one. */
  fence: string;
  /** The secret half of the current lease token (see domain/lease-token.ts); null for attempts claimed before tokens had one. */
  leaseSecret: string | null;
  /** Resolved input, set when the task becomes ready. */
  input: Json;
  output: Json;
  error: string | null;
  /** Who holds the current attempt (a worker id, or `conductor:<replica>` for built-ins). */
  workerId: string | null;
  /** A QUEUED task is claimable from this instant (retry backoff). */
  availableAt: Date | null;
  /** When the current attempt times out (claim + the step's timeoutMs), whatever the heartbeats say. */
  deadlineAt: Date | null;
  /** A durable timer on a RUNNING task (a `sleep` step's wake-up, a `signal` step's timeout). */
  timerAt: Date | null;
  /** The signal a RUNNING `signal` step waits for, parked (no lease, no slot); its timeout is `timerAt` (null: none). */
  signalName: string | null;
  /** A `workflow` step: the child run its latest attempt started (RUNNING: the one it waits for). */
  childRunId: string | null;
  createdAt: Date;
  queuedAt: Date | null;
  startedAt: Date | null;
  finishedAt: Date | null;
  /** An item task: its fan task (the step's own task); null for every other task. */
  parentTaskId: string | null;
  /** An item task: its item of the forEach list. */
  item: Json;
  /** An item task: its position in the forEach list, from 0. */
  itemIndex: number | null;
  /** A fan task, once fanned out: how many items its list had. */
  itemCount: number | null;
  /** A fan task: its items not finished yet (PENDING, QUEUED or RUNNING). */
  itemsLeft: number | null;
  /** A fan task: its items QUEUED or RUNNING (bounded by the step's maxConcurrency). */
  itemsActive: number | null;
  /** A fan task that ended: the indexes of its items that failed (their outputs are null); null before. */
  failedItems: number[] | null;
  /** 1 to 3: the step's priority, else its run's; higher is claimed first (src/domain/priorities.ts). */
  priority: number;
  /** The step's rate-limit key for this task, set when it is queued (null: no rate limit, or not queued yet). */
  rateLimitKey: string | null;
  /** The step's rate limit: tasks per period, and the period (null: none). Copied at creation so a claim needs no join. */
  rateLimitLimit: number | null;
  rateLimitPeriodMs: number | null;
  /** Set by a claim that held the task back for its rate limit: equal to `availableAt` while it waits for that. */
  rateLimitedUntil: Date | null;
}

/** A signal sent to a run (signalRun): kept until a `signal` step of its name consumes it, FIFO per name. */
export interface SignalRecord {
  id: string;
  tenantId: string;
  runId: string;
  name: string;
  payload: Json;
  createdAt: Date;
  /** Send order (a database sequence): FIFO per name, also within one millisecond. */
  seq: string;
  /** The task whose wait consumed it; null while it is pending. */
  consumedByTaskId: string | null;
  consumedAt: Date | null;
}

/** How an attempt ended. FENCED: its lease expired and the holder's late result was refused. */
export const ATTEMPT_OUTCOMES = ['SUCCEEDED', 'FAILED', 'TIMED_OUT', 'LEASE_EXPIRED', 'FENCED', 'CANCELLED', 'RELEASED'] as const;
export type AttemptOutcome = (typeof ATTEMPT_OUTCOMES)[number];

/**
 * Whose fault an ended attempt was: STEP (its holder reported a failure, or the step timed out:
 * counted against `maxAttempts`), SYSTEM (its lease expired: a worker or replica died or froze,
 * or a result could not be recorded: counted against `maxFaults`), NONE (it succeeded, was
 * cancelled or released).
 */
export type AttemptCause = 'STEP' | 'SYSTEM' | 'NONE';

export function attemptCause(outcome: AttemptOutcome): AttemptCause {
  switch (outcome) {
    case 'FAILED':
    case 'TIMED_OUT':
      return 'STEP';
    case 'LEASE_EXPIRED':
    case 'FENCED':
      return 'SYSTEM';
    case 'SUCCEEDED':
    case 'CANCELLED':
    case 'RELEASED':
      return 'NONE';
  }
}

/** One attempt at a task: who held it (under which fencing token), when, and how it ended. */
export interface AttemptRecord {
  taskId: string;
  /** The fencing token of the claim: unique per task, unlike `attempt` (a released attempt's number is used again). */
  fence: string;
  attempt: number;
  runId: string;
  tenantId: string;
  workerId: string;
  startedAt: Date;
  finishedAt: Date | null;
  /** Null while the attempt runs. */
  outcome: AttemptOutcome | null;
  error: string | null;
}

export type RunEventKind = 'run.status' | 'task.status';

/**
 * A run or task status change, numbered by `seq` per run from 1 without gaps: the row appended to
 * the history and the message the bus delivers are this one shape.
 */
export interface RunEvent {
  runId: string;
  seq: number;
  tenantId: string;
  workflowName: string;
  type: RunEventKind;
  status: string;
  taskId: string | null;
  taskKey: string | null;
  attempt: number | null;
  data: Json;
  createdAt: Date;
}
