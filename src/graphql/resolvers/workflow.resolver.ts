import { Arg, Args, Ctx, Mutation, Query, Resolver } from 'type-graphql';
import { WORKFLOW_NAME_PATTERN } from '../../domain/dag';
import { ValidationError } from '../../domain/errors';
import type { Context } from '../context';
import { PageArgs, WorkflowArgs } from '../inputs/args';
import { WorkflowInput } from '../inputs/workflow.input';
import { toWorkflow, Workflow, WorkflowConnection } from '../types/workflow.type';
import { pageSize } from './pagination';

/** Workflows are listed by name; the cursor is the last name, tagged so other strings are refused. */
const CURSOR_PREFIX = 'workflow:';

@Resolver(() => Workflow)
export class WorkflowResolver {
  @Mutation(() => Workflow, {
    description: 'Registers a workflow. A changed definition becomes the next version; an identical one returns the existing version.',
  })
  async registerWorkflow(@Arg('input', () => WorkflowInput) input: WorkflowInput, @Ctx() ctx: Context): Promise<Workflow> {
    const row = await ctx.services.workflows.register(ctx.tenantId, {
      name: input.name,
      description: input.description ?? null,
      timeoutMs: input.timeoutMs ?? null,
      steps: input.steps.map((s) => ({
        key: s.key,
        type: s.type,
        queue: s.queue ?? null,
        dependsOn: s.dependsOn ?? [],
        input: s.input === undefined ? {} : s.input,
        retry: s.retry ? Object.fromEntries(Object.entries(s.retry).filter(([, v]) => v !== null && v !== undefined)) : null,
        timeoutMs: s.timeoutMs ?? null,
      })),
    });
    return toWorkflow(row);
  }

  @Query(() => Workflow, { nullable: true, description: 'A workflow by name: the latest version, or the given one.' })
  async workflow(@Args(() => WorkflowArgs) { name, version }: WorkflowArgs, @Ctx() ctx: Context): Promise<Workflow | null> {
    const row = await ctx.services.workflows.get(ctx.tenantId, name, version);
    return row ? toWorkflow(row) : null;
  }

  @Query(() => WorkflowConnection, { description: "The latest version of each of the tenant's workflows, by name." })
  async workflows(@Args(() => PageArgs) { first, after }: PageArgs, @Ctx() ctx: Context): Promise<WorkflowConnection> {
    const limit = pageSize(first);
    let afterName: string | null = null;
    if (after) {
      const decoded = Buffer.from(after, 'base64url').toString();
      if (!decoded.startsWith(CURSOR_PREFIX) || !WORKFLOW_NAME_PATTERN.test(decoded.slice(CURSOR_PREFIX.length))) {
        throw new ValidationError('"after" is not a cursor this API returned: pass pageInfo.endCursor of the previous page', { field: 'after' });
      }
      afterName = decoded.slice(CURSOR_PREFIX.length);
    }
    const { rows, totalCount } = await ctx.services.workflows.list(ctx.tenantId, limit + 1, afterName);
    const page = rows.slice(0, limit);
    const last = page.at(-1);
    return {
      nodes: page.map(toWorkflow),
      pageInfo: { endCursor: last ? Buffer.from(CURSOR_PREFIX + last.name).toString('base64url') : null, hasNextPage: rows.length > limit },
      totalCount,
    };
  }
}
