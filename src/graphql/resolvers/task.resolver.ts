import { Ctx, FieldResolver, Resolver, Root } from 'type-graphql';
import type { Context } from '../context';
import { Task, TaskAttempt, toAttempt } from '../types/run.type';

@Resolver(() => Task)
export class TaskResolver {
  @FieldResolver(() => [TaskAttempt], { description: 'Every attempt, oldest first: who held it, when, how it ended.' })
  async attempts(@Root() task: Task, @Ctx() ctx: Context): Promise<TaskAttempt[]> {
    return (await ctx.loaders.attemptsByTask.load(task.id)).map(toAttempt);
  }
}
