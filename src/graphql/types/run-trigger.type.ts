import { Field, ID, ObjectType, registerEnumType } from 'type-graphql';
import type { RunTrigger as DomainRunTrigger } from '../../domain/model';
import { DateTimeScalar } from '../scalars';

export enum RunTriggerKind {
  API = 'API',
  PARENT = 'PARENT',
  SCHEDULE = 'SCHEDULE',
  EVENT = 'EVENT',
  WEBHOOK = 'WEBHOOK',
}
registerEnumType(RunTriggerKind, {
  name: 'RunTriggerKind',
  description: 'What started a run.',
  valuesConfig: {
    API: { description: 'A `startRun` call.' },
    PARENT: { description: "A parent run's `workflow` step (see `Run.parent`)." },
    SCHEDULE: { description: "A schedule's fire time (`scheduleId`, `fireTime`)." },
    EVENT: { description: 'An event published with `publishEvent` (`eventName`, `eventId`).' },
    WEBHOOK: { description: 'A signed `POST /hooks/:tenant/:name` (`eventName`, `eventId`).' },
  },
});

@ObjectType({ simpleResolvers: true, description: 'What started a run, with the schedule or event it came from.' })
export class RunTrigger {
  @Field(() => RunTriggerKind, { description: 'API, PARENT, SCHEDULE, EVENT or WEBHOOK.' })
  kind: RunTriggerKind;

  @Field(() => ID, { nullable: true, description: 'SCHEDULE: the schedule that fired; null otherwise.' })
  scheduleId: string | null;

  @Field(() => DateTimeScalar, { nullable: true, description: 'SCHEDULE: the fire time the run was started for (not when it was started); null otherwise.' })
  fireTime: Date | null;

  @Field(() => String, { nullable: true, description: 'EVENT or WEBHOOK: the event name; null otherwise.' })
  eventName: string | null;

  @Field(() => String, { nullable: true, description: 'EVENT or WEBHOOK: the event id (given, or assigned when none was); null otherwise.' })
  eventId: string | null;
}

export function toRunTrigger(t: DomainRunTrigger | null | undefined): RunTrigger {
  const none = { scheduleId: null, fireTime: null, eventName: null, eventId: null };
  if (!t) return { kind: RunTriggerKind.API, ...none };
  switch (t.kind) {
    case 'SCHEDULE':
      return { ...none, kind: RunTriggerKind.SCHEDULE, scheduleId: t.scheduleId, fireTime: new Date(t.fireTime) };
    case 'EVENT':
    case 'WEBHOOK':
      return { ...none, kind: RunTriggerKind[t.kind], eventName: t.eventName, eventId: t.eventId };
    case 'API':
    case 'PARENT':
      return { ...none, kind: RunTriggerKind[t.kind] };
  }
}
