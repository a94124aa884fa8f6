import { Field, ID, Int, ObjectType, registerEnumType } from 'type-graphql';
import { RUN_STATUSES, TASK_STATUSES, type Json, type RunStatus as DomainRunStatus, type TaskStatus as DomainTaskStatus } from '../../domain/glossary';
import {
  ATTEMPT_OUTCOMES,
  attemptCause,
  type AttemptCause as DomainAttemptCause,
  type AttemptOutcome as DomainAttemptOutcome,
  type AttemptRecord,
  type RunEvent as DomainRunEvent,
  type RunRecord,
  type TaskRecord,
} from '../../domain/model';
import { DateTimeScalar, JSONScalar } from '../scalars';
import { PageInfo } from './common.type';
import { RunTrigger, toRunTrigger } from './run-trigger.type';

const enumOf = <T extends string>(values: readonly T[]) => Object.fromEntries(values.map((v) => [v, v])) as { [K in T]: K };

export const RunStatus = enumOf(RUN_STATUSES);
registerEnumType(RunStatus, {
  name: 'RunStatus',
  description:
    'Where a run is: PENDING, then RUNNING (PAUSED between pauseRun and resumeRun), then one of SUCCEEDED, FAILED or CANCELLED (final, until `retryRun` takes a FAILED or CANCELLED run back to RUNNING).',
  valuesConfig: {
    PENDING: { description: 'Started; no task has been picked up yet.' },
    RUNNING: { description: 'At least one task has been picked up.' },
    PAUSED: {
      description:
        "Paused by `pauseRun`: nothing new starts and no timer fires until `resumeRun`; running attempts finish. The run's own timeout keeps counting.",
    },
    SUCCEEDED: { description: 'Every step succeeded or was skipped; `output` holds the results of the final steps (null for a skipped one).' },
    FAILED: { description: "A step failed after its retries, or the workflow's `timeoutMs` passed; `error` says which and why." },
    CANCELLED: { description: 'Cancelled by `cancelRun`; `error` holds the reason.' },
  },
});

export const TaskStatus = enumOf(TASK_STATUSES);
registerEnumType(TaskStatus, {
  name: 'TaskStatus',
  description:
    'Where a task is: PENDING, QUEUED, RUNNING (back to QUEUED for a retry), then SUCCEEDED, FAILED or CANCELLED; or PENDING then SKIPPED when its `when` condition is false.',
  valuesConfig: {
    PENDING: { description: 'Waiting on its dependencies.' },
    QUEUED: { description: 'Ready; waiting for a worker (or for its retry delay).' },
    RUNNING: { description: 'An attempt is in progress.' },
    SUCCEEDED: { description: 'An attempt succeeded; `output` holds its result.' },
    FAILED: { description: 'The last attempt failed and the retry policy allows no other (or the failure was not retryable); `error` says why.' },
    CANCELLED: { description: 'Will not run (any more): its run was cancelled, failed or timed out first.' },
    SKIPPED: {
      description:
        "Did not run: its `when` condition was false when its dependencies were done (the event's data says so). Final; its output reads as null to later steps.",
    },
  },
});

export const RunEventType = { RUN_STATUS: 'RUN_STATUS', TASK_STATUS: 'TASK_STATUS' } as const;
export type RunEventType = (typeof RunEventType)[keyof typeof RunEventType];
registerEnumType(RunEventType, {
  name: 'RunEventType',
  description: 'What a `RunEvent` is about: the run, or one of its tasks.',
  valuesConfig: {
    RUN_STATUS: { description: 'The run changed status; `status` is a RunStatus.' },
    TASK_STATUS: { description: 'A task changed status; `status` is a TaskStatus, and `taskId`, `taskKey` and `attempt` say which task and attempt.' },
  },
});

export const AttemptOutcome = enumOf(ATTEMPT_OUTCOMES);
registerEnumType(AttemptOutcome, {
  name: 'AttemptOutcome',
  description: 'How an attempt ended.',
  valuesConfig: {
    SUCCEEDED: { description: 'The holder reported a result; the task succeeded with it.' },
    FAILED: { description: 'The holder reported a failure.' },
    TIMED_OUT: { description: "The step's timeoutMs passed." },
    LEASE_EXPIRED: { description: 'The holder stopped heartbeating; the task was reclaimed.' },
    FENCED: { description: 'The lease expired and the late result of its holder was refused.' },
    CANCELLED: { description: 'The run was cancelled, failed or timed out meanwhile.' },
    RELEASED: { description: 'The holder gave the task back unfinished (draining); not counted.' },
  },
});

