import type { GraphQLResolveInfo } from 'graphql';
import { Arg, Args, Ctx, FieldResolver, ID, Info, Int, Mutation, Query, Resolver, Root } from 'type-graphql';
import { ValidationError } from '../../domain/errors';
import type { Json } from '../../domain/glossary';
import { JSONScalar } from '../scalars';
import { RUN_CHILDREN_PAGE, RUN_EVENTS_PAGE, type Context } from '../context';
import { CancelRunsArgs, RunsArgs, StartRunArgs } from '../inputs/args';
import type { RunFilter } from '../inputs/run-filter.input';
import type { RunFilterInput } from '../../services/runs.service';
import { selectsField } from '../selection';
import { toConnection } from '../types/common.type';
import { Run, RunConnection, RunEvent, Task, toRun, toRunEvent, toTask } from '../types/run.type';
import { WaitReason } from '../types/wait-reason.type';
import { toWorkflow, Workflow } from '../types/workflow.type';
import { waitReasonsOf } from './wait-reasons';

const RUN_ID = 'The run id.';

@Resolver(() => Run)
export class RunResolver {
  @Mutation(() => Run, {
    description:
      'Starts a run of the latest (or the given) version. The same idempotencyKey with the same workflow, version, input, tags and metadata returns the same run; ' +
      'with another of them it is CONFLICT (extensions.reason IDEMPOTENCY_KEY_REUSED, runId, differs). ' +
      "NOT_FOUND when the tenant has no such workflow or version; BAD_USER_INPUT when the input lacks a path the first steps' templates read, " +
      "when it does not fit the workflow's inputSchema (reason INPUT_SCHEMA_VIOLATION, `extensions.errors`: [{ path, rule, message }]), " +
      'for an invalid tag (reason INVALID_TAG) or metadata that is not a JSON object (INVALID_METADATA), ' +
      'or for an idempotencyKey that is empty, longer than 256 characters or not well-formed Unicode; CONFLICT when new versions keep being registered meanwhile (start again); ' +
      'LIMIT_EXCEEDED (`extensions.limit`) for an input over MAX_INPUT_BYTES or deeper than MAX_JSON_DEPTH, or templates that would expand past ' +
      'MAX_TEMPLATE_STRING_BYTES or MAX_TEMPLATE_TASK_BYTES (`extensions.step`), more than RUN_TAGS_MAX tags, a tag longer than RUN_TAG_MAX_LENGTH, ' +
      'or metadata over RUN_METADATA_MAX_BYTES.',
  })
  async startRun(
    @Args(() => StartRunArgs) { workflow, version, input, idempotencyKey, tags, metadata, priority }: StartRunArgs,
    @Ctx() ctx: Context,
  ): Promise<Run> {
    const row = await ctx.services.runs.start(ctx.tenantId, { workflow, version, input: input ?? {}, idempotencyKey, tags, metadata, priority });
    return toRun(row);
  }

  @Mutation(() => Run, {
    description:
      'Cancels a PENDING, RUNNING or PAUSED run: unfinished tasks become CANCELLED and their workers get RUN_CANCELLED; its unfinished child runs (and theirs) are cancelled too. ' +
      'A finished run is returned unchanged. NOT_FOUND when the tenant has no such run.',
  })
  async cancelRun(@Arg('id', () => ID, { description: RUN_ID }) id: string, @Ctx() ctx: Context): Promise<Run> {
    return toRun(await ctx.services.runs.cancel(ctx.tenantId, id));
  }

  @Mutation(() => Int, {
    description:
      "Cancels the tenant's unfinished runs matching `filter` (as `runs` filters them), each as cancelRun does, and answers how many it cancelled: " +
      'at most CANCEL_RUNS_MAX (default 1000) per call, so repeat the call until it answers 0. Runs of other tenants are never touched. ' +
      'BAD_USER_INPUT (reason EMPTY_FILTER) for a filter without any condition unless `all: true`, and for the filter errors `runs` refuses.',
  })
  async cancelRuns(@Args(() => CancelRunsArgs) { filter, reason, all }: CancelRunsArgs, @Ctx() ctx: Context): Promise<number> {
    return ctx.services.runs.cancelMany(ctx.tenantId, filterOf(filter), { reason, all });
  }

