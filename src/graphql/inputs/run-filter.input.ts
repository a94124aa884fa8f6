import { Field, InputType } from 'type-graphql';
import type { Json, RunStatus as DomainRunStatus } from '../../domain/glossary';
import { DateTimeScalar, JSONScalar } from '../scalars';
import { RunStatus } from '../types/run.type';

@InputType({ description: 'Which runs `runs` lists: a run must meet every condition given; conditions left out do not filter.' })
export class RunFilter {
  @Field(() => String, { nullable: true, description: 'Runs of this workflow (any version).' })
  workflow?: string | null;

  @Field(() => [RunStatus], { nullable: true, description: 'Runs in any of these statuses.' })
  status?: DomainRunStatus[] | null;

  @Field(() => DateTimeScalar, { nullable: true, description: 'Created at or after this instant.' })
  createdAfter?: Date | null;

  @Field(() => DateTimeScalar, { nullable: true, description: 'Created before this instant.' })
  createdBefore?: Date | null;

  @Field(() => DateTimeScalar, {
    nullable: true,
    description: 'Finished (SUCCEEDED, FAILED or CANCELLED) at or after this instant; unfinished runs do not match.',
  })
  finishedAfter?: Date | null;

  @Field(() => DateTimeScalar, { nullable: true, description: 'Finished before this instant; unfinished runs do not match.' })
  finishedBefore?: Date | null;

  @Field(() => [String], { nullable: true, description: 'Runs having every one of these tags (at most 32).' })
  tags?: string[] | null;

  @Field(() => JSONScalar, {
    nullable: true,
    description:
      'A JSON object: runs whose metadata has each of its top-level keys with an equal value (`{"customer": "c-42", "priority": 1}`). At most 16 KiB.',
  })
  metadata?: Json | null;
}