export const AttemptCause = { STEP: 'STEP', SYSTEM: 'SYSTEM', NONE: 'NONE' } as const satisfies Record<DomainAttemptCause, DomainAttemptCause>;
registerEnumType(AttemptCause, {
  name: 'AttemptCause',
  description: 'Whose fault the end of an attempt was.',
  valuesConfig: {
    STEP: {
      description: "The step's own: its holder reported a failure (FAILED) or the step's timeoutMs passed (TIMED_OUT). Counted against retry.maxAttempts.",
    },
    SYSTEM: {
      description:
        'A fault of the system: the lease expired (a worker or conductor replica died or froze, or a result could not be recorded). Counted against retry.maxFaults.',
    },
    NONE: { description: 'Nobody failed: it succeeded, was cancelled or was released.' },
  },
});

@ObjectType({ simpleResolvers: true, description: 'One attempt at a task: who held it, when, how it ended.' })
export class TaskAttempt {
  @Field(() => Int, {
    description:
      'Which attempt of the task, from 1, counting on across retries, faults and retryRun (a RELEASED attempt is not counted: the next one has its number again).',
  })
  attempt: number;

  @Field({ description: "The fencing number of the token the attempt held (the token's secret is never shown)." })
  leaseToken: string;

  @Field({ description: "Who held it: the `workerId` of a remote worker's claimTasks, or `conductor:<replica id>` for a built-in step." })
  workerId: string;

  @Field(() => DateTimeScalar, { description: 'When it was claimed.' })
  startedAt: Date;

  @Field(() => DateTimeScalar, { nullable: true, description: 'When it ended; null while it runs.' })
  finishedAt: Date | null;

  @Field(() => AttemptOutcome, { nullable: true, description: 'Null while the attempt runs.' })
  outcome: DomainAttemptOutcome | null;

  @Field(() => AttemptCause, {
    nullable: true,
    description: 'Whose fault its end was: the step (counted against maxAttempts), the system (counted against maxFaults), or neither. Null while it runs.',
  })
  cause: DomainAttemptCause | null;

  @Field({ description: "True when a fault of the system ended it (LEASE_EXPIRED, FENCED): it did not spend one of the step's maxAttempts." })
  fault: boolean;

  @Field(() => String, { nullable: true, description: 'Why it failed or timed out, as reported; null otherwise.' })
  error: string | null;
}

@ObjectType({ simpleResolvers: true, description: 'One step of one run.' })
export class Task {
  @Field(() => ID, { description: 'The task id (a UUID): the worker protocol names tasks by it.' })
  id: string;

  @Field(() => ID, { description: 'The run this task belongs to.' })
  runId: string;

  @Field({ description: "Its step's key in the workflow." })
  key: string;

  @Field({ description: "Its step's type." })
  type: string;

  @Field(() => String, { nullable: true, description: "Its step's queue when remote workers execute it; null for a built-in step." })
  queue: string | null;

  @Field(() => TaskStatus, { description: 'Where the task is.' })
  status: DomainTaskStatus;

  @Field(() => Int, { description: 'Attempts started so far (retryRun continues the count).' })
  attempt: number;

  @Field(() => Int, { description: "The step's own failed attempts since the run started or was retried: spent of retry.maxAttempts." })
  failures: number;

  @Field(() => Int, { description: 'Faults of the system (expired leases) since the run started or was retried: spent of retry.maxFaults.' })
  faults: number;

  @Field(() => JSONScalar, { nullable: true, description: 'The input with its templates resolved; null until the task is ready.' })
  input: Json;

  @Field(() => JSONScalar, {
    nullable: true,
    description: "What the step produced (a built-in step's result, a worker's completeTask output); null until SUCCEEDED.",
  })
  output: Json;

  @Field(() => String, { nullable: true, description: 'Why the last attempt failed.' })
  error: string | null;

  @Field(() => String, { nullable: true, description: 'Who holds or held the latest attempt.' })
  workerId: string | null;

  @Field(() => DateTimeScalar, { description: 'When its run was started.' })
  createdAt: Date;

  @Field(() => DateTimeScalar, { nullable: true, description: 'When it last became QUEUED (ready, or waiting for a retry); null before.' })
  queuedAt: Date | null;

  @Field(() => DateTimeScalar, { nullable: true, description: 'When its latest attempt started; null before the first.' })
  startedAt: Date | null;

  @Field(() => DateTimeScalar, { nullable: true, description: 'When it became SUCCEEDED, FAILED or CANCELLED; null before.' })
  finishedAt: Date | null;

  @Field(() => ID, { nullable: true, description: "An item task of a forEach step: its step's own task (the fan task); null otherwise." })
  parentTaskId: string | null;

  @Field(() => JSONScalar, { nullable: true, description: 'An item task: its item of the forEach list (`{{ item }}`); null otherwise.' })
  item: Json;

  @Field(() => Int, { nullable: true, description: 'An item task: its index in the forEach list, from 0 (`{{ index }}`); null otherwise.' })
  index: number | null;

