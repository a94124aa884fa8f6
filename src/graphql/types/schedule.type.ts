import { Field, ID, Int, ObjectType, registerEnumType } from 'type-graphql';
import type { Json } from '../../domain/glossary';
import type { ScheduleFireRecord, ScheduleRecord } from '../../domain/schedules';
import { DateTimeScalar, JSONScalar } from '../scalars';
import { PageInfo } from './common.type';

export enum OverlapPolicy {
  SKIP = 'SKIP',
  BUFFER_ONE = 'BUFFER_ONE',
  ALLOW_ALL = 'ALLOW_ALL',
  CANCEL_PREVIOUS = 'CANCEL_PREVIOUS',
}
registerEnumType(OverlapPolicy, {
  name: 'OverlapPolicy',
  description: "What a fire time does while a run the schedule started is unfinished (Temporal's names).",
  valuesConfig: {
    SKIP: { description: 'Start nothing; the fire time is skipped and counted (`skippedCount`). The default.' },
    BUFFER_ONE: { description: 'Keep one fire time (durably) and start it when the unfinished run ends; a further one meanwhile is skipped.' },
    ALLOW_ALL: { description: 'Start a run for every fire time, whatever is running.' },
    CANCEL_PREVIOUS: { description: 'Cancel the unfinished runs of the schedule, then start.' },
  },
});

export enum ScheduleFireStatus {
  PENDING = 'PENDING',
  BUFFERED = 'BUFFERED',
  STARTED = 'STARTED',
  SKIPPED = 'SKIPPED',
  FAILED = 'FAILED',
}
registerEnumType(ScheduleFireStatus, {
  name: 'ScheduleFireStatus',
  description: 'What became of one fire time.',
  valuesConfig: {
    PENDING: { description: 'Decided; its run is being started.' },
    BUFFERED: { description: 'BUFFER_ONE: waits for the unfinished run to end.' },
    STARTED: { description: 'Its run was started (`runId`).' },
    SKIPPED: { description: 'Skipped by the overlap policy.' },
    FAILED: { description: 'The start was refused (`error`: the workflow is gone, a quota, the input no longer fits).' },
  },
});

export enum ScheduleFireSource {
  CRON = 'CRON',
  TRIGGER = 'TRIGGER',
  BACKFILL = 'BACKFILL',
}
registerEnumType(ScheduleFireSource, {
  name: 'ScheduleFireSource',
  description: 'What made a fire.',
  valuesConfig: {
    CRON: { description: 'A fire time of the cron expression, taken by the scheduler pass.' },
    TRIGGER: { description: 'triggerSchedule (run now).' },
    BACKFILL: { description: 'backfillSchedule.' },
  },
});

@ObjectType({ simpleResolvers: true, description: 'One fire time of a schedule and what became of it. Each fire time of a schedule has at most one.' })
export class ScheduleFire {
  @Field(() => DateTimeScalar, { description: 'The fire time (not when its run started).' })
  fireTime: Date;

  @Field(() => ScheduleFireSource, { description: 'CRON, TRIGGER or BACKFILL.' })
  source: ScheduleFireSource;

  @Field(() => ScheduleFireStatus, { description: 'What became of the fire time.' })
  status: ScheduleFireStatus;

  @Field(() => ID, { nullable: true, description: 'STARTED: the run it started.' })
  runId: string | null;

  @Field(() => String, { nullable: true, description: 'FAILED: why the start was refused.' })
  error: string | null;
}

@ObjectType({
  simpleResolvers: true,
  description:
    'A cron schedule that starts runs of a workflow. Each fire time starts at most one run across all replicas; fire times missed while no replica ran ' +
    'are fired when within `catchupWindowMs` of now, else skipped and counted in `missedCount`.',
})
export class Schedule {
  @Field(() => ID, { description: 'The schedule id: pass it to schedule, updateSchedule, triggerSchedule and the others.' })
  id: string;

  @Field({ description: 'The workflow it starts.' })
  workflow: string;

