import type { WorkflowRecord } from '../../domain/model';
import { Field, Float, ID, Int, ObjectType } from 'type-graphql';
import { maxFaultsOf, type Json, type RetryPolicy as DomainRetryPolicy, type StepDefinition } from '../../domain/glossary';
import { Concurrency, ConcurrencyStrategy } from './concurrency.type';
import { DateTimeScalar, JSONScalar } from '../scalars';
import { PageInfo } from './common.type';

@ObjectType({
  simpleResolvers: true,
  description:
    "How a task is tried again. The step's own failures (failTask, a step timeout) count against maxAttempts and wait " +
    'min(maxDelayMs, initialDelayMs × backoffFactor^(n−1)) ±20% jitter; faults of the system (an expired lease: a worker or replica died or froze) ' +
    'count against maxFaults instead and queue the task again at once.',
})
export class RetryPolicy {
  @Field(() => Int, { description: "Attempts that may end in the step's own failure, the first included." })
  maxAttempts: number;

  @Field(() => Int, { description: 'Delay before the second attempt, in milliseconds.' })
  initialDelayMs: number;

  @Field(() => Float, { description: 'Multiplier of the delay for each further attempt (1 keeps it constant).' })
  backoffFactor: number;

  @Field(() => Int, { description: 'Bound of every delay, jitter included, in milliseconds.' })
  maxDelayMs: number;

  @Field(() => Int, { description: 'Faults of the system (expired leases) a task survives; the next one fails it.' })
  maxFaults: number;
}

@ObjectType({ simpleResolvers: true, description: "A step's rate limit: at most `limit` tasks per `periodMs` per key." })
export class StepRateLimit {
  @Field({ description: 'A CEL expression yielding the key, or a plain name taken literally.' })
  key: string;

  @Field(() => Int, { description: 'Tasks that may start per period.' })
  limit: number;

  @Field(() => Int, { description: 'The period, in milliseconds.' })
  periodMs: number;
}

@ObjectType({ simpleResolvers: true, description: 'One node of a workflow DAG.' })
export class Step {
  @Field({ description: 'Unique in the workflow; templates refer to it as `steps.<key>.output`.' })
  key: string;

  @Field({ description: 'A built-in type (noop, sleep, http, workflow) or, with a queue, a label for remote workers.' })
  type: string;

  @Field(() => String, { nullable: true, description: 'Remote workers claim this step from this queue.' })
  queue: string | null;

  @Field(() => [String], {
    description: 'Keys of the steps that must be done (SUCCEEDED or SKIPPED) before this one starts, sorted; empty: it starts with the run.',
  })
  dependsOn: string[];

  @Field(() => JSONScalar, {
    nullable: true,
    description: 'Input template; `{{ input.x }}` and `{{ steps.k.output.y }}` are resolved when the task becomes ready.',
  })
  input: Json;

  @Field(() => RetryPolicy, { description: 'How failed attempts of this step are retried, defaults filled in.' })
  retry: DomainRetryPolicy;

  @Field(() => Int, { nullable: true, description: 'Bound of one attempt, start to finish, in milliseconds; null: no bound.' })
  timeoutMs: number | null;

  @Field(() => String, { nullable: true, description: 'The CEL condition of the step (false: the task is SKIPPED); null: none, it always runs.' })
  when?: string | null;
  @Field(() => String, { nullable: true, description: 'The list the step fans out over (one task per item); null: one task.' })
  forEach?: string;

  @Field(() => Int, { nullable: true, description: 'With forEach: item tasks QUEUED or RUNNING at once; null: all of them.' })
  maxConcurrency?: number;

  @Field(() => Concurrency, { nullable: true, description: "Tasks of this step RUNNING at once per key, across the workflow's runs; null: no bound." })
  concurrency?: Concurrency | null;

  @Field(() => Boolean, { description: 'With forEach: a failed item yields null instead of failing the step.' })
  continueOnItemFailure?: boolean;

