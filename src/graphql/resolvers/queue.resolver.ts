import { Ctx, Query, Resolver } from 'type-graphql';
import type { Context } from '../context';
import { Queue, toQueue } from '../types/queue.type';

/** The tenant's queues, for operators (the web console's queues page). */
@Resolver(() => Queue)
export class QueueResolver {
  @Query(() => [Queue], {
    description:
      "The tenant's queues: each with QUEUED or RUNNING tasks, or ever polled by a worker; the built-in queue (name null) first, then by name. " +
      'Depth, the oldest waiting task, the last poll and the workers holding tasks now.',
  })
  async queues(@Ctx() ctx: Context): Promise<Queue[]> {
    return (await ctx.services.queues.list(ctx.tenantId)).map(toQueue);
  }
}
