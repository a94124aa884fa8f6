import { Field, InputType, Int } from 'type-graphql';
import type { Json } from '../../domain/glossary';
import { DateTimeScalar, JSONScalar } from '../scalars';
import { OverlapPolicy } from '../types/schedule.type';

const FIELDS = {
  workflow: 'The workflow to start (it must exist: NOT_FOUND otherwise).',
  version: 'The version to start; null or omitted: the latest at each fire time.',
  cron:
    'Five fields (minute hour day-of-month month day-of-week, e.g. "*/15 * * * *") or six with seconds first ("0 */5 * * * *"); ' +
    'BAD_USER_INPUT (reason INVALID_CRON) otherwise.',
  timezone:
    'IANA time zone the expression reads in, default "UTC" (BAD_USER_INPUT, reason INVALID_TIMEZONE, for an unknown one). Across DST: a time in a ' +
    'spring-forward gap fires at the first valid time after it, a time that occurs twice in a fall-back fires once.',
  input: 'The input of every run (checked against the workflow inputSchema). Default {}.',
  overlap: 'What a fire time does while a run of the schedule is unfinished. Default SKIP.',
  paused: 'Created (or set) paused: no fire time is taken until resumeSchedule. Default false.',
  startAt: 'No fire time before this.',
  endAt: 'No fire time at or after this.',
  catchupWindowMs:
    'Fire times missed while no replica ran (an outage) are fired if at most this late, else skipped and counted (missedCount). ' +
    'Default 60000 (Temporal’s one minute); 0 to 2147483647.',
};

@InputType({ description: 'A cron schedule of a workflow.' })
export class ScheduleInput {
  @Field(() => String, { description: FIELDS.workflow })
  workflow: string;

  @Field(() => Int, { nullable: true, description: FIELDS.version })
  version?: number | null;

  @Field(() => String, { description: FIELDS.cron })
  cron: string;

  @Field(() => String, { nullable: true, description: FIELDS.timezone })
  timezone?: string | null;

  @Field(() => JSONScalar, { nullable: true, description: FIELDS.input })
  input?: Json;

  @Field(() => OverlapPolicy, { nullable: true, description: FIELDS.overlap })
  overlap?: OverlapPolicy | null;

  @Field(() => Boolean, { nullable: true, description: FIELDS.paused })
  paused?: boolean | null;

  @Field(() => DateTimeScalar, { nullable: true, description: FIELDS.startAt })
  startAt?: Date | null;

  @Field(() => DateTimeScalar, { nullable: true, description: FIELDS.endAt })
  endAt?: Date | null;

  @Field(() => Int, { nullable: true, description: FIELDS.catchupWindowMs })
  catchupWindowMs?: number | null;
}

@InputType({ description: 'Changes to a schedule: omitted fields keep their value; version, startAt and endAt may be set to null.' })
export class ScheduleUpdateInput {
  @Field(() => String, { nullable: true, description: FIELDS.workflow })
  workflow?: string | null;

  @Field(() => Int, { nullable: true, description: FIELDS.version })
  version?: number | null;

  @Field(() => String, { nullable: true, description: FIELDS.cron })
  cron?: string | null;

  @Field(() => String, { nullable: true, description: FIELDS.timezone })
  timezone?: string | null;

  @Field(() => JSONScalar, { nullable: true, description: FIELDS.input })
  input?: Json;

  @Field(() => OverlapPolicy, { nullable: true, description: FIELDS.overlap })
  overlap?: OverlapPolicy | null;

  @Field(() => Boolean, { nullable: true, description: FIELDS.paused })
  paused?: boolean | null;

  @Field(() => DateTimeScalar, { nullable: true, description: FIELDS.startAt })
  startAt?: Date | null;

  @Field(() => DateTimeScalar, { nullable: true, description: FIELDS.endAt })
  endAt?: Date | null;

  @Field(() => Int, { nullable: true, description: FIELDS.catchupWindowMs })
  catchupWindowMs?: number | null;
}