  @Field(() => Int, {
    nullable: true,
    description: "A forEach step's own task: how many items it fanned out to (it is RUNNING, held by no worker, while they run); null otherwise.",
  })
  itemCount: number | null;

  @Field(() => [Int], {
    nullable: true,
    description: "A forEach step's own task, once ended: the indexes of the items that failed (null in its output with continueOnItemFailure).",
  })
  failedItems: number[] | null;

  @Field(() => Int, {
    description: "1 (low) to 3 (high): its step's priority, else its run's. Higher is claimed first; waiting raises it (PRIORITY_AGING_MS).",
  })
  priority: number;

  @Field(() => String, {
    nullable: true,
    description: "Its step's rate-limit key as evaluated for this task (`StepInput.rateLimit.key`); null without a rate limit or before it is queued.",
  })
  rateLimitKey: string | null;
  /** Not a field: the row, for what field resolvers compute from it (`waitingFor`). */
  row?: TaskRecord;

  /** Not a field: Task.childRun resolves it. */
  childRunId: string | null;
}

@ObjectType({ simpleResolvers: true, description: 'The right to execute one attempt of a task until leaseExpiresAt; renew it with renewLease.' })
export class TaskLease {
  @Field(() => ID, { description: 'The claimed task.' })
  taskId: string;

  @Field({
    description:
      'The lease token, `<fencing number>.<secret>`: opaque, present it as given with renewLease, completeTask, failTask and releaseTask. ' +
      "The secret (128 random bits) means a task id and a guessed number are not enough to act on another worker's attempt.",
  })
  leaseToken: string;

  @Field(() => DateTimeScalar, { description: "By the conductor's clock." })
  leaseExpiresAt: Date;

  /** Set by claimTasks; renewLease loads it only when asked for. */
  taskRow?: TaskRecord;
}

@ObjectType({ simpleResolvers: true, description: 'A run or task status change. `seq` numbers the events of a run from 1 without gaps.' })
export class RunEvent {
  @Field(() => ID, { description: 'The run.' })
  runId: string;

  @Field(() => Int, { description: "Position in the run's history, from 1 without gaps: pass the last one seen as `afterSeq` to resume." })
  seq: number;

  @Field(() => RunEventType, { description: 'Whether the run or one of its tasks changed.' })
  type: RunEventType;

  @Field({ description: 'The new status of the run (RUN_STATUS) or of the task (TASK_STATUS).' })
  status: string;

  @Field({ description: 'Name of the workflow the run belongs to.' })
  workflow: string;

  @Field(() => ID, { nullable: true, description: 'The task (TASK_STATUS); null for RUN_STATUS.' })
  taskId: string | null;

  @Field(() => String, { nullable: true, description: "The task's step key (TASK_STATUS); null for RUN_STATUS." })
  taskKey: string | null;

  @Field(() => Int, { nullable: true, description: "The task's attempt number at the change (TASK_STATUS; 0 before the first); null for RUN_STATUS." })
  attempt: number | null;

  @Field(() => JSONScalar, { nullable: true, description: 'Details: the error of a failure, the retry delay, the worker.' })
  data: Json;

  @Field(() => DateTimeScalar, { description: "When it happened, by the conductor's clock." })
  createdAt: Date;
}

/** The GraphQL Run: the row's fields; `workflow`, `tasks` and `events` come from field resolvers. */
@ObjectType({ simpleResolvers: true, description: 'One execution of one workflow version.' })
export class Run {
  @Field(() => ID, { description: 'The run id (a UUID): pass it to run, cancelRun, retryRun and runUpdated.' })
  id: string;

  @Field(() => RunStatus, { description: 'Where the run is.' })
  status: DomainRunStatus;

  @Field(() => JSONScalar, { nullable: true, description: 'The input it was started with (`{}` when startRun had none); templates read it as `input.…`.' })
  input: Json;

  @Field(() => JSONScalar, { nullable: true, description: 'On success: the outputs of the steps nothing depends on, keyed by step key.' })
  output: Json;

  @Field(() => String, { nullable: true, description: 'Why it FAILED (the step and its error, or the run timeout) or was CANCELLED; null otherwise.' })
  error: string | null;

  @Field(() => String, { nullable: true, description: 'The idempotency key it was started with; null when none.' })
  idempotencyKey: string | null;

  @Field(() => [String], { description: 'The tags it was started with, distinct and sorted; empty when none.' })
  tags: string[];

  @Field(() => JSONScalar, { description: 'The metadata object it was started with; `{}` when none.' })
  metadata: Json;

  @Field(() => DateTimeScalar, { description: "When startRun created it, by the conductor's clock; the runs listing is ordered by it." })
  createdAt: Date;

  @Field(() => DateTimeScalar, { nullable: true, description: 'When a first task was picked up (RUNNING); null while PENDING.' })
  startedAt: Date | null;

