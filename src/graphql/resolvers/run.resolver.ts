import { Arg, Args, Ctx, FieldResolver, ID, Int, Mutation, Query, Resolver, Root } from 'type-graphql';
import { ValidationError } from '../../domain/errors';
import { encodeRunCursor } from '../../services/runs.service';
import type { Context } from '../context';
import { RunsArgs, StartRunArgs } from '../inputs/args';
import { Run, RunConnection, RunEvent, Task, toRun, toRunEvent, toTask } from '../types/run.type';
import { toWorkflow, Workflow } from '../types/workflow.type';
import { pageSize } from './pagination';

@Resolver(() => Run)
export class RunResolver {
  @Mutation(() => Run, {
    description: 'Starts a run of the latest (or the given) version. The same idempotencyKey returns the same run.',
  })
  async startRun(@Args(() => StartRunArgs) { workflow, version, input, idempotencyKey }: StartRunArgs, @Ctx() ctx: Context): Promise<Run> {
    const row = await ctx.services.runs.start(ctx.tenantId, { workflow, version, input: input ?? {}, idempotencyKey });
    return toRun(row);
  }

  @Mutation(() => Run, { description: 'Cancels a pending or running run; unfinished tasks become CANCELLED.' })
  async cancelRun(@Arg('id', () => ID) id: string, @Ctx() ctx: Context): Promise<Run> {
    return toRun(await ctx.services.runs.cancel(ctx.tenantId, id));
  }

  @Mutation(() => Run, {
    description: 'Re-runs a FAILED or CANCELLED run from its failed and cancelled steps; succeeded steps keep their outputs. CONFLICT otherwise.',
  })
  async retryRun(@Arg('id', () => ID) id: string, @Ctx() ctx: Context): Promise<Run> {
    return toRun(await ctx.services.runs.retry(ctx.tenantId, id));
  }

  @Query(() => Run, { nullable: true })
  async run(@Arg('id', () => ID) id: string, @Ctx() ctx: Context): Promise<Run | null> {
    const row = await ctx.loaders.runById.load(id);
    return row ? toRun(row) : null;
  }

  @Query(() => RunConnection, { description: 'Runs newest first.' })
  async runs(@Args(() => RunsArgs) { filter, first, after }: RunsArgs, @Ctx() ctx: Context): Promise<RunConnection> {
    const limit = pageSize(first);
    const { rows, totalCount, hasNextPage } = await ctx.services.runs.list(
      ctx.tenantId,
      { workflow: filter?.workflow, statuses: filter?.status, createdAfter: filter?.createdAfter, createdBefore: filter?.createdBefore },
      limit,
      after,
    );
    for (const row of rows) ctx.loaders.runById.prime(row.id, row);
    const last = rows.at(-1);
    return { nodes: rows.map(toRun), pageInfo: { endCursor: last ? encodeRunCursor(last) : null, hasNextPage }, totalCount };
  }

  @FieldResolver(() => Workflow, { description: 'The workflow version this run executes.' })
  async workflow(@Root() run: Run, @Ctx() ctx: Context): Promise<Workflow> {
    const row = await ctx.loaders.workflowById.load(run.workflowId);
    if (!row) throw new Error(`workflow ${run.workflowId} of run ${run.id} is missing`);
    return toWorkflow(row);
  }

  @FieldResolver(() => [Task], { description: 'The tasks in step declaration order.' })
  async tasks(@Root() run: Run, @Ctx() ctx: Context): Promise<Task[]> {
    return (await ctx.loaders.tasksByRun.load(run.id)).map(toTask);
  }

  @FieldResolver(() => [RunEvent], { description: 'Stored events after `afterSeq` (default 0: all), oldest first, at most 1000.' })
  async events(@Root() run: Run, @Arg('afterSeq', () => Int, { nullable: true }) afterSeq: number | null, @Ctx() ctx: Context): Promise<RunEvent[]> {
    if (afterSeq != null && afterSeq < 0) throw new ValidationError('"afterSeq" must be 0 or more', { field: 'afterSeq' });
    return (await ctx.services.runs.events(ctx.tenantId, run.id, afterSeq ?? 0, 1000)).map(toRunEvent);
  }
}
