import { Field, ID, ObjectType } from 'type-graphql';
import { Task } from './run.type';

@ObjectType({ simpleResolvers: true, description: 'Why one result of a batch was not recorded: the code and message `completeTask` would have raised.' })
export class TaskOutcomeError {
  @Field(() => String, { description: 'LEASE_LOST, RUN_CANCELLED, NOT_FOUND or BAD_USER_INPUT.' })
  code: string;

  @Field(() => String, { description: 'What happened, for people: the message `completeTask` would have raised.' })
  message: string;
}

@ObjectType({ simpleResolvers: true, description: 'What became of one result of `completeTasks`: the task as recorded, or why not.' })
export class TaskOutcome {
  @Field(() => ID, { description: 'The task of this result, as sent.' })
  taskId: string;

  @Field(() => Task, { nullable: true, description: 'The task as recorded; null when the result was refused.' })
  task: Task | null;

  @Field(() => TaskOutcomeError, { nullable: true, description: 'Why the result was refused; null when it was recorded.' })
  error: TaskOutcomeError | null;
}
