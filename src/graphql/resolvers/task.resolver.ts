import { Ctx, FieldResolver, Resolver, Root } from 'type-graphql';
import type { Context } from '../context';
import { Task, TaskAttempt, toAttempt } from '../types/run.type';

@Resolver(() => Task)
export class TaskResolver {
  @FieldResolver(() => String, {
    nullable: true,
    description: "W3C traceparent of the run's trace: a worker continues it, so the run is one trace (null when tracing is off).",
  })
  async traceparent(@Root() task: Task, @Ctx() ctx: Context): Promise<string | null> {
    return (await ctx.loaders.runById.load(task.runId))?.traceparent ?? null;
  }

  @FieldResolver(() => [TaskAttempt], { description: 'Every attempt, oldest first: who held it, when, how it ended.' })
  async attempts(@Root() task: Task, @Ctx() ctx: Context): Promise<TaskAttempt[]> {
    return (await ctx.loaders.attemptsByTask.load(task.id)).map(toAttempt);
  }
}
