import { Field, Float, InputType, Int } from 'type-graphql';
import type { Json } from '../../domain/glossary';
import { JSONScalar } from '../scalars';

@InputType({ description: 'Omitted fields take their defaults: 1 attempt, 1000 ms, ×2, 60000 ms.' })
export class RetryPolicyInput {
  @Field(() => Int, { nullable: true, description: 'Attempts in all, 1 to 100. Default 1 (no retry).' })
  maxAttempts?: number | null;

  @Field(() => Int, { nullable: true, description: 'Default 1000.' })
  initialDelayMs?: number | null;

  @Field(() => Float, { nullable: true, description: 'At least 1. Default 2.' })
  backoffFactor?: number | null;

  @Field(() => Int, { nullable: true, description: 'Default 60000.' })
  maxDelayMs?: number | null;
}

@InputType()
export class StepInput {
  @Field()
  key: string;

  @Field({ description: 'noop, sleep or http; with `queue`, any label your workers understand.' })
  type: string;

  @Field(() => String, { nullable: true })
  queue?: string | null;

  @Field(() => [String], { nullable: true })
  dependsOn?: string[] | null;

  @Field(() => JSONScalar, { nullable: true })
  input?: Json;

  @Field(() => RetryPolicyInput, { nullable: true })
  retry?: RetryPolicyInput | null;

  @Field(() => Int, { nullable: true })
  timeoutMs?: number | null;
}

@InputType()
export class WorkflowInput {
  @Field()
  name: string;

  @Field(() => String, { nullable: true })
  description?: string | null;

  @Field(() => Int, { nullable: true, description: 'Bound of a whole run, start to finish; past it the run fails and unfinished tasks are cancelled.' })
  timeoutMs?: number | null;

  @Field(() => [StepInput])
  steps: StepInput[];
}
