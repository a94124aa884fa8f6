import { Field, InputType } from 'type-graphql';
import type { RunStatus as DomainRunStatus } from '../../domain/glossary';
import { DateTimeScalar } from '../scalars';
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
}