  @Mutation(() => Run, {
    description:
      'Re-runs a FAILED or CANCELLED run from its failed and cancelled steps, each with a fresh retry budget; succeeded steps keep their outputs. ' +
      'CONFLICT for a run in any other status, and for a child run (extensions.reason CHILD_RUN: retry its parent, which starts a new child); NOT_FOUND when the tenant has no such run.',
  })
  async retryRun(@Arg('id', () => ID, { description: RUN_ID }) id: string, @Ctx() ctx: Context): Promise<Run> {
    return toRun(await ctx.services.runs.retry(ctx.tenantId, id));
  }

  @Mutation(() => Run, {
    description:
      'Sends the signal `name` to a run: the `signal` step waiting for it completes with `payload` as its output; sent before any step waits, ' +
      'it is kept and taken, oldest first per name, when a signal step of that name is reached. CONFLICT (`extensions.status`) for a finished run; ' +
      "BAD_USER_INPUT for a name none of the workflow's signal steps waits for (`extensions.knownNames`); LIMIT_EXCEEDED for a payload over " +
      'MAX_INPUT_BYTES or deeper than MAX_JSON_DEPTH, or when the run already holds MAX_PENDING_SIGNALS_PER_RUN (100) unconsumed signals; ' +
      'NOT_FOUND when the tenant has no such run.',
  })
  async signalRun(
    @Arg('id', () => ID, { description: RUN_ID }) id: string,
    @Arg('name', () => String, { description: 'The signal name, as a signal step\'s input "name" says.' }) name: string,
    @Arg('payload', () => JSONScalar, { nullable: true, description: 'Any JSON; the output of the step that takes the signal. Default null.' })
    payload: Json | undefined,
    @Ctx() ctx: Context,
  ): Promise<Run> {
    return toRun(await ctx.services.runs.signal(ctx.tenantId, id, name, payload ?? null));
  }

  @Mutation(() => Run, {
    description:
      'Pauses a PENDING or RUNNING run: PAUSED, nothing new starts (no claims, no timers fire), running attempts finish and their results are kept; ' +
      "the run's own timeout keeps counting. Pausing a PAUSED run returns it unchanged. CONFLICT for a finished run; NOT_FOUND when the tenant has no such run.",
  })
  async pauseRun(@Arg('id', () => ID, { description: RUN_ID }) id: string, @Ctx() ctx: Context): Promise<Run> {
    return toRun(await ctx.services.runs.pause(ctx.tenantId, id));
  }

  @Mutation(() => Run, {
    description:
      'Resumes a PAUSED run where it stopped: steps whose dependencies finished meanwhile start, timers that fell due fire. ' +
      'A PENDING or RUNNING run is returned unchanged. CONFLICT for a finished run; NOT_FOUND when the tenant has no such run.',
  })
  async resumeRun(@Arg('id', () => ID, { description: RUN_ID }) id: string, @Ctx() ctx: Context): Promise<Run> {
    return toRun(await ctx.services.runs.resume(ctx.tenantId, id));
  }

  @Query(() => Run, { nullable: true, description: "A run of the tenant by id; null when there is none (another tenant's run is none too)." })
  async run(@Arg('id', () => ID, { description: RUN_ID }) id: string, @Ctx() ctx: Context): Promise<Run | null> {
    const row = await ctx.loaders.runById.load(id);
    return row ? toRun(row) : null;
  }

