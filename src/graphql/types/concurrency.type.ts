import { Field, InputType, Int, ObjectType, registerEnumType } from 'type-graphql';
import { DateTimeScalar } from '../scalars';

export enum ConcurrencyStrategy {
  QUEUE = 'QUEUE',
  CANCEL_IN_PROGRESS = 'CANCEL_IN_PROGRESS',
  CANCEL_NEWEST = 'CANCEL_NEWEST',
  ROUND_ROBIN = 'ROUND_ROBIN',
}
registerEnumType(ConcurrencyStrategy, {
  name: 'ConcurrencyStrategy',
  description: 'What happens to a run that finds its concurrency key at `max` runs in flight.',
  valuesConfig: {
    QUEUE: { description: 'It waits (PENDING, `waitingFor` CONCURRENCY) and starts in arrival order when a run of its key ends.' },
    CANCEL_IN_PROGRESS: { description: 'The newest wins: the oldest run in flight of its key is cancelled and the new run starts.' },
    CANCEL_NEWEST: { description: 'The running one wins: the new run is cancelled at once, with a reason naming the key.' },
    ROUND_ROBIN: {
      description:
        'As QUEUE per key (each key has its own `max` slots), and fair across keys: claims take the ready tasks of its runs in turns across keys (the key served longest ago first), so a key with many runs queued never holds back the others behind all of its own.',
    },
  },
});

@InputType({ description: 'Runs in flight at once per concurrency key (as Hatchet concurrency keys).' })
export class ConcurrencyInput {
  @Field(() => String, {
    nullable: true,
    description:
      'A CEL expression over `input` yielding a string, number or bool: runs with the same value share the limit, e.g. `input.customerId`. ' +
      'Type-checked at registration; a start whose input yields anything else (or over 256 characters) is BAD_USER_INPUT. Default: one group for all runs.',
  })
  key?: string | null;

  @Field(() => Int, { description: 'Runs in flight per key at once, 1 to 100000.' })
  max: number;

  @Field(() => ConcurrencyStrategy, { nullable: true, description: 'Default QUEUE.' })
  strategy?: ConcurrencyStrategy | null;
}

@ObjectType({ simpleResolvers: true, description: "A workflow's concurrency limit." })
export class Concurrency {
  @Field(() => String, { nullable: true, description: 'The key expression; null: one group for all runs.' })
  key: string | null;

  @Field(() => Int, { description: 'Runs in flight per key.' })
  max: number;

  @Field(() => ConcurrencyStrategy, { description: 'What happens to a run that finds its key at `max`.' })
  strategy: ConcurrencyStrategy;
}

@ObjectType({ simpleResolvers: true, description: 'A limit on the tasks of one queue running at once, across all workers and replicas (setQueueLimit).' })
export class QueueLimit {
  @Field({ description: 'The queue.' })
  queue: string;

  @Field(() => Int, { description: 'Tasks of the queue RUNNING at once, at most.' })
  maxInFlight: number;

  @Field(() => Int, { description: 'Tasks of the queue RUNNING now.' })
  inFlight: number;

  @Field(() => DateTimeScalar, { description: 'When the limit was last set.' })
  updatedAt: Date;
}
