import { ArgsType, Field, ID, Int } from 'type-graphql';
import type { Json } from '../../domain/glossary';
import { JSONScalar } from '../scalars';
import { RunFilter } from './run-filter.input';
import { TaskCompletionInput } from './task-completion.input';

/**
 * Arguments as classes: the schema lists them in this declaration order (parameter decorators
 * would list them last to first).
 */
@ArgsType()
export class PageArgs {
  @Field(() => Int, { nullable: true, description: 'Page size, 1 to 100. Default 20.' })
  first: number | null;

  @Field(() => String, { nullable: true, description: 'pageInfo.endCursor of the previous page.' })
  after: string | null;
}

@ArgsType()
export class RunsArgs {
  @Field(() => RunFilter, { nullable: true })
  filter: RunFilter | null;

  @Field(() => Int, { nullable: true, description: 'Page size, 1 to 100. Default 20.' })
  first: number | null;

  @Field(() => String, { nullable: true, description: 'pageInfo.endCursor of the previous page.' })
  after: string | null;
}

@ArgsType()
export class WorkflowArgs {
  @Field(() => String)
  name: string;

  @Field(() => Int, { nullable: true, description: 'Default: the latest version.' })
  version: number | null;
}

@ArgsType()
export class StartRunArgs {
  @Field(() => String, { description: 'The workflow name.' })
  workflow: string;

  @Field(() => Int, { nullable: true, description: 'Default: the latest version.' })
  version: number | null;

  @Field(() => JSONScalar, { nullable: true, description: 'The run input; templates read it as `input.…`.' })
  input: Json | undefined;

  @Field(() => String, { nullable: true, description: 'The same key for the same tenant returns the same run.' })
  idempotencyKey: string | null;
}

@ArgsType()
export class ClaimTasksArgs {
  @Field(() => String)
  queue: string;

  @Field(() => String, { description: 'Who claims: recorded in the attempt history.' })
  workerId: string;

  @Field(() => Int, { nullable: true, description: 'Tasks to claim at most, 1 to 100. Default 1.' })
  max: number | null;

  @Field(() => Int, { nullable: true, description: 'Lease length, 1000 to 3600000. Default: the server lease TTL.' })
  leaseMs: number | null;

  @Field(() => Int, { nullable: true, description: 'Long poll: wait up to this long (at most 60000) for a task. Default 0.' })
  waitMs: number | null;
}

@ArgsType()
export class LeaseArgs {
  @Field(() => ID)
  taskId: string;

  @Field(() => String)
  leaseToken: string;
}

@ArgsType()
export class RenewLeaseArgs extends LeaseArgs {
  @Field(() => Int, { nullable: true, description: 'New lease length from now. Default: the server lease TTL.' })
  leaseMs: number | null;
}

@ArgsType()
export class CompleteTaskArgs extends LeaseArgs {
  @Field(() => JSONScalar, { nullable: true })
  output: Json | undefined;
}

@ArgsType()
export class CompleteTasksArgs {
  @Field(() => [TaskCompletionInput], { description: 'One to 100 results, of any tasks and runs.' })
  results: TaskCompletionInput[];
}

@ArgsType()
export class FailTaskArgs extends LeaseArgs {
  @Field(() => String, { description: 'What went wrong (kept in the history; at most 8192 characters).' })
  error: string;

  @Field(() => Boolean, { nullable: true, description: 'false fails the task at once, whatever its retry policy. Default true.' })
  retryable: boolean | null;
}

@ArgsType()
export class RunUpdatedArgs {
  @Field(() => ID)
  id: string;

  @Field(() => Int, { nullable: true, description: 'Replay the stored events after this seq first. Default 0: all.' })
  afterSeq: number | null;
}
