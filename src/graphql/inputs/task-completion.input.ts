import { Field, ID, InputType } from 'type-graphql';
import type { Json } from '../../domain/glossary';
import { JSONScalar } from '../scalars';

@InputType({ description: 'One successful attempt, as `completeTask` takes it.' })
export class TaskCompletionInput {
  @Field(() => ID, { description: 'The task, as claimTasks returned it (`TaskLease.taskId`).' })
  taskId: string;

  @Field(() => String, { description: "The attempt's fencing token (`TaskLease.leaseToken`)." })
  leaseToken: string;

  @Field(() => JSONScalar, { nullable: true, description: "The step's output, any JSON. Default null." })
  output: Json | undefined;
}
