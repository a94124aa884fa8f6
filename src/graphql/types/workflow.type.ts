import type { WorkflowRecord } from '../../domain/model';
import { Field, Float, ID, Int, ObjectType } from 'type-graphql';
import type { Json, RetryPolicy as DomainRetryPolicy, StepDefinition } from '../../domain/glossary';
import { DateTimeScalar, JSONScalar } from '../scalars';
import { PageInfo } from './common.type';

@ObjectType({
  simpleResolvers: true,
  description: 'How a failed attempt is retried: delay = min(maxDelayMs, initialDelayMs × backoffFactor^(attempt−1)), ±20% jitter.',
})
export class RetryPolicy {
  @Field(() => Int, { description: 'Attempts in all, the first included.' })
  maxAttempts: number;

  @Field(() => Int)
  initialDelayMs: number;

  @Field(() => Float)
  backoffFactor: number;

  @Field(() => Int)
  maxDelayMs: number;
}

@ObjectType({ simpleResolvers: true, description: 'One node of a workflow DAG.' })
export class Step {
  @Field({ description: 'Unique in the workflow; templates refer to it as `steps.<key>.output`.' })
  key: string;

  @Field({ description: 'A built-in type (noop, sleep, http) or, with a queue, a label for remote workers.' })
  type: string;

  @Field(() => String, { nullable: true, description: 'Remote workers claim this step from this queue.' })
  queue: string | null;

  @Field(() => [String])
  dependsOn: string[];

  @Field(() => JSONScalar, {
    nullable: true,
    description: 'Input template; `{{ input.x }}` and `{{ steps.k.output.y }}` are resolved when the task becomes ready.',
  })
  input: Json;

  @Field(() => RetryPolicy)
  retry: DomainRetryPolicy;

  @Field(() => Int, { nullable: true, description: 'Bound of one attempt, start to finish.' })
  timeoutMs: number | null;
}

@ObjectType({ simpleResolvers: true, description: 'One version of a registered workflow.' })
export class Workflow {
  @Field(() => ID)
  id: string;

  @Field()
  name: string;

  @Field(() => Int)
  version: number;

  @Field(() => String, { nullable: true })
  description: string | null;

  @Field(() => Int, { nullable: true, description: 'Bound of a whole run, start to finish.' })
  timeoutMs: number | null;

  @Field(() => [Step])
  steps: StepDefinition[];

  @Field(() => DateTimeScalar)
  createdAt: Date;
}

@ObjectType({ simpleResolvers: true })
export class WorkflowConnection {
  @Field(() => [Workflow])
  nodes: Workflow[];

  @Field(() => PageInfo)
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
    timeoutMs: row.definition.timeoutMs ?? null,
    steps: row.definition.steps,
    createdAt: row.createdAt,
  };
}