  @Field(() => DateTimeScalar, { nullable: true, description: 'When it became SUCCEEDED, FAILED or CANCELLED; null before (and again after retryRun).' })
  finishedAt: Date | null;

  @Field(() => DateTimeScalar, { nullable: true, description: 'When pauseRun paused it; null unless it is PAUSED.' })
  pausedAt: Date | null;

  @Field(() => Int, {
    description: "Levels of parent runs above it: 0 for a run started by startRun, its parent's depth + 1 for a child run (at most MAX_WORKFLOW_DEPTH).",
  })
  depth: number;

  @Field(() => RunTrigger, { description: 'What started it: startRun (API), a parent run, a schedule, an event or a webhook.' })
  trigger: RunTrigger;

  @Field(() => Int, { description: 'Its priority from startRun, 1 (low) to 3 (high); 2 when none was given (and for child runs).' })
  priority: number;

  /** Not fields: what the field resolvers need. */
  workflowId: string;
  tenantId: string;
  parentRunId: string | null;
  parentTaskId: string | null;
}

@ObjectType({ simpleResolvers: true, description: 'A run and its cursor in the runs listing.' })
export class RunEdge {
  @Field({ description: "This run's position in the listing: pass it as `after` or `before`." })
  cursor: string;

  @Field(() => Run, { description: 'The run.' })
  node: Run;
}

@ObjectType({
  simpleResolvers: true,
  description:
    'A page of runs, newest first (a Relay cursor connection). `nodes` and `edges` hold the same runs in the same order; `edges` adds their cursors.',
})
export class RunConnection {
  @Field(() => [Run], { description: 'The runs of this page, newest first.' })
  nodes: Run[];

  @Field(() => [RunEdge], { description: 'The runs of this page with their cursors, in the order of `nodes`.' })
  edges: RunEdge[];

  @Field(() => PageInfo, { description: 'Cursors of this page, and whether runs precede or follow it.' })
  pageInfo: PageInfo;

  @Field(() => Int, { description: 'Runs matching the filter, all pages.' })
  totalCount: number;
}

/** An instance of the class: type-graphql copies a plain root into one at every field resolver call. */
export function toRun(row: RunRecord): Run {
  return Object.assign(new Run(), {
    id: row.id,
    status: row.status,
    input: row.input,
    output: row.output,
    error: row.error,
    idempotencyKey: row.idempotencyKey,
    // Rows read before the migration ran (a replica on the old schema) have neither.
    tags: row.tags ?? [],
    metadata: row.metadata ?? {},
    createdAt: row.createdAt,
    startedAt: row.startedAt,
    finishedAt: row.finishedAt,
    pausedAt: row.pausedAt ?? null,
    depth: row.depth,
    trigger: toRunTrigger(row.trigger),
    // Rows read before the migration ran have none: the default.
    priority: row.priority ?? 2,
    workflowId: row.workflowId,
    tenantId: row.tenantId,
    parentRunId: row.parentRunId,
    parentTaskId: row.parentTaskId,
  });
}

export function toTask(row: TaskRecord): Task {
  return {
    id: row.id,
    runId: row.runId,
    key: row.key,
    type: row.type,
    queue: row.queue,
    status: row.status,
    attempt: row.attempt,
    failures: row.failures,
    faults: row.faults,
    input: row.input,
    output: row.output,
    error: row.error,
    workerId: row.workerId,
    createdAt: row.createdAt,
    queuedAt: row.queuedAt,
    startedAt: row.startedAt,
    finishedAt: row.finishedAt,
    parentTaskId: row.parentTaskId ?? null,
    item: row.item ?? null,
    index: row.itemIndex ?? null,
    itemCount: row.itemCount ?? null,
    failedItems: row.failedItems ?? null,
    priority: row.priority ?? 2,
    rateLimitKey: row.rateLimitKey ?? null,
    row,
    childRunId: row.childRunId,
  };
}

export function toAttempt(row: AttemptRecord): TaskAttempt {
  return {
    attempt: row.attempt,
    leaseToken: row.fence,
    workerId: row.workerId,
    startedAt: row.startedAt,
    finishedAt: row.finishedAt,
    outcome: row.outcome,
    cause: row.outcome === null ? null : attemptCause(row.outcome),
    fault: row.outcome !== null && attemptCause(row.outcome) === 'SYSTEM',
    error: row.error,
  };
}

export function toRunEvent(e: DomainRunEvent): RunEvent {
  return {
    runId: e.runId,
    seq: e.seq,
    type: e.type === 'run.status' ? 'RUN_STATUS' : 'TASK_STATUS',
    status: e.status,
    workflow: e.workflowName,
    taskId: e.taskId,
    taskKey: e.taskKey,
    attempt: e.attempt,
    data: e.data,
    createdAt: e.createdAt,
  };
}
