import { Ctx, FieldResolver, Resolver, Root } from 'type-graphql';
import type { Context } from '../context';
import { Run, Task, TaskAttempt, toAttempt, toRun } from '../types/run.type';
import { WaitReason } from '../types/wait-reason.type';
import { waitReasonsOf } from './wait-reasons';

@Resolver(() => Task)
export class TaskResolver {
  @FieldResolver(() => String, {
    nullable: true,
    description: "W3C traceparent of the run's trace: a worker continues it, so the run is one trace (null when tracing is off).",
  })
  async traceparent(@Root() task: Task, @Ctx() ctx: Context): Promise<string | null> {
    return (await ctx.loaders.runById.load(task.runId))?.traceparent ?? null;
  }

  @FieldResolver(() => Run, {
    nullable: true,
    description:
      'A `workflow` step: the child run its latest attempt started (while the task is RUNNING, the run it waits for; a retry starts a new one). Null for other steps and before the first attempt.',
  })
  async childRun(@Root() task: Task, @Ctx() ctx: Context): Promise<Run | null> {
    if (!task.childRunId) return null;
    const row = await ctx.loaders.runById.load(task.childRunId);
    return row ? toRun(row) : null;
  }

  @FieldResolver(() => [TaskAttempt], { description: 'Every attempt, oldest first: who held it, when, how it ended.' })
  async attempts(@Root() task: Task, @Ctx() ctx: Context): Promise<TaskAttempt[]> {
    return (await ctx.loaders.attemptsByTask.load(task.id)).map(toAttempt);
  }

  @FieldResolver(() => WaitReason, {
    nullable: true,
    description:
      'What the task waits for (why it has not finished): its dependencies, a worker (none polling its queue, or one running it), a retry delay, a timer. ' +
      'Null once it is SUCCEEDED, FAILED or CANCELLED.',
  })
  async waitingFor(@Root() task: Task, @Ctx() ctx: Context): Promise<WaitReason | null> {
    const row = task.row ?? (await ctx.loaders.taskById.load(task.id));
    if (!row) return null;
    const [reason] = await waitReasonsOf(ctx, row.runId, [row]);
    return reason ?? null;
  }
}
