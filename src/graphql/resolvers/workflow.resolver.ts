import { Arg, Args, Ctx, Mutation, Query, Resolver } from 'type-graphql';
import type { Context } from '../context';
import { PageArgs, WorkflowArgs } from '../inputs/args';
import { WorkflowInput } from '../inputs/workflow.input';
import { toConnection } from '../types/common.type';
import { toWorkflow, Workflow, WorkflowConnection } from '../types/workflow.type';

@Resolver(() => Workflow)
export class WorkflowResolver {
  @Mutation(() => Workflow, {
    description:
      'Registers a workflow. A changed definition becomes the next version; an identical one returns the existing version. ' +
      'An invalid definition is BAD_USER_INPUT with `extensions.reason`: EMPTY_WORKFLOW, INVALID_NAME, INVALID_KEY, ' +
      'DUPLICATE_KEY, SELF_DEPENDENCY, UNKNOWN_DEPENDENCY, UNKNOWN_BUILT_IN_TYPE, INVALID_TYPE, INVALID_QUEUE, INVALID_RETRY, ' +
      'INVALID_TIMEOUT, INVALID_TEMPLATE, INVALID_SIGNAL_INPUT, INVALID_STEP_INPUT, CYCLE, TEMPLATE_REFERENCES_NON_DEPENDENCY, INVALID_FOR_EACH, INVALID_INPUT_SCHEMA, INVALID_TRIGGER, INVALID_TRIGGER_FILTER or TOO_MANY_TRIGGERS, and a message saying what to fix. ' +
      'LIMIT_EXCEEDED (`extensions.limit`, `max`, `actual`) for more steps than MAX_STEPS_PER_WORKFLOW (reason TOO_MANY_STEPS), a definition over ' +
      'MAX_DEFINITION_BYTES, a step input over MAX_INPUT_BYTES, an inputSchema over INPUT_SCHEMA_MAX_BYTES or JSON deeper than MAX_JSON_DEPTH.',
  })
  async registerWorkflow(@Arg('input', () => WorkflowInput, { description: 'The definition.' }) input: WorkflowInput, @Ctx() ctx: Context): Promise<Workflow> {
    const row = await ctx.services.workflows.register(ctx.tenantId, {
      name: input.name,
      description: input.description ?? null,
      inputSchema: input.inputSchema ?? null,
      timeoutMs: input.timeoutMs ?? null,
      concurrency: input.concurrency ?? null,
      steps: input.steps.map((s) => ({
        key: s.key,
        type: s.type,
        queue: s.queue ?? null,
        dependsOn: s.dependsOn ?? [],
        input: s.input === undefined ? {} : s.input,
        retry: s.retry ? Object.fromEntries(Object.entries(s.retry).filter(([, v]) => v !== null && v !== undefined)) : null,
        timeoutMs: s.timeoutMs ?? null,
        when: s.when ?? null,
        forEach: s.forEach ?? null,
        maxConcurrency: s.maxConcurrency ?? null,
        continueOnItemFailure: s.continueOnItemFailure ?? null,
        rateLimit: s.rateLimit ? { key: s.rateLimit.key, limit: s.rateLimit.limit, periodMs: s.rateLimit.periodMs } : null,
        priority: s.priority ?? null,
        concurrency: s.concurrency ?? null,
      })),
      on: input.on?.map((t) => ({ event: t.event, filter: t.filter ?? null })) ?? null,
    });
    return toWorkflow(row);
  }

  @Query(() => Workflow, { nullable: true, description: 'A workflow by name: the latest version, or the given one.' })
  async workflow(@Args(() => WorkflowArgs) { name, version }: WorkflowArgs, @Ctx() ctx: Context): Promise<Workflow | null> {
    const row = await ctx.services.workflows.get(ctx.tenantId, name, version);
    return row ? toWorkflow(row) : null;
  }

  @Query(() => WorkflowConnection, {
    description:
      "The latest version of each of the tenant's workflows, by name, as a Relay cursor connection: page forwards with `first` and `after`, " +
      'backwards with `last` and `before`. BAD_USER_INPUT for `first` with `last`, a size outside 1 to 100, or a cursor this API did not return.',
  })
  async workflows(@Args(() => PageArgs) page: PageArgs, @Ctx() ctx: Context): Promise<WorkflowConnection> {
    return toConnection(await ctx.services.workflows.list(ctx.tenantId, page), toWorkflow);
  }
}
