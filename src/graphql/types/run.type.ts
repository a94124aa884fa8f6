import { Field, ID, Int, ObjectType, registerEnumType } from 'type-graphql';
import { RUN_STATUSES, TASK_STATUSES, type Json, type RunStatus as DomainRunStatus, type TaskStatus as DomainTaskStatus } from '../../domain/glossary';
import {
  ATTEMPT_OUTCOMES,
  type AttemptOutcome as DomainAttemptOutcome,
  type AttemptRecord,
  type RunEvent as DomainRunEvent,
  type RunRecord,
  type TaskRecord,
} from '../../domain/model';
import { DateTimeScalar, JSONScalar } from '../scalars';
import { PageInfo } from './common.type';

const enumOf = <T extends string>(values: readonly T[]) => Object.fromEntries(values.map((v) => [v, v])) as { [K in T]: K };

export const RunStatus = enumOf(RUN_STATUSES);
registerEnumType(RunStatus, {
  name: 'RunStatus',
  valuesConfig: {
    PENDING: { description: 'Started; no task has been picked up yet.' },
    RUNNING: { description: 'At least one task has been picked up.' },
    SUCCEEDED: { description: 'Every step succeeded; `output` holds the results of the final steps.' },
    FAILED: { description: 'A step failed after its retries; `error` says which and why.' },
    CANCELLED: { description: 'Cancelled by request.' },
  },
});

export const TaskStatus = enumOf(TASK_STATUSES);
registerEnumType(TaskStatus, {
  name: 'TaskStatus',
  valuesConfig: {
    PENDING: { description: 'Waiting on its dependencies.' },
    QUEUED: { description: 'Ready; waiting for a worker (or for its retry delay).' },
    RUNNING: { description: 'An attempt is in progress.' },
    SUCCEEDED: {},
    FAILED: {},
    CANCELLED: {},
  },
});

export const RunEventType = { RUN_STATUS: 'RUN_STATUS', TASK_STATUS: 'TASK_STATUS' } as const;
export type RunEventType = (typeof RunEventType)[keyof typeof RunEventType];
registerEnumType(RunEventType, { name: 'RunEventType' });

export const AttemptOutcome = enumOf(ATTEMPT_OUTCOMES);
registerEnumType(AttemptOutcome, {
  name: 'AttemptOutcome',
  valuesConfig: {
    SUCCEEDED: {},
    FAILED: { description: 'The holder reported a failure.' },
    TIMED_OUT: { description: "The step's timeoutMs passed." },
    LEASE_EXPIRED: { description: 'The holder stopped heartbeating; the task was reclaimed.' },
    FENCED: { description: 'The lease expired and the late result of its holder was refused.' },
    CANCELLED: { description: 'The run was cancelled, failed or timed out meanwhile.' },
    RELEASED: { description: 'The holder gave the task back unfinished (draining); not counted.' },
  },
});

@ObjectType({ simpleResolvers: true, description: 'One attempt at a task: who held it, when, how it ended.' })
export class TaskAttempt {
  @Field(() => Int)
  attempt: number;

  @Field({ description: 'The fencing token the attempt held.' })
  leaseToken: string;

  @Field()
  workerId: string;

  @Field(() => DateTimeScalar)
  startedAt: Date;

  @Field(() => DateTimeScalar, { nullable: true })
  finishedAt: Date | null;

  @Field(() => AttemptOutcome, { nullable: true, description: 'Null while the attempt runs.' })
  outcome: DomainAttemptOutcome | null;

  @Field(() => String, { nullable: true })
  error: string | null;
}

@ObjectType({ simpleResolvers: true, description: 'One step of one run.' })
export class Task {
  @Field(() => ID)
  id: string;

  @Field(() => ID)
  runId: string;

  @Field()
  key: string;

  @Field()
  type: string;

  @Field(() => String, { nullable: true })
  queue: string | null;

  @Field(() => TaskStatus)
  status: DomainTaskStatus;

  @Field(() => Int, { description: 'Attempts started so far.' })
  attempt: number;

  @Field(() => JSONScalar, { nullable: true, description: 'The input with its templates resolved; null until the task is ready.' })
  input: Json;

