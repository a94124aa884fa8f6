import { Field, ID, InputType } from 'type-graphql';
import type { Json } from '../../domain/glossary';
import { JSONScalar } from '../scalars';

@InputType({ description: 'One successful attempt, as `completeTask` takes it.' })
export class TaskCompletionInput {
  @Field(() => ID)
  taskId: string;

  @Field(() => String)
  leaseToken: string;

  @Field(() => JSONScalar, { nullable: true })
  output: Json | undefined;
}
