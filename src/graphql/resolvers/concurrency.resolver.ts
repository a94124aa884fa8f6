import { Arg, ArgsType, Args, Ctx, Field, Int, Mutation, Query, Resolver } from 'type-graphql';
import type { Context } from '../context';
import { QueueLimit } from '../types/concurrency.type';

@ArgsType()
class SetQueueLimitArgs {
  @Field({ description: 'The queue: 1 to 128 letters, digits, "_", ".", ":" or "-".' })
  queue: string;

  @Field(() => Int, { description: 'Tasks of the queue RUNNING at once across all workers and replicas, 1 to 1000000.' })
  maxInFlight: number;
}

/** Queue limits: how many tasks of a queue run at once, whoever claims them. */
@Resolver(() => QueueLimit)
export class ConcurrencyResolver {
  @Mutation(() => QueueLimit, {
    description:
      'Sets (or changes) the limit of a queue: claimTasks on any replica hands out a task of it only while fewer than `maxInFlight` run. ' +
      'A task holds its slot until it ends or its lease expires and the reaper takes it back. Lowering the limit cancels nothing: running tasks finish. ' +
      'BAD_USER_INPUT for a bad queue name or maxInFlight.',
  })
  async setQueueLimit(@Args(() => SetQueueLimitArgs) { queue, maxInFlight }: SetQueueLimitArgs, @Ctx() ctx: Context): Promise<QueueLimit> {
    return ctx.services.concurrency.setQueueLimit(ctx.tenantId, queue, maxInFlight);
  }

  @Mutation(() => Boolean, { description: "Lifts a queue's limit; false when it had none. BAD_USER_INPUT for a bad queue name." })
  async clearQueueLimit(@Arg('queue', { description: 'The queue.' }) queue: string, @Ctx() ctx: Context): Promise<boolean> {
    return ctx.services.concurrency.clearQueueLimit(ctx.tenantId, queue);
  }

  @Query(() => [QueueLimit], { description: "The tenant's queue limits (those of `queues` when given), with the tasks running in each now, by queue name." })
  async queueLimits(
    @Arg('queues', () => [String], { nullable: true, description: 'Only these queues. Default: all limited queues.' }) queues: string[] | null,
    @Ctx() ctx: Context,
  ): Promise<QueueLimit[]> {
    return ctx.services.concurrency.queueLimits(ctx.tenantId, queues ?? null);
  }
}