  @Field(() => JSONScalar, { nullable: true })
  output: Json;

  @Field(() => String, { nullable: true, description: 'Why the last attempt failed.' })
  error: string | null;

  @Field(() => String, { nullable: true, description: 'Who holds or held the latest attempt.' })
  workerId: string | null;

  @Field(() => DateTimeScalar)
  createdAt: Date;

  @Field(() => DateTimeScalar, { nullable: true })
  queuedAt: Date | null;

  @Field(() => DateTimeScalar, { nullable: true })
  startedAt: Date | null;

  @Field(() => DateTimeScalar, { nullable: true })
  finishedAt: Date | null;
}

@ObjectType({ simpleResolvers: true, description: 'The right to execute one attempt of a task until leaseExpiresAt; renew it with renewLease.' })
export class TaskLease {
  @Field(() => ID)
  taskId: string;

  @Field({ description: 'The fencing token: present it with renewLease, completeTask, failTask and releaseTask.' })
  leaseToken: string;

  @Field(() => DateTimeScalar, { description: "By the conductor's clock." })
  leaseExpiresAt: Date;

  /** Set by claimTasks; renewLease loads it only when asked for. */
  taskRow?: TaskRecord;
}

@ObjectType({ simpleResolvers: true, description: 'A run or task status change. `seq` numbers the events of a run from 1 without gaps.' })
export class RunEvent {
  @Field(() => ID)
  runId: string;

  @Field(() => Int)
  seq: number;

  @Field(() => RunEventType)
  type: RunEventType;

  @Field({ description: 'The new status of the run (RUN_STATUS) or of the task (TASK_STATUS).' })
  status: string;

  @Field({ description: 'Name of the workflow the run belongs to.' })
  workflow: string;

  @Field(() => ID, { nullable: true })
  taskId: string | null;

  @Field(() => String, { nullable: true })
  taskKey: string | null;

  @Field(() => Int, { nullable: true })
  attempt: number | null;

  @Field(() => JSONScalar, { nullable: true, description: 'Details: the error of a failure, the retry delay, the worker.' })
  data: Json;

  @Field(() => DateTimeScalar)
  createdAt: Date;
}

/** The GraphQL Run: the row's fields; `workflow`, `tasks` and `events` come from field resolvers. */
@ObjectType({ simpleResolvers: true, description: 'One execution of one workflow version.' })
export class Run {
  @Field(() => ID)
  id: string;

  @Field(() => RunStatus)
  status: DomainRunStatus;

  @Field(() => JSONScalar, { nullable: true })
  input: Json;

  @Field(() => JSONScalar, { nullable: true, description: 'On success: the outputs of the steps nothing depends on, keyed by step key.' })
  output: Json;

  @Field(() => String, { nullable: true })
  error: string | null;

  @Field(() => String, { nullable: true })
  idempotencyKey: string | null;

  @Field(() => DateTimeScalar)
  createdAt: Date;

  @Field(() => DateTimeScalar, { nullable: true })
  startedAt: Date | null;

  @Field(() => DateTimeScalar, { nullable: true })
  finishedAt: Date | null;

  /** Not fields: what the field resolvers need. */
  workflowId: string;
  tenantId: string;
}

@ObjectType({ simpleResolvers: true })
export class RunConnection {
  @Field(() => [Run])
  nodes: Run[];

  @Field(() => PageInfo)
  pageInfo: PageInfo;

  @Field(() => Int, { description: 'Runs matching the filter, all pages.' })
  totalCount: number;
}

export function toRun(row: RunRecord): Run {
  return {
    id: row.id,
    status: row.status,
    input: row.input,
    output: row.output,
    error: row.error,
    idempotencyKey: row.idempotencyKey,
    createdAt: row.createdAt,
    startedAt: row.startedAt,
    finishedAt: row.finishedAt,
    workflowId: row.workflowId,
    tenantId: row.tenantId,
  };
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
    input: row.input,
    output: row.output,
    error: row.error,
    workerId: row.workerId,
    createdAt: row.createdAt,
    queuedAt: row.queuedAt,
    startedAt: row.startedAt,
    finishedAt: row.finishedAt,
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