  @Query(() => RunConnection, {
    description:
      "The tenant's runs, newest first (by createdAt, then id), as a Relay cursor connection: page forwards with `first` and `after`, " +
      'backwards with `last` and `before`. BAD_USER_INPUT for `first` with `last`, a size outside 1 to 100, a cursor this API did not return, ' +
      'an invalid tag or a metadata filter that is not a JSON object; LIMIT_EXCEEDED for more than 32 tags or metadata over 16 KiB.',
  })
  async runs(@Args(() => RunsArgs) { filter, ...page }: RunsArgs, @Ctx() ctx: Context, @Info() info: GraphQLResolveInfo): Promise<RunConnection> {
    // No totalCount asked: no count of every matching run (pageInfo does without, past no cursor).
    const result = await ctx.services.runs.list(ctx.tenantId, filter ? filterOf(filter) : {}, page, { total: selectsField(info, 'totalCount') });
    for (const row of result.rows) ctx.loaders.runById.prime(row.id, row);
    return toConnection(result, toRun);
  }

  @FieldResolver(() => Workflow, { description: 'The workflow version this run executes.' })
  async workflow(@Root() run: Run, @Ctx() ctx: Context): Promise<Workflow> {
    const row = await ctx.loaders.workflowById.load(run.workflowId);
    if (!row) throw new Error(`workflow ${run.workflowId} of run ${run.id} is missing`);
    return toWorkflow(row);
  }

  @FieldResolver(() => Run, { nullable: true, description: 'A child run: the run whose `workflow` step started it; null for a run started by startRun.' })
  async parent(@Root() run: Run, @Ctx() ctx: Context): Promise<Run | null> {
    if (!run.parentRunId) return null;
    const row = await ctx.loaders.runById.load(run.parentRunId);
    return row ? toRun(row) : null;
  }

  @FieldResolver(() => Task, {
    nullable: true,
    description: "A child run: the parent's `workflow` step (its task) that waits for it; null for a run started by startRun.",
  })
  async parentTask(@Root() run: Run, @Ctx() ctx: Context): Promise<Task | null> {
    if (!run.parentTaskId) return null;
    const row = await ctx.loaders.taskById.load(run.parentTaskId);
    return row ? toTask(row) : null;
  }

  @FieldResolver(() => [Run], {
    description: `The child runs its \`workflow\` steps started (retries included), oldest first, at most ${RUN_CHILDREN_PAGE}. Cancelling this run cancels the unfinished ones.`,
  })
  async children(@Root() run: Run, @Ctx() ctx: Context): Promise<Run[]> {
    return (await ctx.loaders.childrenByRun.load(run.id)).map(toRun);
  }

  @FieldResolver(() => [Task], { description: 'The tasks in step declaration order.' })
  async tasks(@Root() run: Run, @Ctx() ctx: Context): Promise<Task[]> {
    return (await ctx.loaders.tasksByRun.load(run.id)).map(toTask);
  }

  @FieldResolver(() => [WaitReason], {
    description: 'What each of its unfinished tasks waits for (Task.waitingFor), in step declaration order; empty once the run has finished.',
  })
  async waitingFor(@Root() run: Run, @Ctx() ctx: Context): Promise<WaitReason[]> {
    return waitReasonsOf(ctx, run.id, await ctx.loaders.tasksByRun.load(run.id));
  }

  @FieldResolver(() => [RunEvent], { description: `Stored events after \`afterSeq\` (default 0: all), oldest first, at most ${RUN_EVENTS_PAGE}.` })
  async events(
    @Root() run: Run,
    @Arg('afterSeq', () => Int, { nullable: true, description: 'Only the events after this seq (0 or more; BAD_USER_INPUT otherwise). Default 0: all.' })
    afterSeq: number | null,
    @Ctx() ctx: Context,
  ): Promise<RunEvent[]> {
    if (afterSeq != null && afterSeq < 0) throw new ValidationError('"afterSeq" must be 0 or more', { field: 'afterSeq' });
    return (await ctx.loaders.eventsByRun.load({ runId: run.id, afterSeq: afterSeq ?? 0 })).map(toRunEvent);
  }
}

function filterOf(f: RunFilter): RunFilterInput {
  return {
    workflow: f.workflow,
    statuses: f.status,
    createdAfter: f.createdAfter,
    createdBefore: f.createdBefore,
    finishedAfter: f.finishedAfter,
    finishedBefore: f.finishedBefore,
    tags: f.tags,
    metadata: f.metadata,
  };
}