  @Field(() => Int, { nullable: true, description: 'The version it starts; null: the latest at each fire time.' })
  version: number | null;

  @Field({ description: 'Five fields (minute hour day-of-month month day-of-week) or six (seconds first).' })
  cron: string;

  @Field({ description: 'The IANA time zone the cron expression reads in.' })
  timezone: string;

  @Field(() => JSONScalar, { nullable: true, description: 'The input of every run it starts.' })
  input: Json;

  @Field(() => OverlapPolicy, { description: 'What a fire time does while a run of the schedule is unfinished.' })
  overlap: OverlapPolicy;

  @Field({ description: 'Paused: no fire time is taken; resuming continues from the next fire time after then.' })
  paused: boolean;

  @Field(() => DateTimeScalar, { nullable: true, description: 'No fire time before this.' })
  startAt: Date | null;

  @Field(() => DateTimeScalar, { nullable: true, description: 'No fire time at or after this.' })
  endAt: Date | null;

  @Field(() => Int, { description: 'Fire times missed by at most this many milliseconds are still fired; older ones are skipped (missedCount).' })
  catchupWindowMs: number;

  @Field(() => DateTimeScalar, { nullable: true, description: 'The next fire time the scheduler takes; null when paused or past endAt.' })
  nextFireAt: Date | null;

  @Field(() => Int, { description: 'Fire times skipped by the overlap policy.' })
  skippedCount: number;

  @Field(() => Int, { description: 'Fire times older than the catch-up window when a scheduler came to them, not fired.' })
  missedCount: number;

  @Field(() => DateTimeScalar, { description: 'When it was created.' })
  createdAt: Date;

  @Field(() => DateTimeScalar, { description: 'When it was last changed (or a fire time taken).' })
  updatedAt: Date;
}

@ObjectType({ simpleResolvers: true, description: 'A schedule of a page, with its cursor.' })
export class ScheduleEdge {
  @Field({ description: 'Pass as `after` to read the schedules after this one.' })
  cursor: string;

  @Field(() => Schedule, { description: 'The schedule.' })
  node: Schedule;
}

@ObjectType({ simpleResolvers: true, description: "The tenant's schedules, oldest id first, as a Relay cursor connection." })
export class ScheduleConnection {
  @Field(() => [Schedule], { description: 'The schedules of this page.' })
  nodes: Schedule[];

  @Field(() => [ScheduleEdge], { description: 'The schedules of this page with their cursors.' })
  edges: ScheduleEdge[];

  @Field(() => PageInfo, { description: 'Where this page sits in the listing.' })
  pageInfo: PageInfo;

  @Field(() => Int, { description: 'Schedules of the tenant in all.' })
  totalCount: number;
}

@ObjectType({ simpleResolvers: true, description: 'What backfillSchedule took.' })
export class ScheduleBackfill {
  @Field(() => Int, { description: 'Fire times in the range.' })
  fireTimes: number;

  @Field(() => Int, { description: 'Fire times that had no fire yet: each starts one run on the scheduler pass.' })
  created: number;

  @Field(() => Int, { description: 'Fire times that had fired already (or were skipped): left as they were.' })
  alreadyFired: number;
}

export function toSchedule(s: ScheduleRecord): Schedule {
  return {
    id: s.id,
    workflow: s.workflow,
    version: s.version,
    cron: s.cron,
    timezone: s.timezone,
    input: s.input,
    overlap: OverlapPolicy[s.overlap],
    paused: s.paused,
    startAt: s.startAt,
    endAt: s.endAt,
    catchupWindowMs: s.catchupWindowMs,
    nextFireAt: s.nextFireAt,
    skippedCount: s.skippedCount,
    missedCount: s.missedCount,
    createdAt: s.createdAt,
    updatedAt: s.updatedAt,
  };
}

export function toScheduleFire(f: ScheduleFireRecord): ScheduleFire {
  return {
    fireTime: f.fireTime,
    source: ScheduleFireSource[f.source],
    status: ScheduleFireStatus[f.status],
    runId: f.runId,
    error: f.error,
  };
}