  @Field(() => StepRateLimit, { nullable: true, description: "How often the step's tasks may start, per key; null: no limit." })
  rateLimit?: StepRateLimit;

  @Field(() => Int, { nullable: true, description: "The step's own priority (1 to 3); null: its tasks take their run's." })
  priority?: number;
}

@ObjectType({ simpleResolvers: true, description: 'An event that starts a run of the workflow.' })
export class Trigger {
  @Field({ description: 'The event name.' })
  event: string;

  @Field(() => String, { nullable: true, description: 'The CEL condition over `payload`; null: every event of the name.' })
  filter: string | null;
}

@ObjectType({ simpleResolvers: true, description: 'One version of a registered workflow.' })
export class Workflow {
  @Field(() => ID, { description: 'The id of this version (a UUID).' })
  id: string;

  @Field({ description: 'The name, unique in the tenant; every version shares it.' })
  name: string;

  @Field(() => Int, { description: '1 for the first registration, one more for each changed definition.' })
  version: number;

  @Field(() => String, { nullable: true, description: 'Free text from the registration; null when none.' })
  description: string | null;

  @Field(() => JSONScalar, { nullable: true, description: 'The JSON Schema (draft 2020-12) run inputs must fit; null: any input.' })
  inputSchema: Json | null;

  @Field(() => Int, { nullable: true, description: 'Bound of a whole run, start to finish, in milliseconds; null: no bound.' })
  timeoutMs: number | null;

  @Field(() => Concurrency, { nullable: true, description: 'Runs in flight per concurrency key; null: no bound.' })
  concurrency: Concurrency | null;

  @Field(() => [Step], { description: 'The steps in declaration order, defaults filled in.' })
  steps: StepDefinition[];

  @Field(() => DateTimeScalar, { description: 'When this version was registered.' })
  createdAt: Date;

  @Field(() => [Trigger], { description: 'The events that start a run of this version (when it is the latest); empty: none.' })
  on: Trigger[];
}

@ObjectType({ simpleResolvers: true, description: 'A workflow and its cursor in the workflows listing.' })
export class WorkflowEdge {
  @Field({ description: "This workflow's position in the listing: pass it as `after` or `before`." })
  cursor: string;

  @Field(() => Workflow, { description: 'The latest version of the workflow.' })
  node: Workflow;
}

@ObjectType({
  simpleResolvers: true,
  description:
    'A page of workflows, by name (a Relay cursor connection). `nodes` and `edges` hold the same workflows in the same order; `edges` adds their cursors.',
})
export class WorkflowConnection {
  @Field(() => [Workflow], { description: 'The latest version of each workflow of this page, by name.' })
  nodes: Workflow[];

  @Field(() => [WorkflowEdge], { description: 'The workflows of this page with their cursors, in the order of `nodes`.' })
  edges: WorkflowEdge[];

  @Field(() => PageInfo, { description: 'Cursors of this page, and whether workflows precede or follow it.' })
  pageInfo: PageInfo;

  @Field(() => Int, { description: 'Workflows (names) of the tenant.' })
  totalCount: number;
}

export function toWorkflow(row: WorkflowRecord): Workflow {
  return {
    id: row.id,
    name: row.name,
    version: row.version,
    description: row.description,
    inputSchema: row.definition.inputSchema ?? null,
    timeoutMs: row.definition.timeoutMs ?? null,
    concurrency: row.definition.concurrency
      ? {
          key: row.definition.concurrency.key ?? null,
          max: row.definition.concurrency.max,
          strategy: row.definition.concurrency.strategy as ConcurrencyStrategy,
        }
      : null,
    // Definitions stored before `maxFaults` existed read with its default, as the engine applies it.
    steps: row.definition.steps.map((s) => ({
      ...s,
      retry: { ...s.retry, maxFaults: maxFaultsOf(s.retry) },
      continueOnItemFailure: s.continueOnItemFailure ?? false,
    })),
    createdAt: row.createdAt,
    on: (row.definition.on ?? []).map((t) => ({ event: t.event, filter: t.filter ?? null })),
  };
}
