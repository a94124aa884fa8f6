import type { RunEvent as DomainRunEvent } from '../../domain/model';
import { Arg, Args, Resolver, Root, Subscription } from 'type-graphql';
import { ValidationError } from '../../domain/errors';
import { mapError } from '../errors';
import { RunUpdatedArgs } from '../inputs/args';
import type { Context } from '../context';
import { RunEvent, toRunEvent } from '../types/run.type';

/** `subscribe` functions run outside resolver middlewares: map domain errors here. */
async function mapped<T>(fn: () => Promise<T> | T): Promise<T> {
  try {
    return await fn();
  } catch (e: unknown) {
    throw mapError(e);
  }
}

@Resolver()
export class SubscriptionResolver {
  @Subscription(() => RunEvent, {
    description:
      'Events of one run. With `afterSeq`, the stored events after it come first, then live ones: nothing missed, nothing twice. ' +
      "It completes after the run's terminal event (its last), at once when afterSeq is already past it. " +
      'NOT_FOUND when the tenant has no such run; BAD_USER_INPUT for a negative afterSeq.',
    subscribe: ({ args, context }) =>
      mapped(() => {
        const ctx = context as Context;
        const afterSeq = (args['afterSeq'] as number | null | undefined) ?? 0;
        if (afterSeq < 0) throw new ValidationError('"afterSeq" must be 0 or more', { field: 'afterSeq' });
        return ctx.services.runEvents.subscribeRun(ctx.tenantId, args['id'] as string, afterSeq);
      }),
  })
  runUpdated(@Root() event: DomainRunEvent, @Args(() => RunUpdatedArgs) _args: RunUpdatedArgs): RunEvent {
    return toRunEvent(event);
  }

  @Subscription(() => RunEvent, {
    description: "Live events of all the tenant's runs, or of one workflow's (for dashboards).",
    subscribe: ({ args, context }) => {
      const ctx = context as Context;
      return ctx.services.runEvents.subscribeTenant(ctx.tenantId, (args['workflow'] as string | null | undefined) ?? null);
    },
  })
  runEvents(
    @Root() event: DomainRunEvent,
    @Arg('workflow', () => String, { nullable: true, description: "Only the runs of this workflow (by name, any version). Default: all the tenant's runs." })
    _workflow: string | null,
  ): RunEvent {
    return toRunEvent(event);
  }
}
