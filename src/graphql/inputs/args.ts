import { ArgsType, Field, ID, Int } from 'type-graphql';
import type { Json } from '../../domain/glossary';
import { JSONScalar } from '../scalars';
import { RunFilter } from './run-filter.input';
import { TaskCompletionInput } from './task-completion.input';

/** The Relay connection arguments, described once for every listing. */
const PAGE = {
  first: 'Page forwards: at most this many items, 1 to 100, from the start of the listing or after `after`. Not with `last`. Default 20.',
  after: "Page forwards from this cursor (exclusive): `pageInfo.endCursor` of the previous page, or an edge's `cursor`.",
  last: 'Page backwards: at most this many items, 1 to 100, from the end of the listing or before `before`. Not with `first`.',
  before:
    "Page backwards from this cursor (exclusive): `pageInfo.startCursor` of the next page, or an edge's `cursor`. " +
    'Without `first` or `last`, the 20 items just before it.',
};
const TASK_ID = 'The task, as claimTasks returned it (`TaskLease.taskId`).';
const LEASE_TOKEN = "The attempt's lease token as claimTasks gave it (`TaskLease.leaseToken`): a result is accepted only with the task's current one.";

/**
 * Arguments as classes: the schema lists them in this declaration order (parameter decorators
 * would list them last to first).
 */
@ArgsType()
export class PageArgs {
  @Field(() => Int, { nullable: true, description: PAGE.first })
  first: number | null;

  @Field(() => String, { nullable: true, description: PAGE.after })
  after: string | null;

  @Field(() => Int, { nullable: true, description: PAGE.last })
  last: number | null;

  @Field(() => String, { nullable: true, description: PAGE.before })
  before: string | null;
}

@ArgsType()
export class RunsArgs {
  @Field(() => RunFilter, { nullable: true, description: 'Only the runs matching every condition given. Default: all the runs of the tenant.' })
  filter: RunFilter | null;

  @Field(() => Int, { nullable: true, description: PAGE.first })
  first: number | null;

  @Field(() => String, { nullable: true, description: PAGE.after })
  after: string | null;

  @Field(() => Int, { nullable: true, description: PAGE.last })
  last: number | null;

  @Field(() => String, { nullable: true, description: PAGE.before })
  before: string | null;
}

@ArgsType()
export class WorkflowArgs {
  @Field(() => String, { description: 'The workflow name, as registered (case-sensitive).' })
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

  @Field(() => JSONScalar, { nullable: true, description: 'The run input; templates read it as `input.…`. Default `{}`.' })
  input: Json | undefined;

  @Field(() => String, {
    nullable: true,
    description:
      'The same key for the same tenant returns the same run, also under concurrent calls. 1 to 256 characters. Default: none (every call starts a run).',
  })
  idempotencyKey: string | null;

  @Field(() => [String], {
    nullable: true,
    description:
      'Labels to find the run by (`runs(filter: { tags })`, `cancelRuns`): at most 32 (RUN_TAGS_MAX), each 1 to 128 letters, digits, "_", "-", ".", ":", "/", "=", "@" or "+". ' +
      'Order and repeats do not matter. Part of the idempotent request. Default: none.',
  })
  tags: string[] | null;

  @Field(() => JSONScalar, {
    nullable: true,
    description:
      'A JSON object to find the run by (`runs(filter: { metadata })` matches its top-level keys), at most 16 KiB (RUN_METADATA_MAX_BYTES). ' +
      'Part of the idempotent request. Default `{}`.',
  })
  metadata: Json | undefined;

  @Field(() => Int, {
    nullable: true,
    description:
      "Claim order of its tasks: 1 (low) to 3 (high); higher goes first within a queue and within a tenant's turn of the built-in dispatcher, " +
      "and a waiting task counts one level higher per PRIORITY_AGING_MS (default 60000) so the lowest is never starved. A step's `priority` overrides it. " +
      'BAD_USER_INPUT (reason INVALID_PRIORITY) out of range. Not part of the idempotent request. Default 2.',
  })
  priority: number | null;
}

@ArgsType()
export class CancelRunsArgs {
  @Field(() => RunFilter, {
    description: 'Which runs: those of the tenant matching every condition given, and not finished. At least one condition, or `all: true`.',
  })
  filter: RunFilter;

  @Field(() => String, { nullable: true, description: 'Kept as each run\'s `error`, 1 to 1024 characters. Default: "Cancelled by request".' })
  reason: string | null;

  @Field(() => Boolean, {
    nullable: true,
    description:
      'true: an empty filter cancels every unfinished run of the tenant (still CANCEL_RUNS_MAX per call). Default false: an empty filter is BAD_USER_INPUT.',
  })
  all: boolean | null;
}

@ArgsType()
export class ClaimTasksArgs {
  @Field(() => String, { description: 'The queue to claim from (a step\'s `queue`): 1 to 128 letters, digits, "_", ".", ":" or "-".' })
  queue: string;

  @Field(() => String, { description: 'Who claims: recorded in the attempt history. 1 to 256 characters.' })
  workerId: string;

  @Field(() => Int, { nullable: true, description: 'Tasks to claim at most, 1 to 100. Default 1.' })
  max: number | null;

  @Field(() => Int, {
    nullable: true,
    description: 'Lease length in milliseconds, 1000 to 3600000. Default: the server lease TTL (LEASE_TTL_MS, 30000 unless configured).',
  })
  leaseMs: number | null;

  @Field(() => Int, { nullable: true, description: 'Long poll: wait up to this many milliseconds (0 to 60000) for a task when none is ready. Default 0.' })
  waitMs: number | null;
}

@ArgsType()
export class LeaseArgs {
  @Field(() => ID, { description: TASK_ID })
  taskId: string;

  @Field(() => String, { description: LEASE_TOKEN })
  leaseToken: string;
}

@ArgsType()
export class RenewLeaseArgs extends LeaseArgs {
  @Field(() => Int, { nullable: true, description: 'New lease length from now, in milliseconds, 1000 to 3600000. Default: the server lease TTL.' })
  leaseMs: number | null;
}

@ArgsType()
export class CompleteTaskArgs extends LeaseArgs {
  @Field(() => JSONScalar, {
    nullable: true,
    description: "The step's output, any JSON (NUL characters and unpaired surrogates cannot be stored: BAD_USER_INPUT). Default null.",
  })
  output: Json | undefined;
}

@ArgsType()
export class CompleteTasksArgs {
  @Field(() => [TaskCompletionInput], { description: 'One to 100 results, of any tasks and runs.' })
  results: TaskCompletionInput[];
}

@ArgsType()
export class FailTaskArgs extends LeaseArgs {
  @Field(() => String, { description: 'What went wrong, for people (kept in the attempt history). Not empty; past 8192 characters it is cut.' })
  error: string;

  @Field(() => Boolean, { nullable: true, description: 'false fails the task at once, whatever its retry policy. Default true.' })
  retryable: boolean | null;
}

@ArgsType()
export class RunUpdatedArgs {
  @Field(() => ID, { description: 'The run to watch (NOT_FOUND when the tenant has no such run).' })
  id: string;

  @Field(() => Int, { nullable: true, description: 'Replay the stored events after this seq first (0 or more). Default 0: all.' })
  afterSeq: number | null;
}
